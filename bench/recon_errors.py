"""Where a reconstruction's held-out error lies: silhouette edges, the ground (table top), the
objects, and the background, on the reconstruction benchmark's test views.

    .venv/backend/bin/python bench/recon_errors.py [--data DATA/recon_bench] [--runs dense_alpha dense_hdri]
        [--out bench/results/recon_errors.md]

Each run's ``field.pt`` (``DATA/runs/RUN/recon``, from ``bench/recon.py``) renders the capture's
test views, as ``reconstruct``'s evaluation does; pixels are classed with the test views' own
rendered depth and alpha (Blender's, not the field's):

- ``edge``: within one pixel of a silhouette (alpha strictly between 0 and 1) or a depth jump (more
  than 5% of the view's median depth);
- ``ground``: the rest whose surface lies on the table top (world z below ``GROUND_Z``: the
  benchmark scene's ground has its top at z = 0, objects stand on it);
- ``objects``: every other pixel that sees a surface;
- ``background``: pixels that see no surface (transparent film, or the HDRI).

For each class: its share of the pixels, its share of the squared error, and its PSNR. The PSNR
here pools the squared error of all views (``reconstruct`` averages per-view PSNRs instead).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402
from recon import capture_of  # noqa: E402

GROUND_Z = 0.02  # metres: the table top is z = 0; a surface this close to it is the ground
CLASSES = ("edge", "ground", "objects", "background")


def classify(frame, rgba: np.ndarray, depth: np.ndarray | None) -> dict:
    from scipy import ndimage

    alpha = rgba[..., 3]
    far = ~np.isfinite(depth) | (depth > 1e9) if depth is not None else alpha < 0.5
    edge = (alpha > 0.01) & (alpha < 0.99)
    if depth is not None:
        d = np.where(far, 1e3, depth)
        jump = np.maximum(np.abs(np.diff(d, axis=0, prepend=d[:1])), np.abs(np.diff(d, axis=1, prepend=d[:, :1])))
        edge |= jump > 0.05 * np.median(d[~far]) if (~far).any() else False
    edge = ndimage.binary_dilation(edge, iterations=1)
    surface = ~far & (alpha >= 0.5)
    ground = np.zeros_like(surface)
    if depth is not None:
        h, w = depth.shape
        py, px = np.mgrid[0:h, 0:w] + 0.5
        cam = np.stack([(px - frame.cx) / frame.fx, -(py - frame.cy) / frame.fy, -np.ones_like(px)], -1)
        world = (cam * np.where(far, 0.0, depth)[..., None]) @ np.asarray(frame.c2w)[:3, :3].T + np.asarray(frame.c2w)[:3, 3]
        ground = surface & (world[..., 2] < GROUND_Z)
    return {"edge": edge, "ground": ground & ~edge, "objects": surface & ~ground & ~edge,
            "background": ~surface & ~edge}


def split_run(run: Path, capture: Path) -> dict:
    from ps4pro_blender import dataset as ds
    from ps4pro_blender.field import evaluate as E
    from ps4pro_blender.field import model as M
    from ps4pro_blender.views import load_view

    model, _ = M.load(str(run / "field.pt"))
    model.eval()
    data = ds.load(str(capture))
    channel = data.depth.get("exr_channel")
    se = {c: 0.0 for c in CLASSES}
    count = {c: 0 for c in CLASSES}
    for f in data.split("test"):
        rgba, depth = load_view(f, channel, with_depth=True)
        truth = rgba[..., :3] * rgba[..., 3:] + 1.0 - rgba[..., 3:] if model.background.mode == "alpha" else rgba[..., :3]
        pred = np.asarray(E.render_frame(model, f, "cpu")["rgb"]).reshape(truth.shape)
        err = ((np.clip(pred, 0, 1) - truth) ** 2).mean(-1)
        for c, mask in classify(f, rgba, depth).items():
            se[c] += float(err[mask].sum())
            count[c] += int(mask.sum())
    total_se, total_n = sum(se.values()), sum(count.values())
    out = {"psnr_pooled": round(-10 * np.log10(total_se / total_n), 2)}
    for c in CLASSES:
        out[c] = {"pixels": round(count[c] / total_n, 4), "error": round(se[c] / total_se, 4),
                  "psnr": round(-10 * np.log10(se[c] / count[c]), 2) if count[c] and se[c] > 0 else None}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "bench" / "data" / "recon"), help="bench/recon.py's data folder")
    p.add_argument("--runs", nargs="+", default=["dense_alpha", "dense_hdri"])
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "recon_errors.md"))
    args = p.parse_args(argv)
    data = Path(args.data).resolve()
    records = {}
    for name in args.runs:
        capture = data / capture_of(name)
        records[name] = split_run(data / "runs" / name / "recon", capture)
        print(f"[errors] {name}: {records[name]}", flush=True)
    lines = ["# Where the held-out error lies", "",
             f"`.venv/backend/bin/python bench/recon_errors.py {' '.join(sys.argv[1:] if argv is None else argv)}` on "
             f"{time.strftime('%Y-%m-%d %H:%M')}; {machine.describe()}. Fields from `bench/recon.py`'s runs; classes from "
             "the test views' own depth and alpha (see the script's docstring). Pooled PSNR: all views' squared error together.",
             "", "| Run | Pooled PSNR | " + " | ".join(f"{c}: pixels / error / PSNR" for c in CLASSES) + " |",
             "|---|---:|" + "---:|" * len(CLASSES)]
    for name, r in records.items():
        cells = [f"{r[c]['pixels']:.1%} / {r[c]['error']:.1%} / " + (f"{r[c]['psnr']:.2f} dB" if r[c]["psnr"] else "-")
                 for c in CLASSES]
        lines.append(f"| {name} | {r['psnr_pooled']:.2f} dB | " + " | ".join(cells) + " |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(records, indent=1) + "\n")
    print(f"[errors] wrote {out}")


if __name__ == "__main__":
    main()
