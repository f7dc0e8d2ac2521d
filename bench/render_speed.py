"""Whole-view rendering speed: a trained field's held-out evaluation marched front to back with
early ray termination (what ``reconstruct``, export and path renders use) against every sample
(what training marches), with the PSNR of each, so a faster render is shown to be the same render.

    .venv/backend/bin/python bench/render_speed.py FIELD CAPTURE [FIELD CAPTURE ...]
        [--device cpu|cuda] [--out bench/results/render_speed_cpu.md]

FIELD is a ``field.pt`` written by ``reconstruct`` on CAPTURE (e.g. a ``bench/recon_time.py`` run);
the views rendered are CAPTURE's held-out test views, as ``reconstruct`` evaluates them (2 x 2 rays
per pixel). Writes a Markdown table and a JSON file beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402


def measure(field: Path, capture: Path, device: str) -> list[dict]:
    import torch

    from ps4pro_blender import dataset as ds
    from ps4pro_blender.field import evaluate as E
    from ps4pro_blender.field import export as X
    from ps4pro_blender.reconstruct import export_views
    from ps4pro_blender.field import model as M
    from ps4pro_blender.views import load_view

    data = ds.load(str(capture / "transforms.json"))
    test = data.split("test")
    if not test:
        raise SystemExit(f"{capture} has no held-out test views")
    images = [load_view(f, with_depth=False)[0] for f in test]
    model, _ = M.load(str(field), torch.device(device))
    model.eval()
    cameras = export_views(data.split("train"))
    rows = []
    for early in (False, True):
        model.early_stop = early
        t = time.monotonic()
        report = E.evaluate(model, test, images, torch.device(device))
        evaluate_s = time.monotonic() - t
        t = time.monotonic()
        X.render_views(model, cameras, torch.device(device))
        rows.append({"scene": f"{capture.parent.name}/{capture.name}", "march": "front to back, early stop" if early
                     else "every sample", "seconds": round(evaluate_s, 2), "views": len(test),
                     "export_seconds": round(time.monotonic() - t, 2), "export_views": len(cameras),
                     "psnr": report["psnr"], "ssim": report["ssim"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _public(path: str) -> str:
    """A path as the table shows it: under DATA/ (no machine's own folders in the repository)."""
    parts = Path(path).resolve().parts
    return "DATA/" + "/".join(parts[-4:] if parts[-1].endswith(".pt") else parts[-2:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", help="FIELD CAPTURE pairs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(REPO / "bench/results/render_speed_cpu.md"))
    args = p.parse_args()
    if len(args.pairs) % 2:
        p.error("give FIELD CAPTURE pairs")
    rows = []
    for field, capture in zip(args.pairs[::2], args.pairs[1::2]):
        rows += measure(Path(field), Path(capture), args.device)
    import torch

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["# Whole-view rendering: early ray termination against every sample", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `.venv/backend/bin/python bench/render_speed.py "
             f"{' '.join(_public(a) for a in args.pairs)} --device {args.device}` (each FIELD the `field.pt` of a "
             "`bench/recon_time.py` run on that capture).", "",
             f"- Machine: {machine.describe()}; torch {torch.__version__}; device {args.device}",
             "- Each row renders the capture's held-out test views (2 x 2 rays per pixel) from the same trained "
             "field; PSNR/SSIM against the ground truth show the faster march renders the same images. Export: "
             "the training views the export renders for its point cloud and mesh (`reconstruct.export_views`).", "",
             "| Scene | March | Test views | Evaluate s | PSNR dB | SSIM | Export views | Export renders s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['scene']} | {r['march']} | {r['views']} | {r['seconds']:.1f} | {r['psnr']:.3f} | "
                     f"{r['ssim']:.4f} | {r['export_views']} | {r['export_seconds']:.1f} |")
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
