"""Depth maps as captured by Blender: planar depth (along the view axis), background 1e10.

Stored as float OpenEXR (a single channel or a multilayer file's ``<layer>.Depth.Z``) or as a
float32 ``.npy`` (read with ``allow_pickle=False``: never unpickle a user's file). nerfstudio
datasets (Record3D, Polycam, ...) store 16-bit PNG in millimetres: value x ``depth_unit_scale_factor``
(default 1e-3) is metres, 0 is no depth. Their depth is planar too (nerfstudio's depth models
take z-depth unless told it is Euclidean), and the poses are in metres, so it needs no conversion.
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


PNG_SCALE = 1e-3  # nerfstudio's default: millimetres


def _read_png(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("I;16", "I;16L", "I;16B", "I"):
            raise JobError(f"Depth {path} is a {im.mode} image, not a 16-bit depth map",
                           hint="PNG depth must be one 16-bit channel in millimetres (nerfstudio's format)")
        depth = np.asarray(im).astype(np.float32)
    return np.where(depth > 0, depth, np.nan)  # 0: the sensor measured nothing there


def read_depth(path: str, channel: str | None = None, scale: float | None = None) -> np.ndarray:
    """(H, W) float32 planar depth in scene units; row 0 is the top of the image. ``scale``: units
    per stored value (nerfstudio's ``depth_unit_scale_factor``); None: the format's own (1e-3 for
    PNG, 1 otherwise)."""
    if not os.path.exists(path):
        raise JobError(f"Missing depth file {path}", hint="Re-capture the dataset with depth")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".png":
            depth = _read_png(path)
            scale = PNG_SCALE if scale is None else scale
        elif ext == ".npy":
            depth = np.load(path, allow_pickle=False)
        elif ext == ".exr":
            import OpenEXR

            with OpenEXR.File(path) as f:
                channels = f.channels()
                name = _exr_channel(channels, channel)
                depth = channels[name].pixels
        else:
            raise JobError(f"Unknown depth format {path}", hint="Depth must be .exr, .npy or 16-bit .png")
    except JobError:
        raise
    except Exception as exc:
        raise JobError(f"Cannot read depth {path}: {exc}", hint="The file is damaged; re-capture the dataset")
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise JobError(f"Depth {path} has shape {depth.shape}", hint="Depth must be one value per pixel")
    if scale is not None and scale != 1.0:  # only real depth: 1e10 must stay "no surface"
        depth = np.where(valid_mask(depth), depth * np.float32(scale), depth)
    return depth


def read_frame_depth(frame, channel: str | None = None) -> np.ndarray:
    """A dataset frame's depth in scene units (its ``depth_scale`` applied)."""
    return read_depth(frame.depth_path, channel, getattr(frame, "depth_scale", None))


def valid_mask(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0) & (depth < BACKGROUND)
