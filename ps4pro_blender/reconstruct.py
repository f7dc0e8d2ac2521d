"""``reconstruct``: train a tri-plane radiance field on a dataset, evaluate it on held-out views,
export a coloured point cloud and a mesh.

Writes into ``--out``: ``checkpoint.pt`` (while training, atomically; resume with ``--resume``),
``field.pt`` (the finished field), ``eval.json`` and ``eval/*.png`` (ground truth | render, test
views only), ``points.ply``, ``mesh.ply``, ``splats.ply`` (the field as 3D Gaussians, in the 3DGS
layout: ``field/splats.py``) and, with ``--render-path``, ``renders/*.png``.
A cancel keeps the last checkpoint and writes no finished output: the finished outputs are made in
``.reconstruct-partial/`` and renamed into place only when all of them are done (earlier outputs of
the same names stay as they were until then).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from . import dataset as ds
from . import configs, fusion, ply, protocol
from .views import load_confidence, load_view
from .cli import Command
from .configs import ReconstructConfig
from .protocol import JobError

SPLIT_EVERY = 8  # with no test views, every 8th real training view is held out


def choose_split(data: ds.Dataset, ctx) -> tuple[list, list, str | None]:
    """Training and held-out views. With no test split: the val split, else a deterministic
    1-in-8 choice of real (not synthetic) training views, and synthetic views made from those
    are left out so nothing of a held-out view is trained on."""
    train, test = data.split("train"), data.split("test")
    if test:
        return train, test, None
    if data.split("val"):
        note = f"The dataset has no test views; evaluating on its {len(data.split('val'))} val views"
        ctx.emit.warning(note)
        return train, data.split("val"), note
    real = [f for f in train if not f.extra.get("synthetic")]
    if len(real) < 2:
        raise JobError(f"The dataset has {len(real)} real training view(s) and no test views",
                       hint="Capture at least two views, some marked as test")
    picks = real[SPLIT_EVERY // 2::SPLIT_EVERY] or [real[len(real) // 2]]
    held = {os.path.normpath(f.image_path) for f in picks}
    rel = {os.path.relpath(p, data.root).replace(os.sep, "/") for p in held}

    def leaks(f):
        return any(str(s).lstrip("./") in rel for s in f.extra.get("source") or [])

    train = [f for f in train if os.path.normpath(f.image_path) not in held and not leaks(f)]
    note = (f"The dataset has no test views; held out {len(picks)} of its {len(real)} real training views "
            f"(every {SPLIT_EVERY}th) for evaluation")
    ctx.emit.warning(note)
    return train, picks, note


def scene_bounds(data: ds.Dataset, frames, depths, ctx) -> np.ndarray:
    """The dataset's aabb, else the bounds of its depth, else a cube where the cameras look;
    padded a little so surfaces on the stated bounds stay inside."""
    if data.aabb is not None:
        lo, hi = data.aabb
    else:
        pts = [fusion.backproject(f, _finite(d))[np.isfinite(d)] for f, d in zip(frames, depths)
               if d is not None]
        pts = np.concatenate(pts) if pts else np.zeros((0, 3))
        if len(pts):
            lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
            ctx.emit.warning("The dataset gives no aabb; using the bounds of its depth maps")
        else:
            # The point nearest to every camera's viewing axis (least squares), half the median
            # camera distance around it.
            a, b = np.zeros((3, 3)), np.zeros(3)
            for f in frames:
                d = -f.c2w[:3, 2] / np.linalg.norm(f.c2w[:3, 2])
                p = np.eye(3) - np.outer(d, d)
                a += p
                b += p @ f.c2w[:3, 3]
            centre = np.linalg.lstsq(a, b, rcond=None)[0]
            r = 0.5 * float(np.median([np.linalg.norm(f.c2w[:3, 3] - centre) for f in frames]))
            lo, hi = centre - r, centre + r
            ctx.emit.warning("The dataset gives no aabb and no depth; guessing the bounds from where the cameras look")
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    pad = 0.04 * float((hi - lo).max())
    return np.stack([lo - pad, hi + pad])


def _finite(depth: np.ndarray) -> np.ndarray:
    """Depth with its NaN (unknown) and +inf (nothing there) set to 0, for backprojection."""
    return np.where(np.isfinite(depth), depth, 0.0)


def occupancy_priors(trainer, frames, images, depths, ctx) -> list[str]:
    """Restrict the occupancy grid with what the capture knows: surfaces from depth (when every
    real training view has it), empty space from transparent pixels."""
    import torch

    grid = trainer.model.grid
    real = [i for i, f in enumerate(frames) if not f.extra.get("synthetic")]
    notes = []
    if real and all(depths[i] is not None for i in real):
        pts = [fusion.backproject(frames[i], _finite(depths[i]))[np.isfinite(depths[i])] for i in real]
        pts = torch.as_tensor(np.concatenate(pts), dtype=torch.float32, device=grid.aabb.device)
        grid.restrict(grid.points_to_cells(pts), dilate=2)
        # Every pixel's ray is empty up to its depth (the whole way where it saw the world behind
        # the scene): without this, the shell around the surfaces grew floaters seen from other
        # directions (HDRI ring of 8 views).
        empty = torch.zeros_like(grid.allowed)
        for n, i in enumerate(real):
            ctx.progress("Carving empty space", n, len(real))
            f = frames[i]
            empty |= grid.carve_depth(f.c2w, f.fx, f.fy, f.cx, f.cy, depths[i])
        grid.restrict(~empty, dilate=1)
        notes.append("depth")
    if trainer.model.background.mode == "alpha":
        empty = torch.zeros_like(grid.allowed)
        for n, i in enumerate(real):
            ctx.progress("Carving empty space", n, len(real))
            f = frames[i]
            empty |= grid.carve(f.c2w, f.fx, f.fy, f.cx, f.cy, images[i][..., 3])
        grid.restrict(~empty, dilate=1)
        notes.append("alpha")
    return notes


def heldout_pixels(frames, images, device, transparent: bool, count: int, seed: int):
    """A fixed random set of test pixels (rays and target colour) for the running PSNR."""
    import torch

    from .field import sampler

    rng = np.random.default_rng(seed)
    per = max(1, count // len(frames))
    parts = []
    for f, im in zip(frames, images):
        idx = rng.choice(f.w * f.h, size=min(per, f.w * f.h), replace=False)
        px, py = torch.as_tensor(idx % f.w), torch.as_tensor(idx // f.w)
        c2w = torch.as_tensor(f.c2w, dtype=torch.float32)
        o, d, zs = sampler.pixel_rays(c2w, f.fx, f.fy, f.cx, f.cy, px, py)
        px_rgba = im.reshape(-1, 4)[idx]
        target = px_rgba[:, :3] * px_rgba[:, 3:] + (1 - px_rgba[:, 3:]) if transparent else px_rgba[:, :3]
        parts.append((o, d, zs, torch.as_tensor(target, dtype=torch.float32)))
    return tuple(torch.cat([p[k] for p in parts]).to(device) for k in range(4))


def detect_background(images) -> str:
    """``alpha`` when the training images have real transparency, else a learned environment."""
    clear = sum(float((im[..., 3] < 0.5).mean()) for im in images) / max(1, len(images))
    return "alpha" if clear > 1e-3 else "env"


OOM_HINT = ("Use a smaller --batch-rays (training) or --mesh-res (export), or --plane-res, "
            "or run on the CPU with --device CPU")
PARTIAL = ".reconstruct-partial"  # finished outputs are staged here and renamed into place at the end


def publish(stage: str, out: str) -> None:
    """Move everything in ``stage`` into ``out``, replacing files and folders of the same name
    (a folder as a whole, so no image of an older run stays in eval/ or renders/)."""
    import shutil

    for name in sorted(os.listdir(stage)):
        src, dst = os.path.join(stage, name), os.path.join(out, name)
        if os.path.isdir(dst) and not os.path.islink(dst):
            old = os.path.join(stage, ".old-" + name)
            os.rename(dst, old)
            os.rename(src, dst)
            shutil.rmtree(old)
        else:
            os.replace(src, dst)


def run(ctx, args) -> dict:
    """Out of GPU memory anywhere in the job (not only in the training loop) is a clear error."""
    import torch

    phase = {"now": "starting"}  # what the job is doing, for the message
    try:
        return _run(ctx, args, phase)
    except getattr(torch.cuda, "OutOfMemoryError", ()) as exc:
        raise JobError(f"Out of GPU memory while {phase['now']}", hint=OOM_HINT) from exc


def prepare_output(ctx, args) -> str:
    """The output folder, made if need be (a writable folder is checked before any work)."""
    out = args.out or ctx.job_dir
    if not out:
        raise JobError("No output folder", hint="Pass --out DIR (or --job DIR)")
    out = os.path.abspath(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise JobError(f"Cannot write to {out}: {exc.strerror}", hint="Choose a writable folder")
    return out


@dataclass
class Views:
    """The dataset's training and test views, loaded: RGBA images, planar depth (None: none),
    confidence (None: full)."""

    data: ds.Dataset
    train: list
    test: list
    split_note: str | None
    images: list
    depths: list
    confidences: list
    test_images: list


def load_views(ctx, args) -> Views:
    data = ds.load(args.dataset)
    for note in data.warnings:
        ctx.emit.warning(note)
    train, test, split_note = choose_split(data, ctx)
    channel = data.depth.get("exr_channel")
    total = len(train) + len(test)
    images, depths, confidences = [], [], []
    for i, f in enumerate(train):
        ctx.progress("Loading views", i, total)
        rgba, depth = load_view(f, channel, with_depth=not args.ignore_depth)
        images.append(rgba)
        depths.append(depth)
        confidences.append(load_confidence(f))
    test_images = []
    for i, f in enumerate(test):
        ctx.progress("Loading views", len(train) + i, total)
        test_images.append(load_view(f, with_depth=False)[0])
    return Views(data, train, test, split_note, images, depths, confidences, test_images)


def make_trainer(ctx, args, views: Views, device, phase: dict):
    """The trainer for these views: a fresh one with the capture's occupancy priors, or the one a
    checkpoint holds (``--resume``)."""
    from .field.config import TrainConfig
    from .field.trainer import PixelStore, Trainer

    background = args.background if args.background != "auto" else detect_background(views.images)
    real = sum(1 for f in views.train if not f.extra.get("synthetic"))
    cfg = TrainConfig.from_command(args, scene_bounds(views.data, views.train, views.depths, ctx), background, device,
                                   real_views=real)
    phase["now"] = f"moving the training views to {device}"
    heldout = heldout_pixels(views.test, views.test_images, device, background == "alpha", cfg.eval_pixels, args.seed)
    ctx.emit.status(f"{len(views.train)} training views, {len(views.test)} test views, background {background}, "
                    f"device {device}, {cfg.batch_rays} rays per step, colour SH degree {cfg.sh_degree}")
    store = PixelStore(views.train, views.images, views.depths, device, views.confidences, args.real_share)
    trainer = Trainer(cfg, store, heldout, device, command_config=configs.to_dict(args))
    if args.resume:
        trainer.load(os.path.abspath(args.resume))
        ctx.emit.status(f"Resumed from {args.resume} at step {trainer.step}")
        priors = ["checkpoint"]
    else:
        phase["now"] = "building the occupancy grid"
        priors = occupancy_priors(trainer, views.train, views.images, views.depths, ctx)
    ctx.emit.status(f"Occupancy {trainer.model.grid.occupancy():.1%} after priors ({', '.join(priors) or 'none'})")
    return trainer


EXPORT_VIEWS = 32  # cameras whose renders make the point cloud and judge what the mesh keeps


def export_views(frames: list) -> list:
    """The real training cameras the export renders, at most ``EXPORT_VIEWS`` spread evenly over
    them: synthetic views add no camera a real one lacks, and rendering every view (126 in the demo,
    synthetic ones included) took minutes on the CPU, where the export should cost a small share of
    training."""
    real = [f for f in frames if not f.extra.get("synthetic")] or list(frames)
    if len(real) <= EXPORT_VIEWS:
        return real
    return [real[int(i * len(real) / EXPORT_VIEWS)] for i in range(EXPORT_VIEWS)]


def write_outputs(ctx, args, views: Views, trainer, summary: dict, out: str, device, phase: dict) -> dict:
    """Evaluate, export and render into a staging folder, then publish it all at once: a cancel or
    an error here keeps checkpoint.pt and leaves no output that looks finished."""
    import shutil

    from .field import evaluate as E
    from .field import export as X
    from .field import model as M
    from .field import splats

    stage = os.path.join(out, PARTIAL)
    shutil.rmtree(stage, ignore_errors=True)  # a killed run's leftovers
    os.makedirs(stage)
    background = trainer.cfg.background

    def final(path: str) -> str:
        return os.path.join(out, os.path.relpath(path, stage))

    try:
        # The dataset's path lets snapshot-encode find the capture's cameras and first view.
        M.save_atomic(M.checkpoint(trainer.model, trainer.step, train=trainer.cfg.model_config(), history=trainer.history,
                                   dataset=os.path.abspath(args.dataset)), os.path.join(stage, "field.pt"))
        model = trainer.model.eval()

        phase["now"] = "evaluating the test views"
        lap = time.monotonic()
        report = E.evaluate(model, views.test, views.test_images, device, os.path.join(stage, "eval"), ctx,
                            args.supersample)
        for view in report["views"]:
            if "image" in view:
                view["image"] = final(view["image"])
        report.update(summary, device=str(device), background=background, train_views=len(views.train),
                      test_views=len(views.test), split_note=views.split_note, history=trainer.history,
                      occupancy=round(model.grid.occupancy(), 4), config=trainer.cfg.model_config())
        seconds = phase.setdefault("seconds", {})
        seconds["evaluate"] = round(time.monotonic() - lap, 2)
        report["seconds"] = dict(seconds)  # where the job's time went (the export's is in the result)
        protocol.write_json_atomic(os.path.join(stage, "eval.json"), report)
        result = {"field": os.path.join(out, "field.pt"), "checkpoint": os.path.join(out, "checkpoint.pt"),
                  "eval": os.path.join(out, "eval.json"), "psnr": report["psnr"], "ssim": report["ssim"],
                  "steps": trainer.step, "train_seconds": summary["train_seconds"],
                  "seconds_per_step": summary["seconds_per_step"], "rays_per_second": summary["rays_per_second"],
                  "samples_per_second": summary["samples_per_second"], "test_views": len(views.test),
                  "background": background, "device": str(device), "points": None, "mesh": None}
        if views.split_note:
            result["split_note"] = views.split_note
        lap = time.monotonic()
        if not args.no_export:
            phase["now"] = "rendering the training views for the point cloud"
            rendered = X.render_views(model, export_views(views.train), device, ctx=ctx)
            points, colors, extra = X.points_from_views(model, rendered)
            ply.write_ply(os.path.join(stage, "points.ply"), points, colors, extra=extra,
                          comments=["PS4PRO reconstruct points"])
            phase["now"] = "exporting the 3D Gaussians"
            ctx.progress("Exporting 3D Gaussians", 0, 1)
            splats.write(os.path.join(stage, "splats.ply"),
                         splats.gaussians(model, points, extra["opacity"], X.point_spacing(model), device))
            phase["now"] = f"exporting the mesh (--mesh-res {args.mesh_res})"
            verts, vcolors, faces, level = X.mesh_from_field(model, device, res=args.mesh_res,
                                                             seen_by=None if args.keep_unseen else rendered, ctx=ctx)
            ply.write_ply(os.path.join(stage, "mesh.ply"), verts, vcolors, faces=faces, comments=["PS4PRO reconstruct mesh"])
            result.update(points=os.path.join(out, "points.ply"), num_points=int(len(points)),
                          splats=os.path.join(out, "splats.ply"),
                          mesh=os.path.join(out, "mesh.ply"), num_vertices=int(len(verts)), num_faces=int(len(faces)),
                          mesh_level=level)
            seconds["export"] = round(time.monotonic() - lap, 2)
        if args.render_path:
            phase["now"] = "rendering the camera path"
            cams = ds.load(args.render_path).frames
            result["renders"] = [final(p) for p in E.render_path(model, cams, device, os.path.join(stage, "renders"),
                                                                 ctx, args.supersample)]
        ctx.check_cancel()  # the last step boundary: past it, the outputs are published
        publish(stage, out)
        result["seconds"] = dict(seconds, total=round(time.monotonic() - phase.get("t0", lap), 2))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return result


def _run(ctx, args, phase: dict) -> dict:
    import torch

    phase["t0"] = lap = time.monotonic()
    seconds = phase["seconds"] = {}
    out = prepare_output(ctx, args)
    device = ctx.torch_device()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    views = load_views(ctx, args)
    trainer = make_trainer(ctx, args, views, device, phase)
    seconds["load"] = round(time.monotonic() - lap, 2)  # views read, occupancy priors built
    checkpoint = os.path.join(out, "checkpoint.pt")
    # One budget: the steps when given, else the minutes (the config checks both are positive).
    steps, budget = (args.steps, None) if args.steps else (None, args.minutes * 60.0)
    phase["now"] = "training"
    lap = time.monotonic()
    summary = trainer.run(ctx, steps=steps, seconds=budget, checkpoint_path=checkpoint)
    trainer.save(checkpoint)
    seconds["train"] = round(time.monotonic() - lap, 2)  # with checkpoints and held-out readings
    return write_outputs(ctx, args, views, trainer, summary, out, device, phase)


def recorded(checkpoint: str) -> dict | None:
    """The options a checkpoint's run started with (None: a missing file, or one from before
    checkpoints kept them); an unreadable file is reported when the run loads it."""
    from .field import model as M

    if not os.path.isfile(checkpoint):
        return None
    try:
        return M.read(checkpoint).get("command_config")
    except JobError:
        return None


COMMAND = Command(
    name="reconstruct",
    help="train a tri-plane radiance field on a dataset, evaluate it on held-out views, export points and a mesh",
    config=ReconstructConfig,
    run=run,
    recorded=recorded,
)
