"""Depth maps as captured by Blender: planar depth (along the view axis), background 1e10.

Stored as float OpenEXR (a single channel or a multilayer file's ``<layer>.Depth.Z``) or as a
float32 ``.npy`` (read with ``allow_pickle=False``: never unpickle a user's file).
"""

from __future__ import annotations

import os

import numpy as np

from .protocol import JobError

BACKGROUND = 1e9  # anything at or beyond this is "no surface"


def _exr_channel(channels: dict, hint: str | None) -> str:
    names = list(channels)
    if hint and hint in channels:
        return hint
    for test in (
        lambda n: n.endswith("Depth.Z"),
        lambda n: n == "Z" or n.endswith(".Z"),
        lambda n: n.endswith("Depth.V") or n == "V",
        lambda n: n in ("R", "Y"),
    ):
        found = [n for n in names if test(n)]
        if found:
            return found[0]
    if len(names) == 1:
        return names[0]
    raise JobError(f"No depth channel among {names}", hint="Capture with Depth set to EXR or NPY")


def read_depth(path: str, channel: str | None = None) -> np.ndarray:
    """(H, W) float32 planar depth; row 0 is the top of the image."""
    if not os.path.exists(path):
        raise JobError(f"Missing depth file {path}", hint="Re-capture the dataset with depth")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            depth = np.load(path, allow_pickle=False)
        elif ext == ".exr":
            import OpenEXR

            with OpenEXR.File(path) as f:
                channels = f.channels()
                name = _exr_channel(channels, channel)
                depth = channels[name].pixels
        else:
            raise JobError(f"Unknown depth format {path}", hint="Depth must be .exr or .npy")
    except JobError:
        raise
    except Exception as exc:
        raise JobError(f"Cannot read depth {path}: {exc}", hint="The file is damaged; re-capture the dataset")
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise JobError(f"Depth {path} has shape {depth.shape}", hint="Depth must be one value per pixel")
    return depth


def valid_mask(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0) & (depth < BACKGROUND)
