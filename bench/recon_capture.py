"""Build the reconstruction benchmark's held-out scene in Blender and capture it (``bench/recon.py``
runs this; it can also run alone).

    .venv/blender/bin/python bench/recon_capture.py OUT [--seed 500] [--size 256] [--samples 16]
        [--textures DIR] [--only NAME ...]

The scene is ``procedural.build_scene`` of the **eval** family (held-out HDRIs and photographs;
nothing of that family trains any network), at the first seed from ``--seed`` on whose ground is a
table (a bounded tabletop: a 40 m ground plane has no meaningful bounding box). Seeds 500+ are
not used by ``scripts/make_interp_data.py``'s eval clips (seeds 0-5). Captured with the installed
extension's own ``ps4pro.capture`` (COLLECTION source; cameras marked ``ps4pro_split = "test"`` are
the held-out views), EXR depth, Cycles (``procedural.fast_cycles``):

- ``dense_alpha``: 100 training views, 4 rings of 25 at 10°, 30°, 50° and 70° elevation, transparent film;
- ``dense_hdri``: the same views with the HDRI world visible;
- ``sparse8`` / ``sparse16``: one ring at 30° elevation, 45° / 22.5° apart, transparent film;
- ``ring_alpha`` / ``ring_hdri`` / ``curve_alpha`` / ``curve_hdri`` (``bench/budget.py``'s, made
  only when named with ``--only``): 64 views along a path (the 30° ring, or a free curve between
  12° and 48° that comes closer and goes further), with their own test views: 6 on the path
  half-way between neighbouring views, 12 off it (5° and 60° elevation).

Every other capture has the same 12 test views: elevations 20° and 40° (between the rings, so off every
capture path, never interleaved between training views of a path) at 6 azimuths each, offset
from all training azimuths. All cameras are on one sphere around the objects' centre, 35 mm lens.

Also writes ``OUT/truth.ply`` (the true surfaces: every mesh, evaluated, triangulated, world
space) and ``OUT/scene.json``. Resumable: a capture whose ``transforms.json`` exists is skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LENS_MM = 35.0
DENSE_RINGS = (10.0, 30.0, 50.0, 70.0)
DENSE_PER_RING = 25
SPARSE_ELEVATION = 30.0
TEST_VIEWS = [(20.0, 15.0 + 60.0 * k) for k in range(6)] + [(40.0, 45.0 + 60.0 * k) for k in range(6)]
CAPTURES = {
    "dense_alpha": {"rings": [(e, DENSE_PER_RING) for e in DENSE_RINGS], "transparent": True},
    "dense_hdri": {"rings": [(e, DENSE_PER_RING) for e in DENSE_RINGS], "transparent": False},
    "sparse8": {"rings": [(SPARSE_ELEVATION, 8)], "transparent": True},
    "sparse16": {"rings": [(SPARSE_ELEVATION, 16)], "transparent": True},
    # Training scenes for train-snapshot (scripts/make_snapshot_data.py, --family train).
    "snapshot": {"rings": [(20.0, 16), (50.0, 16)], "transparent": True},
}

# bench/budget.py's captures: PATH_VIEWS views along a camera path (a captured view of a sparser
# capture is every k-th of these, so 4, 8, 16, 32 and 64 views are the same renders), on-path test
# views half-way between neighbours of the densest capture, and off-path test views above and
# below every path.
PATH_VIEWS = 64
ON_PATH_TESTS = (5, 16, 27, 37, 48, 59)  # test k sits at path position k + 0.5
OFF_PATH_TESTS = [(60.0, 15.0 + 60.0 * k) for k in range(6)] + [(5.0, 45.0 + 60.0 * k) for k in range(6)]


def path_pose(path: str, s: float) -> tuple[float, float, float]:
    """Elevation (deg), azimuth (deg) and distance scale at position s (0..PATH_VIEWS) of a path:
    ``ring``, a circle at 30 degrees; ``curve``, a free path that climbs and dips twice per turn
    (12..48 degrees) and comes closer and further (0.9..1.15 of the framing distance)."""
    theta = 2.0 * math.pi * s / PATH_VIEWS
    if path == "ring":
        return SPARSE_ELEVATION, math.degrees(theta), 1.0
    return 30.0 + 18.0 * math.sin(2.0 * theta), math.degrees(theta), 1.025 + 0.125 * math.cos(3.0 * theta)


for _path in ("ring", "curve"):
    for _bg in ("alpha", "hdri"):
        CAPTURES[f"{_path}_{_bg}"] = {"path": _path, "transparent": _bg == "alpha"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=500, help="first scene seed to try")
    p.add_argument("--family", choices=("eval", "train"), default="eval",
                   help="procedural family: eval (held out from all training) or train (for training data only)")
    p.add_argument("--size", type=int, default=256, help="square image side")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples (denoised)")
    p.add_argument("--textures", default=None, help="folder from scripts/export_textures.py (default: OUT/textures)")
    p.add_argument("--only", nargs="+", choices=sorted(CAPTURES), help="captures to make (default: all)")
    return p.parse_args(argv)


ARGS = parse_args()
OUT = Path(ARGS.out).resolve()
OUT.mkdir(parents=True, exist_ok=True)
USER_DIR = tempfile.mkdtemp(prefix="ps4pro-recon-bench-")
os.environ["BLENDER_USER_RESOURCES"] = USER_DIR  # read by Blender at import: a scratch install

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))
import extension_build  # noqa: E402
import procedural  # noqa: E402
from procedural import camera_paths  # noqa: E402
from ps4pro_blender import ply  # noqa: E402  (numpy-only format module)


def log(msg):
    print(f"[recon-capture] {msg}", flush=True)


def textures_dir() -> Path:
    path = Path(ARGS.textures).resolve() if ARGS.textures else OUT / "textures"
    if not (path / "textures.json").is_file():
        python = os.environ.get("PS4PRO_PYTHON") or str(REPO / ".venv" / "backend" / "bin" / "python")
        log(f"exporting textures with {python} -> {path}")
        subprocess.run([python, str(REPO / "scripts" / "export_textures.py"), str(path)], check=True)
    return path


def build(tex_dir) -> dict:
    for seed in range(ARGS.seed, ARGS.seed + 100):
        info = procedural.build_scene(seed, str(tex_dir), ARGS.family, samples=ARGS.samples)
        if info["ground"]["kind"] == "table":
            return info
    raise SystemExit("no table scene in 100 seeds")


def sphere_radius(info) -> tuple[np.ndarray, float]:
    """Centre of the objects and the camera distance at which they fill the frame."""
    centre = np.asarray(info["center"], float)
    radius = float(info["radius"])
    return centre, camera_paths._fit_distance(radius, LENS_MM, 1.0)


def add_camera(coll, name, centre, dist, elev_deg, az_deg, split):
    e, a = math.radians(elev_deg), math.radians(az_deg)
    pos = centre + dist * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    cam.data.lens = LENS_MM
    cam.data.sensor_width = camera_paths.SENSOR_MM
    cam.location = Vector(pos)
    cam.rotation_mode = "QUATERNION"
    cam.rotation_quaternion = camera_paths._look_quat(pos, centre, 0.0)
    if split:
        cam["ps4pro_split"] = split
    coll.objects.link(cam)
    return cam


def rig(name, spec, centre, dist) -> str:
    old = bpy.data.collections.get(name)
    if old is not None:
        for ob in list(old.objects):
            bpy.data.objects.remove(ob)
        bpy.data.collections.remove(old)
    coll = bpy.data.collections.new(name)
    bpy.context.scene.collection.children.link(coll)
    if "path" in spec:  # bench/budget.py: camera names say which test views are on the path
        for k in range(PATH_VIEWS):
            elev, az, scale = path_pose(spec["path"], k)
            add_camera(coll, f"{name}_p{k:03d}", centre, dist * scale, elev, az, None)
        for k in ON_PATH_TESTS:
            elev, az, scale = path_pose(spec["path"], k + 0.5)
            add_camera(coll, f"{name}_on{k:03d}", centre, dist * scale, elev, az, "test")
        for k, (elev, az) in enumerate(OFF_PATH_TESTS):
            add_camera(coll, f"{name}_off{k:02d}", centre, dist, elev, az, "test")
        return coll.name
    n = 0
    for elev, count in spec["rings"]:  # capture order: ring by ring, around each ring
        for k in range(count):
            add_camera(coll, f"{name}_a{n:03d}", centre, dist, elev, 360.0 * k / count, None)
            n += 1
    for k, (elev, az) in enumerate(TEST_VIEWS):
        add_camera(coll, f"{name}_t{k:02d}", centre, dist, elev, az, "test")
    return coll.name


def write_truth(path: Path) -> dict:
    """Every renderable mesh, evaluated and triangulated, in world space."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    verts, faces, offset, names = [], [], 0, []
    for ob in bpy.context.scene.objects:
        if ob.type != "MESH" or ob.hide_render:
            continue
        ev = ob.evaluated_get(depsgraph)
        mesh = ev.to_mesh()
        mesh.calc_loop_triangles()
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3) @ np.asarray(ev.matrix_world)[:3, :3].T + np.asarray(ev.matrix_world)[:3, 3]
        tri = np.empty(len(mesh.loop_triangles) * 3, np.int64)
        mesh.loop_triangles.foreach_get("vertices", tri)
        verts.append(co)
        faces.append(tri.reshape(-1, 3) + offset)
        offset += len(co)
        names.append(ob.name)
        ev.to_mesh_clear()
    verts, faces = np.concatenate(verts), np.concatenate(faces)
    ply.write_ply(str(path), verts, faces=faces, comments=["PS4PRO recon benchmark: true surfaces"])
    return {"objects": names, "vertices": int(len(verts)), "triangles": int(len(faces)),
            "diagonal": float(np.linalg.norm(verts.max(0) - verts.min(0)))}


def main():
    tex_dir = textures_dir()
    zip_path = extension_build.build(REPO, Path(USER_DIR) / "build" / "ps4pro.zip")
    extension_build.install(zip_path)
    info = build(tex_dir)
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = ARGS.size
    scene.render.resolution_percentage = 100
    centre, dist = sphere_radius(info)
    log(f"scene seed {info['seed']} ({ARGS.family} family), hdri {info['hdri']['name']}, {len(info['objects'])} objects, "
        f"camera distance {dist:.2f}")
    truth = write_truth(OUT / "truth.ply")
    meta = {"scene": info, "camera_distance": dist, "lens_mm": LENS_MM, "size": ARGS.size, "samples": ARGS.samples,
            "test_views": TEST_VIEWS, "captures": {k: v.get("rings") or v["path"] for k, v in CAPTURES.items()},
            "path_views": PATH_VIEWS, "on_path_tests": ON_PATH_TESTS, "off_path_tests": OFF_PATH_TESTS, "truth": truth,
            "blender": bpy.app.version_string}
    (OUT / "scene.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    for name in ARGS.only or [c for c, spec in CAPTURES.items() if c != "snapshot" and "path" not in spec]:
        folder = OUT / name
        if (folder / "transforms.json").is_file():
            log(f"{name}: captured before, skipped")
            continue
        if folder.exists():
            shutil.rmtree(folder)  # an unfinished capture
        spec = CAPTURES[name]
        coll = rig(name, spec, centre, dist)
        log(f"{name}: capturing {len(bpy.data.collections[coll].objects)} views")
        result = bpy.ops.ps4pro.capture(source="COLLECTION", camera_collection=coll, resolution_x=ARGS.size,
                                        resolution_y=ARGS.size, samples=ARGS.samples,
                                        transparent=spec["transparent"], depth_format="EXR", output_dir=str(folder))
        if result != {"FINISHED"}:
            raise SystemExit(f"{name}: ps4pro.capture returned {result}")
    shutil.rmtree(USER_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
