"""Render few, synthesise the rest: held-out PSNR against the user's total time (rendering +
augmentation + training) for captures of 4 to 64 rendered views, reconstructed five ways at equal
training time (issue 17's benchmark).

    .venv/backend/bin/python bench/budget.py [--data DIR] [--minutes 2] [--device cpu|cuda]
        [--scenes NAME ...] [--paths ring curve] [--counts 4 8 16 32 64] [--ways WAY ...]
        [--samples 64] [--out bench/results/budget.md]

1. Scenes (``procedural.build_scene``, the held-out eval family; the hdri scene chose one internal
   default, ``TrainConfig.synthetic_fade``, in session 26; the alpha scene has tuned nothing):
   ``hdri`` (seed 504 on: the HDRI world visible, opaque like a photograph) and ``alpha`` (seed 507
   on: transparent film); the table names the seed each became. Each is captured by ``bench/recon_capture.py`` (Blender) along two paths, a 30° ring and
   a free curve, 64 views each at ``--samples`` Cycles samples, every view's render timed by the
   capture itself (``render_seconds`` in transforms.json). A capture of N views is every 64/N-th of
   them: the same renders, so its render time is theirs.
2. Test views, reported apart: 6 *on the path* (half-way between neighbouring views of the 64-view
   capture: what a user re-renders for the camera move at more frames) and 12 *off the path* (5°
   and 60° elevation). Never trained on.
3. Ways, each the product's own commands in their own processes, all with the same training time:
   ``rgb`` images only (``reconstruct --ignore-depth``); ``depth`` images + depth; ``geometry``
   images + geometry-aware augmentation (``augment --mode geometry``, then ``--ignore-depth``);
   ``defaults`` images + depth + geometry-aware augmentation: ``augment`` and ``reconstruct`` with
   every option at its default, which is what a user gets by pressing the two buttons; ``footage``
   footage-mode augmentation of the images alone (depth files left out of the capture: the setting
   of photographs and of the seed paper), then ``--ignore-depth``.
4. Total time = the N views' render seconds + augmentation seconds + training seconds.

Resumable: each run's ``record.json`` (under ``DATA/runs``) is kept and reused, so the matrix (2
scenes x 2 paths x 5 counts x 5 ways) can be filled over several sittings; the table shows what
exists. Writes ``bench/results/budget.md``, ``budget.json`` and one ``budget_*.png`` plot per
scene and path (on-path PSNR against total time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402
import plot  # noqa: E402
from recon import backend, log  # noqa: E402

BLENDER_PY = REPO / ".venv" / "blender" / "bin" / "python"
# name -> (first seed to try: recon_capture.py takes the first from it whose ground is a table, background)
# The hdri scene became seed 506 (504 and 505 have no table), so the alpha scene starts after it:
# starting both at 506 would have made one scene twice.
SCENES = {"hdri": (504, "hdri"), "alpha": (507, "alpha")}
PATHS = ("ring", "curve")
COUNTS = (4, 8, 16, 32, 64)
PATH_VIEWS = 64  # bench/recon_capture.py's PATH_VIEWS
WAYS = ("rgb", "depth", "geometry", "defaults", "footage")
AUGMENTED = {"geometry": ["--mode", "geometry"], "defaults": [], "footage": ["--mode", "footage"]}
IMAGES_ONLY = ("rgb", "geometry", "footage")


# --------------------------------------------------------------------------- captures
def capture(data: Path, scene: str, path: str, samples: int) -> Path:
    """The scene's 64-view capture along ``path`` (made with Blender unless it exists)."""
    seed, background = SCENES[scene]
    folder = data / scene / f"{path}_{background}"
    if not (folder / "transforms.json").is_file():
        log(f"capturing {folder}")
        subprocess.run([str(BLENDER_PY), str(REPO / "bench" / "recon_capture.py"), str(data / scene), "--seed", str(seed),
                        "--samples", str(samples), "--only", folder.name], check=True)
    return folder


def subset(full: Path, count: int, with_depth: bool) -> Path:
    """A dataset of every (64/count)-th path view of ``full`` and all its test views, files copied
    (a dataset may not point outside its folder); without depth files when ``with_depth`` is off."""
    out = full.parent / f"{full.name}_n{count}{'' if with_depth else '_nodepth'}"
    if (out / "transforms.json").is_file():
        return out
    meta = json.loads((full / "transforms.json").read_text())
    every = PATH_VIEWS // count
    frames = []
    for f in meta["frames"]:
        name = f["camera"].rsplit("_", 1)[-1]
        if f.get("split") != "test" and not (name.startswith("p") and int(name[1:]) % every == 0):
            continue
        f = dict(f)
        if not with_depth:
            f.pop("depth_file_path", None)
        for key in ("file_path", "depth_file_path"):
            if key in f:
                (out / f[key]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(full / f[key], out / f[key])
        frames.append(f)
    if not with_depth:
        meta["ps4pro"] = {k: v for k, v in meta.get("ps4pro", {}).items() if k != "depth"}
    meta["frames"] = frames
    meta["ps4pro"] = dict(meta.get("ps4pro", {}), render_seconds=round(
        sum(f.get("render_seconds", 0.0) for f in frames if f.get("split") != "test"), 3))
    tmp = out / "transforms.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    tmp.replace(out / "transforms.json")  # written last: the subset's finished marker
    return out


def test_kinds(dataset: Path) -> dict:
    """Image stem -> "on" or "off" for the dataset's test views (from the camera names)."""
    meta = json.loads((dataset / "transforms.json").read_text())
    kinds = {}
    for f in meta["frames"]:
        if f.get("split") == "test":
            kinds[Path(f["file_path"]).stem] = "on" if f["camera"].rsplit("_", 1)[-1].startswith("on") else "off"
    return kinds


# --------------------------------------------------------------------------- runs
def run_one(data: Path, scene: str, path: str, count: int, way: str, args) -> dict:
    out = data / "runs" / scene / path / f"n{count}" / way
    record_path = out / "record.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    full = capture(data, scene, path, args.samples)
    dataset = subset(full, count, with_depth=way != "footage")
    render_seconds = json.loads((dataset / "transforms.json").read_text())["ps4pro"]["render_seconds"]
    if out.exists():
        shutil.rmtree(out)  # an unfinished run
    out.mkdir(parents=True)
    record = {"scene": scene, "path": path, "count": count, "way": way, "minutes": args.minutes,
              "render_seconds": render_seconds, "augment_seconds": 0.0, "synthetic_views": 0}
    train_on = dataset
    if way in AUGMENTED:
        res, secs = backend(["augment", str(dataset), "--out", str(out / "augmented"), *AUGMENTED[way]], args.device)
        record.update(augment_seconds=round(secs, 1), synthetic_views=res["synthetic_views"],
                      augment_notes=res.get("notes"))
        train_on = out / "augmented"
    cmd = ["reconstruct", str(train_on), "--out", str(out / "recon"), "--minutes", str(args.minutes), "--seed", "0",
           "--no-export"]
    if way in IMAGES_ONLY:
        cmd.append("--ignore-depth")
    res, _ = backend(cmd, args.device)
    report = json.loads((out / "recon" / "eval.json").read_text())
    kinds = test_kinds(dataset)
    for kind in ("on", "off"):
        views = [v for v in report["views"] if kinds.get(v["name"]) == kind]
        record[f"psnr_{kind}"] = round(sum(v["psnr"] for v in views) / len(views), 3) if views else None
        record[f"ssim_{kind}"] = round(sum(v["ssim"] for v in views) / len(views), 4) if views else None
    record.update(train_seconds=res["train_seconds"], steps=res["steps"], device=res["device"],
                  total_seconds=round(render_seconds + record["augment_seconds"] + res["train_seconds"], 1))
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    shutil.rmtree(out / "augmented", ignore_errors=True)  # the synthetic images: large, and made again on demand
    log(f"{scene}/{path}/n{count}/{way}: on {record['psnr_on']} dB, off {record['psnr_off']} dB, "
        f"total {record['total_seconds']} s")
    return record


# --------------------------------------------------------------------------- report
def _f(value, fmt=".2f") -> str:
    return "–" if value is None else format(value, fmt)


def best_gain(records: list[dict], scene: str, path: str, count: int, kind: str):
    """Best augmented way minus the best way without augmentation, at this rendered count."""
    at = {r["way"]: r[f"psnr_{kind}"] for r in records
          if (r["scene"], r["path"], r["count"]) == (scene, path, count) and r[f"psnr_{kind}"] is not None}
    plain = [at[w] for w in ("rgb", "depth") if w in at]
    augmented = [at[w] for w in AUGMENTED if w in at]
    return max(augmented) - max(plain) if plain and augmented else None


def write(records: list[dict], args, data: Path) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(records, indent=1) + "\n")
    lines = [
        "# Render few, synthesise the rest: held-out PSNR against total time", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `.venv/backend/bin/python bench/budget.py --data DATA "
        f"--minutes {args.minutes:g} --device {args.device} --samples {args.samples}` (resumable: the rows are "
        "the runs that exist).", "",
        f"- Machine: {machine.describe()}; device {args.device}; every run trains for {args.minutes:g} min.",
        "- Ways: rgb = images only; depth = images + depth; geometry = images + geometry-aware augmentation; "
        "defaults = `augment` and `reconstruct` as the buttons run them (images + depth + geometry-aware "
        "augmentation); footage = footage-mode augmentation of the images alone (no depth anywhere).",
        "- On / Off: mean held-out PSNR on the 6 test views on the path (half-way between neighbours of the "
        "64-view capture) and the 12 off it. Total = render (the capture's own timing of those N views) + "
        "augment + train seconds.", "",
    ]
    for scene in SCENES:
        for path in PATHS:
            rows = sorted((r for r in records if (r["scene"], r["path"]) == (scene, path)),
                          key=lambda r: (r["count"], WAYS.index(r["way"])))
            if not rows:
                continue
            meta = data / scene / "scene.json"
            seed = json.loads(meta.read_text())["scene"]["seed"] if meta.is_file() else "?"
            lines += [f"## {scene} (scene seed {seed}), {path}", "",
                      "| Views | Way | On dB | Off dB | SSIM on | Synthetic | Render s | Augment s | Train s | Total s |",
                      "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for r in rows:
                lines.append(f"| {r['count']} | {r['way']} | {_f(r['psnr_on'])} | {_f(r['psnr_off'])} | "
                             f"{_f(r['ssim_on'], '.4f')} | {r['synthetic_views']} | {r['render_seconds']:.0f} | "
                             f"{r['augment_seconds']:.0f} | {r['train_seconds']:.0f} | {r['total_seconds']:.0f} |")
            gains = [(n, best_gain(records, scene, path, n, "on"), best_gain(records, scene, path, n, "off"))
                     for n in COUNTS]
            gains = [g for g in gains if g[1] is not None]
            if gains:
                lines += ["", "Augmentation's gain at equal rendered views (best augmented way minus the better of "
                          "rgb and depth): " + "; ".join(f"{n} views {on:+.2f} dB on / {off:+.2f} dB off"
                                                         for n, on, off in gains) + "."]
            series = {}
            for r in rows:
                if r["psnr_on"] is not None:
                    series.setdefault(r["way"], []).append((r["total_seconds"], r["psnr_on"]))
            png = out.with_name(f"{out.stem}_{scene}_{path}.png")
            plot.line_plot(str(png), {k: sorted(v) for k, v in series.items()}, log_x=True,
                           title=f"{scene}, {path}: on-path PSNR against total time ({args.device})",
                           xlabel="render + augment + train seconds", ylabel="held-out PSNR on the path (dB)")
            lines += ["", f"![On-path PSNR against total time]({png.name})", ""]
    out.write_text("\n".join(lines) + "\n")
    log(f"wrote {out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REPO / "bench" / "data" / "budget"), help="captures and runs (made if missing)")
    p.add_argument("--minutes", type=float, default=2.0, help="training minutes of every run")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--scenes", nargs="+", choices=sorted(SCENES), default=list(SCENES))
    p.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    p.add_argument("--counts", nargs="+", type=int, choices=COUNTS, default=list(COUNTS))
    p.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    p.add_argument("--samples", type=int, default=64, help="Cycles samples of the captures (denoised)")
    p.add_argument("--report-only", action="store_true", help="write the table from the runs that exist")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "budget.md"))
    args = p.parse_args(argv)
    data = Path(args.data).resolve()
    if not args.report_only:
        for scene in args.scenes:
            for path in args.paths:
                for count in args.counts:
                    for way in args.ways:
                        run_one(data, scene, path, count, way, args)
    records = [json.loads(p.read_text()) for p in sorted((data / "runs").glob("*/*/*/*/record.json"))]
    if not records:
        raise SystemExit(f"no runs under {data / 'runs'}")
    write(records, args, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
