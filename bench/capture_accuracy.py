"""How exact are the captured cameras and depth?

    .venv/blender/bin/python bench/capture_accuracy.py [--size 160]

Through the installed extension and its public operators, on a scene this script builds:

1. **Projection error**: for cameras with lens shift, vertical sensor fit, non-square pixels
   and a portrait frame, the mesh vertices are projected through the ``transform_matrix`` and
   ``fl_x fl_y cx cy`` that ``ps4pro.capture`` wrote, and compared with Blender's own
   ``world_to_camera_view`` (in pixels). Reported: max and mean over all visible vertices.
2. **Fusion accuracy**: an orbit capture fused by the backend (``ps4pro.fuse_depth``) and
   imported; each point's distance to the true surfaces (Blender's BVH over the evaluated
   meshes), as a fraction of the scene diagonal. The issue's bar: 95% under 1%.

Writes ``bench/results/capture_accuracy.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "capture_accuracy.md"
WORK = Path(tempfile.mkdtemp(prefix="ps4pro-capture-accuracy-"))
os.environ["BLENDER_USER_RESOURCES"] = str(WORK / "blender_user")
os.environ.setdefault("PS4PRO_PYTHON", str(REPO / ".venv" / "backend" / "bin" / "python"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402
from mathutils.bvhtree import BVHTree  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import extension_build  # noqa: E402

# name: (resolution x, y, pixel aspect x, y, sensor fit, shift x, y)
CAMERAS = {
    "plain": (160, 120, 1.0, 1.0, "AUTO", 0.0, 0.0),
    "lens shift": (160, 120, 1.0, 1.0, "AUTO", 0.2, -0.12),
    "vertical fit + shift": (160, 120, 1.0, 1.0, "VERTICAL", 0.15, 0.1),
    "non-square pixels": (160, 120, 1.0, 1.5, "AUTO", 0.0, 0.0),
    "portrait, all of it": (96, 160, 1.3, 1.0, "VERTICAL", -0.1, 0.2),
}


def build_scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=3.0)
    bpy.ops.mesh.primitive_cube_add(size=0.8, location=(-0.4, 0.2, 0.4))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.4, location=(0.5, -0.3, 0.4), segments=32, ring_count=16)
    bpy.ops.mesh.primitive_monkey_add(size=0.6, location=(0.3, 0.7, 0.35))
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(sun)
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    for o in scene.objects:
        o.select_set(o.type == "MESH")
    return scene, [o for o in scene.objects if o.type == "MESH"]


def projection_errors(scene, meshes, size):
    """Max and mean pixel error per camera setup, each captured alone (render settings differ)."""
    rows = {}
    verts = [o.matrix_world @ v.co for o in meshes for v in o.data.vertices]
    for name, (rx, ry, ax, ay, fit, sx, sy) in CAMERAS.items():
        for o in [o for o in scene.objects if o.type == "CAMERA"]:
            bpy.data.objects.remove(o)
        r = scene.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = rx * size // 160, ry * size // 160, 100
        r.pixel_aspect_x, r.pixel_aspect_y = ax, ay
        data = bpy.data.cameras.new(name)
        data.lens, data.sensor_fit, data.shift_x, data.shift_y = 35.0, fit, sx, sy
        cam = bpy.data.objects.new(name, data)
        scene.collection.objects.link(cam)
        cam.location = (2.5, -3.0, 2.0)
        cam.rotation_euler = (Vector((0, 0, 0.3)) - cam.location).to_track_quat("-Z", "Y").to_euler()
        scene.camera = cam
        out = WORK / f"proj-{len(rows)}"
        assert bpy.ops.ps4pro.capture(source="PATH", use_scene_frame_range=False, frame_start=1, frame_end=1,
                                      depth_format="NONE", samples=1, output_dir=str(out)) == {"FINISHED"}
        frame = json.loads((out / "transforms.json").read_text())["frames"][0]
        w2c = Matrix(frame["transform_matrix"]).inverted()
        errors = []
        for p in verts:
            ref = world_to_camera_view(scene, cam, p)
            if ref.z <= 0 or not (0 <= ref.x <= 1 and 0 <= ref.y <= 1):
                continue
            x, y, z = w2c @ p
            u = frame["fl_x"] * x / -z + frame["cx"]
            v = frame["fl_y"] * -y / -z + frame["cy"]
            errors.append(np.hypot(u - ref.x * frame["w"], v - (1 - ref.y) * frame["h"]))
        rows[name] = (max(errors), float(np.mean(errors)), len(errors), f"{frame['w']}x{frame['h']}")
    return rows


def fusion_accuracy(scene, meshes, size):
    out = WORK / "orbit"
    assert bpy.ops.ps4pro.capture(source="ORBIT", orbit_count=24, resolution_x=size, resolution_y=size * 3 // 4,
                                  depth_format="EXR", output_dir=str(out)) == {"FINISHED"}
    assert bpy.ops.ps4pro.fuse_depth(dataset=str(out), import_result=True) == {"FINISHED"}
    cloud = bpy.context.active_object
    pts = np.empty(len(cloud.data.points) * 3, np.float32)
    cloud.data.attributes["position"].data.foreach_get("vector", pts)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    verts, polys = [], []
    for obj in meshes:
        mesh = obj.evaluated_get(depsgraph).to_mesh()
        base = len(verts)
        verts += [obj.matrix_world @ v.co for v in mesh.vertices]
        polys += [[base + i for i in p.vertices] for p in mesh.polygons]
        obj.evaluated_get(depsgraph).to_mesh_clear()
    bvh = BVHTree.FromPolygons(verts, polys)
    d = np.array([bvh.find_nearest(Vector(p))[3] for p in pts.reshape(-1, 3)])
    lo, hi = np.array(json.loads((out / "transforms.json").read_text())["aabb"])
    diag = float(np.linalg.norm(hi - lo))
    return {"points": len(d), "diagonal": diag, "mean": d.mean() / diag, "p95": np.percentile(d, 95) / diag,
            "max": d.max() / diag, "within 1%": float((d < 0.01 * diag).mean())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160, help="render width for the orbit capture")
    args = parser.parse_args()
    extension_build.install(extension_build.build(REPO, WORK / "ps4pro.zip"))
    scene, meshes = build_scene()
    proj = projection_errors(scene, meshes, args.size)
    scene, meshes = build_scene()
    fused = fusion_accuracy(scene, meshes, args.size)

    lines = [
        "# Capture accuracy",
        "",
        f"`.venv/blender/bin/python bench/capture_accuracy.py --size {args.size}` — "
        f"{datetime.date.today()}, Blender {bpy.app.version_string}, {platform.machine()}, {os.cpu_count()} CPUs",
        "",
        "## Projection: written intrinsics/extrinsics vs Blender's `world_to_camera_view`",
        "",
        "| camera | frame | vertices | max error (px) | mean error (px) |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {k} | {v[3]} | {v[2]} | {v[0]:.2e} | {v[1]:.2e} |" for k, v in proj.items()]
    lines += [
        "",
        "## Depth fusion: fused points vs the true surfaces (24-view orbit, EXR depth)",
        "",
        "| points | scene diagonal | mean / diag | 95th pct / diag | max / diag | share within 1% |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {fused['points']:,} | {fused['diagonal']:.3f} | {fused['mean']:.2e} | {fused['p95']:.2e} | "
        f"{fused['max']:.2e} | {fused['within 1%']:.1%} |",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
