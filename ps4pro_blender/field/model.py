"""The field, its occupancy grid and background as one module, and the checkpoint format.

A checkpoint is ``torch.save`` of plain data, loaded with ``weights_only=True``:
``{"format": "ps4pro-field", "version": 1, "config": {...}, "state_dict": {...}, "step": n, ...}``
(``checkpoint.pt`` during training adds the optimizer state; ``field.pt`` is the finished field).
"""

from __future__ import annotations


import torch
from torch import nn

from ..protocol import JobError
from ..torch_io import save_atomic  # noqa: F401  (the trainer and reconstruct save through here)
from . import render, sampler
from .occupancy import OccupancyGrid
from .triplane import TriPlane

FORMAT = "ps4pro-field"
VERSION = 1

# Model settings kept in the checkpoint's config (everything needed to rebuild the module).
MODEL_KEYS = ("aabb", "res", "channels", "hidden", "geo_feat", "combine", "density_bias", "grid_res",
              "background", "env_res", "samples", "bins", "sh_degree", "probe")
# Keys that checkpoints from before they existed lack, with the value those checkpoints used.
OLD_DEFAULTS = {"sh_degree": 2, "probe": 0}


class FieldModel(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = dict(OLD_DEFAULTS, **config)
        self.config = {k: c[k] for k in MODEL_KEYS}
        self.field = TriPlane(c["aabb"], c["res"], c["channels"], c["hidden"], c["geo_feat"], c["combine"], c["density_bias"],
                              c["sh_degree"])
        self.grid = OccupancyGrid(c["aabb"], c["grid_res"])
        self.background = render.Background(c["background"], c["env_res"])
        self.samples = int(c["samples"])
        self.bins = int(c["bins"])
        self.probe = int(c["probe"])  # samples of the visibility probe (0: one pass, no probe)
        # March only the rays that meet occupied space (True), or every ray without a host sync
        # (False); None: the first on the CPU, the second on a GPU.
        self.compact = None

    def render_rays(self, origins, dirs, zscale, gen=None, bg=None, stop_opacity: float | None = None):
        """Colour over the background (B, 3), the field's own colour (B, 3), opacity (B,) and planar
        depth (B, NaN where the ray sees nothing). ``gen`` jitters samples (training). With
        ``stop_opacity``, also ``stop_depth``: the planar depth where the ray's opacity first
        reaches it, where the ray is as good as blocked (inf where it never does)."""
        near, far, hit = sampler.intersect_aabb(origins, dirs, self.field.aabb)
        b = origins.shape[0]
        bins = sampler.occupied_bins(origins, dirs, near, far, self.grid, self.bins)
        t, step, active = sampler.place_samples(bins, self.probe or self.samples, gen)
        active &= hit
        step = step * active  # a ray that meets nothing occupied adds nothing
        per_ray = self.samples + self.probe
        compact = self.compact if self.compact is not None else origins.device.type == "cpu"
        if not compact:
            # Every ray, no host synchronisation (a GPU is idle while the host waits for it).
            color, opacity, dist, stop = self._march(origins, dirs, bins, t, step, far, gen, stop_opacity)
            evaluated = active.sum() * per_ray
        else:
            # Only the rays that meet occupied space (on the CPU every evaluation counts).
            color = torch.zeros(b, 3, device=origins.device, dtype=origins.dtype)
            opacity = torch.zeros(b, device=origins.device, dtype=origins.dtype)
            dist = torch.zeros(b, device=origins.device, dtype=origins.dtype)
            stop = torch.full((b,), float("inf"), device=origins.device, dtype=origins.dtype)
            count = int(active.sum())
            if count:
                c, a, z, s = self._march(origins[active], dirs[active], bins[active], t[active], step[active], far[active],
                                         gen, stop_opacity)
                color = color.index_put((active,), c)
                opacity = opacity.index_put((active,), a)
                dist = dist.index_put((active,), z)
                stop = stop.index_put((active,), s)
            evaluated = torch.tensor(count * per_ray)
        if bg is None:
            bg = self.background.color(dirs, gen)
        depth = torch.where(opacity > 1e-4, dist * zscale, torch.full_like(dist, float("nan")))
        out = {"rgb": color + (1.0 - opacity)[:, None] * bg, "field_rgb": color, "opacity": opacity,
               "depth": depth, "background": bg}
        if stop_opacity is not None:
            out["stop_depth"] = stop * zscale
        out["samples"] = evaluated  # field evaluations (probe and trained), a tensor: read it rarely
        return out

    def _march(self, o, d, bins, t, step, far, gen, stop_opacity):
        """Colour, opacity, expected distance and blocking distance (inf: none) of these rays."""
        if self.probe:  # the trained samples go only where the ray still sees
            with torch.no_grad():
                pts = o[:, None, :] + d[:, None, :] * t[..., None]
                sigma = self.field.density(pts.reshape(-1, 3)).view(t.shape)
                end = sampler.visible_end(t, step, sigma, far)
            live = step > 0
            t, step, _ = sampler.place_samples(bins, self.samples, gen, end=end)
            step = step * live
        pts = o[:, None, :] + d[:, None, :] * t[..., None]
        n = t.shape[1]
        sigma, rgb = self.field(pts.reshape(-1, 3), d[:, None, :].expand(-1, n, -1).reshape(-1, 3))
        w = render.composite_weights(sigma.view(-1, n), step[:, None])
        c, a, z = render.accumulate(w, rgb.view(-1, n, 3), t)
        stop = torch.full_like(z, float("inf"))
        if stop_opacity is not None:
            blocked = torch.cumsum(w, -1) >= stop_opacity
            first = blocked.float().argmax(-1)  # first sample past it (0 when none: masked next)
            stop = torch.where(blocked.any(-1), t.gather(1, first[:, None])[:, 0], stop)
        return c, a, z, stop

    def occupancy_density(self, x):
        return self.field.density(x)


def checkpoint(model: FieldModel, step: int, **more) -> dict:
    cfg = dict(model.config, res=model.field.res)
    return {"format": FORMAT, "version": VERSION, "config": cfg, "state_dict": model.state_dict(),
            "step": int(step), **more}


def read(path: str, device="cpu") -> dict:
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise JobError(f"No checkpoint at {path}", hint="Pick a checkpoint.pt or field.pt written by reconstruct")
    except Exception as exc:
        raise JobError(f"Cannot read checkpoint {path}: {exc}", hint="The file is damaged or not a PS4PRO field")
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise JobError(f"{path} is not a PS4PRO field checkpoint", hint="Pick a file written by reconstruct")
    if ck.get("version") != VERSION:
        raise JobError(f"{path} has field format version {ck.get('version')}, this backend reads {VERSION}",
                       hint="Reconstruct again with this version")
    return ck


def load(path: str, device="cpu") -> tuple[FieldModel, dict]:
    ck = read(path, device)
    model = FieldModel(ck["config"]).to(device)
    model.load_state_dict(ck["state_dict"])
    return model, ck
