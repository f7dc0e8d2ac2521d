"""The headless demo, end to end: build a scene, capture it, augment it with PS4PRO in-between
views, fuse its depth in the backend, reconstruct it as a tri-plane radiance field (evaluated on
held-out views), hide it in one PNG (3D Snapshot) and decode it back, import the point clouds and
the meshes, save a .blend and write an HTML report with pictures and numbers.

    .venv/blender/bin/python scripts/demo.py [--out demo_out] [--views 24] [--size 200] [--recon-minutes 3]

It installs the extension from a zip built by Blender's own builder into a user folder under
OUT, exactly as a user would, and drives it only through its public operators.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "demo_out"), help="output folder (default: demo_out/)")
    p.add_argument("--views", type=int, default=24, help="camera path frames to capture")
    p.add_argument("--size", type=int, default=200, help="render width in pixels (height is 3/4 of it)")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per view")
    p.add_argument("--recon-minutes", type=float, default=3.0, help="training budget of the reconstruction")
    return p.parse_args()


ARGS = parse_args()
OUT = Path(ARGS.out).resolve()
OUT.mkdir(parents=True, exist_ok=True)
# Blender reads this at import: the demo's extension install stays inside OUT.
os.environ["BLENDER_USER_RESOURCES"] = str(OUT / "blender_user")
os.environ.setdefault("PS4PRO_PYTHON", str(REPO / ".venv" / "backend" / "bin" / "python"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import extension_build  # noqa: E402


# -- the scene -------------------------------------------------------------------------------


def material(name, build):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes.get("Principled BSDF")
    build(nodes, links, bsdf)
    return mat


def checker(nodes, links, bsdf):
    tex = nodes.new("ShaderNodeTexChecker")
    tex.inputs["Scale"].default_value = 8.0
    tex.inputs["Color1"].default_value = (0.8, 0.75, 0.6, 1)
    tex.inputs["Color2"].default_value = (0.2, 0.25, 0.3, 1)
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])


def bricks(nodes, links, bsdf):
    tex = nodes.new("ShaderNodeTexBrick")
    tex.inputs["Color1"].default_value = (0.7, 0.15, 0.1, 1)
    tex.inputs["Color2"].default_value = (0.5, 0.1, 0.05, 1)
    tex.inputs["Scale"].default_value = 3.0
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])


def waves(nodes, links, bsdf):
    tex = nodes.new("ShaderNodeTexWave")
    tex.inputs["Scale"].default_value = 3.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (0.05, 0.2, 0.6, 1)
    ramp.color_ramp.elements[1].color = (0.9, 0.9, 0.2, 1)
    links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])


def noise(nodes, links, bsdf):
    tex = nodes.new("ShaderNodeTexNoise")
    tex.inputs["Scale"].default_value = 6.0
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])


def build_scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.name = "PS4PRO Demo"

    def add(op, name, mat, **kw):
        op(**kw)
        obj = bpy.context.active_object
        obj.name = name
        obj.data.materials.append(mat)
        return obj

    add(bpy.ops.mesh.primitive_plane_add, "Table", material("Checker", checker), size=4.0)
    add(bpy.ops.mesh.primitive_cube_add, "Brick Cube", material("Bricks", bricks), size=0.8, location=(-0.7, 0.3, 0.4))
    sphere = add(bpy.ops.mesh.primitive_uv_sphere_add, "Wave Sphere", material("Waves", waves), radius=0.45,
                 location=(0.6, -0.4, 0.45), segments=48, ring_count=24)
    bpy.ops.object.shade_smooth()
    monkey = add(bpy.ops.mesh.primitive_monkey_add, "Suzanne", material("Noise", noise), size=0.7,
                 location=(0.5, 0.8, 0.45))
    monkey.rotation_euler = (0.0, 0.0, math.radians(200))
    sphere.select_set(False)

    # The bundled HDRI lights the scene and is the visible background.
    world = bpy.data.worlds.new("Forest")
    world.use_nodes = True
    env = world.node_tree.nodes.new("ShaderNodeTexEnvironment")
    hdri = os.path.join(bpy.utils.system_resource("DATAFILES"), "studiolights", "world", "forest.exr")
    env.image = bpy.data.images.load(hdri, check_existing=True)
    world.node_tree.links.new(env.outputs["Color"], world.node_tree.nodes["Background"].inputs["Color"])
    scene.world = world

    # An animated camera: a rig that turns once around the table.
    rig = bpy.data.objects.new("Camera Rig", None)
    scene.collection.objects.link(rig)
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.data.lens = 35.0
    scene.collection.objects.link(cam)
    cam.parent = rig
    cam.location = (0.0, -4.2, 2.4)
    cam.rotation_euler = (math.radians(62), 0.0, 0.0)
    scene.camera = cam
    scene.frame_start, scene.frame_end = 1, ARGS.views
    rig.rotation_euler = (0, 0, 0)
    rig.keyframe_insert("rotation_euler", index=2, frame=1)
    rig.rotation_euler = (0, 0, 2 * math.pi * (ARGS.views) / (ARGS.views + 1))
    rig.keyframe_insert("rotation_euler", index=2, frame=ARGS.views)
    for fcurve in _fcurves(rig):
        for key in fcurve.keyframe_points:
            key.interpolation = "LINEAR"

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = ARGS.samples
    scene.render.resolution_x = ARGS.size
    scene.render.resolution_y = ARGS.size * 3 // 4
    scene.render.resolution_percentage = 100
    return scene


def _fcurves(obj):
    action = obj.animation_data.action
    if hasattr(action, "fcurves"):
        return action.fcurves
    # Blender 5.x: layered actions keep their curves in channel bags.
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves]


# -- pictures ----------------------------------------------------------------------------------


def render_still(scene, path, hide=(), show_only=None, view_transform=None, transparent=False):
    """Render the scene camera's view at frame 1 to ``path`` with some objects hidden; restores them.

    The point cloud's colours come from renders that already went through the view transform,
    so it is shown with "Standard" to look as captured rather than tone-mapped twice."""
    hidden = []
    saved_view, saved_film = scene.view_settings.view_transform, scene.render.film_transparent
    if view_transform:
        scene.view_settings.view_transform = view_transform
    scene.render.film_transparent = transparent
    for obj in scene.objects:
        should_hide = obj.name in hide or (show_only is not None and obj.type in {"MESH", "POINTCLOUD"} and obj not in show_only)
        if should_hide and not obj.hide_render:
            obj.hide_render = True
            hidden.append(obj)
    scene.frame_set(1)
    scene.render.filepath = str(path)
    scene.render.image_settings.file_format = "PNG"
    try:
        bpy.ops.render.render(write_still=True)
    finally:
        scene.view_settings.view_transform = saved_view
        scene.render.film_transparent = saved_film
        for obj in hidden:
            obj.hide_render = False


# -- report --------------------------------------------------------------------------------------


def write_report(path, numbers, captured, pictures, held_out, recon_views):
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in numbers.items())
    thumbs = "".join(
        f'<figure><img src="{html.escape(os.path.relpath(p, path.parent))}"><figcaption>{html.escape(c)}</figcaption></figure>'
        for p, c in captured
    )
    figures = "".join(
        f'<figure class="big"><img src="{html.escape(os.path.relpath(p, path.parent))}"><figcaption>{html.escape(c)}</figcaption></figure>'
        for p, c in pictures
    )
    def img(p, caption):
        src = html.escape(os.path.relpath(p, path.parent))
        return f'<figure><img src="{src}"><figcaption>{html.escape(caption)}</figcaption></figure>'

    augment = "".join(
        "<div>"
        + img(c["before"], "before (train)")
        + img(c["synthetic"], f"synthetic, t=0.5: {c['psnr']:.1f} dB")
        + img(c["real"], "real render (held out)")
        + img(c["after"], "after (train)")
        + "</div>"
        for c in held_out
    )
    recon = "".join(
        f'<figure class="big"><img src="{html.escape(os.path.relpath(v["image"], path.parent))}">'
        f'<figcaption>test view {html.escape(v["name"])}: ground truth | reconstruction, '
        f'{v["psnr"]:.2f} dB, SSIM {v["ssim"]:.3f}</figcaption></figure>'
        for v in recon_views
    )

    def bench(name, how):
        f = REPO / "bench" / "results" / name
        return html.escape(f.read_text()) if f.exists() else f"not run yet: {how}"
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>PS4PRO demo report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} figure{{display:inline-block;margin:4px}}
figure img{{width:160px;background:#333}} figure.big img{{width:420px}} figcaption{{font-size:12px;color:#555}}
table{{border-collapse:collapse}} th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head>
<body><h1>PS4PRO demo</h1>
<p>A scene built by <code>scripts/demo.py</code>, captured along its animated camera path with Cycles, augmented
with synthetic in-between views by PS4PRO, its depth fused into one coloured point cloud by the backend process,
and the point cloud imported back into Blender; then reconstructed as a tri-plane radiance field, hidden in
one PNG (3D Snapshot) and decoded back into the scene.</p>
<h2>Numbers</h2><table>{rows}</table>
<h2>Scene and imported result</h2>{figures}
<h2>Augmentation (PS4PRO)</h2>
<p>Each held-out test view next to the view PS4PRO synthesised at its pose from its two training neighbours
(which never see it). PSNR against the real render.</p>{augment}
<h3>Interpolation benchmark (bench/results/interp.md)</h3><pre>{bench("interp.md", "bench/interp.py")}</pre>
<h2>Reconstruction (tri-plane radiance field)</h2>
<p>Trained on the augmented dataset by the backend process; every test view below was held out of training
and of the augmentation.</p>{recon}
<h3>Reconstruction benchmark (bench/results/recon.md)</h3><pre>{bench("recon.md", "bench/recon.py")}</pre>
<h3>3D Snapshot benchmark (bench/results/snapshot.md)</h3><pre>{bench("snapshot.md", "bench/snapshot.py")}</pre>
<h2>Captured views (RGB)</h2>{thumbs}
</body></html>""",
        encoding="utf-8",
    )


def image_rgb(path):
    """(H, W, 3) float32 pixels of a PNG, row 0 at the top (Blender stores rows bottom-up)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = image.size
        px = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(px)
        return px.reshape(h, w, 4)[::-1, :, :3]
    finally:
        bpy.data.images.remove(image)


def held_out_comparisons(dataset, augmented):
    """For each test view: the synthetic view made at its pose from its two neighbours."""
    meta = json.loads((dataset / "transforms.json").read_text())
    aug = json.loads((augmented / "transforms.json").read_text())
    frames = meta["frames"]
    out = []
    for i, f in enumerate(frames):
        if f["split"] != "test" or i == 0 or i + 1 >= len(frames):
            continue
        before, after = frames[i - 1], frames[i + 1]
        wanted = [os.path.normpath(str(dataset / before["file_path"])), os.path.normpath(str(dataset / after["file_path"]))]
        for s in aug["frames"]:
            sources = [os.path.normpath(str(augmented / p)) for p in s.get("source", [])]
            if s.get("synthetic") and sources == wanted and abs(s["t"] - 0.5) < 1e-6:
                real, synth = image_rgb(dataset / f["file_path"]), image_rgb(augmented / s["file_path"])
                mse = float(np.mean((real - synth) ** 2))
                out.append({
                    "before": dataset / before["file_path"], "after": dataset / after["file_path"],
                    "real": dataset / f["file_path"], "synthetic": augmented / s["file_path"],
                    "psnr": 10 * math.log10(1.0 / max(mse, 1e-12)),
                })
    return out


def main():
    t0 = time.monotonic()
    timings = {}
    zip_path = extension_build.build(REPO, OUT / "build" / "ps4pro.zip")
    extension_build.install(zip_path)
    scene = build_scene()
    originals = [o.name for o in scene.objects if o.type == "MESH"]

    dataset = OUT / "capture"
    shutil.rmtree(dataset, ignore_errors=True)
    t = time.monotonic()
    assert bpy.ops.ps4pro.capture(source="PATH", output_dir=str(dataset), depth_format="EXR") == {"FINISHED"}
    timings["capture"] = time.monotonic() - t
    meta = json.loads((dataset / "transforms.json").read_text())

    t = time.monotonic()
    augmented = OUT / "augmented"
    assert bpy.ops.ps4pro.augment(dataset=str(dataset), in_between=1, augment_dir=str(augmented)) == {"FINISHED"}
    timings["augment"] = time.monotonic() - t
    held_out = held_out_comparisons(dataset, augmented)

    t = time.monotonic()
    assert bpy.ops.ps4pro.fuse_depth(dataset=str(dataset), import_result=True) == {"FINISHED"}
    timings["fuse + import"] = time.monotonic() - t
    result_file = scene.ps4pro.last_result
    result = json.loads(Path(result_file).read_text())
    cloud = bpy.context.active_object
    points_ply = OUT / "points.ply"
    shutil.copyfile(result["points"], points_ply)

    t = time.monotonic()
    recon_dir = OUT / "reconstruction"
    shutil.rmtree(recon_dir, ignore_errors=True)
    before = set(bpy.data.objects.keys())
    assert bpy.ops.ps4pro.reconstruct(dataset=str(augmented), recon_minutes=ARGS.recon_minutes, recon_dir=str(recon_dir),
                                      import_result=True) == {"FINISHED"}
    timings["reconstruct + import"] = time.monotonic() - t
    recon = json.loads(Path(scene.ps4pro.last_result).read_text())
    recon_eval = json.loads(Path(recon["eval"]).read_text())
    recon_objects = [bpy.data.objects[n] for n in sorted(set(bpy.data.objects.keys()) - before)]
    recon_mesh = next((o for o in recon_objects if o.type == "MESH" and o.data.polygons), None)

    # 3D Snapshot: the reconstruction into one PNG (cover: the capture's first view), and back.
    t = time.monotonic()
    snapshot_png = OUT / "snapshot.png"
    assert bpy.ops.ps4pro.snapshot_encode(reconstruction=str(recon_dir), snapshot_path=str(snapshot_png)) == {"FINISHED"}
    timings["snapshot encode"] = time.monotonic() - t
    t = time.monotonic()
    before_snap = set(bpy.data.objects.keys())
    assert bpy.ops.ps4pro.snapshot_decode(snapshot_file=str(snapshot_png), eval_dataset=str(dataset)) == {"FINISHED"}
    timings["snapshot decode + import"] = time.monotonic() - t
    decoded = json.loads(Path(scene.ps4pro.last_result).read_text())
    snapshot_objects = [bpy.data.objects[n] for n in sorted(set(bpy.data.objects.keys()) - before_snap)]

    pictures_dir = OUT / "pictures"
    pictures_dir.mkdir(exist_ok=True)
    t = time.monotonic()
    render_still(scene, pictures_dir / "scene.png", hide={cloud.name, *(o.name for o in recon_objects + snapshot_objects)})
    render_still(scene, pictures_dir / "point_cloud.png", show_only=[cloud], view_transform="Standard", transparent=True)
    if recon_mesh is not None:
        render_still(scene, pictures_dir / "recon_mesh.png", show_only=[recon_mesh], view_transform="Standard",
                     transparent=True)
    timings["report renders"] = time.monotonic() - t

    aug_meta = json.loads((augmented / "transforms.json").read_text())
    blend = OUT / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))

    numbers = {
        "Blender": bpy.app.version_string,
        "views captured": len(meta["frames"]),
        "splits (train/val/test)": "/".join(
            str(sum(f["split"] == s for f in meta["frames"])) for s in ("train", "val", "test")
        ),
        "render size": f"{meta['frames'][0]['w']}x{meta['frames'][0]['h']}",
        "synthetic views (PS4PRO)": sum(1 for f in aug_meta["frames"] if f.get("synthetic")),
        "interpolation": "; ".join(aug_meta["ps4pro"]["augment"]["notes"]) or "trained network",
        "held-out views vs synthesised from their neighbours (PSNR)": ", ".join(
            f"{c['psnr']:.1f} dB" for c in held_out
        ) or "none",
        "fused points": f"{result['num_points']:,}",
        "voxel size": f"{result['voxel_size']:.4f}",
        "imported object": f"{cloud.name} ({cloud.type})",
        "reconstruction: held-out PSNR / SSIM": f"{recon['psnr']:.2f} dB / {recon['ssim']:.4f} "
                                                 f"({recon['test_views']} test views, {recon['steps']} steps, "
                                                 f"{recon['train_seconds']:.0f} s on {recon['device']})",
        "reconstruction: exported": f"{recon.get('num_points') or 0:,} points, {recon.get('num_faces') or 0:,} mesh faces",
        "reconstruction: imported objects": ", ".join(f"{o.name} ({o.type})" for o in recon_objects) or "none",
        "snapshot: PNG": f"{snapshot_png.name}, {snapshot_png.stat().st_size / 1024:.0f} KB ({scene.ps4pro.snapshot_report})",
        "snapshot: decoded, held-out PSNR / SSIM": f"{decoded['psnr']:.2f} dB / {decoded['ssim']:.4f} "
                                                   f"(decoded in {decoded['decode_seconds']:.2f} s)"
                                                   + (" DEGRADED" if decoded.get("degraded") else ""),
        "snapshot: imported objects": ", ".join(f"{o.name} ({o.type})" for o in snapshot_objects) or "none",
        "original meshes": ", ".join(originals),
        **{f"time: {k}": f"{v:.1f} s" for k, v in timings.items()},
        "time: total": f"{time.monotonic() - t0:.1f} s",
        "outputs": f"{blend.name}, {points_ply.name}, capture/",
    }
    captured = [(dataset / f["file_path"], f"frame {f['frame']} ({f['split']})") for f in meta["frames"]]
    pictures = [
        (pictures_dir / "scene.png", "The demo scene (Cycles, frame 1)"),
        (pictures_dir / "point_cloud.png", "The imported point cloud alone, same camera (background left out)"),
    ]
    if recon_mesh is not None:
        pictures.append((pictures_dir / "recon_mesh.png", "The reconstruction's mesh (marching cubes, vertex colours), imported"))
    pictures.append((OUT / "snapshot_cover.png", "3D Snapshot: the cover (the capture's first view, 256 x 256)"))
    pictures.append((snapshot_png, "3D Snapshot: the PNG that holds the whole reconstruction"))
    report = OUT / "report.html"
    write_report(report, numbers, captured, pictures, held_out, recon_eval.get("views", []))
    for k, v in numbers.items():
        print(f"  {k}: {v}")
    print(f"Report: {report}")


if __name__ == "__main__":
    main()
