"""Tri-plane features as 8-bit codes: the payload a snapshot hides.

Each channel of each plane is mapped linearly from its own [lo, hi] range (robust: the 0.1 and
99.9 percentiles, so that a few outliers do not waste the 256 levels) to 0..255. The ranges go in
the snapshot header's layout, so the codes alone are the payload.
"""

from __future__ import annotations

import numpy as np

LEVELS = 255


def quantize(planes: np.ndarray, clip_percentile: float = 0.1) -> tuple[np.ndarray, dict]:
    """(3, C, R, R) float planes -> uint8 codes of the same shape and the layout to undo it."""
    planes = np.asarray(planes, dtype=np.float32)
    if planes.ndim != 4 or planes.shape[0] != 3 or planes.shape[2] != planes.shape[3]:
        raise ValueError(f"planes must be (3, C, R, R), not {planes.shape}")
    flat = planes.reshape(3, planes.shape[1], -1)
    lo = np.percentile(flat, clip_percentile, axis=2)
    hi = np.percentile(flat, 100 - clip_percentile, axis=2)
    hi = np.where(hi - lo < 1e-6, lo + 1e-6, hi)
    codes = np.round((planes - lo[..., None, None]) / (hi - lo)[..., None, None] * LEVELS)
    layout = {"kind": "triplane-u8", "shape": [int(v) for v in planes.shape],
              "lo": np.round(lo, 7).tolist(), "hi": np.round(hi, 7).tolist()}
    return np.clip(codes, 0, LEVELS).astype(np.uint8), layout


def dequantize(codes: np.ndarray, layout: dict) -> np.ndarray:
    lo = np.asarray(layout["lo"], dtype=np.float32)
    hi = np.asarray(layout["hi"], dtype=np.float32)
    codes = np.asarray(codes).reshape(layout["shape"]).astype(np.float32)
    return lo[..., None, None] + codes / LEVELS * (hi - lo)[..., None, None]
