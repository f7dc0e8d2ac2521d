"""Render training (or evaluation) clips for the view-interpolation network.

    .venv/blender/bin/python scripts/make_interp_data.py OUT --clips N --seed S \\
        --family train|eval --frames F --step-deg D --size W H [--textures DIR] [--samples 16]

Each clip is one procedural scene (``procedural.build_scene``) and one camera path
(``procedural.animate_camera``: consecutive frames exactly D degrees apart about the scene
centre), captured by the installed extension's own ``ps4pro.capture`` (PATH source, NPY depth,
no held-out split) into ``OUT/clip_0000/`` etc.: ``images/NNNN.png`` (RGBA), ``depth/NNNN.npy``
(planar depth, background 1e10), ``transforms.json`` (camera-to-world, intrinsics, aabb), plus
``clip.json`` (the scene and path description). Any frame is pixel-exact ground truth for the
in-between view of two others; frames i and j are about ``|j - i| * D`` degrees apart (exactly:
the angle between ``directions[i]`` and ``directions[j]`` in ``clip.json`` / ``index.json``).

Clip ``i`` is scene seed ``S * 1000 + i`` of the family (the family is part of the random
stream, and eval scenes use held-out HDRIs and texture images; see ``procedural/scenes.py``).

Textures: ``--textures DIR`` names a folder written by ``scripts/export_textures.py``; without
it, ``OUT/textures`` is used, and made there by running that script with the backend Python
(``.venv/backend/bin/python`` or ``PS4PRO_PYTHON``) when it is missing.

Resumable: a clip whose ``transforms.json`` exists is skipped (``ps4pro.capture`` writes it
last). ``OUT/index.json`` is rewritten after every clip.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INDEX_VERSION = 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="output folder")
    p.add_argument("--clips", type=int, required=True, help="number of clips")
    p.add_argument("--seed", type=int, default=0, help="base seed: clip i is scene seed SEED*1000+i")
    p.add_argument("--family", choices=("train", "eval"), default="train")
    p.add_argument("--frames", type=int, default=25, help="frames per clip")
    p.add_argument("--step-deg", type=float, default=3.0, help="angle between consecutive frames about the scene centre")
    p.add_argument("--size", type=int, nargs=2, default=(160, 120), metavar=("W", "H"))
    p.add_argument("--textures", default=None, help="texture folder from scripts/export_textures.py (default: OUT/textures)")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples (denoised with OpenImageDenoise)")
    p.add_argument("--no-denoise", action="store_true", help="turn the denoiser off")
    p.add_argument("--kind", default="auto", choices=("auto", "orbit", "turntable", "truck", "dolly"), help="camera path kind")
    args = p.parse_args(argv)
    if not 0 < args.clips <= 1000:
        p.error("--clips must be in 1..1000")
    if args.seed < 0:
        p.error("--seed must be >= 0")
    if args.frames < 1:
        p.error("--frames must be >= 1")
    return args


ARGS = parse_args()
OUT = Path(ARGS.out).resolve()
OUT.mkdir(parents=True, exist_ok=True)
USER_DIR = tempfile.mkdtemp(prefix="ps4pro-interp-data-")
# Blender reads this at import: the extension install stays in a scratch folder.
os.environ["BLENDER_USER_RESOURCES"] = USER_DIR

import bpy  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))
import extension_build  # noqa: E402
import procedural  # noqa: E402


def log(msg):
    print(f"[interp-data] {msg}", flush=True)


def textures_dir() -> Path:
    if ARGS.textures:
        path = Path(ARGS.textures).resolve()
        if not (path / "textures.json").is_file():
            sys.exit(f"{path}/textures.json is missing: run .venv/backend/bin/python scripts/export_textures.py {path}")
        return path
    path = OUT / "textures"
    if not (path / "textures.json").is_file():
        python = os.environ.get("PS4PRO_PYTHON") or str(REPO / ".venv" / "backend" / "bin" / "python")
        log(f"exporting textures with {python} -> {path}")
        subprocess.run([python, str(REPO / "scripts" / "export_textures.py"), str(path)], check=True)
    return path


def write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def make_scene(scene_seed, tex_dir):
    info = procedural.build_scene(scene_seed, str(tex_dir), ARGS.family, samples=ARGS.samples, denoise=not ARGS.no_denoise)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = ARGS.size
    scene.render.resolution_percentage = 100
    path = procedural.animate_camera(scene, scene_seed, ARGS.frames, ARGS.step_deg, ARGS.kind)
    return info, path


def clip_record(name, scene_seed, info, path, seconds):
    return {
        "dir": name,
        "scene_seed": scene_seed,
        "family": ARGS.family,
        "hdri": info["hdri"]["name"],
        "hdri_crops": info["hdri_crops"],
        "textures": info["textures"],
        "n_objects": len(info["objects"]),
        "path_kind": path["kind"],
        "lens_mm": path["lens_mm"],
        "center": path["center"],
        "radius": path["radius"],
        "path_deg": path["path_deg"],
        "directions": path["directions"],
        "render_seconds": seconds,
        "seconds_per_frame": None if seconds is None else round(seconds / ARGS.frames, 3),
    }


def check_clip(folder: Path) -> None:
    meta = json.loads((folder / "transforms.json").read_text())
    frames = meta["frames"]
    if len(frames) != ARGS.frames:
        raise RuntimeError(f"{folder}: {len(frames)} frames captured, {ARGS.frames} expected")
    for f in frames:
        for key in ("file_path", "depth_file_path"):
            if not (folder / f[key]).is_file():
                raise RuntimeError(f"{folder}: {f[key]} is missing")


def main():
    tex_dir = textures_dir()
    zip_path = extension_build.build(REPO, Path(USER_DIR) / "build" / "ps4pro.zip")
    extension_build.install(zip_path)
    w, h = ARGS.size
    index = {
        "version": INDEX_VERSION,
        "family": ARGS.family,
        "seed": ARGS.seed,
        "clips_requested": ARGS.clips,
        "frames": ARGS.frames,
        "step_deg": ARGS.step_deg,
        "size": [w, h],
        "samples": ARGS.samples,
        "denoise": not ARGS.no_denoise,
        "path_kind": ARGS.kind,
        "textures_dir": str(tex_dir),
        "hdris": list(procedural.scenes.family_hdris(ARGS.family)),
        "texture_images": [e["file"] for e in procedural.load_textures(str(tex_dir), ARGS.family)],
        "blender": bpy.app.version_string,
        "clips": [],
    }
    t_all = time.monotonic()
    rendered = 0
    for i in range(ARGS.clips):
        name = f"clip_{i:04d}"
        folder = OUT / name
        scene_seed = ARGS.seed * 1000 + i
        if (folder / "transforms.json").is_file():
            try:
                record = json.loads((folder / "clip.json").read_text())["record"]
            except (OSError, ValueError, KeyError):
                info, path = make_scene(scene_seed, tex_dir)  # rebuild (no render) for its description
                record = clip_record(name, scene_seed, info, path, None)
                write_json(folder / "clip.json", {"record": record, "scene": info, "path": path})
            index["clips"].append(record)
            log(f"{name}: done before, skipped")
            continue
        t = time.monotonic()
        info, path = make_scene(scene_seed, tex_dir)
        if folder.exists():
            shutil.rmtree(folder)  # an unfinished capture
        result = bpy.ops.ps4pro.capture(
            source="PATH",
            use_scene_frame_range=True,
            resolution_x=w,
            resolution_y=h,
            samples=ARGS.samples,
            transparent=False,
            depth_format="NPY",
            normals=False,
            masks=False,
            test_every=0,
            output_dir=str(folder),
        )
        if result != {"FINISHED"}:
            raise RuntimeError(f"{name}: ps4pro.capture returned {result}")
        check_clip(folder)
        seconds = round(time.monotonic() - t, 2)
        record = clip_record(name, scene_seed, info, path, seconds)
        write_json(folder / "clip.json", {"record": record, "scene": info, "path": path})
        index["clips"].append(record)
        write_json(OUT / "index.json", index)
        rendered += 1
        elapsed = time.monotonic() - t_all
        left = (ARGS.clips - i - 1) * elapsed / rendered
        log(
            f"{name}: seed {scene_seed}, {info['hdri']['name']}, {len(info['objects'])} objects, "
            f"{path['kind']}; {seconds:.1f} s ({seconds / ARGS.frames:.2f} s/frame); "
            f"{i + 1}/{ARGS.clips} clips, about {left / 60:.1f} min left"
        )
    write_json(OUT / "index.json", index)
    log(f"finished: {len(index['clips'])} clips in {OUT} ({rendered} rendered now, {time.monotonic() - t_all:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(USER_DIR, ignore_errors=True)
