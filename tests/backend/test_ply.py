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
