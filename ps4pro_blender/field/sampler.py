"""Camera rays and where to sample them.

Rays follow the dataset's convention (``dataset.py``): pixel (0, 0) is the top-left corner,
pixel centres at +0.5, camera axes +X right, +Y up, -Z forward. A ray's ``zscale`` turns
distance along it into planar depth (what Blender's depth pass holds).

Samples are placed only in occupied space: the ray is cut into bins between its aabb entry and
exit, the occupancy grid says which bins are occupied, and ``n`` stratified samples are spread
over the occupied length alone (an inverse CDF over a 0/1 density). Every sample then stands for
the same length ``L / n`` of occupied space, so the field is never evaluated in empty space and a
thin occupied shell gets fine steps.
"""

from __future__ import annotations

import numpy as np
import torch


def pixel_rays(c2w, fx, fy, cx, cy, px, py):
    """Rays through pixel centres. c2w (B, 4, 4) or (4, 4); intrinsics (B,) or scalars; px, py
    integer pixel indices (B,). Returns origins (B, 3), unit directions (B, 3), zscale (B,)."""
    px = px.to(c2w.dtype) + 0.5
    py = py.to(c2w.dtype) + 0.5
    d_cam = torch.stack([(px - cx) / fx, -(py - cy) / fy, -torch.ones_like(px)], -1)
    if c2w.dim() == 2:
        c2w = c2w.expand(px.shape[0], 4, 4)
    d = torch.einsum("bij,bj->bi", c2w[:, :3, :3], d_cam)
    norm = d.norm(dim=-1)
    # Planar depth = distance along the ray / |d| (d has unit length along the view axis).
    return c2w[:, :3, 3].clone(), d / norm[:, None], 1.0 / norm


def project(frame, points: np.ndarray):
    """Where world points (N, 3) land in a Frame: pixel x, y (continuous; centres at +0.5) and
    planar depth (<= 0 behind the camera). The inverse of ``pixel_rays``."""
    w2c = np.linalg.inv(np.asarray(frame.c2w, np.float64))
    p = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = -p[:, 2]
    safe = np.where(np.abs(z) > 1e-9, z, 1e-9)
    return frame.cx + frame.fx * p[:, 0] / safe, frame.cy - frame.fy * p[:, 1] / safe, z


def frame_rays(frame, device, dtype=torch.float32, offset=(0.0, 0.0)):
    """All rays of a dataset Frame, row by row (row 0 at the top), through the pixel centres moved
    by ``offset`` pixels (x right, y down)."""
    py, px = torch.meshgrid(torch.arange(frame.h, device=device), torch.arange(frame.w, device=device), indexing="ij")
    c2w = torch.as_tensor(np.asarray(frame.c2w), dtype=dtype, device=device)
    # Moving the principal point the other way moves every ray by the offset within its pixel.
    return pixel_rays(c2w, frame.fx, frame.fy, frame.cx - offset[0], frame.cy - offset[1], px.reshape(-1), py.reshape(-1))


def intersect_aabb(origins, dirs, aabb):
    """Entry and exit distances (clamped to >= 0) and whether the ray meets the box at all."""
    safe = torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0 = (aabb[0] - origins) / safe
    t1 = (aabb[1] - origins) / safe
    near = torch.minimum(t0, t1).amax(-1).clamp(min=0.0)
    far = torch.maximum(t0, t1).amin(-1)
    return near, far, far > near + 1e-6


def occupied_samples(origins, dirs, near, far, grid, n_bins: int, n_samples: int, gen=None):
    """Sample distances t (B, n), the occupied length each sample stands for (B,), and whether
    the ray has any occupied space (B,). ``gen`` None: bin centres (deterministic, for eval)."""
    b = origins.shape[0]
    dev = origins.device
    width = ((far - near) / n_bins).clamp(min=0.0)
    mids = near[:, None] + (torch.arange(n_bins, device=dev, dtype=near.dtype) + 0.5) * width[:, None]
    pts = origins[:, None, :] + dirs[:, None, :] * mids[..., None]
    occ = grid.lookup(pts.reshape(-1, 3)).view(b, n_bins).to(near.dtype)
    cdf = torch.cumsum(occ, 1)  # occupied bins up to and including each bin
    total = cdf[:, -1]
    if gen is None:
        xi = torch.full((b, n_samples), 0.5, device=dev, dtype=near.dtype)
    else:
        xi = torch.rand(b, n_samples, generator=gen, device=gen.device, dtype=near.dtype).to(dev)
    u = (torch.arange(n_samples, device=dev, dtype=near.dtype) + xi) / n_samples * total[:, None]
    idx = torch.searchsorted(cdf, u, right=True).clamp(max=n_bins - 1)
    frac = u - (cdf.gather(1, idx) - 1.0)  # position inside the (occupied) bin, 0..1
    t = near[:, None] + (idx.to(near.dtype) + frac.clamp(0.0, 1.0)) * width[:, None]
    step = total * width / n_samples
    return t, step, total > 0
