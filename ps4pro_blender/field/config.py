"""The trainer's config: what ``reconstruct`` resolved from its command config (the user's
options, the scene's bounds and background) plus the trainer's own knobs, which no user sets.

User-facing defaults are read from ``configs.ReconstructConfig`` so that each number lives in one
place; the internal ones are here, each with why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..configs import ReconstructConfig, default_of


def _user(name: str):
    return default_of(ReconstructConfig, name)


BATCH_RAYS = {"cpu": 2048, "cuda": 65536}  # rays per step by device (configs.ReconstructConfig.batch_rays)


def device_batch(device) -> int:
    return BATCH_RAYS.get(getattr(device, "type", str(device)), BATCH_RAYS["cpu"])


# Real (not synthetic) training views from which --sh-degree 0 picks degree 4. Measured on held-out
# captures: 8 and 16 views on a ring do better with degree 2, 100 views with degree 4; the
# threshold lies between (synthetic views add no new view directions' colour).
SH4_MIN_VIEWS = 48


def auto_sh_degree(real_views: int) -> int:
    return 4 if real_views >= SH4_MIN_VIEWS else 2


@dataclass
class TrainConfig:
    aabb: list = field(default_factory=lambda: [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])  # scene bounds, (2, 3)
    background: str = "alpha"  # resolved: "alpha" or "env", never "auto"
    # The user's options (ReconstructConfig says what each one means).
    res: int = _user("plane_res")
    channels: int = _user("channels")
    levels: int = _user("plane_levels")
    combine: str = _user("combine")
    sh_degree: int = 2  # resolved: 2 or 4 (configs.ReconstructConfig.sh_degree 0 is auto_sh_degree)
    grid_res: int = _user("grid_res")
    env_res: int = _user("env_res")
    samples: int = _user("samples")
    probe: int = _user("probe")
    batch_rays: int = 2048  # resolved for the device: see configs.ReconstructConfig.batch_rays
    lr: float = _user("lr")
    depth_loss: float = _user("depth_loss")
    seed: int = _user("seed")
    # Internal knobs.
    res_start: int = 32  # coarse-to-fine starts here (a quarter of the final planes, at least 32)
    coarse_to_fine_until: float = 0.3  # share of the budget by which the planes reach full size
    lr_decay: float = 0.1  # the learning rate at the end of the budget, as a share of --lr (decays exponentially)
    # The real views' batch share grows from --real-share to 1 over the budget: synthetic views shape
    # the field early, real ones refine it. 8-view HDRI ring + depth + augmentation, 2 CPU min
    # (bench/budget.py's capture): 25.91 -> 26.17 dB on the path, 17.91 -> 18.15 dB off it.
    synthetic_fade: bool = True
    hidden: int = 64  # MLP width: the planes carry the detail, a small MLP decodes it fastest
    color_layers: int = 1  # hidden layers of the colour MLP (view dependence)
    geo_feat: int = 15  # features passed from the density MLP to the colour MLP
    density_bias: float = 1.0  # initial density offset, so that early rays see something to learn from
    bins: int = 256  # ray-marching bins over the scene: twice the grid's cells, so no cell is skipped
    grid_every: int = 16  # steps between occupancy grid updates
    grid_fraction: float = 0.125  # share of the grid's cells re-evaluated per update
    eval_every: int = 100  # steps between held-out PSNR readings (each reads back from the device)
    eval_pixels: int = 4096  # held-out pixels in the running PSNR
    ckpt_every: int = 200  # steps between checkpoints
    log_every: int = 10  # steps between progress messages

    @classmethod
    def from_command(cls, config: ReconstructConfig, aabb, background: str, device: str = "cpu",
                     real_views: int = 0) -> "TrainConfig":
        """The trainer's config for a ``reconstruct`` run on a scene with these bounds and background,
        on this device, from this many real training views (what the user left at 0 is chosen for it)."""
        return cls(aabb=[list(map(float, row)) for row in aabb], background=background, res=config.plane_res,
                   res_start=min(config.plane_res, max(32, config.plane_res // 4)), channels=config.channels,
                   levels=config.plane_levels,
                   combine=config.combine, sh_degree=config.sh_degree or auto_sh_degree(real_views), grid_res=config.grid_res, env_res=config.env_res,
                   samples=config.samples, probe=config.probe, bins=2 * config.grid_res, batch_rays=config.batch_rays or device_batch(device), lr=config.lr,
                   depth_loss=config.depth_loss, seed=config.seed)

    def model_config(self, **override) -> dict:
        """The dict a ``FieldModel`` is built from (the checkpoint's format, so a plain dict)."""
        return dict(dataclasses.asdict(self), **override)
