"""Rendering whole views: held-out evaluation (PSNR and SSIM with scikit-image, never on training
views) with side-by-side PNGs, and novel views along a camera path.

Transparent captures are compared over white (both the render and the ground truth), the NeRF
"blender" convention; opaque ones as they are.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from ..metrics import image_metrics
from . import sampler


# Rays per pixel side when rendering whole views: 2 = four rays on a 2 x 2 grid inside each pixel,
# averaged. Blender's renders are anti-aliased (a pixel filter about 1.5 px wide), so one ray
# through the pixel centre gives jagged edges and aliased texture that no field can fix. The same
# field scores higher rendered 2 x 2 (`reconstruct --resume CKPT --steps <its step> --supersample 1`
# against the default 2 evaluates it both ways).
SUPERSAMPLE = 2


@torch.no_grad()
def render_frame(model, frame, device, chunk: int = 16384, ctx=None, supersample: int = SUPERSAMPLE) -> dict:
    """(H, W, 3) colour over the background, (H, W) opacity and planar depth (NaN: nothing),
    averaged over ``supersample`` x ``supersample`` rays per pixel (depth: weighted by opacity)."""
    n = max(1, int(supersample))
    steps = [(i + 0.5) / n - 0.5 for i in range(n)]  # stratified offsets inside the pixel
    h, w = frame.h, frame.w
    rgb = np.zeros((h * w, 3), np.float64)
    opacity = np.zeros(h * w, np.float64)
    depth_sum = np.zeros(h * w, np.float64)
    for dy in steps:
        for dx in steps:
            o, d, zs = sampler.frame_rays(frame, device, offset=(dx, dy))
            for s in range(0, o.shape[0], chunk):
                if ctx is not None:
                    ctx.check_cancel()
                out = model.render_rays(o[s:s + chunk], d[s:s + chunk], zs[s:s + chunk])
                a = out["opacity"].double().cpu().numpy()
                rgb[s:s + chunk] += out["rgb"].double().clamp(0, 1).cpu().numpy()
                opacity[s:s + chunk] += a
                depth_sum[s:s + chunk] += np.nan_to_num(out["depth"].double().cpu().numpy()) * a
    k = n * n
    seen = opacity > 1e-4 * k
    depth = np.full(h * w, np.nan)
    depth[seen] = depth_sum[seen] / opacity[seen]
    return {"rgb": (rgb / k).astype(np.float32).reshape(h, w, 3),
            "opacity": (opacity / k).astype(np.float32).reshape(h, w),
            "depth": depth.astype(np.float32).reshape(h, w)}


def over_white(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., :3] * rgba[..., 3:4] + (1.0 - rgba[..., 3:4])


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def save_png(path: str, img: np.ndarray) -> None:
    """Atomically: a temporary name in the same folder, then a rename."""
    from ..files import atomic_path

    with atomic_path(path, ".png") as tmp:
        Image.fromarray(img).save(tmp, format="PNG")


def evaluate(model, frames, images, device, out_dir: str | None = None, ctx=None, supersample: int = SUPERSAMPLE) -> dict:
    """Per-view and mean PSNR/SSIM on held-out views; ``gt | render`` PNGs in ``out_dir``."""
    transparent = model.background.mode == "alpha"
    views = []
    for i, (frame, rgba) in enumerate(zip(frames, images)):
        if ctx is not None:
            ctx.progress("Evaluating", i, len(frames))
        pred = render_frame(model, frame, device, ctx=ctx, supersample=supersample)["rgb"]
        gt = over_white(rgba) if transparent else rgba[..., :3]
        m = image_metrics(pred, gt)
        name = os.path.splitext(os.path.basename(frame.image_path))[0]
        view = {"name": name, **{k: round(v, 4) for k, v in m.items()}}
        if out_dir:
            png = os.path.join(out_dir, f"{i:03d}_{name}.png")
            save_png(png, to_uint8(np.concatenate([gt, pred], axis=1)))
            view["image"] = png
        views.append(view)
    if ctx is not None:
        ctx.progress("Evaluating", len(frames), len(frames))
    mean = {k: round(float(np.mean([v[k] for v in views])), 4) if views else None for k in ("psnr", "ssim")}
    return {"views": views, **mean}


def render_path(model, frames, device, out_dir: str, ctx=None, supersample: int = SUPERSAMPLE) -> list[str]:
    """Novel views for the cameras of ``frames`` (RGBA: colour and opacity), as numbered PNGs."""
    paths = []
    for i, frame in enumerate(frames):
        if ctx is not None:
            ctx.progress("Rendering path", i, len(frames))
        r = render_frame(model, frame, device, ctx=ctx, supersample=supersample)
        rgba = np.dstack([r["rgb"], r["opacity"]]) if model.background.mode == "alpha" else r["rgb"]
        if model.background.mode == "alpha":  # un-composite from white, keep straight alpha
            a = np.clip(r["opacity"], 1e-6, 1.0)[..., None]
            rgba[..., :3] = np.clip((r["rgb"] - (1.0 - a)) / a, 0, 1)
        path = os.path.join(out_dir, f"{i:04d}.png")
        save_png(path, to_uint8(rgba))
        paths.append(path)
    return paths
