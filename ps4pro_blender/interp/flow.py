"""2-D flow for footage mode: backward warping and OpenCV's DIS flow (coarse to fine, both ways).

Flows are (B, 2, H, W) in pixels, (dx, dy): the pixel at p in the in-between frame comes from
p + flow in the source frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CLASSICAL_NOTE = "no trained weights: using classical flow (lower quality)"

_grids: dict = {}


def _base_grid(B, H, W, device, dtype):
    key = (H, W, str(device), dtype)
    g = _grids.get(key)
    if g is None:
        ys = torch.linspace(-1 + 1 / H, 1 - 1 / H, H, device=device, dtype=dtype)
        xs = torch.linspace(-1 + 1 / W, 1 - 1 / W, W, device=device, dtype=dtype)
        g = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).unsqueeze(0)
        if len(_grids) > 16:
            _grids.clear()
        _grids[key] = g
    return g.expand(B, H, W, 2)


def backward_warp(img, flow):
    """Sample ``img`` at p + flow (bilinear, border padding); pixel centres as in align_corners=False."""
    B, _, H, W = img.shape
    scale = torch.tensor([2.0 / W, 2.0 / H], device=img.device, dtype=img.dtype)
    grid = _base_grid(B, H, W, img.device, img.dtype) + flow.permute(0, 2, 3, 1) * scale
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inside_mask(flow):
    """1 where p + flow lands inside the frame."""
    B, _, H, W = flow.shape
    xs = torch.arange(W, device=flow.device, dtype=flow.dtype).view(1, W)
    ys = torch.arange(H, device=flow.device, dtype=flow.dtype).view(H, 1)
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    return ((x > -0.5) & (x < W - 0.5) & (y > -0.5) & (y < H - 0.5)).to(flow.dtype).unsqueeze(1)


def _gray_u8(img: np.ndarray) -> np.ndarray:
    g = img[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.round(g * 255), 0, 255).astype(np.uint8)


def dis_flow(img0: np.ndarray, img1: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Optical flow 0 -> 1 ((H, W, 2), pixels) with OpenCV's DIS for (H, W, 3) float images."""
    import cv2

    presets = {"fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
               "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST}
    dis = cv2.DISOpticalFlow_create(presets[preset])
    return dis.calc(_gray_u8(img0), _gray_u8(img1), None)


def classical_flow_t(img0: np.ndarray, img1: np.ndarray, t: float) -> torch.Tensor:
    """Flows from time t to both frames (1, 4, H, W) from DIS flow both ways under linear motion
    (the quadratic-free approximation of Super SloMo):
    F_t0 = −(1−t)·t·F_01 + t²·F_10,  F_t1 = (1−t)²·F_01 − t·(1−t)·F_10."""
    f01 = torch.from_numpy(dis_flow(img0, img1)).permute(2, 0, 1)[None]
    f10 = torch.from_numpy(dis_flow(img1, img0)).permute(2, 0, 1)[None]
    ft0 = -(1 - t) * t * f01 + t * t * f10
    ft1 = (1 - t) * (1 - t) * f01 - t * (1 - t) * f10
    return torch.cat([ft0, ft1], 1).float()


def classical_flow_t_batch(img0: torch.Tensor, img1: torch.Tensor, t) -> torch.Tensor:
    """``classical_flow_t`` for a batch of (B, 3, H, W) tensors and per-sample t (float or (B,))."""
    B = img0.shape[0]
    ts = t.detach().cpu().reshape(-1).tolist() if torch.is_tensor(t) else [float(t)]
    ts = ts * B if len(ts) == 1 else ts
    a = img0.detach().permute(0, 2, 3, 1).cpu().numpy()
    b = img1.detach().permute(0, 2, 3, 1).cpu().numpy()
    flows = [classical_flow_t(a[i], b[i], ts[i]) for i in range(B)]
    return torch.cat(flows).to(img0.device, img0.dtype)
