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
truncated or corrupt, raises :class:`PlyError` (a ``ValueError``) with a plain message.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field

import numpy as np

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
_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_MAX_HEADER = 1 << 20
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


# ----------------------------------------------------------------------------- header


@dataclass
class _Property:
    name: str
    type: str  # numpy code without byte order
    count_type: str | None = None  # list properties only

    @property
    def is_list(self) -> bool:
        return self.count_type is not None


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


@dataclass
class _Element:
    name: str
    count: int
    properties: list = field(default_factory=list)

    def prop(self, name):
        for p in self.properties:
            if p.name == name:
                return p
        return None


def _parse_header(data: bytes, what: str):
    first = data[:5].split(b"\n", 1)[0].rstrip(b"\r")
    if not data.startswith(b"ply") or first != b"ply":
        raise PlyError(f"{what} is not a PLY file (it does not start with a 'ply' line)")
    end = -1
    for marker in (b"end_header\n", b"end_header\r\n", b"end_header\r"):
        pos = data.find(marker, 0, _MAX_HEADER)
        if pos >= 0 and (end < 0 or pos < end):
            end, end_len = pos, len(marker)
    if end < 0:
        raise PlyError(f"{what} has no complete PLY header ('end_header' is missing)")
    try:
        text = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise PlyError(f"{what} has a PLY header that is not ASCII text") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[0].strip() != "ply":
        raise PlyError(f"{what} is not a PLY file (first line is not 'ply')")
    fmt = None
    elements: list[_Element] = []
    comments = []
    for number, raw in enumerate(lines[1:], start=2):
        words = raw.split()
        if not words:
            continue
        key = words[0]
        bad = PlyError(f"{what}: malformed PLY header line {number}: {raw.strip()!r}")
        if key == "format":
            if len(words) < 2 or words[1] not in _FORMATS:
                raise PlyError(f"{what}: unsupported PLY format {' '.join(words[1:])!r}")
            fmt = words[1]
        elif key in ("comment", "obj_info"):
            comments.append(raw.strip()[len(key) :].strip())
        elif key == "element":
            if len(words) != 3:
                raise bad
            try:
                count = int(words[2])
            except ValueError:
                raise bad from None
            if count < 0:
                raise bad
            elements.append(_Element(words[1], count))
        elif key == "property":
            if not elements:
                raise PlyError(f"{what}: PLY property before any element (line {number})")
            if len(words) == 3 and words[1] in _TYPES:
                elements[-1].properties.append(_Property(words[2], _TYPES[words[1]]))
            elif len(words) == 5 and words[1] == "list" and words[2] in _TYPES and words[3] in _TYPES:
                count_type = _TYPES[words[2]]
                if count_type[0] == "f":
                    raise bad
                elements[-1].properties.append(_Property(words[4], _TYPES[words[3]], count_type))
            else:
                raise bad
        else:
            raise bad
    if fmt is None:
        raise PlyError(f"{what}: the PLY header has no 'format' line")
    return fmt, elements, comments, end + end_len


# ----------------------------------------------------------------------------- binary


def _scalar_dtype(element: _Element, order: str) -> np.dtype:
    names = [p.name for p in element.properties]
    if len(set(names)) != len(names):
        # Duplicate names: make them unique so that numpy accepts the layout.
        seen = {}
        unique = []
        for n in names:
            seen[n] = seen.get(n, 0) + 1
            unique.append(n if seen[n] == 1 else f"{n}.{seen[n] - 1}")
        names = unique
    return np.dtype([(n, order + p.type) for n, p in zip(names, element.properties)])


def _truncated(what, element, needed, have):
    return PlyError(
        f"{what} is truncated or corrupt: element '{element.name}' needs {needed} more bytes, "
        f"only {max(have, 0)} are left"
    )


def _read_binary_element(buf, offset, element: _Element, order: str, what: str):
    """Returns (columns dict name -> array, new offset). List columns hold (flat, counts)."""
    if not any(p.is_list for p in element.properties):
        dtype = _scalar_dtype(element, order)
        needed = dtype.itemsize * element.count
        if offset + needed > len(buf):
            raise _truncated(what, element, needed, len(buf) - offset)
        arr = np.frombuffer(buf, dtype=dtype, count=element.count, offset=offset)
        return {p.name: arr[n] for p, n in zip(element.properties, dtype.names)}, offset + needed
    smallest = element.count * sum(
        np.dtype(p.count_type if p.is_list else p.type).itemsize for p in element.properties
    )
    if offset + smallest > len(buf):
        raise _truncated(what, element, smallest, len(buf) - offset)
    if element.count == 0:
        cols = {}
        for p in element.properties:
            empty = np.zeros(0, np.dtype(p.type))
            cols[p.name] = (empty, np.zeros(0, np.int64)) if p.is_list else empty
        return cols, offset
    uniform = _read_uniform_lists(buf, offset, element, order)
    if uniform is not None:
        return uniform
    return _read_ragged_lists(buf, offset, element, order, what)


def _read_uniform_lists(buf, offset, element, order):
    """Fast path: every list property has the same length in every record (triangles, quads)."""
    fields = []
    pos = offset
    for i, p in enumerate(element.properties):
        if p.is_list:
            ct = np.dtype(order + p.count_type)
            if pos + ct.itemsize > len(buf):
                return None
            k = int(np.frombuffer(buf, ct, 1, pos)[0])
            if k < 0:
                return None
            fields.append((f"c{i}", ct))
            fields.append((f"v{i}", np.dtype(order + p.type), (k,)))
            pos += ct.itemsize + k * np.dtype(p.type).itemsize
        else:
            t = np.dtype(order + p.type)
            fields.append((f"s{i}", t))
            pos += t.itemsize
    dtype = np.dtype(fields)
    needed = dtype.itemsize * element.count
    if offset + needed > len(buf):
        return None
    arr = np.frombuffer(buf, dtype=dtype, count=element.count, offset=offset)
    cols = {}
    for i, p in enumerate(element.properties):
        if p.is_list:
            counts = arr[f"c{i}"]
            k = dtype[f"v{i}"].shape[0] if dtype[f"v{i}"].shape else 0
            if counts.size and (counts.min() != k or counts.max() != k):
                return None
            cols[p.name] = _Uniform(arr[f"v{i}"].reshape(element.count, k))
        else:
            cols[p.name] = arr[f"s{i}"]
    return cols, offset + needed


def _read_ragged_lists(buf, offset, element, order, what):
    """Slow path for mixed list lengths (mixed triangles and quads): walk record by record."""
    import struct

    mv = memoryview(buf)
    fmt = {"<": "<", ">": ">"}[order]
    struct_codes = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}
    props = element.properties
    flat = {p.name: [] for p in props if p.is_list}
    counts = {p.name: np.empty(element.count, np.int64) for p in props if p.is_list}
    scalars = {p.name: [] for p in props if not p.is_list}
    unpackers = {}
    for p in props:
        unpackers[p.name] = (
            struct.Struct(fmt + struct_codes[p.count_type]) if p.is_list else struct.Struct(fmt + struct_codes[p.type])
        )
    item_sizes = {p.name: np.dtype(p.type).itemsize for p in props}
    pos = offset
    end = len(buf)
    try:
        for r in range(element.count):
            for p in props:
                u = unpackers[p.name]
                if p.is_list:
                    (k,) = u.unpack_from(mv, pos)
                    pos += u.size
                    nbytes = k * item_sizes[p.name]
                    if k < 0 or pos + nbytes > end:
                        raise _truncated(what, element, nbytes, end - pos)
                    flat[p.name].append(mv[pos : pos + nbytes])
                    counts[p.name][r] = k
                    pos += nbytes
                else:
                    (v,) = u.unpack_from(mv, pos)
                    scalars[p.name].append(v)
                    pos += u.size
    except struct.error:
        raise _truncated(what, element, 1, end - pos) from None
    cols = {}
    for p in props:
        if p.is_list:
            data = b"".join(flat[p.name])
            cols[p.name] = (np.frombuffer(data, np.dtype(order + p.type)), counts[p.name])
        else:
            cols[p.name] = np.asarray(scalars[p.name], dtype=np.dtype(p.type))
    return cols, pos


# ----------------------------------------------------------------------------- ascii


def _read_ascii(body: bytes, elements, what):
    text_lines = body.split(b"\n")
    line = 0
    n_lines = len(text_lines)
    result = {}
    for element in elements:
        rows = []
        while len(rows) < element.count:
            if line >= n_lines:
                raise PlyError(
                    f"{what} is truncated: element '{element.name}' needs {element.count} lines, found {len(rows)}"
                )
            raw = text_lines[line].strip()
            line += 1
            if raw:
                rows.append(raw)
        if not any(p.is_list for p in element.properties):
            try:
                values = np.array(b" ".join(rows).split(), dtype=np.float64)
            except ValueError:
                raise PlyError(f"{what} is corrupt: element '{element.name}' has a value that is not a number") from None
            n_props = len(element.properties)
            if values.size != element.count * n_props:
                raise PlyError(
                    f"{what} is corrupt: element '{element.name}' should have {n_props} values per line"
                )
            values = values.reshape(element.count, n_props) if n_props else values.reshape(element.count, 0)
            result[element.name] = {
                p.name: values[:, i].astype(np.dtype(p.type)) for i, p in enumerate(element.properties)
            }
            continue
        result[element.name] = _ascii_list_element(rows, element, what)
    return result


def _ascii_list_element(rows, element, what):
    props = element.properties
    # Fast path: one list property, every row the same number of tokens (all triangles).
    try:
        tokens = [r.split() for r in rows]
    except Exception:  # pragma: no cover
        raise PlyError(f"{what} is corrupt") from None
    lengths = {len(t) for t in tokens}
    list_index = [i for i, p in enumerate(props) if p.is_list]
    if len(lengths) == 1 and len(list_index) == 1 and rows:
        width = lengths.pop()
        try:
            table = np.array([x for t in tokens for x in t], dtype=np.float64).reshape(len(rows), width)
        except ValueError:
            raise PlyError(f"{what} is corrupt: element '{element.name}' has a value that is not a number") from None
        li = list_index[0]
        k = int(table[0, li]) if width > li else -1
        if width == len(props) - 1 + 1 + k and k >= 0 and np.all(table[:, li] == k):
            cols = {}
            col = 0
            for i, p in enumerate(props):
                if p.is_list:
                    cols[p.name] = _Uniform(table[:, col + 1 : col + 1 + k].astype(np.dtype(p.type)))
                    col += 1 + k
                else:
                    cols[p.name] = table[:, col].astype(np.dtype(p.type))
                    col += 1
            return cols
    flat = {p.name: [] for p in props if p.is_list}
    counts = {p.name: [] for p in props if p.is_list}
    scalars = {p.name: [] for p in props if not p.is_list}
    for t in tokens:
        pos = 0
        try:
            for p in props:
                if p.is_list:
                    k = int(t[pos])
                    if k < 0:
                        raise ValueError
                    vals = t[pos + 1 : pos + 1 + k]
                    if len(vals) != k:
                        raise ValueError
                    flat[p.name].extend(float(v) for v in vals)
                    counts[p.name].append(k)
                    pos += 1 + k
                else:
                    scalars[p.name].append(float(t[pos]))
                    pos += 1
        except (ValueError, IndexError):
            raise PlyError(f"{what} is corrupt: a '{element.name}' line does not match the header") from None
    cols = {}
    for p in props:
        if p.is_list:
            cols[p.name] = (np.asarray(flat[p.name], np.dtype(p.type)), np.asarray(counts[p.name], np.int64))
        else:
            cols[p.name] = np.asarray(scalars[p.name], np.dtype(p.type))
    return cols


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


def _faces_from(columns, element, n_vertices, what):
    prop = None
    for name in _FACE_LIST_NAMES:
        p = element.prop(name)
        if p is not None and p.is_list:
            prop = p
            break
    if prop is None:
        lists = [p for p in element.properties if p.is_list]
        if not lists:
            return None
        prop = lists[0]
    col = columns[prop.name]
    if isinstance(col, _Uniform):
        faces = np.ascontiguousarray(col.values, dtype=np.int32)
        if faces.shape[0] and faces.shape[1] < 3:
            raise PlyError(f"{what} is corrupt: faces need at least 3 corners, these have {faces.shape[1]}")
        flat = faces.reshape(-1)
    else:
        flat, counts = col
        flat = np.asarray(flat, np.int64)
        if counts.size and counts.min() < 3:
            raise PlyError(f"{what} is corrupt: a face has fewer than 3 corners")
        faces = None
    if flat.size and (flat.min() < 0 or flat.max() >= n_vertices):
        raise PlyError(
            f"{what} is corrupt: a face refers to vertex {int(flat.max() if flat.max() >= n_vertices else flat.min())}, "
            f"but there are {n_vertices} vertices"
        )
    if faces is None:
        faces = RaggedFaces(flat.astype(np.int32), counts.astype(np.int32))
    return faces


def read_ply(path) -> PlyData:
    """Read a PLY file (binary either endianness or ascii). Raises :class:`PlyError`."""
    what = f"'{os.fspath(path)}'"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} does not exist") from None
    except IsADirectoryError:
        raise PlyError(f"{what} is a folder, not a PLY file") from None
    return parse_ply(data, what)


def parse_ply(data: bytes, what: str = "the data") -> PlyData:
    """Parse a PLY file already in memory."""
    fmt, elements, comments, body_start = _parse_header(data, what)
    vertex = next((e for e in elements if e.name == "vertex"), None)
    if vertex is None:
        raise PlyError(f"{what} has no 'vertex' element")
    missing = [n for n in _POSITION_NAMES if vertex.prop(n) is None or vertex.prop(n).is_list]
    if missing:
        raise PlyError(f"{what}: the vertex element has no {'/'.join(missing)} property")
    face_el = next((e for e in elements if e.name == "face"), None)

    columns_by_element = {}
    if fmt == "ascii":
        columns_by_element = _read_ascii(data[body_start:], elements, what)
    else:
        order = _FORMATS[fmt]
        offset = body_start
        wanted = {id(vertex), id(face_el)} - {id(None)}
        for element in elements:
            cols, offset = _read_binary_element(data, offset, element, order, what)
            columns_by_element[element.name] = cols
            wanted.discard(id(element))
            if not wanted:
                break  # elements after the ones we need are never read

    vcols = columns_by_element["vertex"]
    n = vertex.count
    points = np.empty((n, 3), np.float32)
    for i, name in enumerate(_POSITION_NAMES):
        points[:, i] = vcols[name]
    colors, used = _colors_from(vcols, vertex.properties)
    used |= set(_POSITION_NAMES)
    extra = {}
    for p in vertex.properties:
        if p.name in used or p.is_list or p.name in extra:
            continue
        extra[p.name] = _float32(vcols[p.name])
    faces = None
    if face_el is not None:
        faces = _faces_from(columns_by_element["face"], face_el, n, what)
    return PlyData(points=points, colors=colors, faces=faces, extra=extra, comments=comments)


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

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ply", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            f.write(vertices.tobytes())
            if face_bytes is not None:
                f.write(face_bytes)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
