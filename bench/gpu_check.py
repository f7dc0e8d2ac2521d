"""Everything that needs a GPU, in one run that fits a short device lease (under 8 minutes on one
H100/H200), writing one table. ``bench/gpu_check.sh`` runs it with the right interpreter.

    bash bench/gpu_check.sh --data DIR [--out FILE] [--dry]

DIR holds captures made here by ``bench/recon_capture.py`` (Blender does not run on the GPU
machine): ``dense_alpha`` (required) and ``sparse8`` (for augment; skipped if absent). Carry them
to the GPU machine with the working tree (``bench/gpu_check_data.sh`` makes them and copies them
into the ignored folder ``.gpu_data/``, which the device tool's ``carry`` names). Wheels the
machine lacks (OpenEXR for depth, gsplat for the peer) are installed from ``.whl/`` if present.

Steps, each timed and kept going past a failure (the table says what failed and why):
1. ``check --device CUDA``;
2. time to quality: ``bench/recon_time.py`` on dense_alpha at 5, 10, 20, 30, 60 s (the 60 s run
   also exports), with rays/s and samples/s;
3. the gsplat peer on the same capture and test views, 60 s (its kernels compile first, not counted);
4. ``augment`` on sparse8 (geometry mode); 5. ``snapshot-encode`` / ``snapshot-decode`` of the 60 s
   reconstruction; 6. the backend tests that need CUDA (``tests/backend/test_cuda.py``).

``--dry`` runs the same steps on the CPU with token budgets (2 s of training, 20 distillation
steps, no peer), so CI proves the script starts and every step's plumbing works.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def step(rows: list, name: str, argv: list[str], timeout: float, parse=None) -> dict | None:
    """Run one step as its own process (no shell); record its time, outcome and numbers."""
    print(f"[gpu-check] {name}: {' '.join(argv)}", flush=True)
    t = time.monotonic()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
               PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        ok, tail = proc.returncode == 0, (proc.stdout + proc.stderr)[-1500:]
    except subprocess.TimeoutExpired as exc:
        ok, tail = False, f"timed out after {timeout:.0f} s: {str(exc.stdout or '')[-500:]}"
    row = {"step": name, "seconds": round(time.monotonic() - t, 1), "ok": ok}
    if ok and parse is not None:
        try:
            row.update(parse(proc.stdout))
        except Exception as exc:  # a step that ran but whose output we cannot read is a failure too
            row.update(ok=False, why=f"could not read its output: {exc}")
    if not ok:
        row.setdefault("why", tail.strip().splitlines()[-1] if tail.strip() else "no output")
        print(tail, flush=True)
    print(f"[gpu-check] {json.dumps(row)}", flush=True)
    rows.append(row)
    return row


def last_json(stdout: str) -> dict:
    """The last protocol result (or plain JSON object) a command printed."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            return msg.get("result", msg) if msg.get("kind") in (None, "result") else {}
    raise ValueError("no JSON result")


def result_of(stdout: str) -> dict:
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("kind") == "result":
            return msg["result"]
    raise ValueError("no result message")


def install_wheels(rows: list) -> None:
    wheels = sorted(str(p) for p in (REPO / ".whl").glob("*.whl")) if (REPO / ".whl").is_dir() else []
    if not wheels:
        return
    step(rows, "install carried wheels", [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                                          "--no-compile", "--target", "/tmp/site", *wheels], 120)
    sys.path.insert(0, "/tmp/site")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in ("/tmp/site", os.environ.get("PYTHONPATH")) if p)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder with dense_alpha (and sparse8) captures")
    p.add_argument("--out", default=None, help="the table (default: $OUT/gpu_check.md if OUT is set, else "
                                                 "bench/results/gpu_check.md)")
    p.add_argument("--dry", action="store_true", help="on the CPU with token budgets: does every step start")
    args = p.parse_args(argv)
    data = Path(args.data).resolve()
    dense = data / "dense_alpha"
    if not (dense / "transforms.json").is_file():
        raise SystemExit(f"{dense} holds no capture: make it with bench/gpu_check_data.sh (or bench/recon_capture.py)")
    default_out = Path(os.environ["OUT"]) / "gpu_check.md" if os.environ.get("OUT") else REPO / "bench" / "results" / "gpu_check.md"
    out = Path(args.out) if args.out else default_out
    if args.dry:
        out = out.with_name(out.stem + "_dry.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "ps4pro_gpu_check"
    device = "cpu" if args.dry else "cuda"
    py = sys.executable
    rows: list = []
    started = time.monotonic()
    install_wheels(rows)

    def env_info(stdout):
        return json.loads(stdout.strip().splitlines()[-1])

    step(rows, "environment", [py, "-c", "import json, platform, torch; print(json.dumps({'torch': torch.__version__, "
                                         "'cuda': torch.cuda.is_available(), 'gpu': torch.cuda.get_device_name(0) "
                                         "if torch.cuda.is_available() else None, 'python': platform.python_version()}))"],
         60, env_info)
    step(rows, "check", [py, "-m", "ps4pro_blender", "check", "--device", device.upper()], 120,
         lambda s: {k: v for k, v in result_of(s).items() if k in ("torch", "device", "cuda")})

    budgets = "2" if args.dry else "5,10,20,30,60"
    curve = out.with_name(out.stem + "_recon_time.md")
    step(rows, "reconstruct time to quality", [py, "bench/recon_time.py", str(dense), "--device", device,
                                               "--budgets", budgets, "--work", str(work / "recon"),
                                               "--out", str(curve)], 420,
         lambda s: {"table": curve.name, "runs": json.loads(curve.with_suffix(".json").read_text())})
    recon = work / "recon" / dense.parent.name / dense.name / f"{budgets.split(',')[-1]}s"

    if not args.dry:
        step(rows, "gsplat peer, 60 s", [py, "bench/peers/gsplat_peer.py", str(dense), "--seconds", "60"], 420, last_json)
    sparse = data / "sparse8"
    if (sparse / "transforms.json").is_file():
        step(rows, "augment (geometry) sparse8", [py, "-m", "ps4pro_blender", "augment", str(sparse), "--out",
                                                  str(work / "augmented"), "--mode", "geometry", "--device",
                                                  device.upper()], 240,
             lambda s: {k: result_of(s).get(k) for k in ("synthetic_views", "seconds")})
    snap = work / "snapshot.png"
    enc = ["--steps", "20"] if args.dry else []
    step(rows, "snapshot-encode", [py, "-m", "ps4pro_blender", "snapshot-encode", str(recon), "--out", str(snap),
                                   "--device", device.upper(), *enc], 240,
         lambda s: {k: result_of(s).get(k) for k in ("png_bytes", "cover_psnr", "method", "seconds")})
    step(rows, "snapshot-decode", [py, "-m", "ps4pro_blender", "snapshot-decode", str(snap), "--out",
                                   str(work / "decoded"), "--dataset", str(dense), "--device", device.upper()], 240,
         lambda s: {k: result_of(s).get(k) for k in ("psnr", "ssim", "decode_seconds", "degraded")})
    step(rows, "backend tests that need CUDA", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                "tests/backend/test_cuda.py"], 240,
         lambda s: {"summary": s.strip().splitlines()[-1]})

    lines = ["# GPU check" + (" (dry run on the CPU)" if args.dry else ""), "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `bash bench/gpu_check.sh --data DIR"
             f"{' --dry' if args.dry else ''}` in {time.monotonic() - started:.0f} s; captures from "
             "`bench/recon_capture.py` (dense_alpha: 100 views, 12 held-out test views).", "",
             "| Step | Seconds | OK | Result |", "|---|---:|---|---|"]
    for r in rows:
        rest = {k: v for k, v in r.items() if k not in ("step", "seconds", "ok")}
        lines.append(f"| {r['step']} | {r['seconds']:.1f} | {'yes' if r['ok'] else 'NO'} | "
                     f"{json.dumps(rest)[:1500].replace('|', '/')} |")
    out.write_text("\n".join(lines) + "\n")
    print(f"[gpu-check] wrote {out}", flush=True)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
