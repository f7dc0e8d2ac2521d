"""The snapshot PNG: 8-bit RGB pixels and a small JSON header in an ``iTXt`` chunk.

The header says what the pixels hold: ``magic``, ``version`` (of this container format),
``method`` (how the payload is hidden), ``layout`` (the payload's shape and quantisation),
``bounds`` (the scene's aabb), ``decoder`` (which shared decoder the planes need), the image
``size`` it was written at and a ``payload_sha256``. Reading never executes or unpickles anything:
Pillow decodes the pixels, the header is JSON, and every field is checked before use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..protocol import JobError

KEY = "ps4pro-snapshot"
MAGIC = "PS4PRO-3D-SNAPSHOT"
VERSION = 1
MAX_HEADER = 64 * 1024  # bytes of JSON; a real header is well under 2 KB
_REQUIRED = {"magic": str, "version": int, "method": str, "layout": dict, "bounds": list, "decoder": str,
             "size": list, "payload_sha256": str}

_NOT_SNAPSHOT_HINT = "Pick a PNG written by Snapshot Encode (ps4pro.snapshot_encode / snapshot-encode)"


@dataclass
class Snapshot:
    pixels: np.ndarray  # (H, W, 3) uint8
    header: dict


def write(path: str, pixels: np.ndarray, header: dict) -> None:
    """Write an RGB PNG with the header, atomically (a temporary name, then ``os.replace``)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be (H, W, 3) uint8, not {pixels.shape} {pixels.dtype}")
    full = {"magic": MAGIC, "version": VERSION, "size": [int(pixels.shape[1]), int(pixels.shape[0])], **header}
    missing = [k for k in _REQUIRED if k not in full]
    if missing:
        raise ValueError(f"header lacks {missing}")
    info = PngInfo()
    info.add_itxt(KEY, json.dumps(full, separators=(",", ":")), zip=True)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}.png"
        Image.fromarray(pixels, "RGB").save(tmp, pnginfo=info, optimize=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise JobError(f"Cannot write {path}: {exc.strerror or exc}", hint="Choose a writable folder")


def read(path: str) -> Snapshot:
    """The pixels and the checked header; a clear ``JobError`` for anything else."""
    from PIL import Image, UnidentifiedImageError

    name = os.path.basename(path)
    if not os.path.exists(path):
        raise JobError(f"No image at {path}", hint=_NOT_SNAPSHOT_HINT)
    try:
        with Image.open(path) as im:
            fmt = im.format
            text = dict(getattr(im, "text", {}) or {}) if fmt == "PNG" else {}
            im.load()
            pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
            mode = im.mode
    except Image.DecompressionBombError as exc:  # not an OSError: a tiny file claiming a huge image
        raise JobError(f"{name} is too large to be a snapshot ({exc})",
                       hint="Use the original PNG that Snapshot Encode wrote (a snapshot is 256 x 256 pixels)")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise JobError(f"{name} is not a readable image ({type(exc).__name__}: {exc})",
                       hint="The file is damaged or truncated; " + _NOT_SNAPSHOT_HINT[0].lower() + _NOT_SNAPSHOT_HINT[1:])
    if fmt != "PNG":
        raise JobError(f"{name} is a {fmt} image, not a PNG: a snapshot does not survive re-encoding to {fmt}",
                       hint="Use the original PNG that Snapshot Encode wrote")
    raw = text.get(KEY)
    if raw is None:
        raise JobError(f"{name} has no PS4PRO snapshot header: it is an ordinary image", hint=_NOT_SNAPSHOT_HINT)
    header = parse_header(raw, name)
    if mode not in ("RGB", "RGBA", "P") and not mode.startswith("RGB"):
        header.setdefault("warnings", []).append(f"the image was re-saved as {mode}")
    w, h = header["size"]
    if (pixels.shape[1], pixels.shape[0]) != (w, h):
        raise JobError(f"{name} is {pixels.shape[1]}x{pixels.shape[0]}, but the snapshot was written at {w}x{h}: "
                       "it was resized, and the hidden scene does not survive that",
                       hint="Use the original PNG that Snapshot Encode wrote")
    return Snapshot(pixels, header)


def parse_header(raw, name: str = "the image") -> dict:
    if not isinstance(raw, str) or len(raw.encode("utf-8", "replace")) > MAX_HEADER:
        raise JobError(f"{name} has a damaged snapshot header (too large)", hint=_NOT_SNAPSHOT_HINT)
    try:
        header = json.loads(raw)
    except ValueError:
        raise JobError(f"{name} has a damaged snapshot header (not JSON)", hint=_NOT_SNAPSHOT_HINT)
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        raise JobError(f"{name} has a header under the snapshot key, but not a PS4PRO snapshot's", hint=_NOT_SNAPSHOT_HINT)
    if header.get("version") != VERSION:
        raise JobError(f"{name} is a snapshot of format version {header.get('version')}; this PS4PRO reads version {VERSION}",
                       hint="Decode it with the PS4PRO version that wrote it, or encode the scene again")
    for key, kind in _REQUIRED.items():
        if not isinstance(header.get(key), kind):
            raise JobError(f"{name} has a damaged snapshot header ({key} is missing or not a {kind.__name__})",
                           hint=_NOT_SNAPSHOT_HINT)
    size, bounds = header["size"], header["bounds"]
    if len(size) != 2 or not all(isinstance(v, int) and 0 < v <= 1 << 15 for v in size):
        raise JobError(f"{name} has a damaged snapshot header (size {size})", hint=_NOT_SNAPSHOT_HINT)
    try:
        b = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        b = np.zeros(0)
    if b.shape != (2, 3) or not np.all(np.isfinite(b)) or not np.all(b[1] > b[0]):
        raise JobError(f"{name} has a damaged snapshot header (bounds {bounds})", hint=_NOT_SNAPSHOT_HINT)
    return header
