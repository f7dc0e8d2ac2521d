"""Hostile and damaged files at the door: each case a fuzzer once crashed the backend with (issue 14),
now a clear ``JobError`` that names the field, or a ``DEGRADED`` flag where the file still decodes.

The PLY reader's cases are in test_ply.py; the random search is test_fuzz.py (and bench/fuzz.py).
"""

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from ps4pro_blender import dataset, protocol
from ps4pro_blender import views as V
from ps4pro_blender.snapshot import container, payload
from ps4pro_blender.snapshot import decode as snapshot_decode

from conftest import REPO
from synthetic_dataset import make


@contextmanager
def deadline(seconds=20):
    """Fail instead of hanging (a FIFO read blocks forever)."""
    def expired(*_):
        raise AssertionError(f"still running after {seconds} s: it hangs")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def read_everything(folder):
    """What reconstruct reads from a dataset before training."""
    data = dataset.load(folder)
    for frame in data.frames:
        V.load_view(frame)
        V.load_confidence(frame)
    return data


# ----------------------------------------------------------------------------- datasets


@pytest.fixture
def capture(tmp_path):
    return make(str(tmp_path / "cap"), n_views=4)


def edit(folder, change):
    path = os.path.join(folder, "transforms.json")
    meta = json.load(open(path))
    change(meta)
    with open(path, "w") as f:
        json.dump(meta, f)


def rejected(folder, *words):
    with deadline(), pytest.raises(protocol.JobError) as exc:
        read_everything(folder)
    text = f"{exc.value.message} {exc.value.hint}"
    assert exc.value.code == protocol.E_BAD_INPUT and all(w in text for w in words), text
    return exc.value


def first_frame(key, value):
    def change(meta):
        meta["frames"][0][key] = value
    return change


@pytest.mark.parametrize("key, value, words", [
    ("w", "abc", ("frames[0]", ".w", "number", "'abc'")),
    ("fl_x", "abc", ("frames[0].fl_x", "number")),
    ("file_path", 5, ("frames[0].file_path", "text")),
    ("transform_matrix", [[1, 0, 0, 0], [0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]], ("transform_matrix", "4 x 4")),
    ("transform_matrix", [[0.0] * 4] * 4, ("transform_matrix", "last row")),
    ("transform_matrix", [[0.0] * 4] * 3 + [[0, 0, 0, 1]], ("transform_matrix", "not invertible")),
    ("transform_matrix", [[1, 0, 0, float("nan")], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], ("finite",)),
    ("h", 10 ** 9, ("frames[0]", ".h", "<= 16384")),
    ("split", "validation", ("frames[0].split", "'train'")),
    ("weight", -1, ("frames[0].weight", ">= 0")),
    ("synthetic", "yes", ("frames[0].synthetic", "true or false")),
])
def test_bad_frame_fields_are_named(capture, key, value, words):
    edit(capture, first_frame(key, value))
    rejected(capture, *words)


def test_bad_file_level_fields_are_named(capture):
    edit(capture, lambda m: m.update(frames=[1]))
    rejected(capture, "frames[0]", "object")
    edit(capture, lambda m: m.update(frames="all of them"))
    rejected(capture, "frames", "list")


def test_camera_angle_zero_and_missing_intrinsics(capture):
    def angle(value):
        def change(meta):
            for f in meta["frames"]:
                f.pop("fl_x", None), f.pop("fl_y", None)
            meta.pop("fl_x", None), meta.pop("fl_y", None)
            meta["camera_angle_x"] = value
        return change

    edit(capture, angle(0))
    rejected(capture, "camera_angle_x", "> 0")
    edit(capture, angle(None))
    rejected(capture, "neither fl_x nor camera_angle_x")


def test_deep_nesting_and_non_json(capture):
    path = os.path.join(capture, "transforms.json")
    with open(path, "w") as f:
        f.write("[" * 100_000 + "]" * 100_000)
    rejected(capture, "not valid JSON")
    meta = {"frames": [], "junk": json.loads("[" * 50 + "]" * 50)}
    with open(path, "w") as f:
        json.dump(meta, f)
    rejected(capture, "nests")


def test_oversized_transforms_json_is_refused_unread(capture):
    path = os.path.join(capture, "transforms.json")
    with open(path, "r+b") as f:
        f.truncate(148 << 20)  # sparse: 148 MB without writing them
    rejected(capture, "too large for a dataset")


def test_special_files_are_refused_without_hanging(capture):
    image = os.path.join(capture, "images", sorted(os.listdir(os.path.join(capture, "images")))[0])
    os.unlink(image)
    os.mkfifo(image)
    rejected(capture, "FIFO")
    os.unlink(image)
    os.mkdir(image)
    rejected(capture, "folder")


@pytest.mark.parametrize("key", ["file_path", "depth_file_path", "confidence_file_path"])
def test_paths_outside_the_dataset_are_refused_unless_allowed(tmp_path, capture, key, monkeypatch):
    elsewhere = make(str(tmp_path / "elsewhere"), n_views=4)
    meta = json.load(open(os.path.join(elsewhere, "transforms.json")))
    target = meta["frames"][0]["depth_file_path" if key == "depth_file_path" else "file_path"]
    absolute = os.path.join(elsewhere, target)
    for value in (absolute, os.path.relpath(absolute, capture)):  # absolute, then ../
        edit(capture, first_frame(key, value))
        err = rejected(capture, "points outside the dataset folder", value, dataset.ALLOW_OUTSIDE_ENV)
        assert f"frames[0].{key}" in err.message
    monkeypatch.setenv(dataset.ALLOW_OUTSIDE_ENV, "1")
    if key == "confidence_file_path":  # a confidence map is 8-bit grey: give the view one
        Image.fromarray(np.full((48, 64), 255, np.uint8)).save(absolute)
    assert read_everything(capture).frames[0]  # the user allowed it


def test_symlinks_out_of_the_dataset_are_refused(tmp_path, capture):
    elsewhere = make(str(tmp_path / "elsewhere"), n_views=4)
    os.symlink(os.path.join(elsewhere, "images"), os.path.join(capture, "linked"))
    name = sorted(os.listdir(os.path.join(elsewhere, "images")))[0]
    edit(capture, first_frame("file_path", f"linked/{name}"))
    rejected(capture, "points outside the dataset folder")


def test_an_augmented_dataset_reads_its_source_capture_and_moves_with_it(tmp_path, capture):
    out = str(tmp_path / "aug")
    proc = subprocess.run([sys.executable, "-m", "ps4pro_blender", "interpolate", capture, "--out", out, "--k", "1"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.load(open(os.path.join(out, "transforms.json")))
    assert meta["ps4pro"]["augment"]["source_dataset"] == "../cap"  # relative: the pair can move
    assert any(f["file_path"].startswith("../cap/") for f in meta["frames"])
    moved = tmp_path / "moved"
    moved.mkdir()
    os.rename(capture, moved / "cap")
    os.rename(out, moved / "aug")
    assert len(read_everything(str(moved / "aug")).frames) == len(meta["frames"])
    # A source must be a dataset: naming "/" (or any folder without transforms.json) allows nothing.
    edit(str(moved / "aug"), lambda m: m["ps4pro"]["augment"].update(source_dataset="/"))
    rejected(str(moved / "aug"), "not there any more")


def test_npy_depth_claiming_a_huge_shape_is_refused_before_allocating(capture):
    depth = os.path.join(capture, "depth", sorted(os.listdir(os.path.join(capture, "depth")))[0])
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (200000, 200000), }"
    header += " " * (63 - len(header) % 64) + "\n"
    with open(depth, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64)
    rejected(capture, "megapixel limit")


def test_image_declaring_a_vast_size_is_refused_before_decoding(capture):
    image = os.path.join(capture, "images", sorted(os.listdir(os.path.join(capture, "images")))[0])
    with open(image, "wb") as f:
        f.write(huge_png(13000, 13000))
    rejected(capture, "13000x13000", "transforms.json says 64x48")


def test_bad_dataset_through_the_cli_is_bad_input_not_internal(capture, tmp_path):
    edit(capture, first_frame("w", "abc"))
    proc = subprocess.run([sys.executable, "-m", "ps4pro_blender", "reconstruct", capture, "--out", str(tmp_path / "r"),
                           "--steps", "5"], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          timeout=600)
    errors = [m for m in map(protocol.decode, proc.stdout.splitlines()) if m is not None and m.kind == "error"]
    assert proc.returncode == protocol.EXIT_ERROR and errors[0].get("code") == protocol.E_BAD_INPUT, proc.stdout
    assert "frames[0]" in errors[0].get("message")


# ----------------------------------------------------------------------------- snapshots


def huge_png(w, h):
    """A small PNG file whose pixels decode to w x h x 3 bytes: a decompression bomb."""
    row = b"\0" + b"\0" * (3 * w)
    raw = zlib.compress(row * h, 9)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A real LSB snapshot of a random field, written by the real encoder with the shipped decoder."""
    from ps4pro_blender.field import model as M
    from ps4pro_blender.snapshot import decoder as D
    from ps4pro_blender.snapshot import encode

    root = tmp_path_factory.mktemp("hostile_snap")
    rng = np.random.default_rng(0)
    model = D.make_field(rng.normal(0, 0.5, payload.SHAPE).astype(np.float32), [[-1, -1, -1], [1, 1, 1]],
                         D.load()["decoder"], "env", rng.random((3, 32, 64)).astype(np.float32))
    D.refresh_grid(model)
    M.save_atomic(M.checkpoint(model, 0), str(root / "field.pt"))
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(root / "cover.png")
    png = str(root / "snap.png")
    encode.encode(str(root / "field.pt"), png, str(root / "cover.png"), "lsb", steps=2, seed=0)
    return png


def rewrite(src, dst, change=None, headers=1, pixels=None):
    """The snapshot at ``src`` with its header's JSON text changed by ``change``, written ``headers``
    times, over these ``pixels`` (default: its own)."""
    from PIL.PngImagePlugin import PngInfo

    with Image.open(src) as im:
        text = im.text[container.KEY]
        own = np.asarray(im.convert("RGB"))
    if change is not None:
        text = change(text)
    info = PngInfo()
    for _ in range(headers):
        info.add_itxt(container.KEY, text, zip=True)
    Image.fromarray(own if pixels is None else pixels).save(dst, pnginfo=info)
    return str(dst)


def set_field(path, value, rehash=False):
    """A header change: one field set (NaN and Infinity written as JavaScript does), its hash
    recomputed only with ``rehash``."""
    def change(text):
        h = json.loads(text)
        node = h
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        if rehash:
            from ps4pro_blender.snapshot import header as H
            h["header_sha256"] = H.digest(h)
        return json.dumps(h)
    return change


def decode_error(png):
    with deadline(), pytest.raises(protocol.JobError) as exc:
        snapshot_decode.decode(png)
    return exc.value


def test_the_seed_snapshot_decodes_clean(snapshot):
    _, header, _, warnings, _ = snapshot_decode.decode(snapshot)
    assert warnings == [] and header["header_sha256"]


@pytest.mark.parametrize("path, value, words", [
    (("background",), "env", "background must be an object"),
    (("layout", "shape"), 3, "layout.shape must be a list"),
    (("occupancy", "res"), float("inf"), "occupancy.res must be finite"),
    (("background", "shape"), [3, 1e9, 2], "background.shape"),
    (("layout", "lo"), [[0] * 8] * 2, "layout.lo must be a 3 x 8 array"),
    (("layout", "bits"), 9, "layout.bits must be <= 8"),
    (("method",), "zip", "method must be one of"),
    (("bounds",), [[0, 0, 0], [0, 0, 0]], "bounds must have its second corner above"),
    (("size",), [13000, 13000], "size must be [256, 256]"),
])
def test_damaged_header_fields_are_named(snapshot, tmp_path, path, value, words):
    err = decode_error(rewrite(snapshot, tmp_path / "bad.png", set_field(path, value)))
    assert words in err.message and err.code == protocol.E_BAD_INPUT, err.message


def test_nested_brackets_under_the_size_limit(snapshot, tmp_path):
    err = decode_error(rewrite(snapshot, tmp_path / "deep.png", lambda text: "[" * 30000 + "]" * 30000))
    assert "damaged snapshot header" in err.message


def test_environment_jpeg_declaring_a_vast_size(snapshot, tmp_path):
    import base64
    import io

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    jpeg = bytearray(buf.getvalue())
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width in the frame header
    env = base64.b64encode(bytes(jpeg)).decode()
    change = set_field(("background",), {"mode": "env", "shape": [3, 32, 64], "encoding": "jpeg", "env": env}, rehash=True)
    err = decode_error(rewrite(snapshot, tmp_path / "bomb_env.png", change))
    assert "environment is damaged" in err.message


def test_vast_png_is_refused_before_its_pixels_are_decoded(snapshot, tmp_path, monkeypatch):
    from PIL.PngImagePlugin import PngInfo

    with Image.open(snapshot) as im:
        text = im.text[container.KEY]
    bomb = huge_png(13000, 13000)  # about 500 KB on disk, 500 MB decoded
    info = PngInfo()
    info.add_itxt(container.KEY, text, zip=True)
    # The header chunk goes in before IEND: a real file's layout.
    chunk_body = info.chunks[0][1]
    itxt = struct.pack(">I", len(chunk_body)) + b"iTXt" + chunk_body + struct.pack(">I", zlib.crc32(b"iTXt" + chunk_body))
    (tmp_path / "bomb.png").write_bytes(bomb[:-12] + itxt + bomb[-12:])
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("pixels were decoded before the size check"))
    err = decode_error(str(tmp_path / "bomb.png"))
    assert "13000x13000" in err.message and "resized" in err.message


def test_two_headers_are_refused(snapshot, tmp_path):
    err = decode_error(rewrite(snapshot, tmp_path / "two.png", headers=2))
    assert "2 snapshot headers" in err.message


@pytest.mark.parametrize("path, value", [
    (("bounds",), [[-2, -1, -1], [1, 1, 1]]),
    (("layout", "lo"), [[-5.0] * 8] * 3),
    (("layout", "hi"), [[5.0] * 8] * 3),
    (("layout", "means"), [1.0] * 24),
    (("created_by",), "someone else"),
])
def test_edits_within_the_schema_are_flagged_degraded(snapshot, tmp_path, path, value):
    _, _, _, warnings, _ = snapshot_decode.decode(rewrite(snapshot, tmp_path / "edited.png", set_field(path, value)))
    assert any(w.startswith("DEGRADED") and "header was edited" in w for w in warnings), warnings


def test_lsb_payload_is_checked_against_its_hash(snapshot, tmp_path):
    # A forger who also fixes the header's hash still cannot swap the payload's recorded hash.
    png = rewrite(snapshot, tmp_path / "forged.png", set_field(("payload_sha256",), "0" * 64, rehash=True))
    _, _, _, warnings, _ = snapshot_decode.decode(png)
    assert any(w.startswith("DEGRADED") and "payload_sha256" in w for w in warnings), warnings


def test_damaged_snapshot_through_the_cli_is_bad_input_not_internal(snapshot, tmp_path):
    png = rewrite(snapshot, tmp_path / "bad.png", set_field(("layout", "shape"), 3))
    proc = subprocess.run([sys.executable, "-m", "ps4pro_blender", "snapshot-decode", png, "--out", str(tmp_path / "d"),
                           "--no-export"], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          timeout=600)
    errors = [m for m in map(protocol.decode, proc.stdout.splitlines()) if m is not None and m.kind == "error"]
    assert proc.returncode == protocol.EXIT_ERROR and errors[0].get("code") == protocol.E_BAD_INPUT, proc.stdout
    assert "layout.shape" in errors[0].get("message")
