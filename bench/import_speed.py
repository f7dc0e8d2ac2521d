"""How fast do points and meshes get into Blender?

    .venv/blender/bin/python bench/import_speed.py [--points 1000000] [--repeat 5]

Measures, each as the median of ``--repeat`` runs on the real bpy wheel:

- 1M coloured points as a point-cloud object: read the PLY from disk and build the
  object (the whole import), the build alone, the PLY read alone, the build with a fixed
  radius (no spacing estimate), and the older Blender paths (4.5 convert, 4.2 geometry
  nodes) for comparison;
- a 1M-vertex / 2M-triangle coloured mesh: read + build, and build alone;
- ``Mesh.from_pydata`` on the same 1M points, the slow way this replaces.

The extension's modules are imported as a package straight from the checkout (nothing is
registered; the builders need only bpy). Writes a markdown table to
``bench/results/import_speed.md``. The issue's target: a million points in under 0.5 s.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    from bench.machine import cpu_model  # imported as part of the repository (tests)
except ImportError:  # run as a script: bench/ itself is on sys.path
    from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "import_speed.md"
TARGET_S = 0.5


def load_extension():
    """The checkout as package ``ps4pro_ext`` (its __init__ imports, nothing registers)."""
    spec = importlib.util.spec_from_file_location(
        "ps4pro_ext", REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ps4pro_ext"] = module
    spec.loader.exec_module(module)
    from ps4pro_ext.scene import geometry_import
    from ps4pro_ext.ps4pro_blender import ply

    return geometry_import, ply


def clear_scene(bpy):
    ids = list(bpy.data.objects) + list(bpy.data.meshes) + list(bpy.data.pointclouds)
    if ids:
        bpy.data.batch_remove(ids)


def timed(bpy, fn, repeat):
    times = []
    result = None
    for _ in range(repeat):
        clear_scene(bpy)
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def surface_cloud(np, n, seed=0):
    """Points on a bumpy sphere with smooth colours: a scan-like cloud."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    r = 1.0 + 0.05 * np.sin(8 * v[:, 0]) * np.cos(6 * v[:, 1])
    pts = (v * r[:, None]).astype(np.float32)
    cols = ((v * 0.5 + 0.5) * 255).astype(np.uint8)
    return pts, cols


def grid_mesh(np, side):
    """side x side vertices, 2 (side - 1)^2 triangles, coloured."""
    i, j = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32), indexing="ij")
    pts = np.stack([i.ravel() / side, j.ravel() / side, 0.05 * np.sin(i.ravel() * 0.05)], 1).astype(np.float32)
    a, b = np.meshgrid(np.arange(side - 1), np.arange(side - 1), indexing="ij")
    v = (a * side + b).ravel()
    tris = np.concatenate([np.stack([v, v + side, v + 1], 1), np.stack([v + 1, v + side, v + side + 1], 1)])
    cols = np.stack([i.ravel() % 256, j.ravel() % 256, np.full(side * side, 128)], 1).astype(np.uint8)
    return pts, tris.astype(np.int32), cols


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import bpy
    import numpy as np

    geo, ply = load_extension()
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    collection = geo.ensure_collection(scene)
    n, repeat = args.points, args.repeat
    rows = []

    def row(what, median, times, note=""):
        rows.append((what, median, times, note))
        print(f"{what:60s} {median * 1000:9.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in times)}) {note}")

    with tempfile.TemporaryDirectory(prefix="ps4pro-bench-") as tmp:
        pts, cols = surface_cloud(np, n)
        extra = {"opacity": np.ones(n, np.float32)}
        cloud_path = os.path.join(tmp, "points.ply")
        ply.write_ply(cloud_path, pts, cols, extra=extra)
        size_mb = os.path.getsize(cloud_path) / 1e6
        method = geo.point_cloud_method()

        def import_points():
            data = ply.read_ply(cloud_path)
            return geo.points_object("points", data.points, data.colors, data.extra, collection)

        med, times, obj = timed(bpy, import_points, repeat)
        assert obj.type == "POINTCLOUD" and len(obj.data.points) == n
        radius = obj["ps4pro_point_radius"]
        row(f"{n:,} points: read PLY + build point cloud ({method})", med, times, f"PLY {size_mb:.0f} MB")
        headline = med

        med, times, _ = timed(bpy, lambda: ply.read_ply(cloud_path), repeat)
        row(f"{n:,} points: read PLY only", med, times)
        data = ply.read_ply(cloud_path)
        med, times, _ = timed(
            bpy, lambda: geo.points_object("points", data.points, data.colors, data.extra, collection), repeat
        )
        row(f"{n:,} points: build point cloud only ({method}, radius estimated)", med, times)
        med, times, _ = timed(bpy, lambda: geo.estimate_spacing(data.points), repeat)
        row(f"{n:,} points: radius estimate alone", med, times, f"radius {radius:.4g}")
        for other in ("POINTCLOUD", "CONVERT", "GEOMETRY_NODES"):
            med, times, _ = timed(
                bpy,
                lambda: geo.points_object(
                    "points", data.points, data.colors, data.extra, collection, radius=radius, method=other
                ),
                repeat,
            )
            note = {
                "POINTCLOUD": "5.1+ path",
                "CONVERT": "4.5+ path (mesh, then object.convert)",
                "GEOMETRY_NODES": "4.2 path; the modifier's Mesh to Points runs later, on evaluation",
            }[other]
            row(f"{n:,} points: build, fixed radius, {other}", med, times, note)

        def pydata():
            mesh = bpy.data.meshes.new("pydata")
            mesh.from_pydata(data.points, [], [])
            return mesh

        med, times, _ = timed(bpy, pydata, min(repeat, 3))
        row(f"{n:,} points: Mesh.from_pydata (comparison)", med, times, "vertices only, no colours")
        del data

        side = int(round(np.sqrt(n)))
        mpts, tris, mcols = grid_mesh(np, side)
        mesh_path = os.path.join(tmp, "mesh.ply")
        ply.write_ply(mesh_path, mpts, mcols, tris)
        msize = os.path.getsize(mesh_path) / 1e6

        def import_mesh():
            d = ply.read_ply(mesh_path)
            return geo.mesh_object("mesh", d.points, d.faces, d.colors, d.extra, collection)

        med, times, obj = timed(bpy, import_mesh, repeat)
        assert len(obj.data.polygons) == len(tris)
        label = f"{len(mpts):,} vertices / {len(tris):,} triangles"
        row(f"mesh {label}: read PLY + build", med, times, f"PLY {msize:.0f} MB")
        md = ply.read_ply(mesh_path)
        med, times, _ = timed(bpy, lambda: geo.mesh_object("mesh", md.points, md.faces, md.colors, {}, collection), repeat)
        row(f"mesh {label}: build only", med, times, "most of it is Blender's edge calculation (mesh.update)")
        clear_scene(bpy)

    version = ".".join(map(str, bpy.app.version))
    lines = [
        "# Import speed",
        "",
        f"Measured {datetime.date.today().isoformat()} with `bench/import_speed.py` "
        f"(median of {repeat} runs; PLY files in the OS page cache).",
        "",
        f"- Machine: {os.cpu_count()} CPU cores ({cpu_model()}), {platform.system()} {platform.machine()}",
        f"- Blender {version} (`bpy` wheel), Python {platform.python_version()}, numpy {np.__version__}",
        f"- Point-cloud path on this Blender: `{geo.point_cloud_method()}`",
        f"- Target: {n:,} points into Blender under {TARGET_S} s — "
        f"**{'met' if headline < TARGET_S else 'NOT met'}** ({headline:.3f} s, read + build)",
        "",
        "Times are what the import itself takes (reading, building the object and its attributes);",
        "the first depsgraph evaluation / viewport draw afterwards is not included.",
        "",
        "| What | Median | Runs (ms) | Note |",
        "|---|---:|---|---|",
    ]
    for what, median, times, note in rows:
        runs = ", ".join(f"{t * 1000:.0f}" for t in times)
        lines.append(f"| {what} | {median * 1000:.1f} ms | {runs} | {note} |")
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
