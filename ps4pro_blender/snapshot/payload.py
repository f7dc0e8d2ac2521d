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
METHODS = ("inn", "lsb")  # how the codes are hidden: methods.py
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


SKETCH_SIZE = 64


def _sketch_hash() -> tuple[np.ndarray, np.ndarray]:
    # splitmix64 of each code's index: a fixed, well-mixed bucket and sign that no library version
    # can change (the header keeps sketches, so encoder and decoder must agree forever).
    z = np.arange(NBYTES, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    bucket = (z % np.uint64(SKETCH_SIZE)).astype(np.int64)
    sign = np.where((z >> np.uint64(63)) == 1, -1.0, 1.0)
    return bucket, sign


def sketch(codes: np.ndarray) -> list[float]:
    """A count sketch of the codes: SKETCH_SIZE signed bucket sums. For two payloads a and b,
    the mean square of their sketches' difference estimates mean((a - b)^2) (within about 20%),
    so a header-sized fingerprint tells how far a payload moved, not just whether it did."""
    bucket, sign = _sketch_hash()
    c = np.asarray(codes, dtype=np.float64).reshape(-1)
    s = np.bincount(bucket, weights=sign * c, minlength=SKETCH_SIZE) / np.sqrt(NBYTES / SKETCH_SIZE)
    return np.round(s, 3).tolist()


def sketch_distance(a, b) -> float:
    """Estimated root-mean-square difference, in codes, between the payloads of two sketches."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean(d ** 2)))
