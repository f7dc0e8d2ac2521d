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

# Rendering without gradients (evaluation, export, path renders): a ray leaves the march once its
# transmittance is below EARLY_STOP, and samples weighing less than WEIGHT_EPS get no colour.
EARLY_STOP = 1e-4
WEIGHT_EPS = 1e-5

FORMAT = "ps4pro-field"
VERSION = 1

# Model settings kept in the checkpoint's config (everything needed to rebuild the module).
MODEL_KEYS = ("aabb", "res", "channels", "hidden", "geo_feat", "combine", "density_bias", "grid_res",
              "background", "env_res", "samples", "bins", "sh_degree", "probe", "levels", "color_layers")
# Keys that checkpoints from before they existed lack, with the value those checkpoints used.
OLD_DEFAULTS = {"sh_degree": 2, "probe": 0, "levels": 1, "color_layers": 1}


class FieldModel(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = dict(OLD_DEFAULTS, **config)
        self.config = {k: c[k] for k in MODEL_KEYS}
        self.field = TriPlane(c["aabb"], c["res"], c["channels"], c["hidden"], c["geo_feat"], c["combine"], c["density_bias"],
                              c["sh_degree"], c["levels"], c["color_layers"])
        self.grid = OccupancyGrid(c["aabb"], c["grid_res"])
        self.background = render.Background(c["background"], c["env_res"])
        self.samples = int(c["samples"])
        self.bins = int(c["bins"])
        self.probe = int(c["probe"])  # samples of the visibility probe (0: one pass, no probe)
        # March only the rays that meet occupied space (True), or every ray without a host sync
        # (False); None: the first on the CPU, the second on a GPU.
        self.compact = None
        # Renders without gradients march front to back and stop early (False: every sample, as
        # training does; the tests compare the two).
        self.early_stop = True

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
        if self.early_stop and not torch.is_grad_enabled():
            return self._march_front_to_back(o, d, t, step, stop_opacity)
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

    def _march_front_to_back(self, o, d, t, step, stop_opacity, segment: int = 8):
        """``_march`` for rendering without gradients: ``segment`` samples at a time front to back,
        rays whose transmittance fell below EARLY_STOP leave the march, and the colour head runs
        only on samples that carry weight. The same result within ~1e-4 per ray (what it skips
        weighs less than that) for a fraction of the field evaluations: most rays end at the first
        surface, and the colour head is half of each evaluation."""
        b, n = t.shape
        dt = t.dtype
        color = torch.zeros(b, 3, device=t.device, dtype=dt)
        opacity = torch.zeros(b, device=t.device, dtype=dt)
        dist = torch.zeros(b, device=t.device, dtype=dt)
        tau_sum = torch.zeros(b, device=t.device, dtype=dt)  # optical depth so far
        stop = torch.full((b,), float("inf"), device=t.device, dtype=dt)
        alive = torch.arange(b, device=t.device)
        for s in range(0, n, segment):
            ts = t[alive, s:s + segment]
            k = ts.shape[1]
            pts = o[alive, None, :] + d[alive, None, :] * ts[..., None]
            sigma, geo = self.field._density(pts.reshape(-1, 3))
            tau = sigma.view(-1, k) * step[alive, None]
            w = (1.0 - torch.exp(-tau)) * torch.exp(-(tau_sum[alive, None] + torch.cumsum(tau, -1) - tau))
            keep = (w > WEIGHT_EPS).reshape(-1)
            rgb = torch.zeros(keep.shape[0], 3, device=t.device, dtype=dt)
            if bool(keep.any()):
                dirs = d[alive, None, :].expand(-1, k, -1).reshape(-1, 3)[keep]
                rgb[keep] = self.field.color(geo[keep], dirs)
            before = opacity[alive]
            color[alive] += (w[..., None] * rgb.view(-1, k, 3)).sum(1)
            opacity[alive] = before + w.sum(-1)
            dist[alive] += (w * ts).sum(-1)
            tau_sum[alive] += tau.sum(-1)
            if stop_opacity is not None:  # the first sample at which the ray's opacity reaches it
                reached = (before[:, None] + torch.cumsum(w, -1)) >= stop_opacity
                first = reached.to(torch.uint8).argmax(-1)
                new = reached.any(-1) & torch.isinf(stop[alive])
                stop[alive] = torch.where(new, ts.gather(1, first[:, None])[:, 0], stop[alive])
            alive = alive[torch.exp(-tau_sum[alive]) > EARLY_STOP]
            if alive.numel() == 0:
                break
        return color, opacity, dist / opacity.clamp(min=1e-6), stop

    def occupancy_density(self, x):
        return self.field.density(x)


def state_for(model: FieldModel, state: dict) -> dict:
    """A checkpoint's state dict as this model loads it: fields from before the environment
    counted what training rays saw (``EnvMap.seen``) get an empty count."""
    key = "background.env.seen"
    if model.background.env is not None and key not in state:
        state = dict(state, **{key: torch.zeros_like(model.background.env.seen)})
    return state


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
    model.load_state_dict(state_for(model, ck["state_dict"]))
    return model, ck
