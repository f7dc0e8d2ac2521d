"""Distillation: a trained field (the teacher) into snapshot planes read by the shared decoder.

The student learns from the teacher's own outputs, not from the training images:

- rays: the teacher's un-composited colour and opacity along rays from the capture's cameras (and
  a sphere of cameras around the scene), rendered through the teacher's occupancy grid;
- points: opacity over one grid cell at points spread over the whole box (zero where the teacher's
  grid says empty) and in the teacher's occupied cells, and colour there, weighted by opacity.

Noise of about one 8-bit code is added to the student's planes while it learns, so that the
decoder and the planes tolerate the quantisation and the hiding network's small errors.
``fit`` trains the shared decoder across many teachers at once (``train-snapshot``); ``distill``
fits one scene's planes with the decoder fixed (``snapshot-encode``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..field import sampler
from ..field.model import FieldModel
from . import decoder as D
from . import payload


class Cameras:
    """Pinhole cameras to draw distillation rays from."""

    def __init__(self, c2w, fx, fy, cx, cy, w, h, device="cpu"):
        t = lambda v: torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device)  # noqa: E731
        self.c2w, self.fx, self.fy, self.cx, self.cy = t(c2w), t(fx), t(fy), t(cx), t(cy)
        self.w = torch.as_tensor(np.asarray(w), dtype=torch.long, device=device)
        self.h = torch.as_tensor(np.asarray(h), dtype=torch.long, device=device)

    @classmethod
    def from_frames(cls, frames, device="cpu"):
        g = lambda k: [getattr(f, k) for f in frames]  # noqa: E731
        return cls(np.stack(g("c2w")), g("fx"), g("fy"), g("cx"), g("cy"), g("w"), g("h"), device)

    @classmethod
    def sphere(cls, aabb, n: int = 48, size: int = 128, fov_deg: float = 50.0, device="cpu"):
        """``n`` cameras on a Fibonacci sphere around the box, each seeing all of it."""
        aabb = np.asarray(aabb, dtype=np.float64).reshape(2, 3)
        centre, half = aabb.mean(0), 0.5 * float(np.linalg.norm(aabb[1] - aabb[0]))
        dist = half / math.sin(math.radians(fov_deg) / 2) * 1.05
        f = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
        mats = []
        for i in range(n):
            z = 1 - 2 * (i + 0.5) / n
            r, phi = math.sqrt(1 - z * z), i * math.pi * (3 - math.sqrt(5))
            pos = centre + dist * np.array([r * math.cos(phi), r * math.sin(phi), z])
            back = (pos - centre) / np.linalg.norm(pos - centre)  # camera +Z (it looks along -Z)
            up = np.array([0.0, 0.0, 1.0]) if abs(back[2]) < 0.95 else np.array([0.0, 1.0, 0.0])
            right = np.cross(up, back)
            right /= np.linalg.norm(right)
            m = np.eye(4)
            m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(back, right), back, pos
            mats.append(m)
        return cls(np.stack(mats), [f] * n, [f] * n, [size / 2] * n, [size / 2] * n, [size] * n, [size] * n, device)

    def frames(self):
        """As dataset frames (no images), for the exporters and renderers that take frames."""
        from ..dataset import Frame

        return [Frame("", self.c2w[i].double().cpu().numpy(), float(self.fx[i]), float(self.fy[i]), float(self.cx[i]),
                      float(self.cy[i]), int(self.w[i]), int(self.h[i])) for i in range(len(self))]

    def __len__(self):
        return int(self.c2w.shape[0])

    def rays(self, gen, n: int):
        dev = self.c2w.device
        i = torch.randint(0, len(self), (n,), generator=gen).to(dev)
        px = (torch.rand(n, generator=gen).to(dev) * self.w[i]).long()
        py = (torch.rand(n, generator=gen).to(dev) * self.h[i]).long()
        return sampler.pixel_rays(self.c2w[i], self.fx[i], self.fy[i], self.cx[i], self.cy[i], px, py)


def join(*sets: Cameras) -> Cameras:
    cat = lambda k: torch.cat([getattr(s, k) for s in sets])  # noqa: E731
    out = Cameras.__new__(Cameras)
    for k in ("c2w", "fx", "fy", "cx", "cy", "w", "h"):
        setattr(out, k, cat(k))
    return out


class Student:
    """One scene's snapshot planes (a leaf tensor the optimiser owns) in a FieldModel whose MLPs
    are the shared decoder's modules and whose occupancy grid is the teacher's."""

    def __init__(self, teacher: FieldModel, shared, device):
        aabb = teacher.field.aabb.detach().cpu().numpy()
        self.model = D.make_field(None, aabb, D.decoder_state(shared), teacher.background.mode, device=device)
        self.model.field.density_net = shared.density_net
        self.model.field.color_net = shared.color_net
        self.model.grid = teacher.grid
        self.planes = self.model.field.planes.detach().clone().requires_grad_(True)
        # The field reads self.planes: make it a plain attribute we can set to a noisy copy each step.
        del self.model.field._parameters["planes"]
        self.model.field.planes = self.planes

    def use(self, noise_codes: float, gen) -> None:
        p = self.planes
        if noise_codes > 0:
            span = (p.detach().amax((2, 3), keepdim=True) - p.detach().amin((2, 3), keepdim=True)) / 255.0
            n = torch.randn(p.shape, generator=gen).to(p.device) * noise_codes
            n = n + torch.rand(p.shape, generator=gen).to(p.device) - 0.5  # the rounding to a code
            p = p + n * span
        self.model.field.planes = p


def _losses(teacher: FieldModel, student: Student, cams: Cameras, gen, rays: int, points: int,
            ray_weight: float = 1.0) -> torch.Tensor:
    dev = teacher.field.aabb.device
    o, d, zs = cams.rays(gen, rays)
    zero = torch.zeros(rays, 3, device=dev)
    with torch.no_grad():
        t = teacher.render_rays(o, d, zs, bg=zero)
    s = student.model.render_rays(o, d, zs, gen=gen, bg=zero)
    loss = ray_weight * (((s["field_rgb"] - t["field_rgb"]) ** 2).mean() + ((s["opacity"] - t["opacity"]) ** 2).mean())

    grid = teacher.grid
    lo, hi = grid.aabb[0], grid.aabb[1]
    uniform = lo + torch.rand(points, 3, generator=gen).to(dev) * (hi - lo)
    occupied = torch.nonzero(grid.mask.view(-1)).squeeze(1)
    if len(occupied):
        pick = occupied[torch.randint(0, len(occupied), (points,), generator=gen).to(dev)]
        near = grid.centres(pick, torch.rand(points, 3, generator=gen).to(dev))
        pts = torch.cat([uniform, near])
    else:
        pts = uniform
    dirs = torch.nn.functional.normalize(torch.randn(pts.shape[0], 3, generator=gen).to(dev), dim=-1)
    delta = float(grid.cell.min())
    with torch.no_grad():
        sig_t, rgb_t = teacher.field(pts, dirs)
        sig_t = sig_t * grid.lookup(pts).float()
        a_t = 1 - torch.exp(-sig_t * delta)
    sig_s, rgb_s = student.model.field(pts, dirs)
    a_s = 1 - torch.exp(-sig_s * delta)
    loss = loss + (a_s - a_t).abs().mean()
    loss = loss + (a_t[:, None] * (rgb_s - rgb_t) ** 2).sum() / (3 * a_t.sum()).clamp(min=1e-6)
    return loss


def _shared_decoder(device, init: dict | None = None, seed: int = 0, hidden: int | None = None,
                    sh_degree: int | None = None):
    torch.manual_seed(seed)
    return D.make_field(None, [[-1, -1, -1], [1, 1, 1]], init or D.decoder_state(_fresh(hidden, sh_degree)),
                        device=device).field


def _fresh(hidden: int | None = None, sh_degree: int | None = None):
    from ..field.triplane import TriPlane

    f = D.FIELD
    return TriPlane([[-1, -1, -1], [1, 1, 1]], f["res"], f["channels"], hidden or f["hidden"], f["geo_feat"],
                    f["combine"], f["density_bias"], sh_degree or f["sh_degree"])


def fit(teachers, cameras, steps: int, seed: int = 0, decoder: dict | None = None, train_decoder: bool = True,
        rays: int = 1024, points: int = 4096, lr: float = 3e-2, decoder_lr: float = 3e-3, noise_codes: float = 1.0,
        ray_weight: float = 1.0, device="cpu", ctx=None, log_every: int = 50, hidden: int | None = None,
        sh_degree: int | None = None):
    """Snapshot planes for every teacher (and the shared decoder, when ``train_decoder``; a new one
    is ``hidden`` wide with SH ``sh_degree``, by default ``FIELD``'s).
    Returns (decoder state, [planes (3, C, R, R) float32 numpy], history)."""
    device = torch.device(device)
    shared = _shared_decoder(device, decoder, seed, hidden, sh_degree)
    torch.manual_seed(seed)
    students = [Student(t, shared, device) for t in teachers]
    groups = [{"params": [s.planes for s in students], "lr": lr}]
    if train_decoder:
        groups.append({"params": list(shared.density_net.parameters()) + list(shared.color_net.parameters()),
                       "lr": decoder_lr})
    else:
        for p in list(shared.density_net.parameters()) + list(shared.color_net.parameters()):
            p.requires_grad_(False)
    opt = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)
    base = [g["lr"] for g in opt.param_groups]
    history, avg = [], None
    for step in range(steps):
        if ctx is not None:
            ctx.check_cancel()
        gen = torch.Generator().manual_seed(seed * 1000003 + step)
        frac = step / max(1, steps)
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * 0.1 ** frac
        k = step % len(teachers)
        students[k].use(noise_codes, gen)
        loss = _losses(teachers[k], students[k], cameras[k], gen, rays, points, ray_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            from ..protocol import E_INTERNAL, JobError

            raise JobError(f"Distillation diverged at step {step}", hint="Change --seed", code=E_INTERNAL)
        avg = value if avg is None else 0.95 * avg + 0.05 * value
        if (step + 1) % log_every == 0 or step + 1 == steps:
            history.append({"step": step + 1, "loss": round(avg, 6)})
            if ctx is not None:
                ctx.progress("Distilling", step + 1, steps, loss=round(avg, 6))
    planes = [s.planes.detach().cpu().numpy().astype(np.float32) for s in students]
    return D.decoder_state(shared), planes, history


def distill(teacher: FieldModel, cameras: Cameras, decoder: dict, steps: int = 1500, seed: int = 0, **kw):
    """One scene's planes for the fixed shared decoder."""
    _, planes, history = fit([teacher], [cameras], steps, seed, decoder=decoder, train_decoder=False, **kw)
    return planes[0].reshape(payload.SHAPE), history
