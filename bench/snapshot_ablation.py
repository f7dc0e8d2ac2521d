"""Where a 3D Snapshot loses quality: held-out PSNR after each stage of encoding, on one scene.

    .venv/backend/bin/python bench/snapshot_ablation.py [--data DATA/recon_bench] [--case dense_alpha]
        [--steps 1500] [--out bench/results/snapshot_ablation.md] [--weights WEIGHTS.pt]

Stages, each rendered on the capture's test views against the ground truth:

- ``field``: the reconstruction (the teacher);
- ``field, header environment`` (opaque captures): the teacher with its environment replaced by
  the one a snapshot's header carries (``ENV_SHAPE``, through JPEG), which every later stage uses;
- ``planes``: the distilled snapshot planes in float, the shared decoder, the teacher's occupancy grid;
- ``planes, own grid``: the same with the grid a decoder rebuilds (field density + header occupancy);
- ``codes``: the planes quantised to 8-bit codes (what LSB hides exactly);
- ``own decoder``: the planes distilled with the decoder fine-tuned to this scene as well (an upper
  bound of the layout, not something a snapshot can carry);
- ``steps x2``: the shared decoder with twice the distillation steps.

The hiding network's own loss is ``bench/snapshot.py``'s INN-vs-LSB difference.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402


def log(msg):
    print(f"[ablation] {msg}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "bench" / "data" / "recon"))
    p.add_argument("--case", default="dense_alpha")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--stages", nargs="+", default=["shared", "own", "long"])
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "snapshot_ablation.md"))
    p.add_argument("--weights", help="snapshot weights to measure (default: the shipped ones)")
    args = p.parse_args(argv)

    import torch

    from ps4pro_blender import dataset as ds
    from ps4pro_blender.field import evaluate as E
    from ps4pro_blender.field import model as M
    from ps4pro_blender.views import load_view
    from ps4pro_blender.snapshot import decoder as D
    from ps4pro_blender.snapshot import quantize
    from ps4pro_blender.snapshot.distill import Cameras, fit, join

    torch.set_num_threads(2)
    data = Path(args.data).resolve()
    recon, capture = data / "runs" / args.case / "recon", data / args.case
    teacher, _ = M.load(str(recon / "field.pt"))
    teacher.eval()
    d = ds.load(str(capture))
    test = d.split("test")
    images = [load_view(f, with_depth=False)[0] for f in test]
    weights = D.load(args.weights)
    aabb = teacher.field.aabb.cpu().numpy()
    cams = join(Cameras.from_frames(d.split("train")), Cameras.sphere(aabb))
    env = D.env_texture(teacher)
    if env is not None:
        env = D.unpack_env(D.pack_env(env))  # what a snapshot's header carries
    coarse = D.unpack_occupancy(D.pack_occupancy(teacher.grid.mask))

    def score(model) -> float:
        model.eval()
        return E.evaluate(model, test, images, "cpu")["psnr"]

    def snapshot_field(planes, decoder, grid: str):
        m = D.make_field(planes, aabb, decoder, teacher.background.mode, env)
        if grid == "teacher":
            m.grid = teacher.grid
        else:
            D.refresh_grid(m, coarse=coarse)
        return m

    rows = [("field (teacher)", score(teacher), "")]
    log(rows[-1])
    if env is not None:
        kept = copy.deepcopy(teacher)
        D.set_env(kept, env)
        rows.append(("field, header environment", score(kept), f"{D.ENV_SHAPE[1]} x {D.ENV_SHAPE[2]} JPEG"))
        log(rows[-1])
    runs = {"shared": (args.steps, False), "own": (args.steps, True), "long": (2 * args.steps, False)}
    for stage in args.stages:
        steps, own = runs[stage]
        t = time.monotonic()
        dec, planes, _ = fit([teacher], [cams], steps, 0, decoder=weights["decoder"], train_decoder=own)
        secs = time.monotonic() - t
        planes = planes[0]
        name = {"shared": "planes", "own": "own decoder", "long": f"steps x2 ({2 * args.steps})"}[stage]
        rows.append((f"{name}, teacher grid", score(snapshot_field(planes, dec, "teacher")), f"{secs:.0f} s distil"))
        log(rows[-1])
        rows.append((f"{name}, own grid", score(snapshot_field(planes, dec, "own")), ""))
        log(rows[-1])
        codes, layout = quantize.quantize(planes)
        rows.append((f"{name}, codes, own grid", score(snapshot_field(quantize.dequantize(codes, layout), dec, "own")), ""))
        log(rows[-1])

    lines = ["# 3D Snapshot: quality lost at each stage", "",
             f"`.venv/backend/bin/python bench/snapshot_ablation.py {' '.join(sys.argv[1:] if argv is None else argv)}` "
             f"on {time.strftime('%Y-%m-%d %H:%M')}; {machine.describe()}.",
             f"Case `{args.case}` of the reconstruction benchmark (held-out scene); {len(test)} test views; "
             f"distillation {args.steps} steps unless named; decoder `{weights['decoder_id']}` "
             f"(hidden {D.decoder_shape(weights['decoder'])['hidden']}, SH degree {D.decoder_shape(weights['decoder'])['sh_degree']}).", "",
             "| Stage | Held-out PSNR | Note |", "|---|---:|---|"]
    lines += [f"| {n} | {v:.2f} dB | {note} |" for n, v, note in rows]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps([{"stage": n, "psnr": v} for n, v, _ in rows], indent=1) + "\n")
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
