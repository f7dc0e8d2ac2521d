"""Time to quality: held-out PSNR of ``reconstruct`` against its training budget, with rays and
field samples per second, on held-out captures.

    .venv/backend/bin/python bench/recon_time.py CAPTURE [CAPTURE ...] [--device cpu|cuda]
        [--budgets 60,120,300,600] [--out bench/results/recon_time_cpu.md] [-- EXTRA reconstruct ARGS]

Each budget is its own ``reconstruct --minutes B/60`` run in its own process, as a user sets it at
the panel (the schedule, coarse-to-fine planes and the learning rate's decay, scales with the
budget, so the PSNR after 60 s of a 600 s run is not what a 60 s run gives). PSNR/SSIM are
``reconstruct``'s own evaluation on the capture's test views (never trained on). The largest
budget also exports (points, mesh, 3D Gaussians), so the table shows what the whole job costs
beside training. Default budgets: 1, 2, 5, 10 minutes on the CPU; 5, 10, 20, 30, 60 s on CUDA.

Writes a Markdown table, a JSON file beside it, and ``*_curve.png`` (PSNR against training time).
Captures come from ``bench/recon_capture.py`` (e.g. ``OUT/dense_alpha``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402
import plot  # noqa: E402
from recon import backend  # noqa: E402

DEFAULT_BUDGETS = {"cpu": (60, 120, 300, 600), "cuda": (5, 10, 20, 30, 60)}


def scene_name(capture: Path) -> str:
    return f"{capture.parent.name}/{capture.name}"


def run(capture: Path, budget: float, args, export: bool) -> dict:
    out = Path(args.work) / capture.parent.name / capture.name / f"{budget:g}s"
    cmd = ["reconstruct", str(capture), "--out", str(out), "--minutes", f"{budget / 60.0:.6g}", "--seed", "0",
           *args.extra]
    if not export:
        cmd.append("--no-export")
    res, wall = backend(cmd, args.device)
    return {"scene": scene_name(capture), "budget_s": budget, "psnr": res["psnr"], "ssim": res["ssim"],
            "steps": res["steps"], "train_seconds": res["train_seconds"], "wall_seconds": round(wall, 1),
            "exported": export, "rays_per_second": res.get("rays_per_second"),
            "samples_per_second": res.get("samples_per_second"), "device": res["device"],
            "phase_seconds": res.get("seconds") or {}}


def _phase(row: dict, name: str) -> str:
    value = row.get("phase_seconds", {}).get(name)
    return "–" if value is None else f"{value:.0f}"


def write(rows: list[dict], args) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import torch

    lines = [
        "# Time to quality: held-out PSNR against the training budget", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `.venv/backend/bin/python bench/recon_time.py "
        f"{' '.join('DATA/' + scene_name(Path(c).resolve()) for c in args.captures_as_given)} --device {args.device} "
        f"--budgets {','.join(f'{b:g}' for b in args.budgets)}{' -- ' + ' '.join(args.extra) if args.extra else ''}`, "
        "each capture made by `.venv/blender/bin/python bench/recon_capture.py DATA/NAME --seed N --only dense_alpha` "
        "(NAME b502: seed 502, b503: seed 503; `procedural.build_scene` of the held-out eval family).", "",
        f"- Machine: {machine.describe()}; torch {torch.__version__}; device {args.device}",
        "- Each row is its own `reconstruct` run with that budget (the schedule scales with the budget); PSNR/SSIM "
        "are its evaluation on the capture's 12 held-out test views (2 x 2 rays per pixel).",
        "- Rays/s: training rays per second; samples/s: field evaluations per second (the visibility probe's "
        "density-only samples and the trained samples). Wall: the whole process (loading, training, evaluation, "
        "and for the largest budget the export of points, mesh and 3D Gaussians); Load, Eval and Export: the job's own "
        "account of its phases (reading views and building the occupancy priors; rendering the test views; points, "
        "3D Gaussians and mesh).", "",
        "| Scene | Budget s | PSNR dB | SSIM | Steps | Train s | Load s | Eval s | Export s | Wall s | Rays/s | Samples/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['scene']} | {r['budget_s']:g} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['steps']} | "
                     f"{r['train_seconds']:.0f} | {_phase(r, 'load')} | {_phase(r, 'evaluate')} | {_phase(r, 'export')} | "
                     f"{r['wall_seconds']:.0f} | "
                     f"{r['rays_per_second'] or 0:,} | {r['samples_per_second'] or 0:,} |")
    curve = out.with_name(out.stem + "_curve.png")
    lines += ["", f"![PSNR against training time]({curve.name})", ""]
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    series = {}
    for r in rows:
        series.setdefault(r["scene"], []).append((r["budget_s"], r["psnr"]))
    plot.line_plot(str(curve), series, title=f"Held-out PSNR against training budget ({args.device})",
                   xlabel="training budget, seconds (log scale)", ylabel="PSNR dB", log_x=True)
    print(f"[recon-time] wrote {out}, {out.with_suffix('.json').name} and {curve.name}")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("captures", nargs="+", help="capture folders (transforms.json with test views)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--budgets", default=None, help="training budgets in seconds, comma-separated")
    p.add_argument("--work", default=None, help="where the runs' outputs go (default: a folder beside each capture)")
    p.add_argument("--out", default=None, help="the table (default: bench/results/recon_time_DEVICE.md)")
    args = p.parse_args(argv)
    args.extra = extra
    args.captures_as_given = args.captures
    args.budgets = [float(b) for b in args.budgets.split(",")] if args.budgets else list(DEFAULT_BUDGETS[args.device])
    args.out = args.out or str(REPO / "bench" / "results" / f"recon_time_{args.device}.md")
    rows = []
    for given in args.captures:
        capture = Path(given).resolve()
        if not (capture / "transforms.json").is_file():
            raise SystemExit(f"{capture} holds no transforms.json (make captures with bench/recon_capture.py)")
        args.work = args.work or str(capture.parent.parent / "recon_time_runs")
        for budget in args.budgets:
            rows.append(run(capture, budget, args, export=budget == max(args.budgets)))
            print(f"[recon-time] {rows[-1]}", flush=True)
    write(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
