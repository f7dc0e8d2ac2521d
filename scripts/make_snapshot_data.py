"""Training data for ``train-snapshot``: procedural **train**-family scenes (never the evaluation
scenes), each captured by Blender and reconstructed by the product.

    .venv/backend/bin/python scripts/make_snapshot_data.py OUT [--scenes 8] [--size 128] [--steps 1500]
        [--first-seed 2000] [--captures-only]

For scene i: ``bench/recon_capture.py OUT/captures/scene_i --family train --only snapshot`` (32 views
on two rings, transparent film, depth) with the Blender Python, then ``python -m ps4pro_blender
reconstruct`` into ``OUT/fields/scene_i`` with a step budget (so the fields do not depend on how busy the
machine is). All captures come first (``--captures-only`` stops there). Resumable: finished work is
skipped. Then:

    .venv/backend/bin/python -m ps4pro_blender train-snapshot OUT/fields --out ps4pro_blender/weights/snapshot.pt
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLENDER_PY = REPO / ".venv" / "blender" / "bin" / "python"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--scenes", type=int, default=8)
    p.add_argument("--first-seed", type=int, default=2000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--steps", type=int, default=1500, help="reconstruct budget per scene")
    p.add_argument("--captures-only", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    textures = out / "textures"
    scenes = [(out / "captures" / f"scene_{i:02d}", out / "fields" / f"scene_{i:02d}") for i in range(args.scenes)]
    for i, (capture, _) in enumerate(scenes):
        if not (capture / "snapshot" / "transforms.json").is_file():
            subprocess.run([str(BLENDER_PY), str(REPO / "bench" / "recon_capture.py"), str(capture), "--family", "train",
                            "--seed", str(args.first_seed + 100 * i), "--size", str(args.size), "--samples", str(args.samples),
                            "--textures", str(textures), "--only", "snapshot"], check=True, env=env)
    if args.captures_only:
        return
    for i, (capture, field) in enumerate(scenes):
        if (field / "field.pt").is_file():
            continue
        subprocess.run([sys.executable, "-m", "ps4pro_blender", "reconstruct", str(capture / "snapshot"), "--out", str(field),
                        "--steps", str(args.steps), "--seed", str(i), "--no-export", "--device", "CPU"],
                       check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        print(f"[snapshot-data] scene {i}: {field}", flush=True)

if __name__ == "__main__":
    main()
