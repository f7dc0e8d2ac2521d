"""The field as 3D Gaussians, in the PLY layout of the 3D Gaussian Splatting reference code (what
Gaussian-splat viewers and Blender's splat add-ons read).

One Gaussian per exported surface point (``export.points_from_views``): a flat disc in the surface,
its normal from the density's gradient, about one point spacing wide, so that neighbours overlap
into a closed surface. Colour is the field's own view-dependent colour, fitted by least squares
onto the reference code's degree-3 spherical harmonics over directions on the outer side of the
surface, so viewers show the field's highlights, not one flat colour.

Layout (binary little-endian, every property ``float``, in this order): ``x y z nx ny nz
f_dc_0..2 f_rest_0..44 opacity scale_0..2 rot_0..3``. ``f_rest`` is channel-major (15 red
coefficients, then green, then blue); colour = 0.5 + SH(direction) . coefficients, with the
direction from the camera to the point; ``opacity`` is a logit; ``scale_*`` are natural logs of the
standard deviations along the disc's local x, y, z (z: the normal); ``rot`` is a unit quaternion
(w, x, y, z) turning local axes into world axes.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import ply

SH_DEGREE = 3
DIRECTIONS = 64  # view directions per point that the colour is fitted from (16 unknowns per channel)
THICKNESS = 0.1  # the disc's depth as a share of its width
WIDTH = 0.6  # the disc's standard deviation in point spacings: neighbours overlap, no holes
MAX_OPACITY = 0.99  # opacity 1 has no logit
BEHIND_WEIGHT = 0.05  # weight of the directions behind a surface in the colour fit


def sh_basis(d: np.ndarray) -> np.ndarray:
    """The reference code's real SH basis up to degree 3 at unit directions (N, 3) -> (N, 16)
    (its constants and signs, so that its viewers evaluate our coefficients as we fitted them)."""
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    xx, yy, zz = x * x, y * y, z * z
    c1, c2 = 0.4886025119029199, (1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                                   -1.0925484305920792, 0.5462742152960396)
    c3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
          -0.4570457994644658, 1.445305721320277, -0.5900435899266435)
    return np.stack([
        np.full_like(x, 0.28209479177387814),
        -c1 * y, c1 * z, -c1 * x,
        c2[0] * x * y, c2[1] * y * z, c2[2] * (2 * zz - xx - yy), c2[3] * x * z, c2[4] * (xx - yy),
        c3[0] * y * (3 * xx - yy), c3[1] * x * y * z, c3[2] * y * (4 * zz - xx - yy),
        c3[3] * z * (2 * zz - 3 * xx - 3 * yy), c3[4] * x * (4 * zz - xx - yy), c3[5] * z * (xx - yy),
        c3[6] * x * (xx - 3 * yy),
    ], -1)


def fibonacci_sphere(n: int) -> np.ndarray:
    """n nearly even unit directions (N, 3)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (1.0 + 5 ** 0.5) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], -1)


@torch.no_grad()
def _colours(field, points: torch.Tensor, normals: torch.Tensor, dirs: torch.Tensor, chunk: int) -> torch.Tensor:
    """The field's colour at each point seen along each direction (N, K, 3); directions that would
    look at the surface from behind are mirrored to its outer side (the side a camera saw)."""
    out = [torch.zeros(0, len(dirs), 3, device=points.device)]
    for s in range(0, len(points), chunk):
        p, n = points[s:s + chunk], normals[s:s + chunk]
        _, geo = field._density(p)
        # A camera on the outer side looks along -normal: keep d . n <= 0.
        d = dirs[None].expand(len(p), -1, -1)
        dn = (d * n[:, None]).sum(-1, keepdim=True)
        d = torch.where(dn > 0, d - 2 * dn * n[:, None], d)
        k = d.shape[1]
        rgb = field.color(geo[:, None].expand(-1, k, -1).reshape(-1, geo.shape[-1]), d.reshape(-1, 3))
        out.append(rgb.reshape(len(p), k, 3))
    return torch.cat(out)


def _normals(field, points: torch.Tensor, chunk: int) -> torch.Tensor:
    """Outward unit normals: minus the density's gradient (density rises into the surface)."""
    out = [torch.zeros(0, 3, device=points.device)]
    for s in range(0, len(points), chunk):
        p = points[s:s + chunk].clone().requires_grad_(True)
        with torch.enable_grad():
            g, = torch.autograd.grad(torch.log(field.density(p) + 1e-6).sum(), p)
        n = -g
        out.append(n / n.norm(dim=-1, keepdim=True).clamp_min(1e-9))
    return torch.cat(out).detach()


def _quaternions(normals: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z) of rotations taking +Z to each normal (N, 3) -> (N, 4)."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(np.broadcast_to(z, normals.shape), normals)
    w = 1.0 + normals[:, 2]
    q = np.concatenate([w[:, None], axis], -1)
    flipped = w < 1e-6  # the normal is -Z: half a turn about X
    q[flipped] = [0.0, 1.0, 0.0, 0.0]
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def gaussians(model, points: np.ndarray, opacity: np.ndarray, spacing: float, device="cpu",
              chunk: int = 16384) -> dict:
    """The 3DGS properties (name -> (N,) float32, in the file's order) of Gaussians at ``points``."""
    field = model.field
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float32, device=device).reshape(-1, 3)
    normals = _normals(field, pts, chunk)
    dirs = torch.as_tensor(fibonacci_sphere(DIRECTIONS), dtype=torch.float32, device=device)
    rgb = _colours(field, pts, normals, dirs, max(1, chunk // DIRECTIONS)).cpu().numpy().astype(np.float64)
    n = normals.cpu().numpy().astype(np.float64)
    # Weighted least squares per point: the directions in front of its surface count fully, those
    # behind (mirrored, what a viewer there would see through a thin surface) only a little, so the
    # fold at the surface's plane costs the front little accuracy.
    basis = sh_basis(dirs.cpu().numpy().astype(np.float64))  # (K, 16)
    facing = n @ dirs.cpu().numpy().astype(np.float64).T  # (N, K): d . n, > 0 behind the surface
    weight = np.where(facing > 0, BEHIND_WEIGHT, 1.0)
    coeffs = np.empty((len(n), 16, 3))
    for s in range(0, len(n), 8192):
        w = weight[s:s + 8192]
        a = np.einsum("nk,kp,kq->npq", w, basis, basis) + 1e-6 * np.eye(16)
        rhs = np.einsum("nk,kp,nkc->npc", w, basis, rgb[s:s + 8192] - 0.5)
        coeffs[s:s + 8192] = np.linalg.solve(a, rhs)
    props = {name: values for name, values in zip(("x", "y", "z"), np.asarray(points, np.float64).T)}
    props.update(nx=n[:, 0], ny=n[:, 1], nz=n[:, 2])
    for c in range(3):
        props[f"f_dc_{c}"] = coeffs[:, 0, c]
    for c in range(3):
        for k in range(1, 16):
            props[f"f_rest_{c * 15 + k - 1}"] = coeffs[:, k, c]
    a = np.clip(np.asarray(opacity, np.float64), 1e-4, MAX_OPACITY)
    props["opacity"] = np.log(a / (1.0 - a))
    width = np.log(WIDTH * spacing)
    props.update(scale_0=np.full(len(n), width), scale_1=np.full(len(n), width),
                 scale_2=np.full(len(n), width + np.log(THICKNESS)))
    q = _quaternions(n)
    for k in range(4):
        props[f"rot_{k}"] = q[:, k]
    return {k: np.asarray(v, np.float32) for k, v in props.items()}


def write(path: str, props: dict) -> None:
    """Write Gaussians (``gaussians``' output) as a 3DGS PLY, atomically."""
    points = np.stack([props["x"], props["y"], props["z"]], -1)
    extra = {k: v for k, v in props.items() if k not in ("x", "y", "z")}
    ply.write_ply(path, points, extra=extra, comments=["PS4PRO reconstruct: 3D Gaussians (3DGS layout)"])


def colour_at(props: dict, direction) -> np.ndarray:
    """The colour (N, 3) a 3DGS viewer shows for each Gaussian seen along ``direction`` (camera to
    point), from the file's coefficients: what a reader of the file gets back."""
    d = np.asarray(direction, np.float64).reshape(1, 3)
    basis = sh_basis(d / np.linalg.norm(d))[0]  # (16,)
    out = []
    for c in range(3):
        coeffs = np.stack([props[f"f_dc_{c}"]] + [props[f"f_rest_{c * 15 + k}"] for k in range(15)], -1)
        out.append(0.5 + coeffs @ basis)
    return np.clip(np.stack(out, -1), 0.0, 1.0)
