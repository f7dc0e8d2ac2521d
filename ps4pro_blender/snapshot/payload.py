"""The fixed snapshot layout and the payload's three forms.

A snapshot holds one tri-plane of ``PLANES`` x ``CHANNELS`` x ``RES`` x ``RES`` features (the shared
decoder turns them into density and colour), quantised to 8-bit codes (``quantize.py``):

- ``planes``  (3, C, R, R) float features;
- ``codes``   the same shape in uint8 (with the per-channel ranges in the header's layout): the
              exact payload, 98,304 bytes;
- ``secret``  (1, 6, 2R, 2R) float around 0: what the hiding network hides. Each plane's eight
              channels become two secret channels, each a 2 x 2 mosaic of four channel maps, so
              that the secret stays spatially smooth (easier to hide than an interleaving).

The cover is ``COVER`` x ``COVER``: its Haar sub-bands are 2R x 2R, the secret's size.
"""

from __future__ import annotations

import numpy as np

PLANES = 3
CHANNELS = 8
RES = 64
COVER = 4 * RES  # 256: Haar sub-bands of 2R x 2R
SHAPE = (PLANES, CHANNELS, RES, RES)
NBYTES = PLANES * CHANNELS * RES * RES


def codes_to_secret(codes: np.ndarray) -> np.ndarray:
    """(3, 8, R, R) uint8 -> (6, 2R, 2R) float32 in -0.5..0.5."""
    c = np.asarray(codes, dtype=np.float32).reshape(PLANES * 2, 2, 2, RES, RES)  # (6, mosaic row, col, R, R)
    mosaic = c.transpose(0, 1, 3, 2, 4).reshape(PLANES * 2, 2 * RES, 2 * RES)
    return mosaic / 255.0 - 0.5


def secret_to_codes(secret: np.ndarray) -> np.ndarray:
    """The inverse of :func:`codes_to_secret`, rounding to the nearest code."""
    s = np.asarray(secret, dtype=np.float32).reshape(PLANES * 2, 2, RES, 2, RES).transpose(0, 1, 3, 2, 4)
    codes = np.round((s + 0.5) * 255.0)
    return np.clip(codes, 0, 255).astype(np.uint8).reshape(SHAPE)


def channel_means(codes: np.ndarray) -> list[float]:
    """Mean code per plane channel: a cheap fingerprint kept in the header, to notice a payload
    that came back damaged (e.g. the PNG was edited)."""
    return np.round(np.asarray(codes, dtype=np.float64).reshape(PLANES * CHANNELS, -1).mean(1), 2).tolist()
