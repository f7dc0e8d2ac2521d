"""Interpolating views and frames with the trained network (or the classical fallbacks).

Geometry mode (views with depth and poses): both neighbours are forward-warped into the target
camera over the whole frame (cheap, O(pixels)); the fusion network then runs over the frame in
overlapping tiles whose outputs are feather-blended, so that large frames fit in memory and no
seams show. Footage mode (images only): DIS flow t→0 and t→1 for the whole frame, backward
warping, then the fusion network (on a reduced copy for large frames). Without trained weights, geometry mode falls back to the plain
z-buffer warp and footage mode to OpenCV DIS flow, and say so through ``warn``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..protocol import JobError
from . import flow as flowlib
from . import model as modellib
from . import warp as warplib
from . import weights as weightslib

PLAIN_NOTE = "no trained weights: using the plain geometric warp (lower quality)"
TILE = 512
OVERLAP = 64
# Footage mode runs its fusion net on frames scaled to at most this side and upsamples the blend
# coefficients: flow already aligns the frames at full resolution, the coefficients are smooth, and
# a 720p frame then costs a fraction of RIFE's time instead of several times it.
FOOTAGE_FUSE_SIDE = 384


@dataclass
class View:
    """One captured view: rgb (H, W, 3) float 0..1, planar depth (H, W), K (3, 3), camera-to-world (4, 4)."""

    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    c2w: np.ndarray

    @classmethod
    def from_frame(cls, frame, depth_channel=None) -> "View":
        from .. import dataset as ds
        from .. import depth_io

        if not frame.depth_path:
            raise JobError(f"View {os.path.basename(frame.image_path)} has no depth",
                           hint="Capture with Depth set to EXR or NPY, or use footage mode")
        rgb = ds.load_rgba(frame.image_path)[..., :3]
        depth = depth_io.read_frame_depth(frame, depth_channel)
        if depth.shape != rgb.shape[:2]:
            raise JobError(f"Image and depth sizes differ for {os.path.basename(frame.image_path)}",
                           hint="Re-capture the dataset")
        return cls(rgb, depth, frame.intrinsics(), np.asarray(frame.c2w, dtype=np.float64))


def _img(x: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)[None].to(device)


def _np(x: torch.Tensor) -> np.ndarray:
    return x[0].clamp(0, 1).permute(1, 2, 0).detach().cpu().numpy()


def feather(n: int, lo_edge: bool, hi_edge: bool, overlap: int, device) -> torch.Tensor:
    """1-D blending weights of a tile: linear ramps over the overlap on sides that meet another tile."""
    w = torch.ones(n, device=device)
    ramp = (torch.arange(overlap, device=device, dtype=torch.float32) + 0.5) / overlap
    k = min(overlap, n)
    if lo_edge:
        w[:k] = torch.minimum(w[:k], ramp[:k])
    if hi_edge:
        w[n - k:] = torch.minimum(w[n - k:], ramp[:k].flip(0))
    return w


def _starts(size: int, tile: int, step: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int = TILE, overlap: int = OVERLAP):
    """``fn`` (a fully convolutional net) over ``x`` in overlapping tiles, feather-blended."""
    H, W = x.shape[-2:]
    if H <= tile and W <= tile:
        return fn(x)
    overlap = max(1, min(overlap, tile // 2))
    step = tile - overlap
    out = None
    norm = torch.zeros(1, 1, H, W, device=x.device)
    ys, xs = _starts(H, tile, step), _starts(W, tile, step)
    for y in ys:
        for x0 in xs:
            h, w = min(tile, H - y), min(tile, W - x0)
            y_out = fn(x[..., y:y + h, x0:x0 + w])
            if out is None:
                out = torch.zeros(x.shape[0], y_out.shape[1], H, W, device=x.device, dtype=y_out.dtype)
            wy = feather(h, y > 0, y + h < H, overlap, x.device)
            wx = feather(w, x0 > 0, x0 + w < W, overlap, x.device)
            wt = (wy[:, None] * wx[None, :])[None, None]
            out[..., y:y + h, x0:x0 + w] += y_out * wt
            norm[..., y:y + h, x0:x0 + w] += wt
    return out / norm


class Interpolator:
    """Holds the network (if any) on a device. ``weights``: a path, None for the shipped default
    (missing default → classical fallbacks with a note), or ``False`` for no network at all."""

    def __init__(self, weights=None, device="cpu", tile: int = TILE, overlap: int = OVERLAP,
                 warn: Callable[[str], None] | None = None):
        self.device = torch.device(device)
        self.tile, self.overlap = tile, overlap
        self.warn = warn
        self.model, self.meta, self.notes = None, {}, []
        if weights is False:
            pass
        elif weights is None and not os.path.exists(weightslib.DEFAULT_PATH):
            pass
        else:
            self.model, self.meta = weightslib.load(weights or weightslib.DEFAULT_PATH, self.device)
        self.modes = set(self.meta.get("modes", ["geometry", "footage"])) if self.model is not None else set()

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            if self.warn:
                self.warn(text)

    @torch.no_grad()
    def views(self, a: View, b: View, c2w_t, K_t, t: float, out_hw=None, learned: bool = True,
              coverage: bool = False):
        """The view at camera (c2w_t, K_t), 'time' t between a (0) and b (1); (H, W, 3) float.
        With ``coverage``, also (H, W) float in 0..1, the pixel's trust (``warp.geometry_trust``): 0
        where it is a guess."""
        out_hw = out_hw or a.rgb.shape[:2]
        dev = self.device
        w = warplib.warp_pair(_img(a.rgb, dev), torch.from_numpy(a.depth)[None, None].float().to(dev), a.K, a.c2w,
                              _img(b.rgb, dev), torch.from_numpy(b.depth)[None, None].float().to(dev), b.K, b.c2w,
                              K_t, c2w_t, out_hw)
        if not learned or self.model is None or "geometry" not in self.modes:
            if learned:
                self._note(PLAIN_NOTE)
            merged, _, _, mask = warplib.merge_warps(w, t)
            rgb = _np(warplib.fill_holes(merged, mask))
        else:
            inp = modellib.geometry_inputs(w, t)
            out = run_tiled(self.model.fusion, inp["x"], self.tile, self.overlap)
            rgb = _np(modellib.combine(inp, out))
        return (rgb, warplib.geometry_trust(w)[0, 0].cpu().numpy()) if coverage else rgb

    @torch.no_grad()
    def footage(self, img0: np.ndarray, img1: np.ndarray, t: float, learned: bool = True, coverage: bool = False):
        """The frame at time t between two (H, W, 3) float frames. With ``coverage``, also (H, W)
        float in 0..1, the pixel's trust (``flow.footage_trust``): 0 where the flow fails its own
        checks and the colour is a guess."""
        dev = self.device
        f01, f10 = (f.to(dev) for f in flowlib.classical_flows(img0[..., :3], img1[..., :3]))
        flow = flowlib.flow_t(f01, f10, t)
        i0, i1 = _img(img0[..., :3], dev), _img(img1[..., :3], dev)
        inp = modellib.footage_inputs(i0, i1, t, flow)
        trust = (lambda: flowlib.footage_trust(inp["A"], inp["B"], flow, f01, f10)[0, 0].cpu().numpy())  # noqa: E731
        if not learned or self.model is None or "footage" not in self.modes:
            self._note(flowlib.CLASSICAL_NOTE)
            rgb = _np(inp["P"])
            return (rgb, trust()) if coverage else rgb
        H, W = i0.shape[-2:]
        s = FOOTAGE_FUSE_SIDE / max(H, W)
        if s < 1:
            size = (max(1, round(H * s)), max(1, round(W * s)))
            down = lambda v: torch.nn.functional.interpolate(v, size=size, mode="area")  # noqa: E731
            small = modellib.footage_inputs(down(i0), down(i1), t, down(flow) * s)
            out = torch.nn.functional.interpolate(self.model.fusion(small["x"]), size=(H, W), mode="bilinear",
                                                  align_corners=False)
        else:
            out = run_tiled(self.model.fusion, inp["x"], self.tile, self.overlap)
        rgb = _np(modellib.combine(inp, out))
        return (rgb, trust()) if coverage else rgb


_cache: dict = {}


def _interpolator(weights, device, tile, overlap) -> Interpolator:
    key = (weights, str(device), tile, overlap)
    if key not in _cache:
        _cache.clear()
        _cache[key] = Interpolator(weights, device, tile, overlap)
    return _cache[key]


def interpolate_views(frame_a, frame_b, target_pose, target_K, t, mode="auto", device="cpu", tile=TILE,
                      overlap=OVERLAP, weights=None, out_hw=None):
    """The in-between view; ``frame_a``/``frame_b`` are ``View``s or dataset ``Frame``s with depth.
    ``mode``: "auto" (learned when weights exist, else the plain warp), "learned", or "plain".
    Returns (rgb (H, W, 3) float32, notes)."""
    a = frame_a if isinstance(frame_a, View) else View.from_frame(frame_a)
    b = frame_b if isinstance(frame_b, View) else View.from_frame(frame_b)
    interp = _interpolator(False if mode == "plain" else weights, device, tile, overlap)
    if mode == "learned" and interp.model is None:
        raise JobError("No trained interpolation weights", hint=f"Train them with train-interp or restore {weightslib.DEFAULT_PATH}")
    rgb = interp.views(a, b, np.asarray(target_pose, dtype=np.float64), np.asarray(target_K, dtype=np.float64), t,
                       out_hw, learned=mode != "plain")
    return rgb, list(interp.notes)


def interpolate_footage(img_a, img_b, t, device="cpu", tile=TILE, overlap=OVERLAP, weights=None):
    """The frame at time t between two (H, W, 3|4) float images. Returns (rgb, notes)."""
    interp = _interpolator(weights, device, tile, overlap)
    rgb = interp.footage(np.asarray(img_a, dtype=np.float32), np.asarray(img_b, dtype=np.float32), t)
    return rgb, list(interp.notes)
