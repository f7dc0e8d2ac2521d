"""Geometry-aware warping: z-buffered forward splatting of a view with depth into another camera.

Conventions (as everywhere in PS4PRO): camera-to-world matrices in Blender camera axes (−Z forward,
+Y up), pixel centres at +0.5 with (0, 0) the top-left corner, planar depth (distance along the
viewing axis), background (sky / HDRI) at depth ≥ 1e9. Background pixels are warped as infinitely
far away: only their ray direction is rotated into the target camera, so the HDRI moves as it
should and never parallaxes.

Everything here is vectorised torch (CPU or CUDA, no per-pixel Python loops) and batched:
images (B, C, H, W), depths (B, 1, H, W), intrinsics (B, 3, 3) or (3, 3), poses (B, 4, 4) or (4, 4)
(numpy or torch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BACKGROUND = 1e9  # depth at or beyond this is "no surface": the background, infinitely far
BG_DEPTH = 1e10  # what a warped background pixel's depth is set to
ZTEST = 0.03  # relative depth band within which splats of one target pixel are mixed
TAU = 0.01  # relative depth scale of the soft z-weighting inside that band
MIN_SPLAT = 0.2  # bilinear weight a splat needs to take part in a pixel's z-test
VALID = 1e-3  # splatted weight below which a target pixel counts as a hole
MERGE_BAND = 0.04  # two warps whose depths agree within this relative band are blended


def _mat(x, batch: int, shape, device) -> torch.Tensor:
    m = torch.as_tensor(x, dtype=torch.float64)
    if m.dim() == len(shape):
        m = m.unsqueeze(0)
    if m.shape[0] == 1 and batch > 1:
        m = m.expand(batch, *shape)
    if tuple(m.shape[1:]) != tuple(shape) or m.shape[0] != batch:
        raise ValueError(f"expected ({batch}, {shape}) matrices, got {tuple(m.shape)}")
    return m.to(device)


def project_points(src_depth, K_src, c2w_src, K_dst, c2w_dst):
    """Where each source pixel lands in the target: pixel coordinates (x, y) as (B, H, W) each (index
    units: the centre of pixel (i, j) is (j, i)), target planar depth (B, H, W), and a validity mask
    (in front of the target camera, with a valid source depth). Background pixels land where their
    direction points and get depth BG_DEPTH."""
    B, _, H, W = src_depth.shape
    dev = src_depth.device
    Ks, Kd = _mat(K_src, B, (3, 3), dev), _mat(K_dst, B, (3, 3), dev)
    Ms, Md = _mat(c2w_src, B, (4, 4), dev), _mat(c2w_dst, B, (4, 4), dev)
    R = Md[:, :3, :3].transpose(1, 2) @ Ms[:, :3, :3]  # source camera -> target camera rotation
    c = (Md[:, :3, :3].transpose(1, 2) @ (Ms[:, :3, 3] - Md[:, :3, 3]).unsqueeze(-1)).squeeze(-1)
    R, c, Ks, Kd = (v.to(torch.float32) for v in (R, c, Ks, Kd))

    z = src_depth[:, 0].to(torch.float32)
    ok = torch.isfinite(z) & (z > 0)
    bg = ok & (z >= BACKGROUND)
    ys = torch.arange(H, device=dev, dtype=torch.float32) + 0.5
    xs = torch.arange(W, device=dev, dtype=torch.float32) + 0.5
    xn = (xs.view(1, 1, W) - Ks[:, 0, 2].view(B, 1, 1)) / Ks[:, 0, 0].view(B, 1, 1)
    yn = (ys.view(1, H, 1) - Ks[:, 1, 2].view(B, 1, 1)) / Ks[:, 1, 1].view(B, 1, 1)
    xn, yn = xn.expand(B, H, W), yn.expand(B, H, W)
    # Ray per unit planar depth in source camera axes, rotated into the target's axes.
    rx = R[:, 0, 0, None, None] * xn - R[:, 0, 1, None, None] * yn - R[:, 0, 2, None, None]
    ry = R[:, 1, 0, None, None] * xn - R[:, 1, 1, None, None] * yn - R[:, 1, 2, None, None]
    rz = R[:, 2, 0, None, None] * xn - R[:, 2, 1, None, None] * yn - R[:, 2, 2, None, None]
    zs = torch.where(bg | ~ok, torch.ones_like(z), z)
    tr = (~bg).to(torch.float32)  # background: direction only, no translation
    px = rx * zs + c[:, 0, None, None] * tr
    py = ry * zs + c[:, 1, None, None] * tr
    pz = rz * zs + c[:, 2, None, None] * tr
    zt = -pz
    ok = ok & (zt > 1e-6)
    zsafe = torch.where(ok, zt, torch.ones_like(zt))
    u = Kd[:, 0, 0, None, None] * px / zsafe + Kd[:, 0, 2, None, None] - 0.5
    v = -Kd[:, 1, 1, None, None] * py / zsafe + Kd[:, 1, 2, None, None] - 0.5
    depth = torch.where(bg, torch.full_like(zt, BG_DEPTH), zt)
    return u, v, depth, ok


def forward_warp(src_rgb, src_depth, K_src, c2w_src, K_dst, c2w_dst, out_hw, *, ztest=ZTEST, tau=TAU):
    """Forward-warp a view with depth into another camera with a z-buffered bilinear splat.

    Every source pixel splats onto the 4 target pixels around where it lands. Per target pixel, a
    hard z-test (scatter_reduce amin over the splats with a real share of the pixel) finds the
    nearest surface; splats within ``ztest`` (relative) of it are mixed with weight
    bilinear × exp(−(z/zmin − 1)/tau), farther ones are dropped.

    Returns rgb (B, C, H', W'), planar depth in the target camera (B, 1, H', W'; BG_DEPTH for the
    background, 0 in holes), and the validity mask (B, 1, H', W'; 1 where something landed).
    """
    B, C, H, W = src_rgb.shape
    Ho, Wo = int(out_hw[0]), int(out_hw[1])
    dev = src_rgb.device
    u, v, zt, ok = project_points(src_depth, K_src, c2w_src, K_dst, c2w_dst)
    # Drop what lands far outside (also keeps the integer maths safe).
    ok = ok & (u > -2) & (u < Wo + 1) & (v > -2) & (v < Ho + 1)
    x0 = torch.floor(u)
    y0 = torch.floor(v)
    fx = u - x0
    fy = v - y0
    x0 = x0.to(torch.int64)
    y0 = y0.to(torch.int64)
    bidx = torch.arange(B, device=dev).view(B, 1, 1).expand(B, H, W)

    corners = []
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        xx, yy = x0 + dx, y0 + dy
        inside = ok & (xx >= 0) & (xx < Wo) & (yy >= 0) & (yy < Ho) & (w > 0)
        corners.append((torch.where(inside, (bidx * Ho + yy) * Wo + xx, torch.zeros_like(xx)).reshape(-1),
                        torch.where(inside, w, torch.zeros_like(w)).reshape(-1)))
    z = zt.reshape(-1)
    n = B * Ho * Wo
    inf = torch.full((1,), float("inf"), device=dev).expand_as(z)
    # Hard z-test: the nearest splat with a real share of the pixel, else the nearest at all.
    z_strong = torch.full((n,), float("inf"), device=dev)
    z_any = torch.full((n,), float("inf"), device=dev)
    for idx, wb in corners:
        live = wb > 0
        z_strong.scatter_reduce_(0, idx, torch.where(live & (wb >= MIN_SPLAT), z, inf), "amin")
        z_any.scatter_reduce_(0, idx, torch.where(live, z, inf), "amin")
    zref = torch.where(torch.isfinite(z_strong), z_strong, z_any)
    # Splats within the z band of the nearest, weighted; accumulated corner by corner.
    base = torch.cat([src_rgb.permute(0, 2, 3, 1).reshape(-1, C), z[:, None], torch.ones_like(z)[:, None]], 1)
    acc = torch.zeros((n, C + 2), device=dev, dtype=src_rgb.dtype)
    for idx, wb in corners:
        rel = z / zref[idx] - 1.0
        keep = (wb > 0) & (rel >= -1e-6) & (rel <= ztest)
        w = torch.where(keep, wb * torch.exp(-rel.clamp(min=0) / tau), torch.zeros_like(wb))
        acc.index_add_(0, idx, base * w[:, None])
    wsum = acc[:, C + 1]
    valid = wsum > VALID
    den = torch.where(valid, wsum, torch.ones_like(wsum))
    rgb = torch.where(valid[:, None], acc[:, :C] / den[:, None], torch.zeros_like(acc[:, :C]))
    depth = torch.where(valid, acc[:, C] / den, torch.zeros_like(wsum))
    # Background splats all carry BG_DEPTH exactly: keep it exact after the weighted mean.
    depth = torch.where(valid & (zref >= BACKGROUND), torch.full_like(depth, BG_DEPTH), depth)
    rgb = rgb.view(B, Ho, Wo, C).permute(0, 3, 1, 2).contiguous()
    depth = depth.view(B, 1, Ho, Wo)
    mask = valid.to(src_rgb.dtype).view(B, 1, Ho, Wo)
    return rgb, depth, mask


def _sum2x2(x):
    """2×2 box sums (odd sizes padded with zeros): the push step of push-pull."""
    H, W = x.shape[-2:]
    if H % 2 or W % 2:
        x = F.pad(x, (0, W % 2, 0, H % 2))
    B, C, H, W = x.shape
    return x.view(B, C, H // 2, 2, W // 2, 2).sum((3, 5))


def fill_holes(rgb, mask):
    """Classical push-pull fill: holes (mask 0) take the mask-weighted average of their
    surroundings, coarse to fine. ``mask`` may be soft (0..1). Returns the filled image."""
    levels = []
    cur, m = rgb * mask, mask
    while True:
        levels.append((cur, m))
        H, W = cur.shape[-2:]
        if (H <= 1 and W <= 1) or (len(levels) > 1 and bool((m > 0).all())):
            break
        num = _sum2x2(cur)
        den = _sum2x2(m)
        cur = num / den.clamp(min=1e-8) * (den > 0)
        m = (den > 0).to(m.dtype)
    # Pull: from the coarsest level back up, holes take the upsampled coarser level.
    filled = levels[-1][0]
    for cur, m in reversed(levels[:-1]):
        up = F.interpolate(filled, size=cur.shape[-2:], mode="bilinear", align_corners=False)
        filled = cur + (1 - m.clamp(0, 1)) * up
    # Level 0 holds rgb * mask: where the mask is soft, that is a premultiplied mix with ``up``.
    return filled


def fill_holes_far(rgb, mask, depth, band: float = 0.1):
    """Push-pull fill that takes a hole's colour from its far side. A disocclusion is a surface
    that was behind its neighbours, so its colour is better guessed from the farther of them (the
    background) than from an average with the occluder: each push step averages, per 2×2 block,
    only the samples within ``band`` (relative) of the block's farthest depth."""
    valid = (mask > 0) & (depth > 0)
    z = torch.where(valid, depth, torch.zeros_like(depth))
    col = rgb * valid
    wt = valid.to(rgb.dtype)
    levels = []
    while True:
        levels.append((col, wt))
        H, W = col.shape[-2:]
        if (H <= 1 and W <= 1) or (len(levels) > 1 and bool((wt > 0).all())):
            break
        zmax = F.max_pool2d(z, 2, ceil_mode=True)
        zup = F.interpolate(zmax, scale_factor=2, mode="nearest")[..., :H, :W]
        w2 = wt * (z >= zup * (1 - band))
        den = _sum2x2(w2)
        col = _sum2x2(col * w2) / den.clamp(min=1e-12) * (den > 0)
        z = torch.where(den > 0, zmax, torch.zeros_like(zmax))
        wt = (den > 0).to(rgb.dtype)
    filled = levels[-1][0]
    for col, wt in reversed(levels[:-1]):
        up = F.interpolate(filled, size=col.shape[-2:], mode="bilinear", align_corners=False)
        filled = torch.where(wt > 0, col, up)
    return filled


def relative_depth_band(za, zb, band=MERGE_BAND):
    """Per pixel: a_front (A clearly nearer), b_front, for two warped depths (0 = hole)."""
    inf = torch.full_like(za, float("inf"))
    za = torch.where(za > 0, za, inf)
    zb = torch.where(zb > 0, zb, inf)
    a_front = za < zb * (1 - band)
    b_front = zb < za * (1 - band)
    return a_front, b_front


def warp_pair(rgb_a, depth_a, K_a, c2w_a, rgb_b, depth_b, K_b, c2w_b, K_t, c2w_t, out_hw):
    """Both neighbours warped into the target camera: dict of A, B (rgb), zA, zB (depth), mA, mB."""
    A, zA, mA = forward_warp(rgb_a, depth_a, K_a, c2w_a, K_t, c2w_t, out_hw)
    B, zB, mB = forward_warp(rgb_b, depth_b, K_b, c2w_b, K_t, c2w_t, out_hw)
    return {"A": A, "B": B, "zA": zA, "zB": zB, "mA": mA, "mB": mB}


def merge_warps(w: dict, t):
    """The no-learning merge of two warps: per pixel the nearer surface, a t-weighted blend where
    their depths agree. Returns (rgb with holes, weight of A, weight of B, mask)."""
    t = _t_map(t, w["A"])
    a_front, b_front = relative_depth_band(w["zA"], w["zB"])
    wa = w["mA"] * torch.where(a_front, 1.0, torch.where(b_front, 0.0, 1 - t))
    wb = w["mB"] * torch.where(b_front, 1.0, torch.where(a_front, 0.0, t))
    s = wa + wb
    mask = (s > 0).to(s.dtype)
    s = torch.where(s > 0, s, torch.ones_like(s))
    wa, wb = wa / s * mask, wb / s * mask
    rgb = wa * w["A"] + wb * w["B"]
    return rgb, wa, wb, mask


# A pixel only one source saw (the other's view of it is blocked or outside its frame) is that
# source's colour moved by exact geometry, but nothing checks it: it counts half.
SINGLE_SOURCE_TRUST = 0.5


def geometry_trust(w: dict) -> torch.Tensor:
    """(B, 1, H, W) in 0..1, how far a pixel of the in-between view can be trusted: where both
    warps hold the same surface, the agreement of their colours (1 when equal, 0.5 at
    ``flow.AGREE_TOL`` mean RGB difference: a glossy highlight or a ghost of a wrong depth does
    not agree); where one source alone holds the nearer surface, ``SINGLE_SOURCE_TRUST``; where
    neither does, 0. The warps' mask alone called every covered pixel certain, and on a sparse
    HDRI ring the field learned the ghosts of the 45-degree warps."""
    from .flow import AGREE_TOL

    a_front, b_front = relative_depth_band(w["zA"], w["zB"])
    both = (w["mA"] > 0) & (w["mB"] > 0) & ~a_front & ~b_front
    diff = (w["A"] - w["B"]).abs().mean(1, keepdim=True)
    agree = torch.exp(-math.log(2.0) * (diff / AGREE_TOL) ** 2)
    one = ((w["mA"] > 0) | (w["mB"] > 0)).to(diff.dtype)
    return torch.where(both, agree, one * SINGLE_SOURCE_TRUST)


def _t_map(t, like):
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        t = t.expand(like.shape[0])
    return t.view(-1, 1, 1, 1)


def plain_warp_interpolate(rgb_a, depth_a, K_a, c2w_a, rgb_b, depth_b, K_b, c2w_b, K_t, c2w_t, t, out_hw):
    """The no-learning baseline: z-buffer warp of both neighbours into the target camera, the nearer
    surface per pixel (t-weighted blend where depths agree), holes filled from their surroundings
    (push-pull). Returns rgb (B, C, H', W')."""
    w = warp_pair(rgb_a, depth_a, K_a, c2w_a, rgb_b, depth_b, K_b, c2w_b, K_t, c2w_t, out_hw)
    rgb, _, _, mask = merge_warps(w, t)
    return fill_holes(rgb, mask)
