"""``augment`` (formerly ``interpolate``): augment a captured dataset with synthetic in-between views (PS4PRO).

For every pair of consecutive training views in capture order (and the last and first views when
the path is a closed orbit), ``k`` views are synthesised at
poses between them (rotation slerp, position on the path's spline; intrinsics carried over)
and written, with the original views, as a new dataset. Each synthetic frame says
``synthetic: true``, its ``source`` frames, ``t``, a loss ``weight`` and a
``confidence_file_path``: an 8-bit image of how far each pixel can be trusted (geometry mode: the
two warps agree, ``warp.geometry_trust``; footage mode: the flows check out, ``flow.footage_trust``),
0 where the view is a guess (outside both source frames, disocclusions), which reconstruction
weights pixels by. Test and validation views are never interpolation sources.

Mode "auto" is geometry-aware when both neighbours have depth and falls back to footage mode
(images only) for a pair that lacks it, saying so.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import dataset as ds
from . import files, poses, transforms_io
from .cli import Command
from .configs import AugmentConfig
from .protocol import JobError

SYNTH_DIR = "synthetic"


def _order(frames: list[ds.Frame]) -> list[ds.Frame]:
    """Capture order: the ``frame`` number where the dataset has one, else file order."""
    if all("frame" in f.extra for f in frames):
        return sorted(frames, key=lambda f: (f.extra["frame"], f.image_path))
    return list(frames)


def count_between(gap_deg: float, k: int, max_gap_deg: float) -> int:
    """In-between views for one pair: ``k`` if given, else enough that no gap exceeds ``max_gap_deg``."""
    if k > 0:
        return k
    return max(0, math.ceil(gap_deg / max_gap_deg - 1e-9) - 1)


def plan(data: ds.Dataset, k: int = 0, max_gap_deg: float = 6.0, off_path_deg: float = 0.0) -> list[dict]:
    """The synthetic views to make: source pair, t, pose, intrinsics. With ``off_path_deg``, every
    view on the path (captured or in-between) also gets two copies moved that far up and down the
    sphere around the point the cameras look at, so that a ring of cameras teaches the field other
    elevations too (those views need depth; none when the cameras do not look at a common centre)."""
    sources = _order(data.split("train"))
    if len(sources) < 2:
        raise JobError(
            f"The dataset has {len(sources)} training view(s); interpolation needs at least two",
            hint="Capture more views (or fewer held out for testing)",
        )
    sizes = {(f.w, f.h) for f in sources}
    if len(sizes) > 1:
        raise JobError(
            f"The training views have different sizes: {sorted(sizes)}",
            hint="Capture all views at one resolution",
        )
    path = [f.c2w for f in sources]
    pairs = list(zip(sources, sources[1:]))
    closed = is_closed_loop(path)
    if closed:  # an orbit that comes back to its start: its last gap is a pair too
        pairs.append((sources[-1], sources[0]))
        spline = [path[-1]] + path + path[:2]  # neighbours wrap around the loop
    jobs = []
    for i, (a, b) in enumerate(pairs):
        gap = poses.view_angle_deg(a.c2w, b.c2w)
        n = count_between(gap, k, max_gap_deg)
        for j in range(1, n + 1):
            t = j / (n + 1)
            c2w = poses.interpolate_pose(spline, i + 1, t) if closed else poses.interpolate_pose(path, i, t)
            jobs.append({"a": a, "b": b, "pair": i, "t": t, "gap_deg": gap, "c2w": c2w})
    centre = poses.look_at_point(path) if off_path_deg > 0 else None
    if centre is not None:
        on_path = [{"a": a, "b": b, "pair": i, "t": 0.0, "gap_deg": poses.view_angle_deg(a.c2w, b.c2w), "c2w": a.c2w}
                   for i, (a, b) in enumerate(pairs)] + jobs
        if not closed:  # the path's last view is no pair's first
            a, b = pairs[-1]
            on_path.append({"a": a, "b": b, "pair": len(pairs) - 1, "t": 1.0,
                            "gap_deg": poses.view_angle_deg(a.c2w, b.c2w), "c2w": b.c2w})
        for job in on_path:
            for sign in (1, -1):
                jobs.append(dict(job, c2w=poses.orbit_offset(job["c2w"], centre, sign * off_path_deg),
                                 offset_deg=sign * off_path_deg))
    return jobs


def is_closed_loop(path: list[np.ndarray]) -> bool:
    """Does the path come back to its start (a full orbit)? Its closing gap, in view angle and in
    distance, is no larger than 1.5 times its typical step."""
    if len(path) < 4:
        return False
    angles = [poses.view_angle_deg(a, b) for a, b in zip(path, path[1:])]
    steps = [float(np.linalg.norm(a[:3, 3] - b[:3, 3])) for a, b in zip(path, path[1:])]
    close_angle = poses.view_angle_deg(path[-1], path[0])
    close_step = float(np.linalg.norm(path[-1][:3, 3] - path[0][:3, 3]))
    return (close_angle <= 1.5 * float(np.median(angles)) + 1e-6
            and close_step <= 1.5 * float(np.median(steps)) + 1e-9)


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _frame_record(f: ds.Frame, out_root: str) -> dict:
    record = {k: v for k, v in f.extra.items() if k not in ("depth_file_path",)}
    record.update(
        file_path=_rel(f.image_path, out_root),
        transform_matrix=f.c2w.tolist(),
        fl_x=f.fx, fl_y=f.fy, cx=f.cx, cy=f.cy, w=f.w, h=f.h,
        split=f.split,
    )
    if f.depth_path:
        record["depth_file_path"] = _rel(f.depth_path, out_root)
    if f.extra.get("confidence_file_path"):
        record["confidence_file_path"] = _rel(f.extra["confidence_file_path"], out_root)
    return record


def _has_depth(f: ds.Frame) -> bool:
    return bool(f.depth_path) and os.path.exists(f.depth_path)


def _save_rgba(path: str, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    from PIL import Image

    arr = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    if alpha is not None:
        arr = np.dstack([arr, np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)])
    with files.atomic_path(path, ".png") as tmp:
        Image.fromarray(arr, "RGBA" if alpha is not None else "RGB").save(tmp)


def _save_gray(path: str, values: np.ndarray) -> None:
    from PIL import Image

    with files.atomic_path(path, ".png") as tmp:
        Image.fromarray(np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8), "L").save(tmp)


def run(ctx, args) -> dict:
    from .interp.infer import Interpolator, View

    data = ds.load(args.dataset)
    out = os.path.abspath(args.out)
    if os.path.abspath(data.root) == out:
        raise JobError("The output folder is the dataset itself", hint="Choose a new folder for the augmented dataset")
    jobs = plan(data, args.k, args.max_gap_deg, args.off_path_deg if args.mode != "footage" else 0.0)
    if args.off_path_deg > 0 and args.mode != "footage" and not any("offset_deg" in j for j in jobs):
        ctx.emit.warning("the cameras do not look at a common centre: no off-path views were made")
    try:
        os.makedirs(os.path.join(out, SYNTH_DIR), exist_ok=True)
    except OSError as exc:
        raise JobError(f"Cannot write to {out}: {exc.strerror}", hint="Choose a writable folder")
    old = os.path.join(out, "transforms.json")
    if os.path.exists(old):  # an earlier augmentation here: it stops counting as finished now
        os.remove(old)

    device = ctx.torch_device()
    interp = Interpolator(args.weights or None, device, warn=ctx.emit.warning)
    if interp.model is None:
        ctx.emit.warning("no trained interpolation weights: synthetic views come from the classical fallback")
    warned_footage = set()
    cache: dict[str, tuple] = {}

    def load(f: ds.Frame, with_depth: bool):
        key = (f.image_path, with_depth)
        if key not in cache:
            if len(cache) > 8:
                cache.pop(next(iter(cache)))
            rgba = ds.load_rgba(f.image_path)
            if rgba.shape[:2] != (f.h, f.w):
                raise JobError(
                    f"{os.path.basename(f.image_path)} is {rgba.shape[1]}x{rgba.shape[0]}, "
                    f"but the dataset says {f.w}x{f.h}",
                    hint="Re-capture the dataset",
                )
            depth = None
            if with_depth:
                from . import depth_io

                depth = depth_io.read_frame_depth(f, data.depth.get("exr_channel"))
            cache[key] = (rgba, depth)
        return cache[key]

    frames = [_frame_record(f, out) for f in _order(data.frames)]
    counts = {"geometry": 0, "footage": 0}
    skipped_off_path = 0
    coverage = []  # each synthetic view's mean confidence
    for n, job in enumerate(jobs):
        ctx.progress("Interpolating", n, len(jobs))
        a, b, t = job["a"], job["b"], job["t"]
        geometric = args.mode in ("auto", "geometry") and _has_depth(a) and _has_depth(b)
        if "offset_deg" in job and not geometric:
            skipped_off_path += 1  # moving off the path needs depth to warp with
            continue
        if args.mode == "geometry" and not geometric and "geometry" not in warned_footage:
            warned_footage.add("geometry")
            ctx.emit.warning("some views lack depth: falling back to footage mode for them")
        if args.mode == "auto" and not geometric and "auto" not in warned_footage:
            warned_footage.add("auto")
            ctx.emit.warning("the dataset lacks depth: using footage mode (images only)")
        rgba_a, depth_a = load(a, geometric)
        rgba_b, depth_b = load(b, geometric)
        transparent = rgba_a[..., 3].min() < 1.0 or rgba_b[..., 3].min() < 1.0
        if geometric:
            K = a.intrinsics()
            va = View(rgba_a[..., :3], depth_a, a.intrinsics(), a.c2w)
            vb = View(rgba_b[..., :3], depth_b, b.intrinsics(), b.c2w)
            rgb, seen = interp.views(va, vb, job["c2w"], K, t, coverage=True)
            # Alpha travels the same way: through the same warp as a grey image.
            alpha = (
                interp.views(View(np.repeat(rgba_a[..., 3:], 3, -1), depth_a, va.K, va.c2w),
                             View(np.repeat(rgba_b[..., 3:], 3, -1), depth_b, vb.K, vb.c2w),
                             job["c2w"], K, t, learned=False)[..., 0]
                if transparent else None
            )
        else:
            rgb, seen = interp.footage(rgba_a[..., :3], rgba_b[..., :3], t, coverage=True)
            alpha = interp.footage(np.repeat(rgba_a[..., 3:], 3, -1), np.repeat(rgba_b[..., 3:], 3, -1), t,
                                   learned=False)[..., 0] if transparent else None
        counts["geometry" if geometric else "footage"] += 1
        name = f"{n:05d}.png"
        _save_rgba(os.path.join(out, SYNTH_DIR, name), rgb, alpha)
        # Where neither source saw the pixel (outside both frames, disocclusions) the colour and
        # alpha are guesses: the confidence image tells reconstruction not to learn from them.
        conf_name = f"{n:05d}_confidence.png"
        _save_gray(os.path.join(out, SYNTH_DIR, conf_name), seen)
        coverage.append(float(np.mean(seen)))
        record = {
            "file_path": f"{SYNTH_DIR}/{name}",
            "transform_matrix": job["c2w"].tolist(),
            "fl_x": a.fx, "fl_y": a.fy, "cx": a.cx, "cy": a.cy, "w": a.w, "h": a.h,
            "split": "train",
            "synthetic": True,
            "confidence_file_path": f"{SYNTH_DIR}/{conf_name}",
            "source": [_rel(a.image_path, out), _rel(b.image_path, out)],
            "t": round(t, 6),
            **({"offset_deg": job["offset_deg"]} if "offset_deg" in job else {}),
            "weight": args.synthetic_weight,
            "interpolation": "geometry" if geometric else "footage",
        }
        for key in ("time", "frame"):
            if key in a.extra and key in b.extra:
                record[key] = (1 - t) * a.extra[key] + t * b.extra[key]
        frames.append(record)
    ctx.progress("Interpolating", len(jobs), len(jobs))
    ctx.check_cancel()
    if skipped_off_path:
        ctx.emit.warning(f"{skipped_off_path} off-path views skipped: their source views have no depth")
    made = len(jobs) - skipped_off_path
    bought = _what_it_bought(data.frames, made, coverage)

    header = {k: v for k, v in data.meta.items() if k not in ("frames",) and not k.endswith("_filenames")}
    extra = dict(header.get("ps4pro") or {})
    extra["augment"] = {
        # Relative, so that the two folders can move together; dataset.load lets an augmented
        # dataset read the real views kept in this folder, and nowhere else.
        "source_dataset": _rel(data.root, out),
        "synthetic_views": made,
        "k": args.k,
        "max_gap_deg": args.max_gap_deg,
        "off_path_deg": args.off_path_deg,
        "mode": args.mode,
        "weights": (interp.meta.get("name") or "trained") if interp.model is not None else None,
        "notes": interp.notes,
        "counts": counts,
        **bought,
    }
    header["ps4pro"] = extra
    path = transforms_io.write_transforms(out, frames, header)
    return {
        "dataset": out,
        "transforms": path,
        "synthetic_views": made,
        "views": len(frames),
        "counts": counts,
        "notes": interp.notes,
        **bought,
        "preview": {"synthetic": frames[-1]["file_path"], "sources": frames[-1]["source"]} if made else None,
    }


def _what_it_bought(frames: list, made: int, coverage: list) -> dict:
    """The synthetic views' mean confidence, and the render time they stand for: as many views
    at the capture's own mean render time per view (None where the capture did not time them)."""
    timed = [f.extra["render_seconds"] for f in frames
             if not f.extra.get("synthetic") and isinstance(f.extra.get("render_seconds"), (int, float))]
    per_view = sum(timed) / len(timed) if timed else None
    return {"mean_confidence": round(sum(coverage) / len(coverage), 4) if coverage else None,
            "render_seconds_per_view": None if per_view is None else round(per_view, 3),
            "render_seconds_saved": None if per_view is None else round(made * per_view, 1)}


COMMAND = Command(
    name="augment",
    help="augment a dataset with synthetic in-between views (PS4PRO)",
    config=AugmentConfig,
    run=run,
)
