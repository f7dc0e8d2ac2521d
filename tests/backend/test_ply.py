"""PLY reading and writing (ps4pro_blender/ply.py).

Runs under both interpreters, since both sides use the module:
    .venv/backend/bin/python -m pytest tests/backend/test_ply.py
    .venv/blender/bin/python -m pytest tests/backend/test_ply.py
"""

import os

import numpy as np
import pytest

from ps4pro_blender import ply


def _cloud(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, 3)).astype(np.float32),
        rng.integers(0, 256, size=(n, 3), dtype=np.uint8),
    )


def test_module_is_numpy_and_stdlib_only():
    lines = [line.strip() for line in open(ply.__file__, encoding="utf-8")]
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    assert imports and not [line for line in imports if "bpy" in line or "torch" in line]


# ----------------------------------------------------------------------------- round trips


def test_binary_round_trip_points_colours_extra(tmp_path):
    pts, cols = _cloud(1000)
    extra = {"opacity": np.linspace(0, 1, 1000, dtype=np.float32), "nx": pts[:, 0], "confidence": pts[:, 1] * 2}
    path = tmp_path / "cloud.ply"
    ply.write_ply(path, pts, cols, extra=extra)
    head = path.read_bytes()[:400]
    assert head.startswith(b"ply\nformat binary_little_endian 1.0\n")
    assert b"property float x\n" in head and b"property uchar red\n" in head
    assert b"property float opacity\n" in head

    data = ply.read_ply(path)
    assert data.points.dtype == np.float32 and data.points.flags.c_contiguous
    np.testing.assert_array_equal(data.points, pts)
    assert data.colors.dtype == np.uint8
    np.testing.assert_array_equal(data.colors, cols)
    assert data.faces is None and data.face_count == 0
    assert list(data.extra) == ["opacity", "nx", "confidence"]
    for name, values in extra.items():
        assert data.extra[name].dtype == np.float32
        np.testing.assert_array_equal(data.extra[name], values)


def test_round_trip_without_colours_and_empty(tmp_path):
    pts, _ = _cloud(10)
    ply.write_ply(tmp_path / "a.ply", pts)
    data = ply.read_ply(tmp_path / "a.ply")
    assert data.colors is None and data.extra == {}
    np.testing.assert_array_equal(data.points, pts)

    ply.write_ply(tmp_path / "empty.ply", np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), faces=[])
    data = ply.read_ply(tmp_path / "empty.ply")
    assert data.points.shape == (0, 3) and data.colors.shape == (0, 3) and data.face_count == 0


def test_round_trip_triangles_and_quads(tmp_path):
    pts, cols = _cloud(50)
    rng = np.random.default_rng(1)
    for k in (3, 4):
        faces = rng.integers(0, 50, size=(80, k))
        ply.write_ply(tmp_path / f"f{k}.ply", pts, cols, faces)
        data = ply.read_ply(tmp_path / f"f{k}.ply")
        assert isinstance(data.faces, np.ndarray) and data.faces.dtype == np.int32
        np.testing.assert_array_equal(data.faces, faces)
        flat, counts = data.face_arrays()
        np.testing.assert_array_equal(flat, faces.ravel())
        assert np.all(counts == k)


def test_round_trip_mixed_polygons(tmp_path):
    pts, _ = _cloud(20)
    faces = [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9, 10, 11], [1, 2, 3]]
    ply.write_ply(tmp_path / "mixed.ply", pts, None, faces)
    data = ply.read_ply(tmp_path / "mixed.ply")
    assert len(data.faces) == 4
    assert [f.tolist() for f in data.faces] == faces
    assert data.faces[-1].tolist() == [1, 2, 3]
    flat, counts = data.face_arrays()
    assert flat.tolist() == sum(faces, []) and counts.tolist() == [3, 4, 5, 3]


def test_write_is_atomic(tmp_path):
    pts, cols = _cloud(10)
    path = tmp_path / "out.ply"
    ply.write_ply(path, pts, cols)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        ply.write_ply(path, pts, cols[:5])  # wrong shape: nothing written
    with pytest.raises(ValueError):
        ply.write_ply(path, pts, cols, faces=[[0, 1, 99]])  # face outside the vertices
    assert path.read_bytes() == before
    ply.write_ply(path, pts * 2, cols)
    np.testing.assert_array_equal(ply.read_ply(path).points, pts * 2)
    assert sorted(os.listdir(tmp_path)) == ["out.ply"]  # no temporary files left behind
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_write_float_colours_and_bad_names(tmp_path):
    pts, _ = _cloud(3)
    ply.write_ply(tmp_path / "c.ply", pts, np.array([[1.0, 0.5, 0.0]] * 3))
    np.testing.assert_array_equal(ply.read_ply(tmp_path / "c.ply").colors, [[255, 128, 0]] * 3)
    with pytest.raises(ValueError):
        ply.write_ply(tmp_path / "d.ply", pts, extra={"has space": np.zeros(3)})
    with pytest.raises(ValueError):
        ply.write_ply(tmp_path / "d.ply", pts, extra={"x": np.zeros(3)})
    with pytest.raises(ValueError):
        ply.write_ply(tmp_path / "d.ply", pts[:, :2])


# ----------------------------------------------------------------------------- foreign files


ASCII = b"""ply\r
format ascii 1.0\r
comment made by hand\r
obj_info test\r
element vertex 4\r
property float nx\r
property double z\r
property float diffuse_blue\r
property double x\r
property float diffuse_green\r
property double y\r
property float diffuse_red\r
property float ny\r
property float nz\r
element face 3\r
property list uchar int vertex_indices\r
property uchar flags\r
element edge 1\r
property int vertex1\r
property int vertex2\r
end_header\r
0 3 0.0 1 1.0 2 0.5 0 1\r
0 6 0.25 4 0.5 5 1.0 1 0\r
0 9 1.0 7 0.0 8 0.0 0 0\r
\r
1 12 0.5 10 0.25 11 0.75 0 1\r
3 0 1 2 7\r
4 0 1 2 3 0\r
3 1 2 3 1\r
0 1\r
"""


def test_ascii_written_by_hand(tmp_path):
    path = tmp_path / "hand.ply"
    path.write_bytes(ASCII)
    data = ply.read_ply(path)
    np.testing.assert_array_equal(data.points, [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])
    # float colours in 0..1 -> bytes, diffuse_* spelling
    np.testing.assert_array_equal(data.colors, [[128, 255, 0], [255, 128, 64], [0, 0, 255], [191, 64, 128]])
    assert sorted(data.extra) == ["nx", "ny", "nz"]
    np.testing.assert_array_equal(data.extra["nz"], [1, 0, 0, 1])
    assert [f.tolist() for f in data.faces] == [[0, 1, 2], [0, 1, 2, 3], [1, 2, 3]]
    assert "made by hand" in data.comments


def test_ascii_uniform_triangles(tmp_path):
    text = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
    text += "property uchar red\nproperty uchar green\nproperty uchar blue\n"
    text += "element face 2\nproperty list uchar uint vertex_indices\nend_header\n"
    text += "0 0 0 255 0 0\n1 0 0 0 255 0\n0 1 0 0 0 255\n3 0 1 2\n3 2 1 0\n"
    (tmp_path / "t.ply").write_text(text)
    data = ply.read_ply(tmp_path / "t.ply")
    assert isinstance(data.faces, np.ndarray)
    np.testing.assert_array_equal(data.faces, [[0, 1, 2], [2, 1, 0]])
    np.testing.assert_array_equal(data.colors, np.eye(3) * 255)


def _binary(order, vertex_fields, vertices, face_records=b"", n_faces=None, before=b"", before_header=""):
    header = f"ply\nformat binary_{'big' if order == '>' else 'little'}_endian 1.0\n{before_header}"
    header += f"element vertex {len(vertices)}\n"
    names = {"f4": "float", "f8": "double", "u1": "uchar", "u2": "ushort", "i4": "int", "i2": "short"}
    for name, t in vertex_fields:
        header += f"property {names[t]} {name}\n"
    if n_faces is not None:
        header += f"element face {n_faces}\nproperty list uchar int vertex_indices\n"
    header += "end_header\n"
    dtype = np.dtype([(name, order + t) for name, t in vertex_fields])
    arr = np.array([tuple(v) for v in vertices], dtype=dtype)
    return header.encode() + before + arr.tobytes() + face_records


def test_big_endian_doubles_and_ragged_faces(tmp_path):
    fields = [("red", "u1"), ("x", "f8"), ("y", "f8"), ("z", "f8"), ("green", "u1"), ("blue", "u1"), ("quality", "i2")]
    verts = [(10, 1.5, 2.5, 3.5, 20, 30, -4), (40, -1, -2, -3, 50, 60, 7), (0, 0, 0, 0, 0, 0, 0), (1, 1, 1, 1, 1, 1, 1)]
    faces = [[0, 1, 2], [0, 1, 2, 3]]
    records = b"".join(bytes([len(f)]) + np.array(f, ">i4").tobytes() for f in faces)
    (tmp_path / "be.ply").write_bytes(_binary(">", fields, verts, records, n_faces=2))
    data = ply.read_ply(tmp_path / "be.ply")
    np.testing.assert_array_equal(data.points, [[1.5, 2.5, 3.5], [-1, -2, -3], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(data.colors[:2], [[10, 20, 30], [40, 50, 60]])
    np.testing.assert_array_equal(data.extra["quality"], [-4, 7, 0, 1])
    assert [f.tolist() for f in data.faces] == faces


def test_big_endian_uniform_quads(tmp_path):
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    verts = [(i, 0, 0) for i in range(5)]
    faces = [[0, 1, 2, 3], [1, 2, 3, 4]]
    records = b"".join(bytes([4]) + np.array(f, ">i4").tobytes() for f in faces)
    (tmp_path / "q.ply").write_bytes(_binary(">", fields, verts, records, n_faces=2))
    data = ply.read_ply(tmp_path / "q.ply")
    np.testing.assert_array_equal(data.faces, faces)


def test_unknown_elements_before_the_vertices_are_skipped(tmp_path):
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")]
    # A "camera" element with a list property, then the vertices.
    before = bytes([2]) + np.array([1.0, 2.0], "<f4").tobytes() + np.array([7], "<i4").tobytes()
    before += bytes([1]) + np.array([3.0], "<f4").tobytes() + np.array([8], "<i4").tobytes()
    header = "element camera 2\nproperty list uchar float params\nproperty int id\n"
    blob = _binary("<", fields, [(1, 2, 3, 9, 8, 7)], before=before, before_header=header)
    (tmp_path / "u.ply").write_bytes(blob)
    data = ply.read_ply(tmp_path / "u.ply")
    np.testing.assert_array_equal(data.points, [[1, 2, 3]])
    np.testing.assert_array_equal(data.colors, [[9, 8, 7]])


def test_float_colours_in_binary(tmp_path):
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "f4"), ("green", "f4"), ("blue", "f4")]
    (tmp_path / "fc.ply").write_bytes(_binary("<", fields, [(0, 0, 0, 1.0, 0.0, 0.5)]))
    np.testing.assert_array_equal(ply.read_ply(tmp_path / "fc.ply").colors, [[255, 0, 128]])


# ----------------------------------------------------------------------------- errors


def _good(tmp_path, faces=None):
    pts, cols = _cloud(30)
    path = tmp_path / "good.ply"
    ply.write_ply(path, pts, cols, faces)
    return path.read_bytes()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda good: b"", "not a PLY"),
        (lambda good: b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not a PLY"),
        (lambda good: b"plywood is nice\n", "not a PLY"),
        (lambda good: good[: good.index(b"end_header")], "end_header"),
        (lambda good: good[:-7], "truncated"),
        (lambda good: good[: good.index(b"end_header") + 20], "truncated"),
        (lambda good: good.replace(b"binary_little_endian", b"binary_middle_endian"), "format"),
        (lambda good: good.replace(b"property float x\n", b"property float q\n"), "no x"),
        (lambda good: good.replace(b"element vertex", b"element vortex"), "no 'vertex'"),
        (lambda good: good.replace(b"property float y", b"property floaty y"), "malformed"),
        (lambda good: good.replace(b"element vertex 30", b"element vertex -3"), "malformed"),
        (lambda good: good.replace(b"element vertex 30", b"element vertex 99999999999"), "truncated"),
        (lambda good: good.replace(b"format binary_little_endian 1.0\n", b""), "format"),
        (lambda good: good.replace(b"ply\n", "ply\n\u00e9\n".encode("utf-8"), 1), "ASCII"),
    ],
)
def test_corrupt_files_raise_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.ply"
    path.write_bytes(make(_good(tmp_path, faces=[[0, 1, 2], [2, 3, 4]])))
    with pytest.raises(ply.PlyError, match=message) as info:
        ply.read_ply(path)
    assert isinstance(info.value, ValueError)
    assert "bad.ply" in str(info.value)


def test_truncated_ragged_faces_and_bad_indices(tmp_path):
    pts, _ = _cloud(10)
    ply.write_ply(tmp_path / "m.ply", pts, None, [[0, 1, 2], [0, 1, 2, 3], [4, 5, 6]])
    good = (tmp_path / "m.ply").read_bytes()
    (tmp_path / "m.ply").write_bytes(good[:-3])
    with pytest.raises(ply.PlyError, match="truncated"):
        ply.read_ply(tmp_path / "m.ply")
    bad = bytearray(good)
    bad[-4:] = np.array([1000], "<i4").tobytes()
    (tmp_path / "m.ply").write_bytes(bytes(bad))
    with pytest.raises(ply.PlyError, match="vertex 1000"):
        ply.read_ply(tmp_path / "m.ply")
    bad[-4:] = np.array([-1], "<i4").tobytes()
    (tmp_path / "m.ply").write_bytes(bytes(bad))
    with pytest.raises(ply.PlyError, match="vertex -1"):
        ply.read_ply(tmp_path / "m.ply")


def test_ascii_errors(tmp_path):
    head = "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    for body, message in [
        ("0 0 0\n", "truncated"),
        ("0 0 0\n1 one 1\n", "not a number"),
        ("0 0 0\n1 1\n", "values per line"),
    ]:
        (tmp_path / "a.ply").write_text(head + body)
        with pytest.raises(ply.PlyError, match=message):
            ply.read_ply(tmp_path / "a.ply")
    face_head = head.replace("end_header", "element face 1\nproperty list uchar int vertex_indices\nend_header")
    (tmp_path / "a.ply").write_text(face_head + "0 0 0\n1 1 1\n3 0 1\n")
    with pytest.raises(ply.PlyError, match="does not match"):
        ply.read_ply(tmp_path / "a.ply")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ply.read_ply(tmp_path / "nope.ply")
    with pytest.raises(ply.PlyError, match="folder"):
        ply.read_ply(tmp_path)


# ----------------------------------------------------------------------------- hostile files
#
# Every input is read or refused with a PlyError, quickly and within a small multiple of its size.
# The regression cases are the fuzzer's (bench/fuzz.py): one-line edits of valid files.


def _mesh_bytes(tmp_path, faces=None, n=30):
    """A valid file from our writer: binary little-endian, colours, an extra property, triangles."""
    pts, cols = _cloud(n)
    faces = np.random.default_rng(2).integers(0, n, size=(20, 3)) if faces is None else faces
    ply.write_ply(tmp_path / "w.ply", pts, cols, faces, extra={"confidence": pts[:, 0]})
    return (tmp_path / "w.ply").read_bytes()


def _split(data):
    """(header up to and including 'end_header\\n', body)."""
    end = data.index(b"end_header\n") + len(b"end_header\n")
    return data[:end], data[end:]


def _refused(data, match):
    with pytest.raises(ply.PlyError, match=match) as info:
        ply.parse_ply(data, "'bad.ply'")
    assert "bad.ply" in str(info.value)
    return str(info.value)


def _tri_header(count_type="uchar", n_faces=1):
    return ("ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
            f"property float z\nelement face {n_faces}\nproperty list {count_type} int vertex_indices\n"
            "end_header\n").encode()


TRI = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], "<f4").tobytes()


@pytest.mark.parametrize(
    "data",
    [
        # crash 1: a numpy dtype with a (2**31-1,) subarray was built for the uniform-lists fast path
        _tri_header("int") + TRI + np.array([2**31 - 1, 0, 1, 2], "<i4").tobytes(),
        _tri_header("uint") + TRI + np.array([2**32 - 1, 0, 1, 2], "<u4").tobytes(),
        _tri_header("int", 2) + TRI + np.array([3, 0, 1, 2, 2**31 - 1, 0, 1, 2], "<i4").tobytes(),
        _tri_header("uchar", 2**31 - 1) + TRI + b"\x03" + np.array([0, 1, 2], "<i4").tobytes(),
    ],
    ids=["int-count", "uint-count", "second-record", "element-count"],
)
def test_binary_list_count_2_31_minus_1_is_refused(data):
    _refused(data, "truncated or corrupt")


def test_uchar_list_count_255_in_our_mesh_is_refused(tmp_path):
    head, body = _split(_mesh_bytes(tmp_path))
    vertex_bytes = 30 * (12 + 3 + 4)
    body = bytearray(body)
    body[vertex_bytes] = 255  # the first face claims 255 corners
    _refused(head + bytes(body), "truncated or corrupt")


ASCII_MESH = (b"ply\nformat ascii 1.0\ncomment hand made\nelement vertex 4\nproperty float x\nproperty float y\n"
              b"property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nelement face 2\n"
              b"property list uchar int vertex_indices\nend_header\n"
              b"0 0 0 255 0 0\n1 0 0 0 255 0\n0 1 0 0 0 255\n0 0 1 9 9 9\n")


@pytest.mark.parametrize(
    "faces",
    [
        b"3 0 1 2\n4 0 1 2 inf\n",  # crash 2: OverflowError converting inf to int
        b"3 0 1 nan\n4 0 1 2 3\n",  # crash 2: ValueError converting nan to int
        b"3 0 1 -inf\n3 0 1 2\n",
        b"3 0 1 2\n3 0 1 2.5\n",
        b"3 0 1 2\n3 0 1 1e20\n",
        b"3 0 1 2\n3 0 1 2147483648\n",
        b"3 0 1 inf\n3 0 1 2\n",  # the uniform fast path
    ],
)
def test_ascii_face_values_must_fit_the_index_type(faces):
    _refused(ASCII_MESH + faces, r"whole number in -2147483648\.\.2147483647 .*\(int\)")


@pytest.mark.parametrize(
    "faces",
    [b"inf 0 1 2\n3 0 1 2\n", b"nan 0 1 2\n3 0 1 2\n", b"3 0 1 2\n-1 0 1 2\n", b"3.5 0 1 2\n3 0 1 2\n",
     b"256 0 1 2\n3 0 1 2\n", b"3 0 1 2\n4 0 1 2\n", b"3 0 1\n3 0 1 2\n", b"3 0 1 2\n3 0 one 2\n"],
)
def test_ascii_list_lengths_must_fit_the_count_type(faces):
    _refused(ASCII_MESH + faces, "corrupt")


@pytest.mark.parametrize("value", [b"256", b"-1", b"0.5", b"inf", b"nan", b"1e300"])
def test_ascii_colour_must_fit_uchar(value):
    data = ASCII_MESH.replace(b"0 0 1 9 9 9", b"0 0 1 9 " + value + b" 9") + b"3 0 1 2\n3 1 2 3\n"
    _refused(data, r"property 'green' .*whole number in 0\.\.255 .*\(uchar\)")


def test_ascii_floats_may_be_anything():
    # inf and nan are values a float can hold (binary files hold them too); beyond float32 is inf.
    data = ASCII_MESH.replace(b"0 0 1 9 9 9", b"nan 1e300 -inf 9 9 9") + b"3 0 1 2\n3 1 2 3\n"
    points = ply.parse_ply(data).points
    assert np.isnan(points[3, 0]) and points[3, 1] == np.inf and points[3, 2] == -np.inf


def test_duplicate_property_is_refused(tmp_path):
    # crash 3: numpy refused the record layout ("field names must be unique")
    data = _mesh_bytes(tmp_path).replace(b"property float x\n", b"property float x\nproperty float x\n", 1)
    _refused(data, "property 'x' appears twice in element 'vertex'")


def test_second_vertex_element_is_refused(tmp_path):
    # crash 4: KeyError; the second block's rows were read over the first's
    head, body = _split(_mesh_bytes(tmp_path))
    more = b"element vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    data = head.replace(b"end_header\n", more) + body + np.ones((2, 3), "<f4").tobytes()
    _refused(data, r"element 'vertex' appears twice in the PLY header \(lines 3 and \d+\)")


def _relabel(data):
    """The other byte order in the header, the body unchanged (the fuzzer's ply_endian)."""
    swap = {b"binary_little_endian": b"binary_big_endian", b"binary_big_endian": b"binary_little_endian"}
    for old, new in swap.items():
        if old in data[:200]:
            return data.replace(old, new, 1)
    raise AssertionError("not a binary PLY")


def _be_points(n=200, seed=3, dtype=">f4", colors=True):
    """A correctly written big-endian point cloud (not by our writer, which writes little-endian)."""
    rng = np.random.default_rng(seed)
    fields = [("x", dtype), ("y", dtype), ("z", dtype)]
    fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")] if colors else []
    arr = np.zeros(n, fields)
    for name in "xyz":
        arr[name] = rng.normal(0, 5, n)
    if colors:
        for name in ("red", "green", "blue"):
            arr[name] = rng.integers(0, 256, n)
    names = {">f4": "float", ">f8": "double"}
    head = f"ply\nformat binary_big_endian 1.0\nelement vertex {n}\n" + "".join(
        f"property {names.get(t, 'uchar')} {name}\n" for name, t in fields) + "end_header\n"
    return head.encode() + arr.tobytes(), arr


def test_body_in_the_other_byte_order_is_refused(tmp_path):
    # crash 5: read as garbage positions without a word
    pts, cols = _cloud(200)
    ply.write_ply(tmp_path / "p.ply", pts, cols, extra={"confidence": pts[:, 0]})
    message = _refused(_relabel((tmp_path / "p.ply").read_bytes()), "byte order does not match the header")
    assert "header says binary_big_endian but the data reads as little-endian" in message
    assert "re-export" in message
    _refused(_relabel(_mesh_bytes(tmp_path)), "byte order does not match")
    be, _ = _be_points()
    message = _refused(_relabel(be), "byte order does not match")
    assert "header says binary_little_endian but the data reads as big-endian" in message
    _refused(_relabel(_be_points(dtype=">f8")[0]), "byte order does not match")


def test_small_grid_in_the_other_byte_order_is_refused(tmp_path):
    # Whole-number coordinates byte-swapped are denormals: caught even with three non-zero values.
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    ply.write_ply(tmp_path / "g.ply", verts, faces=[[0, 1, 2], [0, 2, 3]])
    _refused(_relabel((tmp_path / "g.ply").read_bytes()), "byte order does not match")


@pytest.mark.parametrize(
    "make",
    [
        lambda: _be_points()[0],
        lambda: _be_points(dtype=">f8", colors=False)[0],
        lambda: _be_points(n=1)[0],
        lambda: _be_points(n=100_000, seed=4)[0],
    ],
    ids=["float", "double", "one-point", "100k"],
)
def test_big_endian_files_written_correctly_are_read(make):
    data = make()
    assert ply.parse_ply(data).vertex_count > 0


@pytest.mark.parametrize(
    "points",
    [
        np.zeros((50, 3)),  # all zero: nothing to judge by
        np.random.default_rng(5).normal(0, 1e-3, (500, 3)),  # millimetres in metres
        np.random.default_rng(6).normal(0, 1e6, (500, 3)),  # a survey in millimetres
        np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0), [0.0, 2.5]), -1).reshape(-1, 3),  # whole numbers
        # organised: every other point is nan
        np.where(np.arange(600)[:, None] % 2, np.nan, np.random.default_rng(7).normal(size=(600, 3))),
        np.random.default_rng(8).uniform(-1e15, 1e15, (300, 3)),
    ],
    ids=["zeros", "small", "large", "grid", "half-nan", "huge-but-sane"],
)
def test_our_valid_files_are_not_mistaken_for_the_other_byte_order(tmp_path, points):
    ply.write_ply(tmp_path / "v.ply", points, np.zeros(points.shape, np.uint8), extra={"q": points[:, 0]})
    data = ply.read_ply(tmp_path / "v.ply")
    np.testing.assert_array_equal(data.points, points.astype(np.float32))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.replace(b"element vertex 30", b"element vertex 2147483647"), "truncated or corrupt"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex 2147483648"), "more than 2147483647"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex " + b"1" * 31), "more than 2147483647"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex " + b"9" * 5000), "more than 2147483647"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex 1e3"), "malformed.*whole number"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex 0x10"), "malformed"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex 30.0"), "malformed"),
        (lambda d: d.replace(b"element vertex 30", b"element vertex"), "malformed"),
        (lambda d: d.replace(b"element face 20", b"element face 1000000"), "truncated or corrupt"),
        (lambda d: d.replace(b"list uchar int", b"list float int"), "count type must be an integer"),
        (lambda d: d.replace(b"list uchar int", b"list uchar"), "malformed"),
        (lambda d: d.replace(b"list uchar int", b"list uchar int128"), "unknown type 'int128'"),
        (lambda d: d.replace(b"property float y", b"property y"), "malformed"),
        (lambda d: d.replace(b"property float y", b"property float128 y"), "unknown type"),
        (lambda d: d.replace(b"property float y", b"property float y\x00"), "control characters"),
        (lambda d: d.replace(b"property float y", "property float \u00fd".encode("utf-8")), "not ASCII"),
        (lambda d: d.replace(b" 1.0\n", b" 2.0\n", 1), "version '2.0'"),
        (lambda d: d.replace(b" 1.0\n", b"\n", 1), "format"),
        (lambda d: d.replace(b"format binary_little_endian 1.0\n", b"format binary_little_endian 1.0\n" * 2),
         "2 'format' lines"),
        (lambda d: d.replace(b"element vertex", b"property float w\nelement vertex"), "property before any element"),
        (lambda d: d.replace(b"end_header", b"end_headers"), "end_header"),
        (lambda d: d.replace(b"ply\n", b"ply\n" + b"comment padding\n" * 70000, 1), "first 1 MB"),
        (lambda d: d.replace(b"element face 20\n", b"element face 20\nelement empty 5\n"), "no properties"),
        (lambda d: d.replace(b"ply\n", b"ply\n" + b"element e 0\nproperty uchar v\n" * 64, 1), "66 elements"),
        (lambda d: d.replace(b"element face", b"property float p%d\n" * 1100 % tuple(range(1100)) + b"element face"),
         "properties, more than the 1024"),
        (lambda d: d[: d.index(b"end_header") + 11] + b"\x00" * 10, "truncated"),
        (lambda d: b"", "not a PLY"),
        (lambda d: b"ply", "not a PLY"),
        (lambda d: b"ply\n", "end_header"),
        (lambda d: b"ply\nend_header\n", "no 'format' line"),
        (lambda d: b"\x00" * 1000, "not a PLY"),
        (lambda d: b"ply\n\x00\x00\nend_header\n", "control characters"),
    ],
)
def test_header_schema_refusals(tmp_path, edit, match):
    _refused(edit(_mesh_bytes(tmp_path)), match)


def test_signed_negative_list_count_is_refused():
    head = _tri_header("char", 2)
    _refused(head + TRI + b"\x03" + np.array([0, 1, 2], "<i4").tobytes() + b"\xff" + b"\x00" * 12, "negative length -1")
    _refused(head + TRI + b"\xff" + b"\x00" * 12 + b"\x03" + np.array([0, 1, 2], "<i4").tobytes(), "negative length -1")


def test_faces_with_fewer_than_three_corners_are_refused():
    two = b"\x02" + np.array([0, 1], "<i4").tobytes()
    three = b"\x03" + np.array([0, 1, 2], "<i4").tobytes()
    _refused(_tri_header("uchar", 2) + TRI + two + two, "at least 3 corners")
    _refused(_tri_header("uchar", 2) + TRI + three + two, "at least 3 are needed")
    _refused(ASCII_MESH + b"3 0 1 2\n2 0 1\n", "at least 3 are needed")


def test_face_indices_out_of_range_or_not_whole():
    _refused(ASCII_MESH + b"3 0 1 2\n3 0 1 4\n", "refers to vertex 4, but there are 4 vertices")
    head = _tri_header().replace(b"list uchar int", b"list uchar float")
    faces = b"\x03" + np.array([0, 1, 2.5], "<f4").tobytes()
    _refused(head + TRI + faces, "not a whole number")
    faces = b"\x03" + np.array([0, 1, 2], "<f4").tobytes()
    np.testing.assert_array_equal(ply.parse_ply(head + TRI + faces).faces, [[0, 1, 2]])


def test_counts_absurd_for_the_file_size_fail_fast_without_allocating():
    import time
    import tracemalloc

    props = "".join(f"property double p{i}\n" for i in range(1000))
    ascii_head = ("ply\nformat ascii 1.0\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\n"
                  f"{props}end_header\n")
    cases = [
        _tri_header("uchar", 2**31 - 1) + TRI + b"\x03" + b"\x00" * 12,
        ("ply\nformat binary_little_endian 1.0\nelement vertex 2000000000\nproperty float x\nproperty float y\n"
         "property float z\nend_header\n").encode() + b"\x00" * 100_000,
        ascii_head.format(2**31 - 1).encode() + b"0 0 0\n" * 1000,
        ascii_head.format(200_000).encode() + b"\n" * 200_000,  # enough lines, all blank
        ascii_head.format(100).encode() + b"0 " * 100_000,  # enough bytes, one line
        _tri_header("int") + TRI + np.array([2**31 - 1, 0, 1, 2], "<i4").tobytes(),
        _tri_header("uchar", 300_000) + TRI + b"\x00" * 300_000,  # face lists of no corners
        ASCII_MESH.replace(b"face 2", b"face 100000") + b"0\n" * 100_000,
        ASCII_MESH.replace(b"face 2", b"face 1") + b"200000 " + b"0 " * 600_000,  # a 1.2 MB line
    ]
    for data in cases:
        tracemalloc.start()
        start = time.perf_counter()
        try:
            with pytest.raises(ply.PlyError, match="truncated|corrupt"):
                ply.parse_ply(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert time.perf_counter() - start < 2
        # Nothing in proportion to the declared counts: at most the file a few times over, plus the
        # Python objects of one ascii chunk's tokens (tens of bytes each).
        assert peak < 8 * len(data) + 64 * ply._ASCII_CHUNK, (data[:120], peak, len(data))


def test_memory_stays_a_small_multiple_of_the_file_for_valid_files(tmp_path):
    import tracemalloc

    rng = np.random.default_rng(9)
    flat = rng.integers(0, 1000, 3 * 20_000 + 4 * 20_000).astype(np.int32)
    ply.write_ply(tmp_path / "mixed.ply", rng.normal(size=(1000, 3)), faces=(flat, np.array([3, 4] * 20_000, np.int32)))
    dense_ascii = (b"ply\nformat ascii 1.0\nelement vertex 100000\nproperty double x\nproperty double y\n"
                   b"property double z\nend_header\n" + b"0 0 0\n" * 100_000)
    for data in [(tmp_path / "mixed.ply").read_bytes(), dense_ascii]:
        tracemalloc.start()
        try:
            ply.parse_ply(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * len(data) + 64 * ply._ASCII_CHUNK, (data[:60], peak, len(data))


# ----------------------------------------------------------------------------- valid files, read in pieces


def _mixed_ascii(n_faces=40, seed=10):
    rng = np.random.default_rng(seed)
    verts = rng.normal(size=(12, 3))
    faces = [list(rng.integers(0, 12, size=rng.choice([3, 4, 5]))) for _ in range(n_faces)]
    text = ("ply\nformat ascii 1.0\nelement vertex 12\nproperty double x\nproperty double y\nproperty double z\n"
            f"element face {n_faces}\nproperty uchar flags\nproperty list uchar int vertex_indices\nproperty float q\n"
            "end_header\n")
    text += "".join(f"{x:.17g} {y:.17g} {z:.17g}\n" for x, y, z in verts)
    text += "".join(f"7 {len(f)} {' '.join(map(str, f))} 0.5\n" for f in faces)
    return text.encode(), verts, faces


@pytest.mark.parametrize("chunk", [1 << 20, 40, 7])
def test_ascii_read_in_chunks_gives_the_same_result(monkeypatch, chunk):
    monkeypatch.setattr(ply, "_ASCII_CHUNK", chunk)
    data, verts, faces = _mixed_ascii()
    got = ply.parse_ply(data)
    np.testing.assert_array_equal(got.points, verts.astype(np.float32))
    assert [f.tolist() for f in got.faces] == faces
    tris = data.replace(b"element face 40", b"element face 3").split(b"end_header\n")[0] + b"end_header\n"
    tris += b"".join(b"%.17g %.17g %.17g\n" % tuple(v) for v in verts) + b"1 3 0 1 2 0\n2 3 2 1 0 0\n3 3 4 5 6 0\n"
    got = ply.parse_ply(tris)
    assert isinstance(got.faces, np.ndarray) and got.faces.tolist() == [[0, 1, 2], [2, 1, 0], [4, 5, 6]]


@pytest.mark.parametrize("chunk", [1 << 16, 3, 1])
def test_binary_mixed_lists_read_in_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(ply, "_RAGGED_CHUNK", chunk)
    pts, cols = _cloud(20)
    faces = [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9, 10, 11], [1, 2, 3], [4, 5, 6, 7]]
    ply.write_ply(tmp_path / "m.ply", pts, cols, faces)
    assert [f.tolist() for f in ply.read_ply(tmp_path / "m.ply").faces] == faces


def test_vertex_element_with_a_list_property():
    fields = np.dtype([("x", ">f4"), ("y", ">f4"), ("z", ">f4")])
    body = b""
    for i in range(5):
        body += np.array([(i, 2 * i, -i)], fields).tobytes() + bytes([i % 3]) + np.arange(i % 3, dtype=">i2").tobytes()
        body += np.array([i * 10], ">u2").tobytes()
    head = (b"ply\nformat binary_big_endian 1.0\nelement vertex 5\nproperty float x\nproperty float y\n"
            b"property float z\nproperty list uchar short neighbours\nproperty ushort quality\nend_header\n")
    got = ply.parse_ply(head + body)
    np.testing.assert_array_equal(got.points[:, 1], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(got.extra["quality"], [0, 10, 20, 30, 40])
    assert "neighbours" not in got.extra


def test_header_variants_that_are_valid():
    data = ASCII_MESH + b"3 0 1 2\n3 1 2 3\n"
    assert ply.parse_ply(data.replace(b"\n", b"\r")).face_count == 2  # old Mac line ends throughout
    assert ply.parse_ply(data.replace(b"\n", b"\r\n")).face_count == 2
    commented = data.replace(b"comment hand made", b"comment not the end_header\ncomment end_header later")
    assert ply.parse_ply(commented).comments == ["not the end_header", "end_header later"]
    # Elements after the ones used are counted, but their lines are never parsed.
    junk = data.replace(b"end_header", b"element junk 3\nproperty float v\nend_header") + b"abc\n!!\n\xff\n"
    assert ply.parse_ply(junk).face_count == 2


# ----------------------------------------------------------------------------- opening files


def test_fifo_and_device_are_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "pipe.ply")  # opening it for reading the usual way would block forever
    with pytest.raises(ply.PlyError, match="is a FIFO .*not a PLY file"):
        ply.read_ply(tmp_path / "pipe.ply")
    if os.path.exists("/dev/zero"):  # a device that never ends
        with pytest.raises(ply.PlyError, match="is a character device"):
            ply.read_ply("/dev/zero")


def test_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "secret.ply"
    path.write_bytes(_good(tmp_path))
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read anything")
        with pytest.raises(ply.PlyError, match="cannot be read"):
            ply.read_ply(path)
    finally:
        path.chmod(0o644)


def test_files_over_the_size_cap_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.ply"
    path.write_bytes(_good(tmp_path))
    monkeypatch.setattr(ply, "_MAX_FILE", 100)
    with pytest.raises(ply.PlyError, match="larger than"):
        ply.read_ply(path)


# ----------------------------------------------------------------------------- random mutations


def _seed_files(tmp_path):
    mesh = _mesh_bytes(tmp_path, n=40)
    ascii_mesh, _, _ = _mixed_ascii(n_faces=12)
    be, _ = _be_points(n=60)
    return {"binary-le-mesh": mesh, "ascii-mesh": ascii_mesh, "big-endian-points": be}


HEADER_WORDS = [b"0", b"1", b"-1", b"2147483647", b"2147483648", b"99999999999999999999", b"1e3", b"nan",
                b"list", b"float", b"uchar", b"int", b"double", b"x", b"vertex", b"face", b"element", b"property",
                b"format", b"ascii", b"binary_big_endian", b"end_header", b"", b"\x00", b"\xff"]


def _mutate(data, rnd):
    """One to three byte-level edits (flip, insert, delete, overwrite, truncate, header word)."""
    data = bytearray(data)
    head_end = data.find(b"end_header") + 11
    for _ in range(rnd.randint(1, 3)):
        if not data:
            break
        op = rnd.choice(["flip", "insert", "delete", "overwrite", "truncate", "word"])
        # Half the edits land in the header, where one byte changes the meaning of everything after it.
        at = rnd.randrange(min(head_end, len(data)) if rnd.random() < 0.5 and head_end > 0 else len(data))
        if op == "flip":
            data[at] ^= 1 << rnd.randrange(8)
        elif op == "insert":
            data[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        elif op == "delete":
            del data[at : at + rnd.randint(1, 8)]
        elif op == "overwrite":
            data[at : at + 4] = rnd.choice([b"\x00" * 4, b"\xff" * 4, b"\xff\xff\xff\x7f", b"\x00\x00\xc0\x7f"])
        elif op == "truncate":
            del data[at:]
        else:
            words = data[:head_end].split(b" ")
            i = rnd.randrange(len(words))
            words[i] = rnd.choice(HEADER_WORDS) + (b"\n" if words[i].endswith(b"\n") else b"")
            data[:head_end] = b" ".join(words)
    return bytes(data)


def test_random_mutations_are_read_or_refused_cleanly(tmp_path):
    import random

    for name, seed_file in _seed_files(tmp_path).items():
        assert ply.parse_ply(seed_file).vertex_count > 0, name
        rnd = random.Random(f"ply-mutations-{name}")
        outcomes = {"read": 0, "refused": 0}
        for i in range(400):
            data = _mutate(seed_file, rnd)
            try:
                got = ply.parse_ply(data)
            except ply.PlyError:
                outcomes["refused"] += 1
                continue
            except Exception as exc:  # pragma: no cover - the failure message is the point
                raise AssertionError(f"{name} mutation {i}: {type(exc).__name__}: {exc}\n{data[:400]!r}") from exc
            assert isinstance(got, ply.PlyData) and got.points.shape == (got.vertex_count, 3)
            outcomes["read"] += 1
        assert outcomes["read"] and outcomes["refused"], (name, outcomes)
