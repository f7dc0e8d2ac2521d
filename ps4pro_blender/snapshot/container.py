"""The snapshot PNG: 8-bit RGB pixels and a small JSON header in an ``iTXt`` chunk.

The header says what the pixels hold: ``magic``, ``version`` (of this container format),
``method`` (how the payload is hidden), ``layout`` (the payload's shape and quantisation),
``bounds`` (the scene's aabb), ``decoder`` (which shared decoder the planes need), the image
``size`` it was written at, a ``payload_sha256`` and a ``header_sha256`` over all of it.

Reading trusts nothing in the file and never executes or unpickles anything. The PNG's chunks are
walked first, without decoding a pixel: there must be exactly one snapshot header, of bounded size
(inflated with a cap), that passes the schema (``header.py``), and the image's declared size must
be the header's before Pillow decodes the pixels. A header whose hash no longer matches (a field
edited after writing) is read but flagged ``DEGRADED``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from .. import files, schema
from ..protocol import JobError
from . import header as H

KEY = "ps4pro-snapshot"
MAGIC = H.MAGIC
VERSION = H.VERSION
MAX_HEADER = 64 * 1024  # bytes of JSON; a real header is well under 16 KB (8 KB of it the environment)
MAX_FILE = 8 << 20  # a snapshot PNG is about 100 KB
MAX_CHUNKS = 4096
_REQUIRED = ("magic", "version", "method", "layout", "bounds", "decoder", "size", "payload_sha256")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_NOT_SNAPSHOT_HINT = "Pick a PNG written by Snapshot Encode (ps4pro.snapshot_encode / snapshot-encode)"
_ORIGINAL_HINT = "Use the original PNG that Snapshot Encode wrote"


@dataclass
class Snapshot:
    pixels: np.ndarray  # (H, W, 3) uint8
    header: dict
    warnings: list = field(default_factory=list)  # for the user: a re-saved image, an edited header


def write(path: str, pixels: np.ndarray, header: dict) -> None:
    """Write an RGB PNG with the header (and its hash), atomically (a temporary name, then ``os.replace``)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be (H, W, 3) uint8, not {pixels.shape} {pixels.dtype}")
    full = {"magic": MAGIC, "version": VERSION, "size": [int(pixels.shape[1]), int(pixels.shape[0])], **header}
    missing = [k for k in _REQUIRED if k not in full]
    if missing:
        raise ValueError(f"header lacks {missing}")
    full["header_sha256"] = H.digest(full)
    info = PngInfo()
    info.add_itxt(KEY, json.dumps(full, separators=(",", ":"), allow_nan=False), zip=True)
    try:
        with files.atomic_path(path, ".png") as tmp:
            Image.fromarray(pixels, "RGB").save(tmp, pnginfo=info, optimize=True)
    except OSError as exc:
        raise JobError(f"Cannot write {path}: {exc.strerror or exc}", hint="Choose a writable folder")


def _chunks(data: bytes, name: str):
    """(IHDR fields, [header texts]) from a PNG's chunk list, without decoding any pixel."""
    damaged = JobError(f"{name} is not a readable image (a damaged PNG)",
                       hint="The file is damaged or truncated; " + _NOT_SNAPSHOT_HINT[0].lower() + _NOT_SNAPSHOT_HINT[1:])
    pos, ihdr, texts = len(_PNG_SIGNATURE), None, []
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            raise damaged
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if length > len(data) or len(body) != length:
            raise damaged
        if kind == b"IHDR" and ihdr is None and length == 13:
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and body.split(b"\0", 1)[0] == KEY.encode():
            texts.append((kind, body))
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        raise JobError(f"{name} has over {MAX_CHUNKS} PNG chunks: not a snapshot", hint=_NOT_SNAPSHOT_HINT)
    if ihdr is None:
        raise damaged
    return ihdr, texts


def _inflate(blob: bytes, name: str) -> bytes:
    inflate = zlib.decompressobj()
    try:
        out = inflate.decompress(blob, MAX_HEADER + 1)  # capped: a hostile chunk cannot inflate gigabytes
    except zlib.error:
        raise JobError(f"{name} has a damaged snapshot header (bad compression)", hint=_NOT_SNAPSHOT_HINT) from None
    if len(out) > MAX_HEADER:
        raise JobError(f"{name} has a damaged snapshot header (too large)", hint=_NOT_SNAPSHOT_HINT)
    return out


def _header_text(kind: bytes, body: bytes, name: str) -> str:
    """The text of a tEXt, zTXt or iTXt chunk (Pillow writes ours as compressed iTXt)."""
    rest = body.split(b"\0", 1)[1] if b"\0" in body else b""
    try:
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return _inflate(rest[1:], name).decode("latin-1")
        flag, rest = rest[0], rest[2:]  # rest[1]: the compression method, zlib being the only one
        _language, _translated, text = rest.split(b"\0", 2)
        return (_inflate(text, name) if flag else text).decode("utf-8")
    except (IndexError, ValueError, UnicodeDecodeError):
        raise JobError(f"{name} has a damaged snapshot header (a malformed text chunk)", hint=_NOT_SNAPSHOT_HINT) from None


def read(path: str) -> Snapshot:
    """The pixels and the checked header; a clear ``JobError`` for anything else."""
    from PIL import Image, UnidentifiedImageError

    name = os.path.basename(path)
    try:
        data = files.read_bytes(path, MAX_FILE)
    except FileNotFoundError:
        raise JobError(f"No image at {path}", hint=_NOT_SNAPSHOT_HINT) from None
    except files.TooLarge:
        raise JobError(f"{name} is too large to be a snapshot (over {MAX_FILE >> 20} MB; a snapshot is about 100 KB)",
                       hint=_ORIGINAL_HINT) from None
    except OSError as exc:
        raise JobError(f"Cannot read {path}: {exc}", hint=_NOT_SNAPSHOT_HINT) from None
    if not data.startswith(_PNG_SIGNATURE):
        if data[:3] == b"\xff\xd8\xff":
            raise JobError(f"{name} is a JPEG image, not a PNG: a snapshot does not survive re-encoding to JPEG",
                           hint=_ORIGINAL_HINT)
        raise JobError(f"{name} is not a readable image (not a PNG)", hint=_NOT_SNAPSHOT_HINT)
    (w, h, bit_depth, colour, *_), texts = _chunks(data, name)
    if not texts:
        raise JobError(f"{name} has no PS4PRO snapshot header: it is an ordinary image", hint=_NOT_SNAPSHOT_HINT)
    if len(texts) > 1:
        raise JobError(f"{name} has {len(texts)} snapshot headers; a snapshot has one, so the file was tampered with",
                       hint=_ORIGINAL_HINT)
    header = parse_header(_header_text(*texts[0], name), name)
    hw, hh = header["size"]
    if (w, h) != (hw, hh):  # before any pixel is decoded: the declared size is all a bomb needs
        raise JobError(f"{name} is {w}x{h}, but the snapshot was written at {hw}x{hh}: "
                       "it was resized, and the hidden scene does not survive that", hint=_ORIGINAL_HINT)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            im.load()
            mode = im.mode
            pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:  # not an OSError
        raise JobError(f"{name} is too large to be a snapshot ({exc})", hint=_ORIGINAL_HINT) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise JobError(f"{name} is not a readable image ({type(exc).__name__}: {exc})",
                       hint="The file is damaged or truncated; " + _NOT_SNAPSHOT_HINT[0].lower() + _NOT_SNAPSHOT_HINT[1:]) from None
    warnings = []
    if mode != "RGB" or (bit_depth, colour) != (8, 2):
        warnings.append(f"the image was re-saved as {mode} ({bit_depth}-bit)")
    recorded = header.get("header_sha256")
    if recorded is None:
        warnings.append("this snapshot was written before headers carried a hash: edits to its header cannot be detected")
    elif recorded != H.digest(header):
        warnings.append("DEGRADED: the snapshot's header was edited after it was written (it no longer matches its "
                        "hash), so bounds, ranges or fingerprints may be wrong and the scene may look wrong")
    return Snapshot(pixels, header, warnings)


def parse_header(raw, name: str = "the image") -> dict:
    """The header from its JSON text: magic and version first, then the whole schema."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "replace")) > MAX_HEADER:
        raise JobError(f"{name} has a damaged snapshot header (too large)", hint=_NOT_SNAPSHOT_HINT)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise JobError(f"{name} has a damaged snapshot header (not JSON)", hint=_NOT_SNAPSHOT_HINT) from None
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        raise JobError(f"{name} has a header under the snapshot key, but not a PS4PRO snapshot's", hint=_NOT_SNAPSHOT_HINT)
    if header.get("version") != VERSION or type(header.get("version")) is not int:
        raise JobError(f"{name} is a snapshot of format version {schema.show(header.get('version'))}; this PS4PRO reads "
                       f"version {VERSION}", hint="Decode it with the PS4PRO version that wrote it, or encode the scene again")
    try:
        return H.check(header)
    except schema.Invalid as exc:
        raise JobError(f"{name} has a damaged snapshot header: {exc}", hint=_ORIGINAL_HINT) from None
