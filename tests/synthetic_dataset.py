"""A small dataset with exact depth, made without Blender: cameras above a coloured plane z = 0.

Used by backend tests and, through the backend's Python, by Blender-side job tests that need a
dataset but not a render. ``python tests/synthetic_dataset.py OUT_DIR [N_VIEWS]``.
"""

import json
import math
import os
import sys

import numpy as np
from PIL import Image

W, H, FX = 64, 48, 60.0


def look_at(eye, target, up=(0.0, 0.0, 1.0)):
    """Camera-to-world with Blender camera axes (-Z forward, +Y up)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    back = eye - target
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    if np.linalg.norm(right) < 1e-9:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    cam_up = np.cross(back, right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, cam_up, back, eye
    return m


def plane_depth(c2w, fx, fy, cx, cy, w, h):
    """Planar depth of the plane z = 0, 1e10 where a ray misses it (or hits it from behind)."""
    u = (np.arange(w) + 0.5 - cx) / fx
    v = (np.arange(h) + 0.5 - cy) / fy
    uu, vv = np.meshgrid(u, v)
    dirs = np.stack([uu, -vv, -np.ones_like(uu)], -1) @ c2w[:3, :3].T  # ray per unit planar depth
    origin_z = c2w[2, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -origin_z / dirs[..., 2]
    hit = np.isfinite(t) & (t > 0)
    points = c2w[:3, 3] + dirs * np.where(hit, t, 0)[..., None]
    hit &= (np.abs(points[..., 0]) <= 1) & (np.abs(points[..., 1]) <= 1)  # a 2 x 2 plane
    return np.where(hit, t, 1e10).astype(np.float32), points


def render_view(c2w, w=W, h=H, fx=FX):
    """RGBA uint8 image and planar depth of the plane as seen from ``c2w``."""
    depth, points = plane_depth(c2w, fx, fx, w / 2.0, h / 2.0, w, h)
    hit = depth < 1e9
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = np.clip((points[..., 0] + 1) * 127.5, 0, 255)  # colour encodes position
    rgb[..., 1] = np.clip((points[..., 1] + 1) * 127.5, 0, 255)
    rgb[..., 2] = 128
    alpha = np.where(hit, 255, 0).astype(np.uint8)
    return np.dstack([rgb, alpha]), depth


def make(out_dir, n_views=6, depth_format="npy"):
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "depth"), exist_ok=True)
    frames = []
    cx, cy = W / 2.0, H / 2.0
    for i in range(n_views):
        angle = 2 * math.pi * i / n_views
        c2w = look_at((1.5 * math.cos(angle), 1.5 * math.sin(angle), 2.0), (0, 0, 0))
        rgba, depth = render_view(c2w)
        name = f"{i:04d}"
        Image.fromarray(rgba, "RGBA").save(os.path.join(out_dir, "images", name + ".png"))
        np.save(os.path.join(out_dir, "depth", name + ".npy"), depth)
        frames.append(
            {
                "file_path": f"images/{name}.png",
                "depth_file_path": f"depth/{name}.npy",
                "transform_matrix": c2w.tolist(),
                "split": "test" if i % 4 == 3 else "train",
                "frame": i,
            }
        )
    meta = {
        "camera_angle_x": 2 * math.atan(W / (2 * FX)),
        "fl_x": FX, "fl_y": FX, "cx": cx, "cy": cy, "w": W, "h": H,
        "aabb": [[-1, -1, -0.1], [1, 1, 0.1]],
        "ps4pro": {"version": 1, "depth": {"format": depth_format, "kind": "planar", "background": 1e10}},
        "frames": frames,
    }
    with open(os.path.join(out_dir, "transforms.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return out_dir


if __name__ == "__main__":
    make(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6)
