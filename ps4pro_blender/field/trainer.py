"""Training the field: rays drawn from all training pixels, per-frame loss weights, optional depth
loss, coarse-to-fine planes, a step or time budget, held-out PSNR, atomic checkpoints.

Every step draws its randomness from a generator seeded by (seed, step), so a run is
deterministic on the CPU and a resumed run continues exactly where the checkpoint left it.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

from ..cli import Cancelled
from ..configs import AugmentConfig, ReconstructConfig, default_of
from ..metrics import psnr
from ..protocol import E_INTERNAL, JobError
from . import losses
from . import model as M
from . import sampler
from .config import TrainConfig
from .model import FieldModel

# The loss weight of a synthetic view without its own, and the share of each batch drawn from real
# views (why each default: configs.AugmentConfig.synthetic_weight, configs.ReconstructConfig.real_share).
SYNTHETIC_WEIGHT = default_of(AugmentConfig, "synthetic_weight")
REAL_SHARE = default_of(ReconstructConfig, "real_share")


def frame_weight(frame) -> float:
    """The loss weight of a view: its own ``weight``, else 0.5 for synthetic views, else 1."""
    w = frame.extra.get("weight")
    if w is None:
        return SYNTHETIC_WEIGHT if frame.extra.get("synthetic") else 1.0
    return float(w)


class PixelStore:
    """Every training pixel of every view, flat: colour (uint8), planar depth (NaN: none), frame,
    and a per-pixel confidence (uint8; synthetic views are 0 where their colour is a guess)."""

    def __init__(self, frames, images, depths, device, confidences=None, real_share: float = REAL_SHARE):
        self.device = device
        sizes = [f.w * f.h for f in frames]
        synthetic = [bool(f.extra.get("synthetic")) for f in frames]
        # Pixel ranges of the real and the synthetic views, for stratified sampling (see sample()).
        self.groups = [self._group(sizes, [s == flag for s in synthetic], device) for flag in (False, True)]
        self.real_share = float(real_share) if all(g is not None for g in self.groups) else None
        self.base_share = self.real_share  # real_share as given (a schedule may move real_share)
        self.offsets = torch.tensor(np.concatenate([[0], np.cumsum(sizes)]), dtype=torch.long, device=device)
        self.count = int(self.offsets[-1])
        self.rgba = torch.cat([torch.from_numpy(np.round(im * 255.0).astype(np.uint8)).reshape(-1, 4)
                               for im in images]).to(device)
        self.depth = None
        if any(d is not None for d in depths):
            self.depth = torch.cat([torch.from_numpy(d.astype(np.float32)).reshape(-1) if d is not None
                                    else torch.full((f.w * f.h,), float("nan")) for f, d in zip(frames, depths)]).to(device)
        self.c2w = torch.tensor(np.stack([f.c2w for f in frames]), dtype=torch.float32, device=device)
        k = lambda name: torch.tensor([getattr(f, name) for f in frames], dtype=torch.float32, device=device)  # noqa: E731
        self.fx, self.fy, self.cx, self.cy = k("fx"), k("fy"), k("cx"), k("cy")
        self.width = torch.tensor([f.w for f in frames], dtype=torch.long, device=device)
        self.weight = torch.tensor([frame_weight(f) for f in frames], dtype=torch.float32, device=device)
        self.confidence = None
        if confidences is not None and any(c is not None for c in confidences):
            self.confidence = torch.cat([
                torch.from_numpy(np.round(np.clip(c, 0, 1) * 255).astype(np.uint8)).reshape(-1) if c is not None
                else torch.full((f.w * f.h,), 255, dtype=torch.uint8) for f, c in zip(frames, confidences)]).to(device)
        # The synthetic pixels worth drawing: those with any confidence. A zero-confidence pixel
        # weighs 0 in the loss, so drawing it only wasted its share of the batch (a third to a half
        # of the synthetic draws on a sparse ring, where disocclusions and off-frame areas are guesses).
        self.synthetic_pixels = None
        if self.groups[1] is not None and self.confidence is not None:
            member = torch.repeat_interleave(torch.tensor(synthetic, device=device), torch.tensor(sizes, device=device))
            self.synthetic_pixels = torch.nonzero(member & (self.confidence > 0)).flatten()
            if self.synthetic_pixels.numel() == 0:  # nothing to learn from the synthetic views
                self.real_share = self.base_share = 1.0

    def rays(self, idx: torch.Tensor):
        # Through pixel centres: rays jittered inside their pixels trained a worse field in a one-off
        # check (dense benchmark capture, 3000 steps, both rendered 2 x 2: about 0.6 dB lower).
        f = torch.searchsorted(self.offsets[1:], idx, right=True)
        local = idx - self.offsets[f]
        px, py = local % self.width[f], local // self.width[f]
        o, d, zs = sampler.pixel_rays(self.c2w[f], self.fx[f], self.fy[f], self.cx[f], self.cy[f], px, py)
        rgba = self.rgba[idx].float() / 255.0
        depth = self.depth[idx] if self.depth is not None else None
        w = self.weight[f]
        if self.confidence is not None:
            w = w * (self.confidence[idx].float() / 255.0)
        return o, d, zs, rgba, depth, w

    @staticmethod
    def _group(sizes, member, device):
        """The member frames' pixels as one range: (cumulative pixel counts, the shift from a
        group-local pixel to its global index per frame, the group's size); None if no member."""
        starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
        keep = [i for i, m in enumerate(member) if m]
        if not keep:
            return None
        cum = np.cumsum([sizes[i] for i in keep])
        shift = starts[keep] - (cum - [sizes[i] for i in keep])
        return (torch.tensor(cum, dtype=torch.long, device=device), torch.tensor(shift, dtype=torch.long, device=device),
                int(cum[-1]))

    @staticmethod
    def _draw(gen, n: int, group) -> torch.Tensor:
        cum, shift, total = group
        # On the generator's device, which is the store's: no round trip through the host.
        local = torch.randint(0, total, (n,), generator=gen, device=gen.device).to(cum.device)
        return local + shift[torch.searchsorted(cum, local, right=True)]

    def _draw_synthetic(self, gen, n: int) -> torch.Tensor:
        if self.synthetic_pixels is None:
            return self._draw(gen, n, self.groups[1])
        pick = torch.randint(0, self.synthetic_pixels.numel(), (n,), generator=gen, device=gen.device)
        return self.synthetic_pixels[pick.to(self.synthetic_pixels.device)]

    def sample(self, gen: torch.Generator, n: int):
        if self.real_share is None:  # one kind of view: uniform over all pixels
            idx = torch.randint(0, self.count, (n,), generator=gen, device=gen.device).to(self.device)
            return self.rays(idx)
        n_real = int(round(n * self.real_share))
        parts = [self._draw(gen, n_real, self.groups[0])]
        if n_real < n:
            parts.append(self._draw_synthetic(gen, n - n_real))
        return self.rays(torch.cat(parts).to(self.device))


def resolution_schedule(cfg: TrainConfig) -> list[tuple[float, int]]:
    """(fraction of the budget, plane resolution): doubling from res_start up to res, the last
    level reached at ``coarse_to_fine_until`` of the budget."""
    levels = [int(cfg.res)]
    while levels[0] // 2 >= int(cfg.res_start) and levels[0] // 2 >= 4:
        levels.insert(0, levels[0] // 2)
    if len(levels) == 1:
        return [(0.0, levels[0])]
    until = float(cfg.coarse_to_fine_until)
    return [(until * i / (len(levels) - 1), r) for i, r in enumerate(levels)]


def resolution_at(cfg: TrainConfig, fraction: float) -> int:
    res = None
    for start, r in resolution_schedule(cfg):
        if fraction >= start:
            res = r
    return res


_OOM = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)

# An environment texel counts as seen once training rays showed it one ray's worth in all (their
# transmittance at the texel, summed): the trained colour of a less-seen texel is a guess.
SEEN_RAYS = 1.0


class Trainer:
    def __init__(self, cfg: TrainConfig, store: PixelStore, heldout=None, device="cpu", command_config: dict | None = None):
        self.cfg = cfg
        self.command_config = command_config  # the user's options, kept in the checkpoint for a resume
        self.device = torch.device(device)
        self.store = store
        self.heldout = heldout  # (origins, dirs, zscale, target rgb over white) or None
        model_cfg = cfg.model_config(res=resolution_at(cfg, 0.0))
        torch.manual_seed(int(cfg.seed))
        self.model = FieldModel(model_cfg).to(self.device)
        self.opt = self._optimizer()
        self.step = 0
        self.elapsed = 0.0  # training seconds before this session (resume)
        self.last_psnr = None
        self.history = []
        self.saved = None  # (step, path) of the last checkpoint written
        self.samples_done = torch.zeros((), dtype=torch.long, device=self.device)  # field evaluations, this session
        self.scene_scale = float(np.linalg.norm(np.subtract(cfg.aabb[1], cfg.aabb[0])))  # the aabb's diagonal

    def _optimizer(self):
        m = self.model
        groups = [{"params": m.field.levels(), "name": "planes"},
                  {"params": list(m.field.density_net.parameters()) + list(m.field.color_net.parameters()), "name": "mlp"}]
        if m.background.env is not None:
            groups.append({"params": list(m.background.env.parameters()), "name": "env"})
        # eps small: plane texels get sparse gradients, and a large eps would stall them.
        # Fused on a GPU: one kernel for all parameters instead of several per tensor.
        return torch.optim.Adam(groups, lr=self.cfg.lr, betas=(0.9, 0.99), eps=1e-15, fused=self.device.type == "cuda")

    # -------------------------------------------------------------- checkpoints

    def state(self) -> dict:
        more = {"command_config": self.command_config} if self.command_config is not None else {}
        return M.checkpoint(self.model, self.step, optimizer=self.opt.state_dict(), train=self.cfg.model_config(), **more,
                            elapsed=float(self.elapsed), history=list(self.history))

    def save(self, path: str) -> None:
        # A NaN anywhere (planes, MLPs, env map, grid, Adam's moments) would poison a resume, so
        # such a state never replaces the last good checkpoint.
        tensors = list(self.model.state_dict().items())
        tensors += [(f"optimizer state of {k}", v) for s in self.opt.state.values() for k, v in s.items()]
        for name, value in tensors:
            if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise JobError(f"The field's {name} is not finite; not overwriting the last good checkpoint",
                               hint="Lower the learning rate (--lr) or change --seed, and resume from the checkpoint",
                               code=E_INTERNAL)
        M.save_atomic(self.state(), path)
        self.saved = (self.step, path)

    def load(self, path: str) -> None:
        ck = M.read(path, self.device)
        if "optimizer" not in ck:
            raise JobError(f"{path} is a finished field, not a training checkpoint",
                           hint="Resume from the checkpoint.pt that reconstruct writes while training")
        res = int(ck["config"]["res"])
        saved = dict(M.OLD_DEFAULTS, **ck["config"])
        for key in ("channels", "hidden", "geo_feat", "combine", "grid_res", "background", "sh_degree", "levels", "color_layers"):
            if saved[key] != self.model.config[key]:
                raise JobError(f"The checkpoint's {key} ({saved[key]}) differs from this run's ({self.model.config[key]})",
                               hint="Resume with the settings the checkpoint was trained with")
        self.model.field.upsample(res)
        self.opt = self._optimizer()
        self.model.load_state_dict(M.state_for(self.model, ck["state_dict"]))
        self.opt.load_state_dict(ck["optimizer"])
        self.step = int(ck["step"])
        self.elapsed = float(ck.get("elapsed", 0.0))
        self.history = list(ck.get("history", []))

    # -------------------------------------------------------------- schedule

    def _upsample(self, res: int) -> None:
        """Grow the planes and carry Adam's moments along, resized the same way."""
        from .triplane import resize_planes

        for old, new in self.model.field.upsample(res):
            state = self.opt.state.pop(old, None)
            for g in self.opt.param_groups:
                g["params"] = [new if p is old else p for p in g["params"]]
            if state:
                size = new.shape[-1]
                self.opt.state[new] = {k: (resize_planes(v, size) if torch.is_tensor(v) and v.dim() == 4 else v)
                                       for k, v in state.items()}

    def _apply_schedule(self, fraction: float) -> None:
        res = resolution_at(self.cfg, fraction)
        # Only ever grow: resuming with a larger budget moves the fraction back, and shrinking
        # the planes then would throw away what they learned.
        if res > self.model.field.res:
            self._upsample(res)
        lr = self.cfg.lr * (self.cfg.lr_decay ** min(max(fraction, 0.0), 1.0))
        for g in self.opt.param_groups:
            g["lr"] = lr
        if self.cfg.synthetic_fade and self.store.base_share is not None and self.store.base_share < 1.0:
            # Synthetic views shape the field early; the real ones alone have the last word.
            base = self.store.base_share
            self.store.real_share = base + (1.0 - base) * min(max(fraction, 0.0), 1.0)

    def generator(self, step: int) -> torch.Generator:
        gen = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        gen.manual_seed(int(self.cfg.seed) * 1000003 + step)
        return gen

    # -------------------------------------------------------------- one step

    def train_step(self) -> torch.Tensor:
        """One step; returns the loss as a tensor on the device (reading it would wait for the
        device, so the loop reads it only every ``log_every`` steps)."""
        cfg = self.cfg
        gen = self.generator(self.step)
        m = self.model
        if self.step % cfg.grid_every == 0 and self.step > 0:
            m.grid.update(m.occupancy_density, gen, cfg.grid_fraction)
        o, d, zs, rgba, depth, w = self.store.sample(gen, cfg.batch_rays)
        out = m.render_rays(o, d, zs, gen=gen)
        if m.background.env is not None:  # what the environment showed, as much as each ray counts
            m.background.env.record_seen(d, (1.0 - out["opacity"].detach()) * w)
        loss = losses.rgb_loss(out, rgba, w, transparent=m.background.mode == "alpha")
        if cfg.depth_loss > 0 and depth is not None:
            loss = loss + cfg.depth_loss * losses.depth_loss(out, depth, w, scene_scale=self.scene_scale)
            if m.background.mode == "env":
                loss = loss + cfg.depth_loss * losses.coverage_loss(out, depth, w)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.samples_done += out["samples"]
        return loss.detach()

    def fill_unseen_background(self) -> int:
        """Texels of the learned environment that training rays showed less than one ray's worth
        of (``EnvMap.seen``) hold no real colour: grey where nothing reached them, and noise where
        rays reached them only through a nearly opaque surface (Adam takes full steps on tiny
        gradients). They are filled from the well-seen ones (``EnvMap.fill_unseen``)."""
        env = self.model.background.env
        if env is None or not bool((env.seen > 0).any()):
            return 0
        return env.fill_unseen(env.seen >= SEEN_RAYS)

    @torch.no_grad()
    def heldout_psnr(self, chunk: int = 8192) -> float | None:
        if self.heldout is None:
            return None
        o, d, zs, target = self.heldout
        se = 0.0
        for s in range(0, o.shape[0], chunk):
            out = self.model.render_rays(o[s:s + chunk], d[s:s + chunk], zs[s:s + chunk])
            se += float(((out["rgb"].clamp(0, 1) - target[s:s + chunk]) ** 2).sum())
        return psnr(se / target.numel())

    # -------------------------------------------------------------- the loop

    def run(self, ctx=None, steps: int | None = None, seconds: float | None = None,
            checkpoint_path: str | None = None) -> dict:
        """Train until ``steps`` (total, counting resumed ones) or ``seconds`` of training time."""
        cfg = self.cfg
        if steps is None and seconds is None:
            raise ValueError("give steps or seconds")
        start_time = time.monotonic() - self.elapsed
        start_step = self.step
        session_t0 = time.monotonic()
        loss_avg = None

        def fraction():
            if steps is not None:
                return self.step / max(1, steps)
            return (time.monotonic() - start_time) / seconds

        def out_of_budget():
            if steps is not None and self.step >= steps:
                return True
            return seconds is not None and time.monotonic() - start_time >= seconds

        def save(reason):
            if checkpoint_path:
                self.elapsed = time.monotonic() - start_time
                self.save(checkpoint_path)

        def diverged(loss) -> bool:
            return not math.isfinite(float(loss))

        def stop_diverged():
            where = (f"the last good checkpoint (step {self.saved[0]}) is {self.saved[1]}" if self.saved
                     else "no checkpoint was written yet")
            raise JobError(f"Training diverged by step {self.step}: the loss is not finite; {where}",
                           hint="Lower the learning rate (--lr), change --seed, or resume from the checkpoint",
                           code=E_INTERNAL)

        try:
            while not out_of_budget():
                if ctx is not None:
                    ctx.check_cancel()
                self._apply_schedule(fraction())
                loss = self.train_step()
                self.step += 1
                loss_avg = loss if loss_avg is None else 0.9 * loss_avg + 0.1 * loss
                # Reading the loss waits for the device: only every log_every steps, and before any
                # state is kept (a checkpoint never holds a diverged field: save() refuses it too).
                logging = self.step % cfg.log_every == 0 or out_of_budget()
                evaluating = cfg.eval_every and self.step % cfg.eval_every == 0
                saving = cfg.ckpt_every and self.step % cfg.ckpt_every == 0
                if (logging or evaluating or saving) and diverged(loss_avg):
                    stop_diverged()
                if evaluating:
                    self.last_psnr = self.heldout_psnr()
                    self.history.append({"step": self.step, "seconds": round(time.monotonic() - start_time, 2),
                                         "loss": float(loss_avg), "psnr": self.last_psnr})
                if saving:
                    save("periodic")
                if ctx is not None and logging:
                    stage, done, total, metrics = self._progress(steps, seconds, start_time, session_t0, start_step,
                                                                 loss_avg)
                    ctx.progress(stage, done, total, **metrics)
        except (Cancelled, KeyboardInterrupt):
            save("cancel")  # the state at a step boundary is good: keep it to resume from
            raise
        except _OOM:
            raise JobError(f"Out of GPU memory at {cfg.batch_rays} rays per step",
                           hint="Use a smaller --batch-rays or --plane-res, or --device CPU")
        if loss_avg is not None and diverged(loss_avg):
            stop_diverged()
        self.fill_unseen_background()
        self.elapsed = time.monotonic() - start_time
        loss_avg = None if loss_avg is None else float(loss_avg)
        session = time.monotonic() - session_t0
        self.last_psnr = self.heldout_psnr()
        if not self.history or self.history[-1]["step"] != self.step:
            self.history.append({"step": self.step, "seconds": round(self.elapsed, 2), "loss": loss_avg,
                                 "psnr": self.last_psnr})
        return {"steps": self.step, "train_seconds": round(self.elapsed, 3), "loss": loss_avg,
                "heldout_psnr": self.last_psnr,
                "seconds_per_step": round(self.elapsed / max(1, self.step), 5),
                "rays_per_second": round(cfg.batch_rays * (self.step - start_step) / max(session, 1e-9)),
                "samples_per_second": round(int(self.samples_done) / max(session, 1e-9))}

    def _progress(self, steps, seconds, start_time, session_t0, start_step, loss_avg):
        """The arguments of ctx.progress: the stage, done, total and the metrics the panel shows."""
        per_step = (time.monotonic() - session_t0) / max(1, self.step - start_step)
        metrics = {"loss": round(float(loss_avg), 6), "step": self.step,
                   "occupancy": round(self.model.grid.occupancy(), 4), "res": self.model.field.res,
                   "s_per_step": round(per_step, 4), "rays_per_s": round(self.cfg.batch_rays / max(per_step, 1e-9))}
        if self.last_psnr is not None:
            metrics["psnr"] = round(self.last_psnr, 3)
        if steps is not None:
            return "Training", self.step, steps, metrics
        return "Training", int(time.monotonic() - start_time), int(math.ceil(seconds)), metrics
