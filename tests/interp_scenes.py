"""Analytic scenes with exact depth for the interpolation tests, made without Blender.

A textured ground plane, a few textured spheres and a background that depends only on the ray
direction (an "HDRI"), ray-cast in numpy with Blender camera axes (−Z forward, +Y up), pixel
centres at +0.5 and planar depth (background 1e10). ``make_clip`` writes a capture dataset like the
ones Blender renders for training: frames along a smooth orbit, ``step_deg`` apart.

``python tests/interp_scenes.py OUT_DIR [N_CLIPS]`` writes clip_0000 … and an index.json.
"""

import json
import math
import os
import sys

import numpy as np
from PIL import Image

from synthetic_dataset import look_at

BG = 1e10


def sky(dirs):
    """Background colour from the ray direction only (an environment map)."""
    d = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    az = np.arctan2(d[..., 1], d[..., 0])
    el = d[..., 2]
    r = 0.45 + 0.25 * el + 0.15 * np.sin(6 * az)
    g = 0.55 + 0.2 * el + 0.1 * np.cos(9 * az + 1.0)
    b = 0.75 + 0.2 * el + 0.08 * (np.sin(23 * az) > 0)
    return np.clip(np.stack([r, g, b], -1), 0, 1)


def texture(p, k):
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    s = np.sin
    if k == 0:  # ground: checker + waves
        chk = ((np.floor(x * 4) + np.floor(y * 4)) % 2)
        return np.stack([0.3 + 0.4 * chk + 0.1 * s(13 * y), 0.35 + 0.2 * s(7 * x) * s(5 * y), 0.25 + 0.3 * chk], -1)
    phase = 1.7 * k
    return np.stack([
        0.5 + 0.4 * s(11 * x + phase) * s(9 * z),
        0.5 + 0.4 * s(8 * y + 2 * phase),
        0.5 + 0.4 * s(10 * z + 3 * phase) * np.cos(6 * x),
    ], -1)


def scene(seed=0):
    rng = np.random.default_rng(seed)
    spheres = []
    for k in range(1, 5):
        r = rng.uniform(0.2, 0.45)
        c = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), r + rng.uniform(0, 0.4)])
        spheres.append((c, r, k))
    return {"plane_half": 2.0, "spheres": spheres}


def render(sc, c2w, fx, fy, cx, cy, w, h, ss=2):
    """(h, w, 3) float rgb in 0..1 and (h, w) planar depth, ``ss``×``ss`` supersampled colour."""
    rgb = np.zeros((h, w, 3))
    for sy in range(ss):
        for sx in range(ss):
            c, d = _cast(sc, c2w, fx, fy, cx, cy, w, h, (sx + 0.5) / ss, (sy + 0.5) / ss)
            rgb += c
    _, depth = _cast(sc, c2w, fx, fy, cx, cy, w, h, 0.5, 0.5)
    return rgb / (ss * ss), depth.astype(np.float32)


def _cast(sc, c2w, fx, fy, cx, cy, w, h, ox, oy):
    u = (np.arange(w) + ox - cx) / fx
    v = (np.arange(h) + oy - cy) / fy
    uu, vv = np.meshgrid(u, v)
    dirs = np.stack([uu, -vv, -np.ones_like(uu)], -1) @ c2w[:3, :3].T  # per unit planar depth
    o = c2w[:3, 3]
    best = np.full((h, w), np.inf)
    col = sky(dirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -o[2] / dirs[..., 2]
    p = o + dirs * np.where(np.isfinite(t), t, 0)[..., None]
    hit = np.isfinite(t) & (t > 0) & (np.abs(p[..., 0]) <= sc["plane_half"]) & (np.abs(p[..., 1]) <= sc["plane_half"])
    best = np.where(hit, t, best)
    col = np.where(hit[..., None], texture(p, 0), col)
    for c, r, k in sc["spheres"]:
        oc = o - c
        a = np.sum(dirs * dirs, -1)
        b = np.sum(dirs * oc, -1)
        cc = oc @ oc - r * r
        disc = b * b - a * cc
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / a
        hit = (disc > 0) & (t > 0) & (t < best)
        best = np.where(hit, t, best)
        p = o + dirs * np.where(hit, t, 0)[..., None]
        n = (p - c) / r
        shade = 0.6 + 0.4 * np.clip(n[..., 2], 0, 1)  # lambert-ish from above: view-independent
        col = np.where(hit[..., None], texture(p, k) * shade[..., None], col)
    depth = np.where(np.isfinite(best), best, BG)
    return col, depth


def make_clip(out_dir, seed=0, n_frames=25, step_deg=3.0, w=160, h=120, fov_deg=50.0):
    """A capture dataset: ``n_frames`` views on an orbit, consecutive views ``step_deg`` apart."""
    rng = np.random.default_rng(seed + 1000)
    sc = scene(seed)
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "depth"), exist_ok=True)
    fx = 0.5 * w / math.tan(math.radians(fov_deg) / 2)
    cx, cy = w / 2.0, h / 2.0
    radius, height, a0 = rng.uniform(3.0, 4.0), rng.uniform(1.2, 2.2), rng.uniform(0, 2 * math.pi)
    frames = []
    for i in range(n_frames):
        a = a0 + math.radians(step_deg) * i
        c2w = look_at((radius * math.cos(a), radius * math.sin(a), height), (0, 0, 0.3))
        rgb, depth = render(sc, c2w, fx, fx, cx, cy, w, h)
        name = f"{i:04d}"
        img = np.dstack([np.round(rgb * 255).astype(np.uint8), np.full((h, w), 255, np.uint8)])
        Image.fromarray(img, "RGBA").save(os.path.join(out_dir, "images", name + ".png"))
        np.save(os.path.join(out_dir, "depth", name + ".npy"), depth)
        frames.append({"file_path": f"images/{name}.png", "depth_file_path": f"depth/{name}.npy",
                       "transform_matrix": c2w.tolist()})
    meta = {"camera_angle_x": 2 * math.atan(w / (2 * fx)), "fl_x": fx, "fl_y": fx, "cx": cx, "cy": cy, "w": w, "h": h,
            "ps4pro": {"version": 1, "depth": {"format": "npy", "kind": "planar", "background": BG}}, "frames": frames}
    with open(os.path.join(out_dir, "transforms.json"), "w") as f:
        json.dump(meta, f)
    return out_dir


def make_clips(root, n_clips=2, seed=0, **kw):
    names = []
    for i in range(n_clips):
        name = f"clip_{i:04d}"
        make_clip(os.path.join(root, name), seed=seed + i, **kw)
        names.append(name)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"clips": names}, f)
    return root


if __name__ == "__main__":
    make_clips(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
