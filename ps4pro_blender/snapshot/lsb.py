"""The exact baseline: payload bytes in the ``bits`` lowest bits of every RGB value of the cover.

Lossless through a PNG file (the file stores the 8-bit values exactly); the cover's PSNR falls by
about 6 dB per extra bit. ``bits_needed`` picks the fewest bits that hold the payload.
"""

from __future__ import annotations

import numpy as np


def capacity(shape, bits: int) -> int:
    """Bytes that fit in a cover of ``shape`` (H, W, 3) with ``bits`` bits per value."""
    h, w, c = shape
    return h * w * c * bits // 8


def bits_needed(shape, nbytes: int) -> int | None:
    for bits in range(1, 9):
        if capacity(shape, bits) >= nbytes:
            return bits
    return None


def embed(cover: np.ndarray, payload: bytes, bits: int) -> np.ndarray:
    """The cover (H, W, 3) uint8 with ``payload`` in its low bits (the rest of the low bits kept)."""
    cover = np.asarray(cover, dtype=np.uint8)
    if len(payload) > capacity(cover.shape, bits):
        raise ValueError(f"{len(payload)} bytes do not fit in {cover.shape} at {bits} bits")
    stream = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))  # MSB first
    pad = (-len(stream)) % bits
    groups = np.concatenate([stream, np.zeros(pad, np.uint8)]).reshape(-1, bits)
    values = (groups * (1 << np.arange(bits - 1, -1, -1, dtype=np.uint8))).sum(1).astype(np.uint8)
    flat = cover.reshape(-1).copy()
    mask = np.uint8((0xFF << bits) & 0xFF)
    flat[: len(values)] = (flat[: len(values)] & mask) | values
    return flat.reshape(cover.shape)


def extract(stego: np.ndarray, nbytes: int, bits: int) -> bytes:
    flat = np.asarray(stego, dtype=np.uint8).reshape(-1)
    n_values = -(-nbytes * 8 // bits)
    if n_values > flat.size:
        raise ValueError("the image is too small for the stated payload")
    values = flat[:n_values] & np.uint8((1 << bits) - 1)
    bitsarr = ((values[:, None] >> np.arange(bits - 1, -1, -1, dtype=np.uint8)) & 1).reshape(-1)[: nbytes * 8]
    return np.packbits(bitsarr).tobytes()
