"""PLY reading and writing with numpy and the standard library only.

Both sides use this module: the backend writes point clouds and meshes with
:func:`write_ply`, the Blender side reads them (ours or anyone's) with :func:`read_ply`.
It must never import bpy or torch.

Written files are binary little-endian: ``x y z`` float, ``red green blue`` uchar, extra
per-vertex values as float properties, faces as ``property list uchar int vertex_indices``.

The reader takes binary little-endian, binary big-endian and ascii files, properties in
any order, float or double positions, colours as integers or floats in 0..1 (also the
``diffuse_red`` spelling), and keeps every other scalar vertex property (normals
``nx ny nz``, opacity, confidence, ...) in ``extra``. A file that is not a PLY, or is
truncated or corrupt, raises :class:`PlyError` (a ``ValueError``) with a plain message;
a missing file raises ``FileNotFoundError``. Nothing else is raised for any content.

Files come from strangers, so the reader bounds its work by the file's size:

- files over 2 GiB (``_MAX_FILE``) are refused: the whole file is held in memory, and the
  Blender side imports big clouds, so the cap is generous but hard. Folders, FIFOs and
  devices are refused without blocking (:mod:`files`);
- the header must end within 1 MB and pass :func:`_check_schema` (one ``format ... 1.0``
  line, at most 64 uniquely named elements and 1024 properties in all, counts up to
  2**31-1, property names unique per element, list counts of an integer type, a vertex
  element with scalar ``x y z``) before any of the body is read;
- the body must hold the declared counts (bytes for binary, lines for ascii) before any
  array is made, and irregular lists are read in bounded chunks, so memory stays within a
  small multiple of the file size;
- ascii integers must fit their declared type; a binary body whose positions only make
  sense byte-swapped is refused as written in the other byte order.
"""

from __future__ import annotations

import os
import re
import struct
from array import array
from dataclasses import dataclass, field

import numpy as np

from . import files

__all__ = ["PlyData", "PlyError", "RaggedFaces", "parse_ply", "read_ply", "write_ply"]


class PlyError(ValueError):
    """The file is not a PLY we can read (not a PLY, truncated, corrupt, unsupported)."""


# PLY type names (both spellings) -> numpy type codes without byte order.
_TYPES = {
    "char": "i1", "int8": "i1",
    "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4",
    "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}
_STRUCT_CODES = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}
_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_VERSION = "1.0"
_MAX_FILE = 2 << 30  # bytes; the whole file is held in memory
_MAX_HEADER = 1 << 20  # bytes
_MAX_ELEMENTS = 64
_MAX_PROPERTIES = 1024  # in all elements together
_MAX_COUNT = 2**31 - 1  # records in one element
_MAX_LINE = 1 << 20  # bytes in one ascii line that is parsed
_ASCII_CHUNK = 1 << 18  # bytes of ascii lines parsed at a time (their tokens take ~20 times that)
_RAGGED_CHUNK = 1 << 16  # records of irregular lists read at a time
_SAMPLE = 4096  # position values looked at for the byte-order check
_COLOR_NAMES = {
    "red": 0, "green": 1, "blue": 2,
    "diffuse_red": 0, "diffuse_green": 1, "diffuse_blue": 2,
    "r": 0, "g": 1, "b": 2,
}
_POSITION_NAMES = ("x", "y", "z")
_FACE_LIST_NAMES = ("vertex_indices", "vertex_index")
_NAME_RE = re.compile(r"^[^\s]+$")


@dataclass
class PlyData:
    """What a PLY file holds.

    ``points``: float32 (N, 3), C-contiguous. ``colors``: uint8 (N, 3) or None.
    ``faces``: None, an int32 (M, k) array when every face has k corners, or for mixed
    polygons a :class:`RaggedFaces` (a list-like of int32 arrays; see :meth:`face_arrays`). ``extra``: every other
    scalar vertex property as a float32 (N,) array, by name (normals are ``nx ny nz``).
    """

    points: np.ndarray
    colors: np.ndarray | None = None
    faces: np.ndarray | list | None = None
    extra: dict = field(default_factory=dict)
    comments: list = field(default_factory=list)

    @property
    def vertex_count(self) -> int:
        return int(self.points.shape[0])

    @property
    def face_count(self) -> int:
        return 0 if self.faces is None else len(self.faces)

    def face_arrays(self):
        """Faces as ``(corner_vertices int32 (sum k,), corner_counts int32 (M,))``, or None."""
        return face_arrays(self.faces)


class RaggedFaces:
    """Faces with mixed corner counts, stored flat; indexes and iterates like a list of arrays."""

    def __init__(self, flat, counts):
        self.flat = np.ascontiguousarray(flat, np.int32)
        self.counts = np.ascontiguousarray(counts, np.int32)
        self.starts = np.zeros(self.counts.size, np.int64)
        if self.counts.size > 1:
            np.cumsum(self.counts[:-1], out=self.starts[1:])

    def __len__(self):
        return int(self.counts.size)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        s = int(self.starts[i])
        return self.flat[s : s + int(self.counts[i])]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        return f"RaggedFaces({len(self)} faces, {self.flat.size} corners)"


class _Uniform:
    """A list property whose lists all have the same length: values (count, k)."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values


# ----------------------------------------------------------------------------- header


@dataclass
class _Property:
    name: str
    type: str  # numpy code without byte order
    type_name: str  # as the header spells it, for messages
    count_type: str | None = None  # list properties only

    @property
    def is_list(self) -> bool:
        return self.count_type is not None


@dataclass
class _Element:
    name: str
    count: int
    line: int  # header line number, for messages
    properties: list = field(default_factory=list)

    def prop(self, name):
        for p in self.properties:
            if p.name == name:
                return p
        return None

    def min_record_bytes(self) -> int:
        """Binary bytes of the smallest record: every list empty."""
        return sum(np.dtype(p.count_type if p.is_list else p.type).itemsize for p in self.properties)


@dataclass
class _Header:
    format: str
    elements: list
    comments: list
    body_start: int

    def element(self, name):
        return next((e for e in self.elements if e.name == name), None)


def _header_end(data: bytes, what: str):
    """(end of the header text, start of the body): the first line that is exactly 'end_header'."""
    pos = 0
    while True:
        pos = data.find(b"end_header", pos, _MAX_HEADER)
        if pos < 0:
            break
        after = data[pos + 10 : pos + 12]
        if data[pos - 1 : pos] in (b"\n", b"\r") and (not after or after[:1] in (b"\n", b"\r")):
            return pos, pos + 10 + (2 if after == b"\r\n" else len(after[:1]))
        pos += 10
    if len(data) >= _MAX_HEADER:
        raise PlyError(f"{what} has no 'end_header' line in its first 1 MB: the PLY header is too long, "
                       "or the file is corrupt")
    raise PlyError(f"{what} has no complete PLY header ('end_header' is missing): the file is truncated or corrupt")


class _BadLine(Exception):
    """A header line that does not parse; says why."""


def _parse_header(data: bytes, what: str) -> _Header:
    """The header as written, line by line; :func:`_check_schema` then says whether it can be read."""
    if data[:3] != b"ply" or data[3:4] not in (b"\n", b"\r"):
        raise PlyError(f"{what} is not a PLY file (it does not start with a 'ply' line)")
    text_end, body_start = _header_end(data, what)
    try:
        text = data[:text_end].decode("ascii")
    except UnicodeDecodeError:
        raise PlyError(f"{what} has a PLY header that is not ASCII text: the file is corrupt or not a PLY") from None
    header = _Header(None, [], [], body_start)
    formats = []
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:], start=2):
        words = raw.split()
        if not words:
            continue
        if words[0] in ("comment", "obj_info"):
            header.comments.append(raw.strip()[len(words[0]) :].strip())
            continue
        try:
            if not all(w.isprintable() for w in words):
                raise _BadLine("it has control characters")
            if words[0] == "format":
                formats.append((number, words))
            elif words[0] == "element":
                header.elements.append(_element(words, number))
            elif words[0] == "property":
                if not header.elements:
                    raise _BadLine("a property before any element")
                header.elements[-1].properties.append(_property(words))
            else:
                raise _BadLine(f"unknown keyword {words[0]!r}")
        except _BadLine as why:
            raise PlyError(f"{what}: malformed PLY header line {number}: {raw.strip()!r} ({why}); "
                           "the file is corrupt, or re-export it as a standard PLY") from None
    _check_schema(header, formats, what)
    return header


def _element(words, number) -> _Element:
    if len(words) != 3:
        raise _BadLine("expected 'element NAME COUNT'")
    count = words[2].lstrip("0") or "0"
    if not count.isdigit():
        raise _BadLine(f"an element count must be a whole number from 0 to {_MAX_COUNT}")
    # More digits than any valid count: too big, and never converted (int() refuses huge strings).
    return _Element(words[1], int(count) if len(count) <= 10 else _MAX_COUNT + 1, number)


def _property(words) -> _Property:
    if len(words) == 3 and words[1] in _TYPES:
        return _Property(words[2], _TYPES[words[1]], words[1])
    if len(words) == 5 and words[1] == "list":
        for t in words[2:4]:
            if t not in _TYPES:
                raise _BadLine(f"unknown type {t!r}")
        if _TYPES[words[2]][0] == "f":
            raise _BadLine("a list's count type must be an integer type")
        return _Property(words[4], _TYPES[words[3]], words[3], _TYPES[words[2]])
    if len(words) == 3 and words[1] != "list":
        raise _BadLine(f"unknown type {words[1]!r}")
    raise _BadLine("expected 'property TYPE NAME' or 'property list COUNT_TYPE TYPE NAME'")


def _check_schema(header: _Header, formats: list, what: str) -> None:
    """The rules a header must meet before any of the body is read."""
    if not formats:
        raise PlyError(f"{what}: the PLY header has no 'format' line; the file is corrupt")
    if len(formats) > 1:
        raise PlyError(f"{what}: the PLY header has {len(formats)} 'format' lines (lines "
                       f"{', '.join(str(n) for n, _ in formats)}); the file is corrupt")
    number, words = formats[0]
    if len(words) != 3 or words[1] not in _FORMATS:
        raise PlyError(f"{what}: unsupported PLY format {' '.join(words[1:])!r} (line {number}); "
                       f"re-export it as one of: {', '.join(f + ' ' + _VERSION for f in _FORMATS)}")
    if words[2] != _VERSION:
        raise PlyError(f"{what}: unsupported PLY format version {words[2]!r} (line {number}); only {_VERSION} is read")
    header.format = words[1]

    elements = header.elements
    if len(elements) > _MAX_ELEMENTS:
        raise PlyError(f"{what}: the PLY header declares {len(elements)} elements, more than the {_MAX_ELEMENTS} read")
    n_props = sum(len(e.properties) for e in elements)
    if n_props > _MAX_PROPERTIES:
        raise PlyError(f"{what}: the PLY header declares {n_props} properties, more than the {_MAX_PROPERTIES} read")
    seen = {}
    for e in elements:
        if e.name in seen:
            raise PlyError(f"{what}: element '{e.name}' appears twice in the PLY header (lines {seen[e.name]} and "
                           f"{e.line}); the file is corrupt, re-export it")
        seen[e.name] = e.line
        if e.count > _MAX_COUNT:
            raise PlyError(f"{what} is truncated or corrupt: element '{e.name}' declares more than {_MAX_COUNT} "
                           f"records (header line {e.line})")
        names = set()
        for p in e.properties:
            if p.name in names:
                raise PlyError(f"{what}: property '{p.name}' appears twice in element '{e.name}'; "
                               "the file is corrupt, re-export it")
            names.add(p.name)
        if e.count and not e.properties:
            raise PlyError(f"{what}: element '{e.name}' has {e.count} records but no properties; the file is corrupt")

    vertex = header.element("vertex")
    if vertex is None:
        raise PlyError(f"{what} has no 'vertex' element")
    missing = [n for n in _POSITION_NAMES if vertex.prop(n) is None or vertex.prop(n).is_list]
    if missing:
        raise PlyError(f"{what}: the vertex element has no {'/'.join(missing)} property")


def _check_body_size(data: bytes, header: _Header, what: str) -> None:
    """Refuse counts that the body cannot hold, before anything is allocated for them."""
    body = len(data) - header.body_start
    if header.format == "ascii":
        # A record is a line of at least one value per property, each value at least a character.
        lines = data.count(_ascii_newline(data, header.body_start), header.body_start) + 1
        needed = [(sum(e.count for e in header.elements), lines, "lines"),
                  (sum(e.count * len(e.properties) for e in header.elements), body, "bytes")]
    else:
        needed = [(sum(e.count * e.min_record_bytes() for e in header.elements), body, "bytes")]
    for need, have, unit in needed:
        if need > have:
            raise PlyError(f"{what} is truncated or corrupt: its header declares elements needing at least "
                           f"{need:,} {unit}, but the body has only {have:,}")


# ----------------------------------------------------------------------------- binary


def _read_binary(data: bytes, header: _Header, keep: dict, what: str) -> dict:
    """{element name: {property name: column}} for the kept elements; reading stops after the last one."""
    order = _FORMATS[header.format]
    offset = header.body_start
    out = {}
    for element in header.elements:
        if len(out) == len(keep):
            break  # elements after the ones we need are never read
        wanted = keep.get(element.name)
        cols, offset = _read_binary_element(data, offset, element, order, wanted or {}, what)
        if wanted is not None:
            out[element.name] = cols
    return out


def _empty(p: _Property):
    empty = np.zeros(0, np.dtype(p.type))
    return (empty, np.zeros(0, np.int32)) if p.is_list else empty


def _truncated(what, element, needed, have):
    return PlyError(
        f"{what} is truncated or corrupt: element '{element.name}' needs {needed} more bytes, "
        f"only {max(have, 0)} are left"
    )


def _read_binary_element(buf, offset, element: _Element, order: str, keep: dict, what: str):
    """(kept columns, offset after the element). Scalars are arrays, lists :class:`_Uniform` or (flat, counts)."""
    if element.count == 0:
        return {p.name: _empty(p) for p in element.properties if p.name in keep}, offset
    if not any(p.is_list for p in element.properties):
        dtype = np.dtype([(f"p{i}", order + p.type) for i, p in enumerate(element.properties)])
        needed = dtype.itemsize * element.count
        if offset + needed > len(buf):
            raise _truncated(what, element, needed, len(buf) - offset)
        arr = np.frombuffer(buf, dtype=dtype, count=element.count, offset=offset)
        return {p.name: arr[f"p{i}"] for i, p in enumerate(element.properties) if p.name in keep}, offset + needed
    uniform = _read_uniform_lists(buf, offset, element, order, keep)
    if uniform is not None:
        return uniform
    return _read_ragged_lists(buf, offset, element, order, keep, what)


def _read_uniform_lists(buf, offset, element, order, keep):
    """Fast path: every list has the same length in every record (triangles, quads), so the element is
    one strided view of the file. None when it is not (the first record's lengths are used as a guess)."""
    fields, pos, record = [], offset, 0
    for i, p in enumerate(element.properties):
        if p.is_list:
            ct = np.dtype(order + p.count_type)
            if pos + ct.itemsize > len(buf):
                return None
            k = int(np.frombuffer(buf, ct, 1, pos)[0])
            size = ct.itemsize + k * np.dtype(p.type).itemsize
            if k < 0 or pos + size > len(buf):
                return None
            fields += [(f"c{i}", ct), (f"v{i}", np.dtype(order + p.type), (k,))]
        else:
            size = np.dtype(p.type).itemsize
            fields.append((f"s{i}", np.dtype(order + p.type)))
        pos += size
        record += size
    # Sizes are checked in Python integers before numpy sees them: a count of 2**31-1 never becomes a dtype.
    if record * element.count > len(buf) - offset:
        return None
    arr = np.frombuffer(buf, dtype=np.dtype(fields), count=element.count, offset=offset)
    cols = {}
    for i, p in enumerate(element.properties):
        if p.is_list:
            values = arr[f"v{i}"]
            if not np.all(arr[f"c{i}"] == values.shape[1]):
                return None
            cols[p.name] = _Uniform(values)
        else:
            cols[p.name] = arr[f"s{i}"]
    return {name: col for name, col in cols.items() if name in keep}, offset + record * element.count


def _read_ragged_lists(buf, offset, element, order, keep, what):
    """Slow path for mixed list lengths (mixed triangles and quads): walk record by record, in chunks,
    copying only the kept properties' bytes. A kept list shorter than ``keep[name]`` is refused at once."""
    props = [(p, struct.Struct(order + _STRUCT_CODES[p.count_type or p.type]), np.dtype(p.type).itemsize,
              p.name in keep, keep.get(p.name, 0)) for p in element.properties]
    parts = {p.name: [] for p in element.properties if p.name in keep}
    counts = {p.name: array("q") for p in element.properties if p.is_list and p.name in keep}
    pos, end, left = offset, len(buf), element.count
    while left:
        chunk = min(left, _RAGGED_CHUNK)
        pieces = {name: [] for name in parts}
        try:
            for _ in range(chunk):
                for p, unpack, item, kept, least in props:
                    if p.is_list:
                        (k,) = unpack.unpack_from(buf, pos)
                        pos += unpack.size
                        nbytes = k * item
                        if k < 0:
                            raise PlyError(f"{what} is corrupt: element '{element.name}' has a list "
                                           f"'{p.name}' of negative length {k}")
                        if pos + nbytes > end:
                            raise _truncated(what, element, nbytes, end - pos)
                        if kept:
                            if k < least:
                                raise _too_short(what, element, p, k, least)
                            pieces[p.name].append(buf[pos : pos + nbytes])
                            counts[p.name].append(k)
                        pos += nbytes
                    else:
                        if kept:
                            pieces[p.name].append(buf[pos : pos + unpack.size])
                        pos += unpack.size
                if pos > end:
                    raise _truncated(what, element, pos - end, 0)
        except struct.error:
            raise _truncated(what, element, 1, end - pos) from None
        for name, chunk_pieces in pieces.items():
            parts[name].append(np.frombuffer(b"".join(chunk_pieces), np.dtype(order + element.prop(name).type)))
        left -= chunk
    cols = {}
    for name, chunks in parts.items():
        values = np.concatenate(chunks)
        if name in counts:
            values = (values, np.frombuffer(counts[name], np.int64).astype(np.int32))
        cols[name] = values
    return cols, pos


def _too_short(what, element, p, k, least):
    return PlyError(f"{what} is corrupt: element '{element.name}' has a '{p.name}' list of {k} "
                    f"(at least {least} are needed)")


# ----------------------------------------------------------------------------- ascii


def _ascii_newline(data: bytes, start: int) -> bytes:
    """Lines end with \\n (or \\r\\n); a body with only \\r in it uses \\r."""
    return b"\r" if data.find(b"\n", start) < 0 and data.find(b"\r", start) >= 0 else b"\n"


def _ascii_chunks(data: bytes, start: int):
    """The body's non-blank lines, stripped, in lists of about _ASCII_CHUNK bytes (whole lines)."""
    newline = _ascii_newline(data, start)
    pos, end = start, len(data)
    while pos < end:
        stop = min(pos + _ASCII_CHUNK, end)
        if stop < end:
            nl = data.find(newline, stop)
            stop = end if nl < 0 else nl + 1
        yield [row for row in (line.strip() for line in data[pos:stop].split(newline)) if row]
        pos = stop


def _read_ascii(data: bytes, header: _Header, keep: dict, what: str) -> dict:
    """{element name: {property name: column}} for the kept elements; other elements' lines are skipped unparsed."""
    chunks = _ascii_chunks(data, header.body_start)
    rows, used = [], 0
    out = {}
    for element in header.elements:
        if len(out) == len(keep):
            break
        wanted = keep.get(element.name)
        parts, left = [], element.count
        # Scalars go straight into full-length columns (the count is bounded by the body's size): one
        # allocation per column, where chunk-sized pieces would fragment the heap to twice the data.
        full = None
        if wanted is not None and not any(p.is_list for p in element.properties):
            full = {p.name: np.empty(element.count, p.type) for p in element.properties if p.name in wanted}
        while left:
            if used == len(rows):
                rows, used = next(chunks, None), 0
                if rows is None:
                    raise PlyError(f"{what} is truncated: element '{element.name}' needs {element.count} lines, "
                                   f"found {element.count - left}; the file is truncated or corrupt")
                continue
            n = min(left, len(rows) - used)
            if wanted is not None:
                cols = _ascii_rows(rows[used : used + n], element, wanted, what)
                if full is None:
                    parts.append(cols)
                else:
                    done = element.count - left
                    for name, col in cols.items():
                        full[name][done : done + n] = col
            used += n
            left -= n
        if wanted is not None:
            out[element.name] = full if full is not None else _join_parts(parts, element, wanted)
    return out


def _ascii_rows(rows, element, keep, what) -> dict:
    if max(map(len, rows)) > _MAX_LINE:
        raise PlyError(f"{what} is corrupt: a line of element '{element.name}' is over {_MAX_LINE >> 20} MB long")
    lists = sum(p.is_list for p in element.properties)
    if lists == 1:
        return _ascii_one_list(rows, element, keep, what)
    if lists:
        return _ascii_ragged([r.split() for r in rows], element, keep, what)
    n = len(element.properties)
    tokens = b" ".join(rows).split()
    if len(tokens) != len(rows) * n:
        raise PlyError(f"{what} is corrupt: element '{element.name}' should have {n} values per line")
    table = _numbers(tokens, element, what).reshape(len(rows), n)
    return {p.name: _typed(table[:, i], p, element, what) for i, p in enumerate(element.properties) if p.name in keep}


def _numbers(tokens, element, what) -> np.ndarray:
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        raise PlyError(f"{what} is corrupt: element '{element.name}' has a value that is not a number") from None


def _misfits(values, code) -> np.ndarray:
    """Which float64 values are not whole numbers in the range of integer type ``code`` (inf, nan, 2.5, ...)."""
    info = np.iinfo(code)
    with np.errstate(invalid="ignore"):
        return ~((values >= info.min) & (values <= info.max) & (values == np.floor(values)))


def _fits(values, code) -> bool:
    return not _misfits(values, code).any()


def _typed(values, p, element, what):
    """ascii numbers (float64) as the declared type; an integer type must hold them exactly."""
    if p.type[0] == "f":
        with np.errstate(over="ignore"):  # beyond float32: inf, as a binary file would hold
            return values.astype(p.type)
    bad = _misfits(values, p.type)
    if bad.any():
        info = np.iinfo(p.type)
        raise PlyError(f"{what} is corrupt: element '{element.name}' property '{p.name}' has the value "
                       f"{values[bad][0]:g}, which is not a whole number in {info.min}..{info.max} as its type "
                       f"({p.type_name}) needs; re-export the PLY, or fix the value")
    return values.astype(p.type)


def _mismatch(what, element, why):
    return PlyError(f"{what} is corrupt: a '{element.name}' line does not match the header ({why})")


def _ascii_one_list(rows, element, keep, what) -> dict:
    """One list property (faces): each row's width and list length say where its values are, so a
    chunk is parsed at once, all triangles or mixed polygons. Extra trailing values are ignored."""
    props = element.properties
    li = next(i for i, p in enumerate(props) if p.is_list)
    widths = np.fromiter(map(len, map(bytes.split, rows)), np.int64, len(rows))
    values = _numbers(b" ".join(rows).split(), element, what)
    starts = np.cumsum(widths) - widths
    if np.any(widths <= li):
        raise _mismatch(what, element, f"a line has {int(widths.min())} values")
    k = values[starts + li]
    if not _fits(k, props[li].count_type) or k.min() < 0:
        top = np.iinfo(props[li].count_type).max
        raise _mismatch(what, element, f"list '{props[li].name}' needs a length in 0..{top}")
    k = k.astype(np.int64)
    if np.any(widths < len(props) + k):
        raise _mismatch(what, element, f"a line has fewer values than its list '{props[li].name}' says")
    cols = {}
    for i, p in enumerate(props):
        if p.name not in keep:
            continue
        if not p.is_list:  # scalars after the list sit k values further on
            cols[p.name] = _typed(values[starts + i + (k if i > li else 0)], p, element, what)
        elif k.min() < keep[p.name]:
            raise _too_short(what, element, p, int(k.min()), keep[p.name])
        elif k.min() == k.max():
            cols[p.name] = _Uniform(_typed(values[(starts + li + 1)[:, None] + np.arange(k[0])], p, element, what))
        else:
            first = starts + li + 1 - (np.cumsum(k) - k)  # of each row's items, less the items before it
            flat = values[np.repeat(first, k) + np.arange(int(k.sum()))]
            cols[p.name] = (_typed(flat, p, element, what), k.astype(np.int32))
    return cols


def _ascii_ragged(tokens, element, keep, what):
    """Rows with several lists: walk each row by the header. Extra trailing values are ignored."""
    props = element.properties
    values = {p.name: [] for p in props if p.name in keep}
    counts = {p.name: [] for p in props if p.is_list and p.name in keep}
    for t in tokens:
        pos = 0
        for p in props:
            if p.is_list:
                k = _list_length(t, pos, p, element, what)
                if p.name in keep:
                    if k < keep[p.name]:
                        raise _too_short(what, element, p, k, keep[p.name])
                    values[p.name].extend(t[pos + 1 : pos + 1 + k])
                    counts[p.name].append(k)
                pos += 1 + k
            else:
                if p.name in keep and pos < len(t):
                    values[p.name].append(t[pos])
                pos += 1
        if pos > len(t):
            raise _mismatch(what, element, f"it has {len(t)} values, {pos} are needed")
    cols = {}
    for p in props:
        if p.name in keep:
            typed = _typed(_numbers(values[p.name], element, what), p, element, what)
            cols[p.name] = (typed, np.array(counts[p.name], np.int32)) if p.is_list else typed
    return cols


def _list_length(t, pos, p, element, what) -> int:
    try:
        k = float(t[pos])
    except (ValueError, IndexError):
        k = None
    info = np.iinfo(p.count_type)
    if k is None or not (k.is_integer() and 0 <= k <= info.max) or pos + 1 + k > len(t):
        raise _mismatch(what, element, f"list '{p.name}' needs a length in 0..{info.max} and that many values")
    return int(k)


def _join_parts(parts, element, keep) -> dict:
    """One column per kept property from the ascii chunks' columns."""
    cols = {}
    for p in element.properties:
        if p.name not in keep:
            continue
        got = [part.pop(p.name) for part in parts]  # each chunk's column is freed once joined
        if not got:
            cols[p.name] = _empty(p)
        elif not p.is_list:
            cols[p.name] = np.concatenate(got)
        elif all(isinstance(g, _Uniform) for g in got) and len({g.values.shape[1] for g in got}) == 1:
            cols[p.name] = _Uniform(np.concatenate([g.values for g in got]))
        else:
            flat = [g.values.reshape(-1) if isinstance(g, _Uniform) else g[0] for g in got]
            counts = [np.full(len(g.values), g.values.shape[1], np.int32) if isinstance(g, _Uniform) else g[1]
                      for g in got]
            cols[p.name] = (np.concatenate(flat), np.concatenate(counts))
    return cols


# ----------------------------------------------------------------------------- checks


def _absurd(values) -> tuple:
    """(non-zero values, of them absurd for a position: nan, inf, |v| > 1e20, or tiny like a denormal)."""
    with np.errstate(invalid="ignore"):  # signalling nans
        a = np.abs(values.astype(np.float64))
        nonzero = a != 0
        bad = nonzero & ~((a <= 1e20) & (a >= 1e-30))
    return int(nonzero.sum()), int(bad.sum())


def _check_byte_order(vcols, vertex, fmt, what) -> None:
    """A body written in the other byte order reads as absurd floats (huge, tiny, nan) whose byte-swapped
    reading is plausible. Valid files have next to no absurd positions, so a sample decides."""
    cols = [vcols[n] for n in _POSITION_NAMES if vertex.prop(n).type[0] == "f"]
    if not cols or not vertex.count:
        return
    step = -(-vertex.count * len(cols) // _SAMPLE)
    sample = [np.array(c[::step]) for c in cols]  # keeps the file's byte order
    n, bad = map(sum, zip(*(_absurd(s) for s in sample)))
    if not n or bad < 0.25 * n:
        return
    _, bad_swapped = map(sum, zip(*(_absurd(s.byteswap()) for s in sample)))
    if bad_swapped <= 0.02 * n:
        other = "binary_little_endian" if fmt == "binary_big_endian" else "binary_big_endian"
        raise PlyError(f"{what}: the header says {fmt} but the data reads as {other.split('_')[1]}-endian "
                       f"({bad} of {n} sampled positions make no sense as written, byte-swapped they do): the body's "
                       f"byte order does not match the header; re-export it (or fix its format line to '{other}')")


def _face_list(face: _Element | None) -> _Property | None:
    if face is None:
        return None
    for name in _FACE_LIST_NAMES:
        p = face.prop(name)
        if p is not None and p.is_list:
            return p
    return next((p for p in face.properties if p.is_list), None)


def _faces_from(col, n_vertices, what):
    if isinstance(col, _Uniform):
        if col.values.shape[0] and col.values.shape[1] < 3:
            raise PlyError(f"{what} is corrupt: faces need at least 3 corners, these have {col.values.shape[1]}")
        flat, counts = col.values.reshape(-1), None
    else:
        flat, counts = col
        if counts.size and counts.min() < 3:
            raise PlyError(f"{what} is corrupt: a face has fewer than 3 corners")
    if flat.size:
        if flat.dtype.kind == "f" and not _fits(flat, "i4"):
            raise PlyError(f"{what} is corrupt: a face has a vertex index that is not a whole number")
        lo, hi = flat.min(), flat.max()
        if lo < 0 or hi >= n_vertices:
            raise PlyError(f"{what} is corrupt: a face refers to vertex {int(hi if hi >= n_vertices else lo)}, "
                           f"but there are {n_vertices} vertices")
    if counts is None:
        return np.ascontiguousarray(col.values, dtype=np.int32)
    return RaggedFaces(flat.astype(np.int32), counts)


# ----------------------------------------------------------------------------- read


def _float32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def _colors_from(columns, props):
    chans = [None, None, None]
    types = [None, None, None]
    for p in props:
        idx = _COLOR_NAMES.get(p.name)
        if idx is not None and chans[idx] is None and not p.is_list:
            chans[idx] = columns[p.name]
            types[idx] = p.type
    if any(c is None for c in chans):
        return None, set()
    used = {p.name for p in props if _COLOR_NAMES.get(p.name) is not None and not p.is_list}
    out = np.empty((len(chans[0]), 3), np.uint8)
    for i, (c, t) in enumerate(zip(chans, types)):
        if t == "u1":
            out[:, i] = c
        elif t[0] == "f":
            v = np.nan_to_num(np.asarray(c, np.float32), nan=0.0)
            # Floats are 0..1 by convention; a file of floats in 0..255 is taken as bytes.
            scale = 255.0 if (v.size == 0 or float(v.max()) <= 1.0) else 1.0
            out[:, i] = np.clip(np.rint(v * scale), 0, 255).astype(np.uint8)
        elif t == "u2":
            out[:, i] = (np.asarray(c, np.uint32) // 257).astype(np.uint8)
        else:
            out[:, i] = np.clip(np.asarray(c, np.int64), 0, 255).astype(np.uint8)
    return out, used


def read_ply(path) -> PlyData:
    """Read a PLY file (binary either endianness or ascii). Raises :class:`PlyError`, or
    ``FileNotFoundError`` when there is no such file."""
    what = f"'{os.fspath(path)}'"
    try:
        data = files.read_bytes(path, _MAX_FILE)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} does not exist") from None
    except files.NotARegularFile:
        raise PlyError(f"{what} is {_kind(path)}, not a PLY file; choose a .ply file") from None
    except files.TooLarge:
        raise PlyError(f"{what} is larger than {_MAX_FILE >> 30} GiB, the most a PLY is read at; "
                       "decimate or split the cloud before exporting it") from None
    except OSError as exc:
        raise PlyError(f"{what} cannot be read: {exc.strerror or exc}") from None
    return parse_ply(data, what)


def _kind(path) -> str:
    try:
        return files.kind_of(os.stat(path).st_mode)
    except OSError:
        return "not a regular file"


def parse_ply(data: bytes, what: str = "the data") -> PlyData:
    """Parse a PLY file already in memory (bytes)."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"parse_ply reads bytes, not {type(data).__name__}")
    header = _parse_header(data, what)
    _check_body_size(data, header, what)
    vertex = header.element("vertex")
    face_list = _face_list(header.element("face"))
    keep = {"vertex": {p.name: 0 for p in vertex.properties if not p.is_list}}
    if face_list is not None:
        keep["face"] = {face_list.name: 3}  # fewer corners is refused as soon as it is read
    read = _read_ascii if header.format == "ascii" else _read_binary
    columns = read(data, header, keep, what)
    vcols = columns["vertex"]
    if header.format != "ascii":
        _check_byte_order(vcols, vertex, header.format, what)

    n = vertex.count
    with np.errstate(over="ignore", invalid="ignore"):  # doubles beyond float32 become inf, as written
        points = np.empty((n, 3), np.float32)
        for i, name in enumerate(_POSITION_NAMES):
            points[:, i] = vcols[name]
        colors, used = _colors_from(vcols, vertex.properties)
        used |= set(_POSITION_NAMES)
        extra = {p.name: _float32(vcols[p.name]) for p in vertex.properties if p.name not in used and not p.is_list}
    faces = None
    if face_list is not None:
        faces = _faces_from(columns["face"][face_list.name], n, what)
    return PlyData(points=points, colors=colors, faces=faces, extra=extra, comments=header.comments)


# ----------------------------------------------------------------------------- write


def face_arrays(faces):
    """Any face layout (RaggedFaces, an (M, k) array, a list of index lists, or a (flat, counts)
    pair) as (flat int32 corner indices, int32 corners per face); None for no faces."""
    if faces is None:
        return None
    if isinstance(faces, tuple) and len(faces) == 2 and isinstance(faces[1], np.ndarray) and faces[1].ndim == 1:
        return np.ascontiguousarray(faces[0], np.int32), np.ascontiguousarray(faces[1], np.int32)
    if isinstance(faces, RaggedFaces):
        return faces.flat, faces.counts
    if isinstance(faces, np.ndarray) and faces.ndim == 2:
        m, k = faces.shape
        return np.ascontiguousarray(faces, np.int32).reshape(-1), np.full(m, k, np.int32)
    arrays = [np.asarray(f, np.int64).reshape(-1) for f in faces]
    counts = np.fromiter((a.size for a in arrays), np.int32, len(arrays))
    flat = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, np.int32)
    return flat, counts


def write_ply(path, points, colors=None, faces=None, extra=None, comments=()) -> None:
    """Write a binary little-endian PLY atomically (a temporary name, then ``os.replace``).

    ``points`` float (N, 3); ``colors`` uint8 (N, 3) or None; ``faces`` int (M, k) or a
    list of index sequences, or None; ``extra`` name -> (N,) values, written as float.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), not {points.shape}")
    n = points.shape[0]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != (n, 3):
            raise ValueError(f"colors must have shape ({n}, 3), not {colors.shape}")
        if colors.dtype != np.uint8:
            if np.issubdtype(colors.dtype, np.floating):
                colors = np.clip(np.rint(colors * 255.0), 0, 255).astype(np.uint8)
            else:
                colors = np.clip(colors, 0, 255).astype(np.uint8)
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    extra = dict(extra or {})
    reserved = {"x", "y", "z", "red", "green", "blue"}
    for name, values in extra.items():
        if not isinstance(name, str) or not _NAME_RE.match(name) or name in reserved:
            raise ValueError(f"bad extra property name {name!r}")
        if np.asarray(values).shape != (n,):
            raise ValueError(f"extra property {name!r} must have shape ({n},), not {np.asarray(values).shape}")
        fields.append((name, "<f4"))
    vertices = np.empty(n, dtype=np.dtype(fields))
    vertices["x"], vertices["y"], vertices["z"] = points[:, 0], points[:, 1], points[:, 2]
    if colors is not None:
        vertices["red"], vertices["green"], vertices["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    for name, values in extra.items():
        vertices[name] = values

    face_bytes = None
    m = 0
    if faces is not None:
        flat, counts = face_arrays(faces)
        m = int(counts.size)
        if m:
            if counts.min() < 3 or counts.max() > 255:
                raise ValueError("every face needs between 3 and 255 corners")
            if flat.min() < 0 or flat.max() >= n:
                raise ValueError(f"a face refers to a vertex outside 0..{n - 1}")
        face_bytes = _face_bytes(flat, counts)

    header = ["ply", "format binary_little_endian 1.0"]
    header += [f"comment {c}" for c in comments]
    header.append(f"element vertex {n}")
    names = {"<f4": "float", "u1": "uchar"}
    header += [f"property {names[t]} {name}" for name, t in fields]
    if faces is not None:
        header += [f"element face {m}", "property list uchar int vertex_indices"]
    header.append("end_header")
    head = ("\n".join(header) + "\n").encode("ascii")

    with files.atomic_path(path, ".ply") as tmp, open(tmp, "wb") as f:
        f.write(head)
        f.write(vertices.tobytes())
        if face_bytes is not None:
            f.write(face_bytes)


def _face_bytes(flat, counts) -> bytes:
    m = counts.size
    if m == 0:
        return b""
    k = int(counts[0])
    if np.all(counts == k):
        rec = np.empty(m, dtype=np.dtype([("n", "u1"), ("v", "<i4", (k,))]))
        rec["n"] = k
        rec["v"] = flat.reshape(m, k)
        return rec.tobytes()
    # Mixed polygons: each record is one count byte then 4 bytes per corner.
    sizes = 1 + 4 * counts.astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = np.empty(int(sizes.sum()), np.uint8)
    is_count = np.zeros(out.size, bool)
    is_count[starts] = True
    out[starts] = counts.astype(np.uint8)
    out[~is_count] = np.ascontiguousarray(flat, "<i4").view(np.uint8)
    return out.tobytes()
