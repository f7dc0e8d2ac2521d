"""Colour SH degree 2 against 4 by number of captured views: held-out PSNR of ``reconstruct`` at
the same steps, the evidence behind ``--sh-degree 0`` (auto: 4 from ``SH4_MIN_VIEWS`` real views).

    .venv/backend/bin/python bench/sh_degree.py CAPTURE:STEPS [CAPTURE:STEPS ...] [--device cpu]
        [--out bench/results/sh_degree.md] [-- EXTRA reconstruct ARGS]

Each capture (``bench/recon_capture.py``, e.g. ``DATA/b502/sparse8``) trains twice from seed 0 for
STEPS steps (equal steps, so a loaded machine changes nothing), once per degree, and is evaluated
on its held-out test views. Writes a Markdown table and a JSON file beside it.
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
from recon import backend, log  # noqa: E402


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="CAPTURE:STEPS")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--work", default=str(REPO / "bench" / "data" / "sh_degree"))
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "sh_degree.md"))
    args = p.parse_args(argv)
    rows = []
    for spec in args.runs:
        capture, steps = spec.rsplit(":", 1)
        capture = Path(capture).resolve()
        name = f"{capture.parent.name}/{capture.name}"
        for degree in (2, 4):
            out = Path(args.work) / capture.parent.name / capture.name / f"sh{degree}"
            res, wall = backend(["reconstruct", str(capture), "--out", str(out), "--steps", steps, "--seed", "0",
                                 "--no-export", "--sh-degree", str(degree), *extra], args.device)
            report = json.loads((out / "eval.json").read_text())
            rows.append({"capture": name, "steps": int(steps), "sh_degree": degree, "psnr": res["psnr"],
                         "ssim": res["ssim"], "train_views": report["train_views"], "wall_seconds": round(wall, 1)})
            log(str(rows[-1]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    public = " ".join(f"DATA/{Path(s.rsplit(':', 1)[0]).resolve().parent.name}/{Path(s.rsplit(':', 1)[0]).name}:"
                      f"{s.rsplit(':', 1)[1]}" for s in args.runs)
    lines = ["# Colour SH degree against the number of captured views", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `.venv/backend/bin/python bench/sh_degree.py {public} "
             f"--device {args.device}{' -- ' + ' '.join(extra) if extra else ''}`.", "",
             f"- Machine: {machine.describe()}; device {args.device}; seed 0; PSNR/SSIM on the capture's held-out "
             "test views.", "",
             "| Capture | Training views | Steps | SH degree | PSNR dB | SSIM |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['capture']} | {r['train_views']} | {r['steps']} | {r['sh_degree']} | {r['psnr']:.2f} | "
                     f"{r['ssim']:.4f} |")
    out.write_text("\n".join(lines) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
