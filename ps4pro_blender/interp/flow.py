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


def classical_flows(img0: np.ndarray, img1: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """DIS flow both ways, (1, 2, H, W) each: 0 -> 1 and 1 -> 0."""
    f01 = torch.from_numpy(dis_flow(img0, img1)).permute(2, 0, 1)[None].float()
    f10 = torch.from_numpy(dis_flow(img1, img0)).permute(2, 0, 1)[None].float()
    return f01, f10


def flow_t(f01: torch.Tensor, f10: torch.Tensor, t: float) -> torch.Tensor:
    """Flows from time t to both frames (1, 4, H, W) under linear motion (the quadratic-free
    approximation of Super SloMo): F_t0 = −(1−t)·t·F_01 + t²·F_10,  F_t1 = (1−t)²·F_01 − t·(1−t)·F_10."""
    ft0 = -(1 - t) * t * f01 + t * t * f10
    ft1 = (1 - t) * (1 - t) * f01 - t * (1 - t) * f10
    return torch.cat([ft0, ft1], 1).float()


def classical_flow_t(img0: np.ndarray, img1: np.ndarray, t: float) -> torch.Tensor:
    """``flow_t`` from DIS flow both ways."""
    return flow_t(*classical_flows(img0, img1), t)


# Footage mode has no depth to check its flow against, so it checks the flow against itself:
# forward-backward consistency (Sundaram, Brox & Keutzer 2010) and agreement of the two sources'
# warps. Where either fails, the in-between pixel is a guess and reconstruction should not learn it.
FB_ALPHA, FB_BETA = 0.01, 0.5
AGREE_TOL = 0.05  # mean RGB difference (0..1) between the two warps at which trust halves


def round_trip(f_ab: torch.Tensor, f_ba: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): 1 where following a -> b and then b -> a comes back to the start."""
    back = backward_warp(f_ba, f_ab)
    err = ((f_ab + back) ** 2).sum(1, keepdim=True)
    bound = FB_ALPHA * ((f_ab ** 2).sum(1, keepdim=True) + (back ** 2).sum(1, keepdim=True)) + FB_BETA
    return (err < bound).to(f_ab.dtype)


def footage_trust(warp0: torch.Tensor, warp1: torch.Tensor, flow: torch.Tensor, f01: torch.Tensor,
                  f10: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) in 0..1, how far an in-between pixel can be trusted: both frames hold it, the
    flows that bring it from each frame come back, and the two frames' warps (``warp0``, ``warp1``,
    (B, 3, H, W)) show the same colour. ``flow``: t -> 0 and t -> 1 (B, 4, H, W)."""
    inside = inside_mask(flow[:, :2]) * inside_mask(flow[:, 2:])
    kept0 = backward_warp(round_trip(f01, f10), flow[:, :2])  # frame 0's check, carried to time t
    kept1 = backward_warp(round_trip(f10, f01), flow[:, 2:])
    diff = (warp0 - warp1).abs().mean(1, keepdim=True)
    agree = torch.exp(-np.log(2.0) * (diff / AGREE_TOL) ** 2)
    return inside * kept0 * kept1 * agree


def classical_flow_t_batch(img0: torch.Tensor, img1: torch.Tensor, t) -> torch.Tensor:
    """``classical_flow_t`` for a batch of (B, 3, H, W) tensors and per-sample t (float or (B,))."""
    B = img0.shape[0]
    ts = t.detach().cpu().reshape(-1).tolist() if torch.is_tensor(t) else [float(t)]
    ts = ts * B if len(ts) == 1 else ts
    a = img0.detach().permute(0, 2, 3, 1).cpu().numpy()
    b = img1.detach().permute(0, 2, 3, 1).cpu().numpy()
    flows = [classical_flow_t(a[i], b[i], ts[i]) for i in range(B)]
    return torch.cat(flows).to(img0.device, img0.dtype)
