"""Hiding the payload codes in a cover and getting them back, by either method.

- ``inn``: the invertible hiding network (``hiding.py``); the cover barely changes, the codes come
  back with small errors (measured when encoding and reported).
- ``lsb``: the exact baseline (``lsb.py``) on the zlib-compressed codes; bit-exact, but the cover
  changes more (about 6 dB of PSNR per extra low bit).

Both work on the fixed layout of ``payload.py`` and a ``payload.COVER``-sized RGB cover.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from ..protocol import JobError
from . import lsb, payload

METHODS = payload.METHODS


def _tensor(img_u8: np.ndarray, net) -> torch.Tensor:
    # A copy: images read from a file can be read-only arrays, which torch will not wrap. On the
    # network's device, which is the GPU when encode or decode run there.
    device = next(net.parameters()).device
    return torch.from_numpy(np.array(img_u8, dtype=np.uint8)).to(device).permute(2, 0, 1)[None].float() / 255.0


@torch.no_grad()
def hide(method: str, cover: np.ndarray, codes: np.ndarray, net=None) -> tuple[np.ndarray, dict]:
    """The stego pixels (H, W, 3) uint8 and what the header's layout must add to undo it."""
    if method == "inn":
        x = _tensor(cover, net)
        secret = torch.from_numpy(payload.codes_to_secret(codes))[None].to(x.device)
        stego, _ = net.hide(x, secret)
        pixels = np.round(stego.clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy() * 255.0).astype(np.uint8)
        return pixels, {}
    if method == "lsb":
        data = zlib.compress(np.ascontiguousarray(codes).tobytes(), 9)
        bits = lsb.bits_needed(cover.shape, len(data))
        if bits is None:
            raise JobError(f"The payload ({len(data)} bytes) does not fit in a {cover.shape[1]}x{cover.shape[0]} cover",
                           hint="Use a larger cover")
        return lsb.embed(cover, data, bits), {"compression": "zlib", "nbytes": len(data), "bits": bits}
    raise JobError(f"Unknown snapshot method {method!r}", hint=f"Use one of {', '.join(METHODS)}")


@torch.no_grad()
def reveal(method: str, pixels: np.ndarray, layout: dict, net=None) -> np.ndarray:
    """The codes (3, C, R, R) uint8 hidden in ``pixels``; a clear error where they cannot be read."""
    if tuple(pixels.shape) != (payload.COVER, payload.COVER, 3):
        raise JobError(f"A snapshot is {payload.COVER}x{payload.COVER}; this one is {pixels.shape[1]}x{pixels.shape[0]}",
                       hint="Use the original PNG that Snapshot Encode wrote")
    if method == "inn":
        secret = net.reveal(_tensor(pixels, net))[0].cpu().numpy()
        return payload.secret_to_codes(secret)
    if method == "lsb":
        nbytes, bits = layout.get("nbytes"), layout.get("bits")
        if not isinstance(nbytes, int) or not isinstance(bits, int) or not 1 <= bits <= 8 or nbytes <= 0:
            raise JobError("The snapshot header's LSB layout is damaged", hint="Use the original PNG that Snapshot Encode wrote")
        try:
            inflate = zlib.decompressobj()
            # Never more than a payload's bytes (plus one, to notice more): a hostile file cannot
            # make the reader inflate gigabytes.
            data = inflate.decompress(lsb.extract(pixels, nbytes, bits), payload.NBYTES + 1)
        except (zlib.error, ValueError):
            raise JobError("The hidden payload is damaged: the PNG's pixels were changed after it was written "
                           "(edited, filtered or re-quantised)", hint="Use the original PNG that Snapshot Encode wrote")
        if len(data) > payload.NBYTES or inflate.unconsumed_tail:
            raise JobError("The hidden payload holds more than a snapshot's planes: the file was not written by "
                           "Snapshot Encode", hint="Use the original PNG that Snapshot Encode wrote")
        if len(data) != payload.NBYTES or not inflate.eof:
            raise JobError("The hidden payload has the wrong size", hint="Use the original PNG that Snapshot Encode wrote")
        return np.frombuffer(data, dtype=np.uint8).reshape(payload.SHAPE)
    raise JobError(f"The snapshot says it was hidden by {method!r}, which this PS4PRO does not know",
                   hint="Decode it with the PS4PRO version that wrote it")
