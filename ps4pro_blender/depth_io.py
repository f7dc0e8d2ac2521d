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

from . import files
from .dataset import MAX_PIXELS  # a depth map is never larger than its image
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




def _check_size(path: str, w: int, h: int, size) -> None:
    """Before any pixel is decoded: a depth map of at most MAX_PIXELS, of ``size`` (w, h) when given."""
    if w * h > MAX_PIXELS or w <= 0 or h <= 0:
        raise JobError(f"Depth {path} is {w}x{h}, over the {MAX_PIXELS >> 20} megapixel limit",
                       hint="Re-capture the dataset, or scale its depth maps down")
    if size is not None and (w, h) != tuple(size):
        raise JobError(f"Depth {path} is {w}x{h}, the image {size[0]}x{size[1]}",
                       hint="Re-capture the dataset, or pass --ignore-depth to train from the images alone")


def _read_png(path: str, size=None) -> np.ndarray:
    from PIL import Image

    with Image.open(files.in_memory(path)) as im:
        w, h = im.size
        # nerfstudio's phone captures store PNG depth smaller than the image: only larger is wrong.
        larger = size is not None and w * h > size[0] * size[1]
        _check_size(path, w, h, size if larger else None)
        if im.mode not in ("I;16", "I;16L", "I;16B", "I"):
            raise JobError(f"Depth {path} is a {im.mode} image, not a 16-bit depth map",
                           hint="PNG depth must be one 16-bit channel in millimetres (nerfstudio's format)")
        depth = np.asarray(im).astype(np.float32)
    return np.where(depth > 0, depth, np.nan)  # 0: the sensor measured nothing there


def _read_npy(path: str, size=None) -> np.ndarray:
    """A float ``.npy`` depth map, its header checked against the file before the data is read (a
    header can claim any shape)."""
    with files.open_regular(path) as f:
        version = np.lib.format.read_magic(f)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise JobError(f"Depth {path} is an NPY file of version {version}", hint="Save it with numpy.save")
        shape, fortran, dtype = readers[version](f)
        if dtype.hasobject or dtype.kind not in "fiu" or len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] > 4):
            raise JobError(f"Depth {path} holds {dtype} values of shape {shape}",
                           hint="NPY depth must be one float value per pixel (H, W)")
        _check_size(path, shape[1], shape[0], size)
        count = int(np.prod(shape))
        data = f.read(count * dtype.itemsize + 1)
    if len(data) != count * dtype.itemsize:
        raise JobError(f"Depth {path} is truncated or has trailing data", hint="The file is damaged; re-capture the dataset")
    depth = np.frombuffer(data, dtype=dtype, count=count)
    return depth.reshape(shape[::-1]).T if fortran else depth.reshape(shape)


def _read_exr(path: str, channel: str | None, size=None) -> np.ndarray:
    import OpenEXR

    files.open_regular(path).close()  # a FIFO would block OpenEXR's own open
    with OpenEXR.File(path, header_only=True) as f:  # the size, before any pixel is read
        (x0, y0), (x1, y1) = (tuple(int(v) for v in corner) for corner in f.header()["dataWindow"])
    _check_size(path, x1 - x0 + 1, y1 - y0 + 1, size)
    with OpenEXR.File(path) as f:
        channels = f.channels()
        return channels[_exr_channel(channels, channel)].pixels


def read_depth(path: str, channel: str | None = None, scale: float | None = None, size=None) -> np.ndarray:
    """(H, W) float32 planar depth in scene units; row 0 is the top of the image. ``scale``: units
    per stored value (nerfstudio's ``depth_unit_scale_factor``); None: the format's own (1e-3 for
    PNG, 1 otherwise). ``size`` (w, h): the image's, which EXR and NPY depth must match and PNG
    depth may not exceed; checked before the depth is decoded."""
    if not os.path.exists(path):
        raise JobError(f"Missing depth file {path}", hint="Re-capture the dataset with depth")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".png":
            depth = _read_png(path, size)
            scale = PNG_SCALE if scale is None else scale
        elif ext == ".npy":
            depth = _read_npy(path, size)
        elif ext == ".exr":
            depth = _read_exr(path, channel, size)
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
    size = (frame.w, frame.h) if getattr(frame, "w", None) else None
    return read_depth(frame.depth_path, channel, getattr(frame, "depth_scale", None), size)


def valid_mask(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0) & (depth < BACKGROUND)
