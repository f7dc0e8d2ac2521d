"""Volume rendering and the background behind the field.

Weights ``w_i = (1 - exp(-sigma_i * delta_i)) * exp(-sum_{j<i} sigma_j * delta_j)``; colour,
opacity and expected depth are weight sums. Two backgrounds:

- ``alpha`` (transparent captures): the images' alpha is the target opacity. Training composites
  both the prediction and the target over a random colour per ray, which pins opacity without a
  separate loss (a wrong opacity shows up as the wrong colour); evaluation uses white.
- ``env`` (opaque captures, e.g. an HDRI world): a learned low-resolution equirectangular texture
  on the ray direction, composited behind the field: the far background is explained at infinity
  instead of by floaters inside the box.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def composite_weights(sigma: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """(B, N) weights from densities and per-sample lengths (B, N) or (B, 1)."""
    tau = sigma * delta
    # Exclusive cumulative sum: transmittance before each sample.
    trans = torch.exp(-(torch.cumsum(tau, -1) - tau))
    return (1.0 - torch.exp(-tau)) * trans


def accumulate(weights, rgb, t):
    """Colour (B, 3), opacity (B,), expected distance among the opaque part (B,)."""
    opacity = weights.sum(-1)
    color = (weights[..., None] * rgb).sum(-2)
    dist = (weights * t).sum(-1) / opacity.clamp(min=1e-6)
    return color, opacity, dist


class EnvMap(nn.Module):
    """A learned environment: RGB (through a sigmoid) on an equirect texture, +Z up (Blender's)."""

    def __init__(self, height: int = 64):
        super().__init__()
        self.texture = nn.Parameter(torch.zeros(1, 3, height, 2 * height))
        # How much of the environment each texel showed to training rays: the sum of the rays'
        # transmittance at their end times their loss weight (a ray that ends on an opaque surface,
        # or a synthetic pixel of no confidence, adds ~0). Kept in the checkpoint, so that a
        # resumed run counts what the earlier sessions saw.
        self.register_buffer("seen", torch.zeros(height, 2 * height))

    @staticmethod
    def _uv(dirs: torch.Tensor) -> torch.Tensor:
        x, y, z = dirs.unbind(-1)
        u = torch.atan2(y, x) / math.pi  # -1..1 around
        v = -torch.asin(z.clamp(-1.0, 1.0)) / (0.5 * math.pi)  # -1 at the top row (up)
        return torch.stack([u, v], -1)

    def forward(self, dirs: torch.Tensor) -> torch.Tensor:
        grid = self._uv(dirs)[None, :, None, :]
        out = F.grid_sample(self.texture, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return torch.sigmoid(out[0, :, :, 0].t())

    @torch.no_grad()
    def record_seen(self, dirs: torch.Tensor, transmittance: torch.Tensor) -> None:
        """Add each training ray's remaining transmittance (times its weight) to the texel its
        direction falls in."""
        h, w = self.seen.shape
        uv = self._uv(dirs)
        col = ((uv[:, 0] + 1.0) * 0.5 * w).long().clamp(0, w - 1)
        row = ((uv[:, 1] + 1.0) * 0.5 * h).long().clamp(0, h - 1)
        self.seen.view(-1).index_add_(0, row * w + col, transmittance.to(self.seen.dtype))

    @torch.no_grad()
    def fill_unseen(self, seen: torch.Tensor) -> int:
        """Give the texels no training ray reached (``seen`` False, (H, 2H)) the colour of the
        nearest seen ones, by pull-push (masked averages down a pyramid, then back up), instead of
        the grey they start as: a test view that looks where no view looked gets the surrounding
        environment. Returns how many texels were filled."""
        tex = self.texture.data
        mask = seen.to(tex.dtype)[None, None]
        filled = int((mask == 0).sum())
        if filled == 0 or filled == mask.numel():
            return 0
        levels = [(tex * mask, mask)]
        while levels[-1][1].shape[-1] > 1 and bool((levels[-1][1] == 0).any()):
            v, m = levels[-1]
            levels.append((F.avg_pool2d(v, 2, ceil_mode=True), F.avg_pool2d(m, 2, ceil_mode=True)))
        # Back up: a texel keeps its own (normalised) value where it has weight, else its parent's.
        v, m = levels[-1]
        value = v / m.clamp_min(1e-12)
        for v, m in reversed(levels[:-1]):
            up = F.interpolate(value, size=v.shape[-2:], mode="bilinear", align_corners=False)
            value = torch.where(m > 0, v / m.clamp_min(1e-12), up)
        self.texture.data = torch.where(mask > 0, tex, value)
        return filled


class Background(nn.Module):
    def __init__(self, mode: str, env_res: int = 64):
        super().__init__()
        if mode not in ("alpha", "env"):
            raise ValueError(f"background must be alpha or env, not {mode!r}")
        self.mode = mode
        self.env = EnvMap(env_res) if mode == "env" else None

    def color(self, dirs: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Background colour per ray: the environment, or for alpha a random colour when training
        (``gen`` given) and white otherwise."""
        if self.env is not None:
            return self.env(dirs)
        if gen is not None:
            return torch.rand(dirs.shape[0], 3, generator=gen, device=gen.device, dtype=dirs.dtype).to(dirs.device)
        return torch.ones(dirs.shape[0], 3, device=dirs.device, dtype=dirs.dtype)
