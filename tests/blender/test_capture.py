"""ps4pro.capture: camera sources, files, transforms JSON, depth, errors, and that the
user's scene comes back unchanged after a capture, a failed one and a cancelled one."""

import importlib
import json
import math
import os

import bmesh
import bpy
import numpy as np
import OpenEXR
import pytest
from mathutils import Vector

PKG = "bl_ext.user_default.ps4pro"
W, H = 64, 48
# Blender 5.0+: an output's kind (ImageFormatSettings.media_type) is set apart from its format.
HAS_MEDIA_TYPE = bpy.app.version >= (5, 0, 0)


def module(name):
    return importlib.import_module(f"{PKG}.{name}")


# --- scene building ---------------------------------------------------------------------


def add_mesh(scene, name, size, location, plane=False):
    me = bpy.data.meshes.new(name)
    bm = bmesh.new()
    if plane:
        bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=size / 2)
    else:
        bmesh.ops.create_cube(bm, size=size)
    bm.to_mesh(me)
    bm.free()
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    scene.collection.objects.link(ob)
    return ob


def add_camera(scene, name, location, target=(0, 0, 0), kind="PERSP", collection=None):
    data = bpy.data.cameras.new(name)
    data.type = kind
    ob = bpy.data.objects.new(name, data)
    (collection or scene.collection).objects.link(ob)
    look_at(ob, location, target)
    return ob


def look_at(ob, location, target=(0, 0, 0)):
    ob.location = location
    ob.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()


def build_scene(scene, animated=True, engine="CYCLES"):
    """Cube on a plane, a sun, and a camera moving over frames 1..3; tiny, fast renders."""
    render = scene.render
    render.engine = engine
    if engine == "CYCLES":
        scene.cycles.samples = 1
        scene.cycles.use_denoising = False
        scene.cycles.use_adaptive_sampling = False
    render.resolution_x, render.resolution_y, render.resolution_percentage = W, H, 100
    add_mesh(scene, "Cube", 2.0, (0, 0, 0))
    add_mesh(scene, "Plane", 8.0, (0, 0, -1), plane=True)
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.rotation_euler = (0.6, 0.2, 0.4)
    scene.collection.objects.link(sun)
    cam = add_camera(scene, "Camera", (6, -6, 3))
    scene.camera = cam
    scene.frame_start, scene.frame_end = 1, 3
    if animated:
        for frame, location in ((1, (6, -6, 3)), (3, (7, -3, 4))):
            look_at(cam, location)
            cam.keyframe_insert("location", frame=frame)
            cam.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_set(2)
    return cam


def snapshot(scene):
    """Everything a capture may touch and must give back."""
    bpy.context.view_layer.update()  # evaluate matrices of objects made since the last update
    r = scene.render
    im = r.image_settings
    vl = bpy.context.view_layer
    media_type = im.media_type if HAS_MEDIA_TYPE else None  # 4.2: the file format alone says it
    return {
        "camera": scene.camera.name if scene.camera else None,
        "frame": (scene.frame_current, round(scene.frame_subframe, 6)),
        "render": tuple(
            getattr(r, a)
            for a in (
                "filepath", "engine", "resolution_x", "resolution_y", "resolution_percentage",
                "pixel_aspect_x", "pixel_aspect_y", "film_transparent", "use_single_layer",
                "use_compositing", "use_sequencer", "use_border", "use_multiview", "use_persistent_data",
            )
        ),
        "image": (media_type, im.file_format, im.color_mode, im.color_depth, im.exr_codec, im.compression),
        "samples": (scene.cycles.samples, scene.eevee.taa_render_samples),
        "passes": (vl.use_pass_z, vl.use_pass_normal, vl.use_pass_object_index),
        "selection": sorted(o.name for o in vl.objects if o.select_get()),
        "active": vl.objects.active.name if vl.objects.active else None,
        "pass_index": sorted((o.name, o.pass_index) for o in bpy.data.objects),
        "matrices": sorted((o.name, tuple(map(tuple, o.matrix_world))) for o in bpy.data.objects),
        "counts": tuple(
            len(c)
            for c in (bpy.data.objects, bpy.data.cameras, bpy.data.images, bpy.data.node_groups,
                      bpy.data.meshes, bpy.data.collections)
        ),
    }


def load_json(folder, name="transforms.json"):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def read_png(path):
    """RGBA float pixels (H, W, 4), row 0 at the top, via Blender (image removed afterwards)."""
    img = bpy.data.images.load(str(path))
    try:
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
        return px.reshape(h, w, 4)[::-1]
    finally:
        bpy.data.images.remove(img)


def read_depth(folder, frame):
    path = os.path.join(folder, frame["depth_file_path"])
    if path.endswith(".npy"):
        return np.load(path)
    return OpenEXR.File(path).parts[0].channels["Z"].pixels


def no_dataset(folder):
    return not any(n.startswith("transforms") for n in os.listdir(folder)) if os.path.isdir(folder) else True


# --- captures ------------------------------------------------------------------------------


def test_path_capture_writes_a_dataset(scene, tmp_path):
    build_scene(scene)
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 200, 100, 50
    scene.frame_set(2, subframe=0.25)
    before = snapshot(scene)
    out = str(tmp_path / "path")
    result = bpy.ops.ps4pro.capture(
        source="PATH", output_dir=out, resolution_x=W, resolution_y=H, transparent=True, depth_format="EXR",
        test_every=3,
    )
    assert result == {"FINISHED"}
    assert snapshot(scene) == before
    assert scene.ps4pro.last_dataset == out
    meta = load_json(out)
    assert len(meta["frames"]) == 3
    for key in ("camera_angle_x", "camera_angle_y", "fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "p1", "p2",
                "aabb", "train_filenames", "val_filenames", "test_filenames", "frames"):
        assert key in meta, key
    assert meta["camera_model"] == "OPENCV"
    assert (meta["w"], meta["h"]) == (W, H)
    assert meta["camera_angle_x"] == pytest.approx(2 * math.atan(W / (2 * meta["fl_x"])))
    np.testing.assert_allclose(meta["aabb"], [[-4, -4, -1], [4, 4, 1]], atol=1e-5)
    ps = meta["ps4pro"]
    assert ps["version"] == 1 and ps["source"] == "PATH" and ps["scene"] == scene.name
    assert ps["engine"] == "CYCLES" and ps["transparent"] is True and ps["frame_range"] == [1, 3, 1]
    assert ps["depth"] == {"format": "exr", "kind": "planar", "background": 1e10, "exr_channel": "Z"}
    # Splits: view 1 of every 3 is test, val mirrors test.
    assert [f["split"] for f in meta["frames"]] == ["train", "test", "train"]
    assert meta["test_filenames"] == meta["val_filenames"] == ["images/0001.png"]
    assert meta["train_filenames"] == ["images/0000.png", "images/0002.png"]
    for i, frame in enumerate(meta["frames"]):
        assert frame["file_path"] == f"images/{i:04d}.png"
        assert frame["depth_file_path"] == f"depth/{i:04d}.exr"
        assert frame["frame"] == i + 1 and frame["time"] == pytest.approx(i / 2)
        assert frame["camera"] == "Camera"
        for key in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
            assert frame[key] == meta[key]
        assert np.asarray(frame["transform_matrix"]).shape == (4, 4)
        rgba = read_png(os.path.join(out, frame["file_path"]))
        assert rgba.shape == (H, W, 4)
        depth = read_depth(out, frame)
        assert depth.shape == (H, W)
        background = depth >= 1e9
        assert background.any() and (~background).any()
        assert np.all(rgba[..., 3][background] == 0)  # transparent film
        assert np.all(rgba[..., 3][~background] > 0)
    # The poses follow the animation (first and last keyed poses).
    np.testing.assert_allclose(np.asarray(meta["frames"][0]["transform_matrix"])[:3, 3], (6, -6, 3), atol=1e-5)
    np.testing.assert_allclose(np.asarray(meta["frames"][2]["transform_matrix"])[:3, 3], (7, -3, 4), atol=1e-5)
    for split in ("train", "val", "test"):
        data = load_json(out, f"transforms_{split}.json")
        assert data["camera_angle_x"] == meta["camera_angle_x"]
        names = meta[f"{split}_filenames"]
        assert [f["file_path"] for f in data["frames"]] == ["./" + n[: -len(".png")] for n in names]
    assert not [n for n in os.listdir(out) if n.startswith(".ps4pro") or n.endswith(".tmp")]


def test_orbit_capture_without_camera(scene, tmp_path):
    build_scene(scene, animated=False)
    cube = bpy.data.objects["Cube"]
    cube.select_set(True)
    scene.camera = None
    before = snapshot(scene)
    out = str(tmp_path / "orbit")
    assert bpy.ops.ps4pro.capture(source="ORBIT", orbit_count=5, orbit_layout="RING", orbit_elevation=0.3,
                                  orbit_distance=3.0, depth_format="NONE", output_dir=out) == {"FINISHED"}
    assert snapshot(scene) == before
    meta = load_json(out)
    assert len(meta["frames"]) == 5
    # No scene camera: 50 mm lens on a 36 mm sensor.
    assert meta["fl_x"] == pytest.approx(50 / 36 * W)
    assert meta["ps4pro"]["depth"]["format"] is None
    radius = math.sqrt(3)
    for frame in meta["frames"]:
        m = np.asarray(frame["transform_matrix"])
        position, forward = m[:3, 3], -m[:3, 2]
        assert np.linalg.norm(position) == pytest.approx(3.0 * radius, rel=1e-5)
        assert position[2] / np.linalg.norm(position) == pytest.approx(math.sin(0.3), abs=1e-5)
        np.testing.assert_allclose(forward, -position / np.linalg.norm(position), atol=1e-5)
        assert "depth_file_path" not in frame
        rgba = read_png(os.path.join(out, frame["file_path"]))
        assert rgba.shape == (H, W, 4) and np.all(rgba[..., 3] == 1)  # opaque film
    assert len({tuple(np.round(np.asarray(f["transform_matrix"])[:3, 3], 4)) for f in meta["frames"]}) == 5


def test_orbit_is_deterministic_and_uses_the_active_lens(scene, tmp_path):
    cam = build_scene(scene, animated=False)
    cam.data.lens = 35
    bpy.data.objects["Cube"].select_set(True)
    metas = []
    for name in ("a", "b"):
        out = str(tmp_path / name)
        bpy.ops.ps4pro.capture(source="ORBIT", orbit_count=4, orbit_layout="SPHERE", depth_format="NONE", output_dir=out)
        metas.append(load_json(out))
    assert [f["transform_matrix"] for f in metas[0]["frames"]] == [f["transform_matrix"] for f in metas[1]["frames"]]
    assert metas[0]["fl_x"] == pytest.approx(35 / 36 * W)
    z = [f["transform_matrix"][2][3] for f in metas[0]["frames"]]
    assert max(z) > 0 > min(z)  # a sphere reaches below the target


def test_collection_capture(scene, tmp_path):
    build_scene(scene, animated=False)
    coll = bpy.data.collections.new("Rig")
    scene.collection.children.link(coll)
    for name, location in (("Rig.C", (0, -7, 2)), ("Rig.A", (7, 0, 2)), ("Rig.B", (-5, -5, 5))):
        add_camera(scene, name, location, collection=coll)
    bpy.data.cameras["Rig.B"].lens = 30
    before = snapshot(scene)
    out = str(tmp_path / "coll")
    assert bpy.ops.ps4pro.capture(source="COLLECTION", camera_collection="Rig", depth_format="NPY",
                                  output_dir=out) == {"FINISHED"}
    assert snapshot(scene) == before
    meta = load_json(out)
    assert [f["camera"] for f in meta["frames"]] == ["Rig.A", "Rig.B", "Rig.C"]
    # Lenses differ, so intrinsics are per frame only.
    assert "fl_x" not in meta and "camera_angle_x" in meta
    assert meta["frames"][1]["fl_x"] == pytest.approx(30 / 36 * W)
    for frame, name in zip(meta["frames"], ["Rig.A", "Rig.B", "Rig.C"]):
        np.testing.assert_allclose(frame["transform_matrix"], np.asarray(bpy.data.objects[name].matrix_world), atol=1e-6)
        depth = np.load(os.path.join(out, frame["depth_file_path"]))
        assert depth.dtype == np.float32 and depth.shape == (H, W)
        assert read_png(os.path.join(out, frame["file_path"])).shape == (H, W, 4)
    assert [f["split"] for f in meta["frames"]] == ["train", "train", "train"]  # Hold Out Every 8


def test_collection_cameras_name_their_split(scene, tmp_path):
    """A camera's ps4pro_split property puts it in that split; unmarked cameras then train."""
    build_scene(scene, animated=False)
    coll = bpy.data.collections.new("Rig")
    scene.collection.children.link(coll)
    for name, location in (("Rig.A", (7, 0, 2)), ("Rig.B", (-5, -5, 5)), ("Rig.C", (0, -7, 2))):
        add_camera(scene, name, location, collection=coll)
    bpy.data.objects["Rig.B"]["ps4pro_split"] = "test"
    out = str(tmp_path / "split")
    assert bpy.ops.ps4pro.capture(source="COLLECTION", camera_collection="Rig", depth_format="NONE",
                                  test_every=2, output_dir=out) == {"FINISHED"}
    meta = load_json(out)
    assert [f["split"] for f in meta["frames"]] == ["train", "test", "train"]
    assert [f["file_path"] for f in load_json(out, "transforms_test.json")["frames"]] == ["./images/0001"]
    bpy.data.objects["Rig.B"]["ps4pro_split"] = "holdout"
    with pytest.raises(RuntimeError, match="ps4pro_split"):
        bpy.ops.ps4pro.capture(source="COLLECTION", camera_collection="Rig", depth_format="NONE",
                               output_dir=str(tmp_path / "bad"))
    assert not os.path.exists(str(tmp_path / "bad" / "transforms.json"))


@pytest.mark.parametrize("depth_format, odd_camera", [("EXR", False), ("NPY", False), ("NPY", True)])
def test_depth_lands_on_the_mesh(scene, tmp_path, depth_format, odd_camera):
    """Back-projecting the written depth with the written intrinsics and poses lands on the
    surfaces that ``scene.ray_cast`` hits along the same pixel rays."""
    cam = build_scene(scene)
    if odd_camera:
        # A percentage that truncates (101 x 77 at 33% renders 33 x 25), vertical sensor
        # fit, lens shift and non-square pixels: rays follow the rendered image, not the
        # nominal aspect.
        r = scene.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = 101, 77, 33
        r.pixel_aspect_x, r.pixel_aspect_y = 1.0, 1.25
        cam.data.sensor_fit, cam.data.sensor_height = "VERTICAL", 20.0
        cam.data.shift_x, cam.data.shift_y = 0.1, -0.05
    out = str(tmp_path / "depth")
    assert bpy.ops.ps4pro.capture(depth_format=depth_format, output_dir=out) == {"FINISHED"}
    meta = load_json(out)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for frame in meta["frames"][::2]:
        depth = read_depth(out, frame)
        h, w = depth.shape
        assert (w, h) == (frame["w"], frame["h"])
        v, u = np.mgrid[0:h, 0:w] + 0.5
        m = np.asarray(frame["transform_matrix"])
        # Camera-space rays (x right, y up, -z forward) with unit planar depth.
        rays = np.stack([(u - frame["cx"]) / frame["fl_x"], -(v - frame["cy"]) / frame["fl_y"], -np.ones_like(u)], -1)
        points = m[:3, 3] + (rays * depth[..., None]) @ m[:3, :3].T
        errors, misses = [], 0
        for row in range(h):
            for col in range(w):
                direction = Vector(m[:3, :3] @ rays[row, col]).normalized()
                hit, location, *_ = scene.ray_cast(depsgraph, Vector(m[:3, 3]), direction)
                if not hit:
                    misses += depth[row, col] < 1e9
                    continue
                errors.append(np.linalg.norm(points[row, col] - np.asarray(location)))
        print(f"depth: median {np.median(errors):.1e}, mean {np.mean(errors):.1e} over {len(errors)} hits")
        assert len(errors) > 400
        assert np.median(errors) < 1e-3
        assert np.mean(errors) < 2e-3
        assert misses <= 0.02 * len(errors)


def test_normals_and_masks(scene, tmp_path):
    build_scene(scene)
    out = str(tmp_path / "nm")
    assert bpy.ops.ps4pro.capture(depth_format="EXR", normals=True, masks=True, output_dir=out) == {"FINISHED"}
    meta = load_json(out)
    ps = meta["ps4pro"]
    assert ps["masks"]["objects"] == {"1": "Cube", "2": "Plane"}
    assert ps["normals"]["format"] == "exr"
    frame = meta["frames"][0]
    channels = OpenEXR.File(os.path.join(out, frame["normal_file_path"]), separate_channels=True).parts[0].channels
    normals = np.stack([channels[c].pixels for c in "RGB"], -1)
    rgba = read_png(os.path.join(out, frame["mask_file_path"]))
    mask = np.rint(rgba[..., 0] * 255).astype(int)
    depth = read_depth(out, frame)
    assert set(np.unique(mask)) == {0, 1, 2}
    assert np.all((mask == 0) == (depth >= 1e9))
    plane = mask == 2
    np.testing.assert_allclose(np.median(normals[plane], axis=0), (0, 0, 1), atol=1e-3)
    lengths = np.linalg.norm(normals[mask > 0], axis=-1)
    assert np.median(lengths) == pytest.approx(1, abs=1e-3)


def test_workbench_renders_depth(scene, tmp_path):
    """Workbench has a planar Z pass too (no normals or masks, refused up front)."""
    build_scene(scene, engine="BLENDER_WORKBENCH")
    out = str(tmp_path / "wb")
    assert bpy.ops.ps4pro.capture(use_scene_frame_range=False, frame_start=1, frame_end=1, depth_format="NPY",
                                  output_dir=out) == {"FINISHED"}
    meta = load_json(out)
    assert meta["ps4pro"]["engine"] == "BLENDER_WORKBENCH"
    depth = read_depth(out, meta["frames"][0])
    near = depth[depth < 1e9]
    assert near.size > 0.5 * depth.size and 3 < near.min() < near.max() < 20


def test_scene_settings_drive_the_operator_and_recapture_replaces(scene, tmp_path):
    """Unset arguments come from the panel's scene settings; a smaller recapture leaves
    no stale views behind."""
    build_scene(scene)
    settings = scene.ps4pro
    out = str(tmp_path / "ds")
    settings.output_dir, settings.depth_format, settings.test_every = out, "NPY", 0
    assert bpy.ops.ps4pro.capture() == {"FINISHED"}
    meta = load_json(out)
    assert len(meta["frames"]) == 3 and meta["ps4pro"]["depth"]["format"] == "npy"
    assert meta["test_filenames"] == meta["val_filenames"] == [] and len(meta["train_filenames"]) == 3
    assert bpy.ops.ps4pro.capture(frame_step=2) == {"FINISHED"}
    meta = load_json(out)
    assert [f["frame"] for f in meta["frames"]] == [1, 3]
    assert sorted(os.listdir(os.path.join(out, "images"))) == ["0000.png", "0001.png"]
    assert sorted(os.listdir(os.path.join(out, "depth"))) == ["0000.npy", "0001.npy"]


# --- errors ---------------------------------------------------------------------------------


def _no_camera(scene):
    scene.camera = None


def _ortho(scene):
    scene.camera.data.type = "ORTHO"


def _pano(scene):
    scene.camera.data.type = "PANO"


def _static(scene):
    cam = scene.camera
    cam.animation_data_clear()


def _workbench_masks(scene):
    scene.render.engine = "BLENDER_WORKBENCH"


ERRORS = [
    (_no_camera, {}, "no active camera"),
    (_ortho, {}, "'Camera' is orthographic; PS4PRO needs a perspective camera"),
    (_pano, {}, "'Camera' is panoramic; PS4PRO needs a perspective camera"),
    (None, {"use_scene_frame_range": False, "frame_start": 5, "frame_end": 2}, "frame range is empty"),
    (_static, {}, "'Camera' has no animation; animate it or use Orbit/Collection"),
    (None, {"source": "ORBIT"}, "Nothing is selected"),
    (None, {"source": "COLLECTION", "camera_collection": "Missing"}, "Collection 'Missing' not found"),
    (None, {"source": "COLLECTION", "camera_collection": "Empty"}, "Collection 'Empty' has no cameras"),
    (_workbench_masks, {"masks": True}, "Workbench engine can't render object masks"),
    (None, {"output_dir": "FILE/sub"}, "Can't write to the output folder"),
]


@pytest.mark.parametrize("prepare, args, message", ERRORS, ids=[e[2][:24] for e in ERRORS])
def test_errors_leave_scene_and_folder_alone(scene, tmp_path, prepare, args, message):
    build_scene(scene)
    bpy.data.collections.new("Empty")  # exists, holds no cameras
    blocker = tmp_path / "FILE"
    blocker.write_text("a file where a folder would go")
    if prepare:
        prepare(scene)
    args = dict(args)
    args["output_dir"] = str(tmp_path / args.get("output_dir", "out"))
    before = snapshot(scene)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.ps4pro.capture(**args)
    assert snapshot(scene) == before
    assert no_dataset(str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
    assert scene.ps4pro.last_dataset == ""


def test_failure_mid_capture_restores_scene_and_unmarks_old_dataset(scene, tmp_path, monkeypatch):
    build_scene(scene)
    out = str(tmp_path / "ds")
    assert bpy.ops.ps4pro.capture(output_dir=out, masks=True) == {"FINISHED"}
    assert not no_dataset(out)
    render = module("scene.capture_render")
    driver = module("jobs.driver")
    real = render.render_view
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise driver.OperatorError("Simulated render failure", "none")
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "render_view", failing)
    before = snapshot(scene)
    with pytest.raises(RuntimeError, match="Simulated render failure"):
        bpy.ops.ps4pro.capture(output_dir=out, masks=True)
    assert snapshot(scene) == before
    assert no_dataset(out)  # the old transforms.json is gone: the folder holds a partial capture
    assert not [n for n in os.listdir(out) if n.startswith(".ps4pro")]


@pytest.mark.parametrize("source", ["PATH", "ORBIT"])
def test_cancel_restores_scene(scene, tmp_path, source):
    build_scene(scene)
    bpy.data.objects["Cube"].select_set(True)
    before = snapshot(scene)
    out = str(tmp_path / "cancel")
    capture = module("operators.capture")
    steps = capture.capture_steps(
        bpy.context, {"source": source, "orbit_count": 4, "output_dir": out, "normals": True, "transparent": True}
    )
    progress = next(steps)
    assert (progress.stage, progress.done, progress.total) == ("Rendering", 1, 3 if source == "PATH" else 4)
    assert os.path.exists(os.path.join(out, "images", "0000.png"))
    steps.close()
    assert snapshot(scene) == before
    assert no_dataset(out)
    assert scene.ps4pro.last_dataset == ""


def test_steps_yield_once_per_view(scene, tmp_path):
    build_scene(scene)
    capture = module("operators.capture")
    progress = list(capture.capture_steps(bpy.context, {"output_dir": str(tmp_path / "s"), "depth_format": "NONE"}))
    assert [(p.done, p.total, p.text) for p in progress] == [(1, 3, "Camera"), (2, 3, "Camera"), (3, 3, "Camera")]


def test_exr_reader_matches_openexr(scene, tmp_path):
    """Our EXR writer's files read back identically with the OpenEXR library and our reader."""
    writer = module("scene.dataset_writer")
    reader = module("scene.capture_render")
    rng = np.random.default_rng(0)
    z = rng.random((37, 23)).astype(np.float32) * 100
    z[0, 0] = 1e10
    g = rng.standard_normal((37, 23)).astype(np.float32)
    path = str(tmp_path / "t.exr")
    writer.write_exr(path, {"Z": z, "G": g})
    channels = OpenEXR.File(path).parts[0].channels
    np.testing.assert_array_equal(channels["Z"].pixels, z)
    np.testing.assert_array_equal(channels["G"].pixels, g)
    mine = reader.read_exr(path)
    np.testing.assert_array_equal(mine["Z"], z)
    np.testing.assert_array_equal(mine["G"], g)


@pytest.mark.parametrize("interleave, depth", [(False, "32"), (True, "16")])
def test_exr_reader_reads_blender_multilayer(scene, tmp_path, interleave, depth):
    """Blender's own multilayer files (multi-part or interleaved, ZIP, half or float)."""
    build_scene(scene)
    scene.view_layers[0].use_pass_z = scene.view_layers[0].use_pass_normal = True
    bpy.ops.render.render()
    settings = scene.render.image_settings
    if HAS_MEDIA_TYPE:
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth, settings.exr_codec = depth, "ZIP"
    if HAS_MEDIA_TYPE:
        settings.use_exr_interleave = interleave
    # else (4.2): Blender writes only single-part (interleaved) multilayer files
    path = str(tmp_path / "ml.exr")
    next(im for im in bpy.data.images if im.type == "RENDER_RESULT").save_render(path, scene=scene)
    ref = {k: c.pixels for p in OpenEXR.File(path, separate_channels=True).parts for k, c in p.channels.items()}
    mine = module("scene.capture_render").read_exr(path)
    assert set(mine) == set(ref) and "ViewLayer.Depth.Z" in mine
    for name, pixels in ref.items():
        np.testing.assert_array_equal(mine[name], pixels.astype(np.float32))
