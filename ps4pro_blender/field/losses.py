"""What training minimises, each term on its own: the colour loss against the views (composited
over the field's background for transparent captures), and where views have depth the depth loss
and, for opaque captures, the opacity that depth implies.

Both weigh each ray by its view's loss weight (synthetic views count less; see
``trainer.frame_weight``), so that a batch's loss is a weighted mean whatever its mix of views.
"""

from __future__ import annotations

import torch


def target_over(rgba: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Straight-alpha image colour composited over a background colour."""
    return rgba[:, :3] * rgba[:, 3:4] + bg * (1.0 - rgba[:, 3:4])


def rgb_loss(out: dict, rgba: torch.Tensor, weights: torch.Tensor, transparent: bool) -> torch.Tensor:
    """Weighted mean squared colour error. A transparent capture's pixels are composited over the
    background the renderer drew for each ray (a random colour while training), so that the field
    learns empty space instead of painting the film's colour into it."""
    target = target_over(rgba, out["background"]) if transparent else rgba[:, :3]
    err = ((out["rgb"] - target) ** 2).mean(-1)
    return (weights * err).sum() / weights.sum().clamp(min=1e-6)


def depth_loss(out: dict, depth: torch.Tensor, weights: torch.Tensor, scene_scale: float) -> torch.Tensor:
    """Weighted mean absolute depth error as a share of the scene's diagonal, over rays whose view
    has a finite depth there (0 when no ray has one). Masked, not indexed, so that it never waits
    for the device; both sides are made finite before the difference, so that a masked-out NaN
    cannot reach the gradient."""
    valid = torch.isfinite(depth) & (depth > 0) & (depth < 1e9) & torch.isfinite(out["depth"])
    pred = torch.where(valid, out["depth"], torch.zeros_like(depth))
    true = torch.where(valid, depth, torch.zeros_like(depth))
    w = weights * valid
    return (w * (pred - true).abs()).sum() / scene_scale / w.sum().clamp(min=1e-6)


def coverage_loss(out: dict, depth: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """What depth says about opacity: the weighted mean transparency of rays that met a surface
    (finite depth) plus the weighted mean opacity of rays that saw the world behind the scene
    (+inf), each 0 when no ray has one; NaN (unknown) says nothing. A transparent capture's alpha
    says the same through the colour loss; an opaque (HDRI) capture had nothing else to say it,
    and its table top came out half transparent over the environment, which held the noise of
    whatever showed through it."""
    hit = weights * (torch.isfinite(depth) & (depth > 0))
    empty = weights * torch.isposinf(depth)
    return ((hit * (1.0 - out["opacity"])).sum() / hit.sum().clamp(min=1e-6)
            + (empty * out["opacity"]).sum() / empty.sum().clamp(min=1e-6))
