"""The snapshot header's schema: every field a decoder uses, checked before anything is used.

The header is JSON that anyone can edit, so :func:`check` gives each field its type, range and
size (finite numbers, exact shapes, bounded strings) and returns the header only when all of it is
usable; a failure names the field. :func:`digest` is the hash that covers the whole header, so that
an edit that stays within the schema (other bounds, other ranges) is noticed too.
numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import re

from .. import schema
from . import payload

MAGIC = "PS4PRO-3D-SNAPSHOT"
VERSION = 1
MAX_NESTING = 6  # the deepest real field is layout.lo (header > layout > lo > row)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_BIG = 1e6  # no real bound, range or fingerprint value comes near


def digest(header: dict) -> str:
    """SHA-256 of the header's canonical JSON, without the digest itself. Floats read back from
    JSON print the same, so the writer's and the reader's digests agree exactly."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    # allow_nan: the writer never puts NaN or Infinity in a header, so one there (in a key no check
    # reads) is an edit, which the digest must flag rather than fail on.
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _sha(value, where):
    schema.string(value, where, max_len=64)
    if not _HEX64.match(value):
        raise schema.Invalid(where, "must be 64 lowercase hexadecimal digits")
    return value


def _layout(layout: dict, method: str) -> None:
    schema.required(layout, "kind", schema.string, "layout", choices=("triplane-u8",))
    shape = schema.required(layout, "shape", schema.sequence, "layout", max_len=8)
    if shape != list(payload.SHAPE):
        raise schema.Invalid("layout.shape", f"must be {list(payload.SHAPE)}, not {schema.show(shape)}")
    schema.required(layout, "arrangement", schema.string, "layout", choices=("mosaic2x2",))
    lo = schema.required(layout, "lo", schema.array, "layout", payload.SHAPE[:2], lo=-_BIG, hi=_BIG)
    hi = schema.required(layout, "hi", schema.array, "layout", payload.SHAPE[:2], lo=-_BIG, hi=_BIG)
    if not (hi > lo).all():
        raise schema.Invalid("layout.hi", "must be above layout.lo in every channel")
    schema.optional(layout, "means", schema.array, "layout", (payload.PLANES * payload.CHANNELS,), lo=0, hi=255)
    schema.optional(layout, "readback_sketch", schema.array, "layout", (payload.SKETCH_SIZE,), lo=-_BIG, hi=_BIG)
    if method == "lsb":
        schema.required(layout, "compression", schema.string, "layout", choices=("zlib",))
        # zlib can grow incompressible codes a little; a payload never needs more.
        schema.required(layout, "nbytes", schema.integer, "layout", lo=1, hi=payload.NBYTES + 1024)
        schema.required(layout, "bits", schema.integer, "layout", lo=1, hi=8)


def _background(bg: dict) -> None:
    mode = schema.required(bg, "mode", schema.string, "background", choices=("alpha", "env"))
    if mode == "env":
        shape = schema.required(bg, "shape", schema.array, "background", (3,), lo=1, hi=2048)
        if shape[0] != 3 or shape[1] > 1024 or (shape != shape.round()).any():
            raise schema.Invalid("background.shape", f"must be [3, height <= 1024, width <= 2048], not {shape.tolist()}")
        schema.optional(bg, "encoding", schema.string, "background", choices=("jpeg", "raw"))
        schema.required(bg, "env", schema.string, "background", max_len=1 << 20)


def _occupancy(occ: dict) -> None:
    schema.required(occ, "res", schema.integer, "occupancy", lo=4, hi=128)
    schema.required(occ, "bits", schema.string, "occupancy", max_len=1 << 20)


def check(header) -> dict:
    """The header, when every field a decoder uses is present and sound; :class:`schema.Invalid`
    (naming the field) otherwise. The magic and version are the caller's: they get their own words."""
    schema.mapping(header, "the header")
    if schema.depth(header, MAX_NESTING) > MAX_NESTING:
        raise schema.Invalid("the header", f"nests lists and objects more than {MAX_NESTING} deep")
    method = schema.required(header, "method", schema.string, "", choices=payload.METHODS)
    size = schema.required(header, "size", schema.sequence, "", max_len=2)
    if size != [payload.COVER, payload.COVER] or not all(type(v) is int for v in size):
        raise schema.Invalid("size", f"must be [{payload.COVER}, {payload.COVER}] (a snapshot's size), not {schema.show(size)}")
    bounds = schema.required(header, "bounds", schema.array, "", (2, 3), lo=-_BIG, hi=_BIG)
    if not (bounds[1] > bounds[0]).all():
        raise schema.Invalid("bounds", f"must have its second corner above its first, not {bounds.tolist()}")
    schema.required(header, "decoder", schema.string, "", max_len=128)
    _sha(schema.required(header, "payload_sha256", schema.string, ""), "payload_sha256")
    schema.optional(header, "header_sha256", _sha, "")
    schema.optional(header, "created_by", schema.string, "", max_len=256)
    _layout(schema.required(header, "layout", schema.mapping, ""), method)
    bg = schema.optional(header, "background", schema.mapping, "")
    if bg is not None:
        _background(bg)
    occ = schema.optional(header, "occupancy", schema.mapping, "")
    if occ is not None:
        _occupancy(occ)
    return header
