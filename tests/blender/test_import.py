"""Import: PLY point clouds and meshes, dataset cameras and result.json into the real bpy.

Everything goes through the installed extension (its operator and its own modules), as a
user's script would.
"""

import importlib
import json
import math
import struct
import zlib

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from conftest import ADDON


@pytest.fixture(scope="module")
def mods(addon):
    return {
        "ply": importlib.import_module(f"{addon}.ps4pro_blender.ply"),
        "geo": importlib.import_module(f"{addon}.scene.geometry_import"),
        "imp": importlib.import_module(f"{addon}.operators.import_result"),
    }


def _srgb_bytes_from_linear(lin):
    lin = np.clip(lin, 0.0, 1.0)
    s = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1.0 / 2.4) - 0.055)
    return np.rint(s * 255.0).astype(np.int64)


def _attr(geometry, name, field, width):
    attr = geometry.attributes[name]
    out = np.empty(len(attr.data) * width, np.float32)
    attr.data.foreach_get(field, out)
    return out.reshape(-1, width) if width > 1 else out


def _cloud(n=500, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, 3)).astype(np.float32)
    cols = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    extra = {"opacity": rng.random(n).astype(np.float32), "confidence": rng.random(n).astype(np.float32)}
    return pts, cols, extra


def _grid(side=6):
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    pts = np.stack([i.ravel(), j.ravel(), np.zeros(side * side)], 1).astype(np.float32)
    quads = []
    for a in range(side - 1):
        for b in range(side - 1):
            v = a * side + b
            quads.append([v, v + side, v + side + 1, v + 1])
    return pts, quads


def _point_objects():
    return [o for o in bpy.data.objects if "ps4pro_point_radius" in o]


def _point_type(mods):
    """POINTCLOUD from 4.5 on; 4.2 makes a mesh object with a Mesh to Points modifier."""
    return "MESH" if mods["geo"].point_cloud_method() == "GEOMETRY_NODES" else "POINTCLOUD"


def _snapshot():
    d = bpy.data
    return {
        "objects": sorted(o.name for o in d.objects),
        "collections": sorted(c.name for c in d.collections),
        "meshes": len(d.meshes),
        "pointclouds": len(d.pointclouds),
        "cameras": len(d.cameras),
        "materials": len(d.materials),
        "node_groups": len(d.node_groups),
        "resolution": (bpy.context.scene.render.resolution_x, bpy.context.scene.render.resolution_y),
        "last_result": bpy.context.scene.ps4pro.last_result,
    }


# ----------------------------------------------------------------------------- points


def test_point_cloud_import(scene, mods, tmp_path):
    pts, cols, extra = _cloud()
    path = tmp_path / "cloud.ply"
    mods["ply"].write_ply(path, pts, cols, extra={**extra, "nx": pts[:, 0], "ny": pts[:, 1], "nz": pts[:, 2]})

    assert bpy.ops.ps4pro.import_result(filepath=str(path)) == {"FINISHED"}

    obj = bpy.context.view_layer.objects.active
    assert obj is not None and obj.select_get()
    method = mods["geo"].point_cloud_method()
    if bpy.app.version >= (5, 1, 0):
        assert method == "POINTCLOUD"
    elif bpy.app.version < (4, 5, 0):
        assert method == "GEOMETRY_NODES"
    # A real point cloud from 4.5 on (5.2: built directly); 4.2: a mesh with Mesh to Points.
    assert obj.type == ("MESH" if method == "GEOMETRY_NODES" else "POINTCLOUD")
    assert obj.name in bpy.data.collections["PS4PRO"].objects
    assert "PS4PRO" in scene.collection.children
    pc = obj.data
    assert len(pc.attributes["position"].data) == len(pts)
    np.testing.assert_array_equal(_attr(pc, "position", "vector", 3), pts)
    col = _attr(pc, "Col", "color", 4)
    np.testing.assert_array_equal(_srgb_bytes_from_linear(col[:, :3]), cols)
    np.testing.assert_array_equal(col[:, 3], 1.0)
    for name, values in extra.items():
        np.testing.assert_array_equal(_attr(pc, name, "value", 1), values)
    np.testing.assert_array_equal(_attr(pc, "nx", "value", 1), pts[:, 0])
    radius = _attr(pc, "radius", "value", 1)
    assert np.all(radius > 0) and np.all(radius == radius[0])
    # Half the nearest-neighbour spacing: well below the cloud's size, not vanishing.
    assert 0.005 < radius[0] < 0.5

    mean = mods["geo"].srgb_to_linear_lut()[cols].mean(0)
    np.testing.assert_allclose(obj.color[:3], mean, atol=1e-5)  # Solid mode, Object colour

    mat = pc.materials[0]
    assert mat.name == "PS4PRO Point Colour"
    attr_nodes = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeAttribute"]
    assert [n.attribute_name for n in attr_nodes] == ["Col"]
    assert attr_nodes[0].outputs["Color"].is_linked
    assert scene.ps4pro.last_result == str(path)

    # A second import reuses the material and the collection.
    assert bpy.ops.ps4pro.import_result(filepath=str(path), point_radius=0.25) == {"FINISHED"}
    second = bpy.context.view_layer.objects.active
    assert second != obj and not obj.select_get() and second.select_get()
    assert second.data.materials[0] == mat
    assert len([m for m in bpy.data.materials if m.name.startswith("PS4PRO Point Colour")]) == 1
    assert len([c for c in bpy.data.collections if c.name.startswith("PS4PRO")]) == 1
    np.testing.assert_allclose(_attr(second.data, "radius", "value", 1), 0.25)


def _evaluated_cloud(obj, fields):
    """{name: array} of the point cloud that ``obj`` evaluates to (its own data, or what its
    geometry nodes make: through ``Object.evaluated_geometry`` where Blender has it (5.x; not 4.2),
    else through the depsgraph's instances, where a mesh object's point-cloud component is a
    temporary POINTCLOUD instance of it)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)

    def read(cloud):
        out = {name: _attr(cloud, name, field, width) for name, (field, width) in fields.items()}
        out["count"] = len(cloud.points)
        return out

    if obj.type == "POINTCLOUD":
        return read(evaluated.data)
    if hasattr(evaluated, "evaluated_geometry"):
        geometry = evaluated.evaluated_geometry()  # keep it alive while reading its point cloud
        return read(geometry.pointcloud)
    clouds = [
        read(inst.object.data)  # read while iterating: instance objects are temporary
        for inst in depsgraph.object_instances
        if inst.is_instance and inst.parent and inst.parent.original == obj and inst.object.type == "POINTCLOUD"
    ]
    assert len(clouds) == 1
    return clouds[0]


@pytest.mark.parametrize("method", ["POINTCLOUD", "CONVERT", "GEOMETRY_NODES"])
def test_point_cloud_paths(scene, mods, method):
    """Every version branch (5.1+ resize, 4.5+ convert, 4.2 geometry nodes) runs here too."""
    geo = mods["geo"]
    if method == "POINTCLOUD" and "resize" not in bpy.types.PointCloud.bl_rna.functions:
        pytest.skip("PointCloud.resize needs Blender 5.1+")
    if method == "CONVERT" and bpy.app.version < (4, 5, 0):
        pytest.skip("converting to a point cloud needs Blender 4.5+")
    pts, cols, extra = _cloud(200, seed=1)
    obj = geo.points_object("pts", pts, cols, extra, radius=0.02, method=method)
    if method == "GEOMETRY_NODES":
        assert obj.type == "MESH" and obj.modifiers[0].type == "NODES"
        assert obj.modifiers[0].node_group.name == "PS4PRO Mesh to Points"
    else:
        assert obj.type == "POINTCLOUD"
    cloud = _evaluated_cloud(
        obj, {"position": ("vector", 3), "radius": ("value", 1), "Col": ("color", 4), "opacity": ("value", 1)}
    )
    assert cloud["count"] == len(pts)
    # Compare as sets of rows: geometry nodes keep the order, but do not rely on it.
    got = cloud["position"]
    np.testing.assert_array_equal(got[np.lexsort(got.T)], pts[np.lexsort(pts.T)])
    np.testing.assert_allclose(cloud["radius"], 0.02)
    np.testing.assert_array_equal(_srgb_bytes_from_linear(cloud["Col"][:, :3]), cols)
    np.testing.assert_array_equal(cloud["opacity"], extra["opacity"])
    assert len(bpy.data.meshes) == (1 if method == "GEOMETRY_NODES" else 0)  # no leftover mesh


def test_import_path_function_and_defaults(scene, mods, tmp_path):
    pts, cols, _ = _cloud(50)
    path = tmp_path / "p.ply"
    mods["ply"].write_ply(path, pts, cols)
    objects = mods["imp"].import_path(bpy.context, str(path))
    assert len(objects) == 1 and objects[0].type == _point_type(mods)
    # No argument: the scene settings' file, then the last result.
    scene.ps4pro.filepath = ""
    assert bpy.ops.ps4pro.import_result() == {"FINISHED"}
    assert len(_point_objects()) == 2
    scene.ps4pro.filepath = str(path)
    scene.ps4pro.last_result = ""
    assert bpy.ops.ps4pro.import_result() == {"FINISHED"}
    assert len(_point_objects()) == 3


# ----------------------------------------------------------------------------- meshes


def test_mesh_import(scene, mods, tmp_path):
    pts, quads = _grid(6)
    faces = [q[:3] for q in quads[:5]] + quads[5:]  # mixed triangles and quads
    faces.append([0, 0, 1])  # degenerate: dropped
    cols = (np.arange(len(pts) * 3) % 256).astype(np.uint8).reshape(-1, 3)
    path = tmp_path / "mesh.ply"
    mods["ply"].write_ply(path, pts, cols, faces, extra={"confidence": np.linspace(0, 1, len(pts), dtype=np.float32)})

    assert bpy.ops.ps4pro.import_result(filepath=str(path)) == {"FINISHED"}
    obj = bpy.context.view_layer.objects.active
    assert obj.type == "MESH"
    me = obj.data
    assert len(me.vertices) == len(pts)
    assert len(me.polygons) == len(faces) - 1
    assert [list(p.vertices) for p in me.polygons] == faces[:-1]
    assert len(me.edges) > 0
    assert not me.validate(verbose=False)  # nothing to fix
    np.testing.assert_array_equal(_attr(me, "position", "vector", 3), pts)
    assert me.color_attributes.active_color.name == "Col"
    assert me.color_attributes[me.color_attributes.render_color_index].name == "Col"
    col = _attr(me, "Col", "color", 4)
    assert me.attributes["Col"].domain == "POINT"
    np.testing.assert_array_equal(_srgb_bytes_from_linear(col[:, :3]), cols)
    np.testing.assert_allclose(_attr(me, "confidence", "value", 1), np.linspace(0, 1, len(pts)), atol=1e-7)
    assert me.materials[0].name == "PS4PRO Point Colour"


def test_triangle_mesh_fast_path(scene, mods):
    geo = mods["geo"]
    pts, quads = _grid(5)
    tris = np.array([[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads], np.int32)
    obj = geo.mesh_object("tri", pts, tris)
    assert len(obj.data.polygons) == len(tris)
    got = np.empty(len(tris) * 3, np.int32)
    obj.data.attributes[".corner_vert"].data.foreach_get("value", got)
    np.testing.assert_array_equal(got, tris.ravel())


# ----------------------------------------------------------------------------- cameras


def _png(path, w, h):
    """A valid w x h grey PNG, written with the standard library only."""
    raw = b"".join(b"\x00" + b"\x80" * (w * 3) for _ in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _look_at(eye, target=(0.0, 0.0, 0.0)):
    eye = np.asarray(eye, float)
    forward = np.asarray(target, float) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -forward, eye
    return m


def _project(m, fx, fy, cx, cy, point):
    """The dataset's pinhole model: OpenGL camera axes, pixels from the top-left corner."""
    p = np.linalg.inv(m) @ np.append(point, 1.0)
    x, y, z = p[:3]
    return fx * x / -z + cx, -fy * y / -z + cy


def _dataset(tmp_path, frames, **common):
    folder = tmp_path / "dataset"
    folder.mkdir(exist_ok=True)
    (folder / "transforms.json").write_text(json.dumps({**common, "frames": frames}))
    return folder


def _check_projection(scene, obj, fx, fy, cx, cy, w, h, points):
    m = np.array([list(r) for r in obj.matrix_world])
    worst = 0.0
    for point in points:
        ndc = world_to_camera_view(scene, obj, Vector(point))
        u, v = ndc.x * w, (1.0 - ndc.y) * h
        eu, ev = _project(m, fx, fy, cx, cy, point)
        worst = max(worst, abs(u - eu), abs(v - ev))
    assert worst <= 0.5, worst
    return worst


def test_cameras_from_transforms(scene, mods, tmp_path):
    rng = np.random.default_rng(3)
    points = rng.uniform(-0.5, 0.5, size=(20, 3))
    w, h = 64, 48
    frames = [
        # global intrinsics, principal point off-centre
        {"file_path": "images/a.png", "transform_matrix": _look_at((4, 0, 1)).tolist()},
        # per-frame intrinsics
        {
            "file_path": "images/b.png",
            "fl_x": 70.0,
            "fl_y": 70.0,
            "cx": 30.0,
            "cy": 20.0,
            "transform_matrix": _look_at((0, -3, 2)).tolist(),
        },
    ]
    folder = _dataset(tmp_path, frames, fl_x=60.0, fl_y=60.0, cx=35.5, cy=21.0, w=w, h=h)
    assert bpy.ops.ps4pro.import_result(filepath=str(folder)) == {"FINISHED"}
    cams = [o for o in bpy.data.objects if o.type == "CAMERA"]
    assert len(cams) == 2 and all(o.select_get() for o in cams)
    assert (scene.render.resolution_x, scene.render.resolution_y) == (w, h)
    assert scene.camera is not None
    coll = cams[0].users_collection[0]
    assert coll.name == "dataset cameras" and coll.name in bpy.data.collections["PS4PRO"].children
    by_name = {o.name: o for o in cams}
    a, b = by_name["a"], by_name["b"]
    np.testing.assert_allclose(np.array([list(r) for r in a.matrix_world]), frames[0]["transform_matrix"], atol=1e-6)
    assert a.data.sensor_fit == "HORIZONTAL"
    assert math.isclose(a.data.lens, 60.0 * a.data.sensor_width / w, rel_tol=1e-6)
    assert _check_projection(scene, a, 60.0, 60.0, 35.5, 21.0, w, h, points) < 0.01
    assert _check_projection(scene, b, 70.0, 70.0, 30.0, 20.0, w, h, points) < 0.01


def test_cameras_non_square_pixels(scene, mods, tmp_path):
    """fl_x != fl_y becomes the scene's pixel aspect; the projection still matches."""
    w, h = 50, 40
    frames = [{"file_path": "c.png", "transform_matrix": _look_at((2, -2, 1.5)).tolist()}]
    folder = _dataset(tmp_path, frames, fl_x=55.0, fl_y=66.0, cx=27.0, cy=18.5, w=w, h=h)
    assert bpy.ops.ps4pro.import_result(filepath=str(folder / "transforms.json")) == {"FINISHED"}
    cam = bpy.data.objects["c"]
    assert math.isclose(scene.render.pixel_aspect_x / scene.render.pixel_aspect_y, 66.0 / 55.0, rel_tol=1e-6)
    points = np.random.default_rng(1).uniform(-0.5, 0.5, size=(20, 3))
    assert _check_projection(scene, cam, 55.0, 66.0, 27.0, 18.5, w, h, points) < 0.01


def test_cameras_from_angle_only(scene, mods, tmp_path):
    """The NeRF 'blender' layout: camera_angle_x only, image size from the images."""
    folder = tmp_path / "nerf"
    (folder / "train").mkdir(parents=True)
    _png(folder / "train" / "r_0.png", 40, 30)
    angle = 0.6911112070083618
    frames = [{"file_path": "./train/r_0", "transform_matrix": _look_at((0, -4, 0.5)).tolist()}]
    (folder / "transforms_train.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    assert bpy.ops.ps4pro.import_result(filepath=str(folder)) == {"FINISHED"}
    cam = bpy.data.objects["train/r_0"]
    assert (scene.render.resolution_x, scene.render.resolution_y) == (40, 30)
    fx = 0.5 * 40 / math.tan(angle / 2)
    assert math.isclose(cam.data.angle_x, angle, rel_tol=1e-6)
    _check_projection(scene, cam, fx, fx, 20.0, 15.0, 40, 30, np.random.default_rng(0).uniform(-1, 1, (10, 3)))


# ----------------------------------------------------------------------------- result.json


def test_result_json(scene, mods, tmp_path):
    ply = mods["ply"]
    pts, cols, extra = _cloud(300)
    ply.write_ply(tmp_path / "points.ply", pts, cols, extra=extra)
    gpts, quads = _grid(4)
    ply.write_ply(tmp_path / "mesh.ply", gpts, None, quads)
    frames = [{"file_path": "x.png", "transform_matrix": _look_at((3, 3, 3)).tolist()}]
    dataset = _dataset(tmp_path, frames, camera_angle_x=0.8, w=32, h=32)
    result = tmp_path / "job" / "result.json"
    result.parent.mkdir()
    result.write_text(
        json.dumps(
            {
                "points": str(tmp_path / "points.ply"),
                "mesh": str(tmp_path / "mesh.ply"),
                "dataset": str(dataset),
                "import_cameras": True,
            }
        )
    )
    assert bpy.ops.ps4pro.import_result(filepath=str(result)) == {"FINISHED"}
    types = sorted(o.type for o in bpy.data.objects)
    assert types == sorted(["CAMERA", "MESH", _point_type(mods)])
    assert len(_point_objects()) == 1
    assert scene.ps4pro.last_result == str(result)
    # The job folder itself works too, and import_cameras=False in the file is respected.
    result.write_text(json.dumps({"points": str(tmp_path / "points.ply"), "dataset": str(dataset)}))
    objects = mods["imp"].import_path(bpy.context, str(result.parent))
    assert [o.type for o in objects] == [_point_type(mods)]


# ----------------------------------------------------------------------------- errors


def _bad_inputs(tmp_path, ply):
    pts, cols, _ = _cloud(100)
    good = tmp_path / "good.ply"
    ply.write_ply(good, pts, cols, [[0, 1, 2]] * 10)
    data = good.read_bytes()
    (tmp_path / "truncated.ply").write_bytes(data[: len(data) - 25])
    (tmp_path / "header_only.ply").write_bytes(data[: data.index(b"end_header")])
    (tmp_path / "garbage.ply").write_bytes(b"\x00\x01garbage" * 50)
    bad_index = bytearray(data)
    bad_index[-4:] = struct.pack("<i", 10_000)
    (tmp_path / "bad_index.ply").write_bytes(bytes(bad_index))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "result.json").write_text(json.dumps({"points": str(tmp_path / "gone.ply"), "mesh": str(good)}))
    return [
        ("missing.ply", "not found"),
        ("truncated.ply", "truncated"),
        ("header_only.ply", "header"),
        ("garbage.ply", "not a PLY"),
        ("bad_index.ply", "vertex"),
        ("notes.txt", "Unknown file type"),
        ("other.json", "neither"),
        ("broken.json", "not valid JSON"),
        ("result.json", "not found"),
        ("no_such_folder", "not found"),
    ]


def test_errors_leave_scene_unchanged(scene, mods, tmp_path):
    cases = _bad_inputs(tmp_path, mods["ply"])
    before = _snapshot()
    for name, message in cases:
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.ps4pro.import_result(filepath=str(tmp_path / name))
        assert _snapshot() == before, name
    # The Python entry point raises the same clear error.
    OperatorError = importlib.import_module(f"{ADDON}.errors").OperatorError
    with pytest.raises(OperatorError, match="truncated"):
        mods["imp"].import_path(bpy.context, str(tmp_path / "truncated.ply"))
    assert _snapshot() == before


def test_undo_removes_import(scene, mods, tmp_path):
    pts, cols, _ = _cloud(100)
    path = tmp_path / "u.ply"
    mods["ply"].write_ply(path, pts, cols)
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):  # (overriding the area crashes headless)
        bpy.ops.ed.undo_push(message="before import")
        # Positional 'EXEC_DEFAULT', True: run as the UI does, pushing an undo step.
        assert bpy.ops.ps4pro.import_result("EXEC_DEFAULT", True, filepath=str(path)) == {"FINISHED"}
        assert len(_point_objects()) == 1
        assert bpy.ops.ed.undo() == {"FINISHED"}
        assert len(_point_objects()) == 0 and "PS4PRO" not in bpy.data.collections
        assert "PS4PRO Point Colour" not in bpy.data.materials
        assert bpy.ops.ed.redo() == {"FINISHED"}
        (obj,) = _point_objects()
        assert len(obj.data.attributes["position"].data) == 100


# ----------------------------------------------------------------------------- render


def test_cycles_render_shows_colours(scene, mods, tmp_path):
    """A red point cloud renders red in Cycles: the material reaches renders."""
    rng = np.random.default_rng(0)
    n = 3000
    pts = (rng.random((n, 3)) - 0.5).astype(np.float32)
    pts[:, 2] *= 0.05
    cols = np.tile(np.array([[230, 20, 20]], np.uint8), (n, 1))
    path = tmp_path / "red.ply"
    mods["ply"].write_ply(path, pts, cols)
    assert bpy.ops.ps4pro.import_result(filepath=str(path)) == {"FINISHED"}

    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.location = (0.0, 0.0, 2.0)  # looking down -Z at the cloud
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 2
    scene.render.resolution_x = scene.render.resolution_y = 32
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    out = tmp_path / "render.png"
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)

    image = bpy.data.images.load(str(out))
    try:
        px = np.empty(32 * 32 * 4, np.float32)
        image.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(image)
    px = px.reshape(32, 32, 4)
    centre = px[10:22, 10:22, :3].reshape(-1, 3)
    covered = centre[centre.max(1) > 0.05]
    assert len(covered) > 0.5 * len(centre)
    r, g, b = covered.mean(0)
    assert r > 0.3 and r > 3 * g and r > 3 * b, (r, g, b)
