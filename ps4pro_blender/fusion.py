"""``fuse-depth``: back-project every view's depth into one coloured, voxel-downsampled point cloud."""

from __future__ import annotations

import os

import numpy as np

from . import dataset as ds
from . import depth_io, ply
from .cli import Command
from .configs import FuseDepthConfig
from .protocol import JobError

# A pixel whose depth differs from a 4-neighbour's by more than this fraction sits on a
# silhouette: its colour mixes foreground and background, so it is left out.
EDGE_JUMP = 0.05
ALPHA_MIN = 0.5


def backproject(frame: ds.Frame, depth: np.ndarray) -> np.ndarray:
    """World points (H, W, 3) for planar depth, with pixel centres at +0.5."""
    h, w = depth.shape
    u = (np.arange(w, dtype=np.float64) + 0.5 - frame.cx) / frame.fx
    v = (np.arange(h, dtype=np.float64) + 0.5 - frame.cy) / frame.fy
    uu, vv = np.meshgrid(u, v)
    z = depth.astype(np.float64)
    # Camera axes: +X right, +Y up, -Z forward; image rows grow downwards.
    cam = np.stack([uu * z, -vv * z, -z], axis=-1)
    return cam @ frame.c2w[:3, :3].T + frame.c2w[:3, 3]


def edge_mask(depth: np.ndarray) -> np.ndarray:
    """True where a pixel's depth is continuous with its 4-neighbours."""
    ok = np.ones(depth.shape, dtype=bool)
    d = depth.astype(np.float64)
    for axis in (0, 1):
        jump = np.abs(np.diff(d, axis=axis)) > EDGE_JUMP * np.minimum(
            np.delete(d, -1, axis=axis), np.delete(d, 0, axis=axis)
        )
        pad_before = [(0, 0), (0, 0)]
        pad_after = [(0, 0), (0, 0)]
        pad_before[axis] = (1, 0)
        pad_after[axis] = (0, 1)
        ok &= ~np.pad(jump, pad_before) & ~np.pad(jump, pad_after)
    return ok


class VoxelAccumulator:
    """Running per-voxel sums of position and colour, merged as views come in."""

    def __init__(self, voxel: float, origin: np.ndarray):
        self.voxel = voxel
        self.origin = origin
        self.keys = np.empty(0, dtype=np.int64)
        self.sums = np.empty((0, 7), dtype=np.float64)  # x y z r g b count

    def _key(self, points: np.ndarray) -> np.ndarray:
        ijk = np.floor((points - self.origin) / self.voxel).astype(np.int64)
        ijk = np.clip(ijk, 0, (1 << 21) - 1)
        return (ijk[:, 0] << 42) | (ijk[:, 1] << 21) | ijk[:, 2]

    def add(self, points: np.ndarray, colors: np.ndarray) -> None:
        rows = np.concatenate([points, colors, np.ones((len(points), 1))], axis=1)
        keys = np.concatenate([self.keys, self._key(points)])
        rows = np.concatenate([self.sums, rows])
        self.keys, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.ravel()
        self.sums = np.stack(
            [np.bincount(inverse, weights=rows[:, c], minlength=len(self.keys)) for c in range(7)], axis=1
        )

    def result(self, min_count: int = 1):
        keep = self.sums[:, 6] >= min_count
        s = self.sums[keep]
        points = (s[:, :3] / s[:, 6:7]).astype(np.float32)
        colors = np.clip(np.round(s[:, 3:6] / s[:, 6:7] * 255.0), 0, 255).astype(np.uint8)
        return points, colors, s[:, 6].astype(np.float32)


def fuse(data: ds.Dataset, voxel_size: float = 0.0, ctx=None):
    """Points (N, 3) float32, colours (N, 3) uint8, views per point (N,) float32, voxel size."""
    frames = [f for f in data.frames if f.depth_path]
    if not frames:
        raise JobError(
            "The dataset has no depth maps",
            hint="Capture with Depth set to EXR or NPY (Capture > Depth)",
        )
    channel = data.depth.get("exr_channel")
    if data.aabb is not None:
        lo, hi = data.aabb
    else:  # no bounds in the file: take them from the first view's points
        first = frames[0]
        depth = depth_io.read_frame_depth(first, channel)
        pts = backproject(first, depth)[depth_io.valid_mask(depth)]
        if len(pts) == 0:
            raise JobError("The first view sees no surface", hint="Check the capture's depth")
        lo, hi = pts.min(0), pts.max(0)
    diagonal = float(np.linalg.norm(np.asarray(hi) - np.asarray(lo)))
    voxel = voxel_size if voxel_size > 0 else max(diagonal, 1e-6) / 256.0
    # Pad the origin so points slightly outside the stated bounds still get valid keys.
    acc = VoxelAccumulator(voxel, np.asarray(lo, dtype=np.float64) - 0.5 * diagonal - voxel)
    for i, frame in enumerate(frames):
        if ctx:
            ctx.progress("Fusing depth", i, len(frames))
        depth = depth_io.read_frame_depth(frame, channel)
        rgba = ds.load_rgba(frame.image_path)
        if rgba.shape[:2] != depth.shape:
            raise JobError(
                f"Image and depth sizes differ for {os.path.basename(frame.image_path)}: "
                f"{rgba.shape[1]}x{rgba.shape[0]} vs {depth.shape[1]}x{depth.shape[0]}",
                hint="Re-capture the dataset",
            )
        mask = depth_io.valid_mask(depth) & edge_mask(depth) & (rgba[..., 3] >= ALPHA_MIN)
        if not mask.any():
            continue
        points = backproject(frame, depth)[mask]
        # Colours of partly transparent pixels are premultiplied-looking at the edges; alpha
        # above ALPHA_MIN keeps them close to the surface colour.
        acc.add(points, rgba[..., :3][mask].astype(np.float64))
    if ctx:
        ctx.progress("Fusing depth", len(frames), len(frames))
    points, colors, counts = acc.result()
    if len(points) == 0:
        raise JobError("No view sees any surface", hint="Check that the captured objects are in view")
    return points, colors, counts, voxel


def run(ctx, args) -> dict:
    data = ds.load(args.dataset)
    out = os.path.abspath(args.out or os.path.join(ctx.job_dir or os.getcwd(), "points.ply"))
    try:
        os.makedirs(os.path.dirname(out), exist_ok=True)
    except OSError as exc:
        raise JobError(f"Cannot write to {os.path.dirname(out)}: {exc.strerror}", hint="Choose a writable folder")
    points, colors, counts, voxel = fuse(data, args.voxel_size, ctx)
    ctx.check_cancel()
    ply.write_ply(out, points, colors, extra={"views": counts})  # atomic: temp name, then rename
    return {
        "points": out,
        "num_points": int(len(points)),
        "voxel_size": voxel,
        "num_views": len([f for f in data.frames if f.depth_path]),
        "dataset": data.root,
    }


COMMAND = Command(
    name="fuse-depth",
    help="back-project the depth of every view into one coloured point cloud (PLY)",
    config=FuseDepthConfig,
    run=run,
)
