"""The written poses and intrinsics project points exactly where Blender does.

Reference: ``bpy_extras.object_utils.world_to_camera_view`` (normalised frame coordinates,
y up), turned into pixels as u = x * w, v = (1 - y) * h with (0, 0) the top-left corner.
Ours: x_cam = inverse(transform_matrix) @ p in Blender camera axes, then the OpenCV
pinhole u = fl_x * x / z + cx, v = fl_y * y / z + cy with (x, y, z) = (X, -Y, -Z).
"""

import importlib
import itertools
import json
import os

import bmesh
import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

MAX_ERROR_PX = 0.5

# (resolution x, y, percentage, pixel aspect x, y, sensor fit, shift x, y)
CASES = {
    "plain": (64, 48, 100, 1.0, 1.0, "AUTO", 0.0, 0.0),
    "shift": (64, 48, 100, 1.0, 1.0, "AUTO", 0.21, -0.13),
    "vertical_fit": (64, 48, 100, 1.0, 1.0, "VERTICAL", 0.0, 0.0),
    "non_square_pixels": (64, 48, 100, 1.0, 1.6, "AUTO", 0.0, 0.0),
    "portrait": (40, 64, 100, 1.0, 1.0, "AUTO", 0.0, 0.0),
    "all_vertical": (90, 50, 50, 2.0, 1.3, "VERTICAL", 0.17, 0.25),
    "all_horizontal": (50, 72, 100, 1.0, 1.7, "HORIZONTAL", -0.3, 0.12),
    "all_auto_portrait": (44, 70, 100, 1.4, 1.0, "AUTO", 0.1, -0.2),
}


def setup_camera(scene, case):
    rx, ry, pct, ax, ay, fit, sx, sy = case
    r = scene.render
    r.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    r.resolution_x, r.resolution_y, r.resolution_percentage = rx, ry, pct
    r.pixel_aspect_x, r.pixel_aspect_y = ax, ay
    data = bpy.data.cameras.new("Cam")
    data.lens, data.sensor_width, data.sensor_height, data.sensor_fit = 42.0, 36.0, 20.0, fit
    data.shift_x, data.shift_y = sx, sy
    cam = bpy.data.objects.new("Cam", data)
    scene.collection.objects.link(cam)
    cam.location = (5.0, -6.0, 3.5)
    cam.rotation_euler = (Vector((0.3, 0.2, 0.1)) - cam.location).to_track_quat("-Z", "Y").to_euler()
    cam.scale = (1.0, 2.0, 0.5)  # scale must not leak into the pose
    scene.camera = cam
    return cam


def add_points(scene):
    """A cube plus a deterministic cloud of vertices around the origin."""
    me = bpy.data.meshes.new("Points")
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=2.0)
    rng = np.random.default_rng(1)
    for p in rng.uniform(-2.5, 2.5, (60, 3)):
        bm.verts.new(p)
    bm.to_mesh(me)
    bm.free()
    ob = bpy.data.objects.new("Points", me)
    ob.location = (0.2, -0.1, 0.3)
    scene.collection.objects.link(ob)
    bpy.context.view_layer.update()
    return [ob.matrix_world @ v.co for v in me.vertices]


def blender_pixels(scene, cam, points, w, h):
    out = []
    for p in points:
        x, y, z = world_to_camera_view(scene, cam, p)
        assert z > 0
        out.append((x * w, (1.0 - y) * h))
    return np.asarray(out)


def our_pixels(frame, points):
    m = np.asarray(frame["transform_matrix"], dtype=np.float64)
    world_to_cam = np.linalg.inv(m)
    p = np.c_[np.asarray([tuple(q) for q in points]), np.ones(len(points))] @ world_to_cam.T
    x, y, z = p[:, 0], -p[:, 1], -p[:, 2]
    return np.stack([frame["fl_x"] * x / z + frame["cx"], frame["fl_y"] * y / z + frame["cy"]], -1)


@pytest.mark.parametrize("name", list(CASES))
def test_written_intrinsics_project_like_blender(scene, tmp_path, name):
    cam = setup_camera(scene, CASES[name])
    points = add_points(scene)
    out = str(tmp_path / name)
    result = bpy.ops.ps4pro.capture(
        source="PATH", use_scene_frame_range=False, frame_start=1, frame_end=1, depth_format="NONE",
        resolution_x=0, resolution_y=0, output_dir=out,
    )
    assert result == {"FINISHED"}
    with open(os.path.join(out, "transforms.json")) as f:
        meta = json.load(f)
    (frame,) = meta["frames"]
    w, h = frame["w"], frame["h"]
    rx, ry, pct = CASES[name][:3]
    assert (w, h) == (rx * pct // 100, ry * pct // 100)
    error = np.abs(our_pixels(frame, points) - blender_pixels(scene, cam, points, w, h)).max()
    print(f"{name}: max projection error {error:.2e} px")
    assert error <= MAX_ERROR_PX
    # The rendered image has the size the intrinsics claim.
    img = bpy.data.images.load(os.path.join(out, frame["file_path"]))
    try:
        assert tuple(img.size) == (w, h)
    finally:
        bpy.data.images.remove(img)


def test_intrinsics_over_many_settings(scene):
    """camera_model alone, over a grid of fits, shapes, pixel aspects and shifts.

    Percentages here scale the sizes exactly: where Blender truncates (64 px at 40% is 25
    px, not 25.6) the render's aspect follows the truncated size, as ``camera_model`` does,
    while ``world_to_camera_view`` keeps the unscaled aspect. The depth test in
    test_capture.py checks such a truncated size against the rendered depth instead.
    """
    camera_model = importlib.import_module("bl_ext.user_default.ps4pro.scene.camera_model")
    cam = setup_camera(scene, CASES["plain"])
    points = add_points(scene)
    worst = 0.0
    grid = itertools.product(
        ("AUTO", "HORIZONTAL", "VERTICAL"), ((64, 48), (48, 64), (50, 50)), ((1, 1), (1, 1.5), (2, 1)),
        ((0, 0), (0.3, -0.2)), (100, 50),
    )
    for fit, (rx, ry), (ax, ay), (sx, sy), pct in grid:
        r = scene.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = rx, ry, pct
        r.pixel_aspect_x, r.pixel_aspect_y = ax, ay
        cam.data.sensor_fit = fit
        cam.data.shift_x, cam.data.shift_y = sx, sy
        frame = camera_model.intrinsics(cam.data, r)
        frame["transform_matrix"] = camera_model.camera_to_world(cam.matrix_world)
        error = np.abs(our_pixels(frame, points) - blender_pixels(scene, cam, points, frame["w"], frame["h"])).max()
        worst = max(worst, error)
    print(f"max projection error over the grid: {worst:.2e} px")
    assert worst <= MAX_ERROR_PX
