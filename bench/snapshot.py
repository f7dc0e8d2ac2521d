"""3D Snapshot benchmark: PNG size, how much the cover changes, and how well the decoded scene
renders held-out views, for the invertible hiding network and the exact LSB baseline.

    .venv/backend/bin/python bench/snapshot.py [--data DATA/recon_bench] [--cases dense_alpha dense_hdri]
        [--steps 1500] [--out bench/results/snapshot.md] [--weights WEIGHTS.pt]

The scenes are the reconstruction benchmark's (``bench/recon.py``: an eval-family scene that no
network trains on), its fields in ``DATA/runs/CASE/recon`` (run that benchmark first). For each case
and method, the product's own commands in their own processes:
``snapshot-encode RECON --method M`` (cover: the capture's first view) and
``snapshot-decode PNG --dataset CAPTURE`` (held-out PSNR/SSIM on the capture's test views). This
script then renders the same test views with the field before hiding and with the decoded one and
compares them (``vs field``). Decode time is the command's own measure from reading the PNG to a
field ready to render (``decode_seconds``) and its whole wall time, Python start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402
from ps4pro_blender import protocol  # noqa: E402
from ps4pro_blender.snapshot import container  # noqa: E402


def log(msg):
    print(f"[snapshot] {msg}", flush=True)


def backend(command: list[str]) -> tuple[dict, float]:
    argv = [sys.executable, "-m", "ps4pro_blender", command[0], "--device", "CPU", *command[1:]]
    log(" ".join(argv[1:]))
    t = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    msgs = [m for m in map(protocol.decode, proc.stdout.splitlines()) if m is not None]
    for m in msgs:
        if m.kind == "error":
            raise SystemExit(f"{command[0]} failed: {m.get('message')} ({m.get('hint')})")
    result = next((m.get("result") for m in msgs if m.kind == "result"), None)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return result, time.monotonic() - t


def field_agreement(teacher_path: str, decoded_path: str, capture: str) -> dict:
    """PSNR/SSIM of the decoded field's renders against the field before hiding, test views."""
    from ps4pro_blender import dataset as ds
    from ps4pro_blender.field import evaluate as E
    from ps4pro_blender.field import model as M
    teacher, _ = M.load(teacher_path)
    decoded, _ = M.load(decoded_path)  # its grid is saved in field.pt, as snapshot-decode built it
    scores = []
    for f in ds.load(capture).split("test"):
        a = E.render_frame(teacher.eval(), f, "cpu")["rgb"]
        b = E.render_frame(decoded.eval(), f, "cpu")["rgb"]
        scores.append(E.image_metrics(b, a))
    return {k: round(float(np.mean([s[k] for s in scores])), 4) for k in ("psnr", "ssim")}


def run_case(case: str, method: str, data: Path, args) -> dict:
    recon = data / "runs" / case / "recon"
    capture = data / case
    field_eval = json.loads((recon / "eval.json").read_text())
    out = data / "snapshot" / case / method
    weights = ["--weights", args.weights] if args.weights else []
    out.mkdir(parents=True, exist_ok=True)
    enc, enc_wall = backend(["snapshot-encode", str(recon), "--out", str(out / "snapshot.png"), "--method", method,
                             "--steps", str(args.steps), "--seed", "0", "--dataset", str(capture), *weights])
    dec, dec_wall = backend(["snapshot-decode", enc["snapshot"], "--out", str(out / "decoded"), "--dataset", str(capture),
                             "--no-export", *weights])
    agree = field_agreement(str(recon / "field.pt"), dec["field"], str(capture))
    return {"case": case, "method": method, "payload_sha256": container.read(enc["snapshot"]).header["payload_sha256"],
            "png_bytes": enc["png_bytes"], "cover_psnr": round(enc["cover_psnr"], 2),
            "cover_ssim": round(enc["cover_ssim"], 4), "payload_exact": enc["payload_exact"],
            "payload_mean_error": enc["payload_mean_error"], "lsb_bits": enc.get("lsb_bits"),
            "field_psnr": field_eval["psnr"], "field_ssim": field_eval["ssim"], "decoded_psnr": dec["psnr"],
            "decoded_ssim": dec["ssim"], "vs_field_psnr": agree["psnr"], "vs_field_ssim": agree["ssim"],
            "encode_seconds": enc["encode_seconds"], "distill_seconds": enc["distill_seconds"],
            "encode_wall": round(enc_wall, 1), "decode_seconds": dec["decode_seconds"], "decode_wall": round(dec_wall, 1),
            "degraded": dec["degraded"], "snapshot": enc["snapshot"]}


def before_hiding(row: dict, rows: list[dict]) -> float | None:
    """Held-out PSNR of the same codes decoded exactly: an LSB row of the same case and payload hash."""
    for r in rows:
        if r["method"] == "lsb" and r["case"] == row["case"] and r.get("payload_sha256") == row.get("payload_sha256"):
            return r["decoded_psnr"]
    return None


def table(rows, header) -> str:
    lines = ["# 3D Snapshot benchmark", "",
             f"`{header['command']}` on {header['date']}; {header['machine']}; torch {header['torch']}.",
             f"Held-out scene: the reconstruction benchmark's (eval family, seed {header['scene_seed']}); "
             f"distillation {header['steps']} steps; cover: the capture's first view at 256 x 256.",
             f"Restoration weights (`{header['weights']}`, hiding network + shared decoder `{header['decoder_id']}`): "
             f"**{header['weights_bytes'] / 1e6:.2f} MB** ({header['hiding_params']:,} + {header['decoder_params']:,} parameters).",
             "", "| Scene | Method | PNG | Cover PSNR / SSIM | Payload exact (mean code error) | Field (reconstruction) | "
             "Snapshot before hiding | Decoded (vs truth) | Decoded vs field | Encode | Decode (wall) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        exact = before_hiding(r, rows)
        lines.append(
            f"| {r['case']} | {r['method'].upper()}{' (' + str(r['lsb_bits']) + ' bits)' if r['lsb_bits'] else ''} "
            f"| {r['png_bytes'] / 1024:.1f} KB | {r['cover_psnr']:.2f} dB / {r['cover_ssim']:.4f} "
            f"| {r['payload_exact']:.1%} ({r['payload_mean_error']:.2f}) | {r['field_psnr']:.2f} dB "
            f"| {'n/a' if exact is None else f'{exact:.2f} dB'} "
            f"| {r['decoded_psnr']:.2f} dB / {r['decoded_ssim']:.4f} | {r['vs_field_psnr']:.2f} dB "
            f"| {r['encode_seconds']:.0f} s | {r['decode_seconds']:.2f} s ({r['decode_wall']:.1f} s) |")
    lines += ["", "Both methods hide the very same codes (distillation is deterministic; the PNG headers' payload "
              "hashes match), so the LSB row, which carries them exactly, is the snapshot before hiding: held-out "
              "PSNR of the distilled planes as decoded without loss. The INN row's distance to it is what hiding "
              "costs; the distance to the reconstruction is distillation and hiding together.", "",
              "Targets: PNG <= 160 KB; weights <= 5 MB; cover PSNR >= 38 dB; decoded within 1 dB of the field before "
              "hiding (held-out PSNR against the truth); decode < 5 s; encode (distillation included) < 5 min.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "bench" / "data" / "recon"), help="bench/recon.py's data folder")
    p.add_argument("--cases", nargs="+", default=["dense_alpha", "dense_hdri"])
    p.add_argument("--methods", nargs="+", default=["inn", "lsb"])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "snapshot.md"))
    p.add_argument("--weights", help="snapshot weights to measure (default: the shipped ones)")
    args = p.parse_args(argv)
    args.weights = str(Path(args.weights).resolve()) if args.weights else None
    data = Path(args.data).resolve()
    for case in args.cases:
        if not (data / "runs" / case / "recon" / "field.pt").is_file():
            raise SystemExit(f"No field for {case} under {data}/runs: run bench/recon.py --data {data} --runs {case} first")
    import torch

    from ps4pro_blender.snapshot import decoder as D

    weights = D.load(args.weights)
    rows = [run_case(case, method, data, args) for case in args.cases for method in args.methods]
    for r in rows:
        log(json.dumps(r))
    scene = json.loads((data / "scene.json").read_text())
    header = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine.describe(), "torch": torch.__version__,
              "command": ".venv/backend/bin/python bench/snapshot.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "scene_seed": scene["scene"]["seed"], "steps": args.steps, "weights_bytes": os.path.getsize(args.weights or D.DEFAULT_PATH),
              "weights": os.path.relpath(args.weights or D.DEFAULT_PATH, REPO),
              "hiding_params": int(sum(v.numel() for v in (weights["hiding"] or {}).values())),
              "decoder_params": int(sum(v.numel() for v in weights["decoder"].values())), "decoder_id": weights["decoder_id"]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table(rows, header))
    out.with_suffix(".json").write_text(json.dumps({"header": header, "rows": rows}, indent=1) + "\n")
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
