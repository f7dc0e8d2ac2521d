"""The pixels of a dataset's frames, as the backend trains and evaluates on them: the RGBA image,
planar depth in scene units (NaN where nothing was measured, +inf where the pixel saw no surface:
Blender's world behind the scene) and a synthetic view's confidence.
Sizes are checked against the frame before pixels are decoded (``dataset.open_image``)."""

from __future__ import annotations

import os

import numpy as np

from . import dataset as ds
from . import depth_io
from .protocol import JobError


def load_view(frame: ds.Frame, depth_channel=None, with_depth=True):
    rgba = ds.load_rgba(frame.image_path, (frame.w, frame.h))  # the size is checked before decoding
    name = os.path.basename(frame.image_path)
    depth = None
    if with_depth and frame.depth_path:
        try:
            depth = depth_io.read_frame_depth(frame, depth_channel)
        except JobError as exc:
            raise JobError(exc.message, hint=f"{exc.hint}; or pass --ignore-depth to train from the images alone",
                           code=exc.code) from exc
        if depth.shape != rgba.shape[:2] and frame.depth_path.lower().endswith(".png"):
            # nerfstudio's phone captures (Record3D, Polycam) store depth smaller than the image;
            # nerfstudio scales it to the image, nearest neighbour, and so do we.
            rows = (np.arange(rgba.shape[0]) + 0.5) * depth.shape[0] // rgba.shape[0]
            cols = (np.arange(rgba.shape[1]) + 0.5) * depth.shape[1] // rgba.shape[1]
            depth = depth[rows.astype(int)[:, None], cols.astype(int)]
        if depth.shape != rgba.shape[:2]:
            raise JobError(f"Depth for {name} is {depth.shape[1]}x{depth.shape[0]}, the image {rgba.shape[1]}x{rgba.shape[0]}",
                           hint="Re-capture the dataset, or pass --ignore-depth to train from the images alone")
        far = ~np.isnan(depth) & (depth >= depth_io.BACKGROUND)
        depth = np.where(depth_io.valid_mask(depth), depth, np.where(far, np.inf, np.nan)).astype(np.float32)
    return rgba, depth


def load_confidence(frame: ds.Frame):
    """A synthetic view's per-pixel confidence (0..1), or None (every pixel counts fully)."""
    path = frame.extra.get("confidence_file_path")
    if not path:
        return None
    from PIL import Image

    name = os.path.basename(frame.image_path)
    try:
        with ds.open_image(path, f"The confidence image of {name}", (frame.w, frame.h)) as im:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except JobError as exc:
        raise JobError(exc.message, hint="Augment the dataset again, or remove confidence_file_path from the frame") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise JobError(f"Cannot read the confidence image of {name}: {exc}",
                       hint="Augment the dataset again, or remove confidence_file_path from the frame") from None
