"""A binary occupancy grid over the aabb: samples are placed only in occupied cells.

Each cell keeps a running density (-1: not measured yet, counts as occupied). Every few steps a
random share of the cells is measured at a jittered point and ``mask = density > threshold``.
An ``allowed`` mask restricts occupancy where the capture already says space is empty: cells
that no depth map puts a surface in (seed from depth) and cells that project onto transparent
pixels of some view (carving from alpha). Few views leave the plain grid ~90% occupied and every
step four times dearer, so these priors matter most there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class OccupancyGrid(nn.Module):
    def __init__(self, aabb, res: int = 128):
        super().__init__()
        self.res = int(res)
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).reshape(2, 3).clone())
        shape = (self.res,) * 3
        self.register_buffer("density", torch.full(shape, -1.0))
        self.register_buffer("allowed", torch.ones(shape, dtype=torch.bool))
        self.register_buffer("mask", torch.ones(shape, dtype=torch.bool))

    @property
    def cell(self) -> torch.Tensor:
        return (self.aabb[1] - self.aabb[0]) / self.res

    def threshold(self) -> float:
        # Density at which one cell's length of space is 1% opaque.
        return float(-np.log(0.99) / float(self.cell.min()))

    def index(self, pts: torch.Tensor) -> torch.Tensor:
        ijk = ((pts - self.aabb[0]) / (self.aabb[1] - self.aabb[0]) * self.res).long().clamp(0, self.res - 1)
        return (ijk[..., 0] * self.res + ijk[..., 1]) * self.res + ijk[..., 2]

    def lookup(self, pts: torch.Tensor) -> torch.Tensor:
        return self.mask.view(-1)[self.index(pts)]

    def lookup_along(self, origins, dirs, start, width, n: int) -> torch.Tensor:
        """Occupancy (B, n) at ``start + (k + 0.5) * width`` along each ray, k < n: the same answer as
        ``lookup`` at those points, built axis by axis in cell units (a quarter of the time on the
        CPU, where this runs for every bin of every ray of every step)."""
        r = self.res
        scale = r / (self.aabb[1] - self.aabb[0])
        first = (origins + dirs * (start + 0.5 * width)[:, None] - self.aabb[0]) * scale  # (B, 3) in cells
        stride = dirs * (width[:, None] * scale)
        k = torch.arange(n, device=origins.device, dtype=origins.dtype)[None]
        # The flat index stays in floating point (whole cells: exact while it fits the mantissa, up
        # to a 256^3 grid in float32) and becomes an int32 once: int64 temporaries of (B, n) doubled
        # this lookup's time. Larger grids count in float64.
        exact = torch.float32 if r ** 3 <= 2 ** 24 else torch.float64
        first, stride, k = first.to(exact), stride.to(exact), k.to(exact)
        flat = None
        for axis, weight in enumerate((r * r, r, 1)):
            i = torch.addcmul(first[:, axis:axis + 1], stride[:, axis:axis + 1], k).clamp_(0, r - 1).floor_()
            flat = i.mul_(weight) if flat is None else flat.add_(i, alpha=weight)
        return self.mask.view(-1)[flat.to(torch.int32)]

    def centres(self, flat_index: torch.Tensor, jitter: torch.Tensor | None = None) -> torch.Tensor:
        r = self.res
        ijk = torch.stack([flat_index // (r * r), (flat_index // r) % r, flat_index % r], -1).float()
        ijk = ijk + (0.5 if jitter is None else jitter)
        return self.aabb[0] + ijk * self.cell

    def occupancy(self) -> float:
        return float(self.mask.float().mean())

    def refresh(self) -> None:
        self.mask = ((self.density < 0) | (self.density > self.threshold())) & self.allowed

    @torch.no_grad()
    def update(self, density_fn, gen: torch.Generator, fraction: float = 0.125, decay: float = 0.95,
               chunk: int = 1 << 18) -> None:
        """Measure the field's density in a random share of the allowed cells."""
        n = self.res ** 3
        count = max(1, int(n * fraction))
        dev = self.density.device
        idx = torch.randint(0, n, (count,), generator=gen, device=gen.device).to(dev)
        jitter = torch.rand(count, 3, generator=gen, device=gen.device).to(dev)
        keep = self.allowed.view(-1)[idx]
        idx, jitter = idx[keep], jitter[keep]
        flat = self.density.view(-1)
        for s in range(0, len(idx), chunk):
            i = idx[s : s + chunk]
            sigma = density_fn(self.centres(i, jitter[s : s + chunk])).float()
            old = flat[i]
            flat[i] = torch.where(old < 0, sigma, torch.maximum(old * decay, sigma))
        self.refresh()

    @torch.no_grad()
    def full_update(self, density_fn, chunk: int = 1 << 18) -> None:
        """Measure every allowed cell at its centre (for export and tests)."""
        idx = torch.nonzero(self.allowed.view(-1)).squeeze(1)
        flat = self.density.view(-1)
        for s in range(0, len(idx), chunk):
            i = idx[s : s + chunk]
            flat[i] = density_fn(self.centres(i)).float()
        self.refresh()

    # ------------------------------------------------------------------ priors from the capture

    def restrict(self, allowed: torch.Tensor, dilate: int = 1) -> None:
        """Allow only these cells (grown by ``dilate`` cells so a surface near a cell face keeps
        both neighbours)."""
        a = allowed.to(self.allowed.device).float()[None, None]
        if dilate:
            a = F.max_pool3d(a, 2 * dilate + 1, stride=1, padding=dilate)
        self.allowed &= a[0, 0] > 0
        self.refresh()

    def points_to_cells(self, pts: torch.Tensor) -> torch.Tensor:
        """Boolean grid of the cells that contain any of these points (inside the aabb only)."""
        inside = ((pts >= self.aabb[0]) & (pts <= self.aabb[1])).all(-1)
        hit = torch.zeros(self.res ** 3, dtype=torch.bool, device=self.aabb.device)
        hit[self.index(pts[inside])] = True
        return hit.view((self.res,) * 3)

    def _project_centres(self, c2w: np.ndarray, fx, fy, cx, cy, h: int, w: int):
        """Every cell centre seen from a camera: its planar depth, the pixel it falls in (column,
        row) and whether it lies in front of the camera and inside the h x w image."""
        dev = self.aabb.device
        pts = self.centres(torch.arange(self.res ** 3, device=dev))
        w2c = torch.as_tensor(np.linalg.inv(c2w), dtype=torch.float32, device=dev)
        cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
        z = -cam[:, 2]
        front = z > 1e-6
        zs = torch.where(front, z, torch.ones_like(z))
        u = fx * cam[:, 0] / zs + cx
        v = -fy * cam[:, 1] / zs + cy
        inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        return z, u.long().clamp(0, w - 1), v.long().clamp(0, h - 1), inside

    @torch.no_grad()
    def carve(self, c2w: np.ndarray, fx, fy, cx, cy, alpha: np.ndarray, threshold: float = 0.02) -> torch.Tensor:
        """Cells that this view sees as empty: in front of the camera, inside the image, and on a
        pixel whose alpha (max over its 3x3 neighbourhood) is below ``threshold``."""
        _, iu, iv, inside = self._project_centres(c2w, fx, fy, cx, cy, *alpha.shape)
        a = torch.as_tensor(alpha, dtype=torch.float32, device=self.aabb.device)[None, None]
        a = F.max_pool2d(a, 3, stride=1, padding=1)[0, 0]
        return (inside & (a[iv, iu] < threshold)).view((self.res,) * 3)

    @torch.no_grad()
    def carve_depth(self, c2w: np.ndarray, fx, fy, cx, cy, depth: np.ndarray, margin_cells: float = 2.0) -> torch.Tensor:
        """Cells that this view sees through: in front of the camera, inside the image, and nearer
        than the planar depth there (the nearest over the pixel's 3x3 neighbourhood) by more than
        ``margin_cells`` cells. A pixel that saw nothing (+inf depth: Blender's world) sees through
        everything; an unknown depth (NaN) carves nothing."""
        z, iu, iv, inside = self._project_centres(c2w, fx, fy, cx, cy, *depth.shape)
        d = torch.as_tensor(np.where(np.isnan(depth), -np.inf, depth), dtype=torch.float32, device=self.aabb.device)
        # The nearest depth around each pixel (-inf where any neighbour is unknown: no carving).
        d = -F.max_pool2d(-d[None, None], 3, stride=1, padding=1)[0, 0]
        margin = margin_cells * float(self.cell.max())
        return (inside & (z < d[iv, iu] - margin)).view((self.res,) * 3)
