"""The snapshot PNG container, the payload quantisation and the exact LSB baseline, on real files;
every foreign or damaged file gives a clear error, never a crash."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ps4pro_blender import protocol
from ps4pro_blender.snapshot import container, lsb, payload, quantize


def cover(h=payload.COVER, w=payload.COVER, seed=0):
    """A smooth, photo-like RGB image."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    img = np.stack([120 + 80 * np.sin(x / 13 + rng.random()), 128 + 70 * np.cos(y / 9), 100 + 60 * np.sin((x + y) / 17)], -1)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def header(data=b"", **more):
    """A header that passes the schema (an LSB payload of ``data``'s size)."""
    layout = {"kind": "triplane-u8", "shape": list(payload.SHAPE), "arrangement": "mosaic2x2",
              "lo": [[-1.0] * payload.CHANNELS] * payload.PLANES, "hi": [[1.0] * payload.CHANNELS] * payload.PLANES,
              "compression": "zlib", "nbytes": max(len(data), 1), "bits": 1}
    return {"method": "lsb", "layout": layout, "bounds": [[-1, -1, -1], [1, 1, 1]], "decoder": "none",
            "payload_sha256": hashlib.sha256(data).hexdigest(), **more}


def test_round_trip_through_a_real_png(tmp_path):
    path = str(tmp_path / "s.png")
    pixels = cover()
    container.write(path, pixels, header())
    snap = container.read(path)
    assert np.array_equal(snap.pixels, pixels)
    assert snap.header["magic"] == container.MAGIC and snap.header["version"] == container.VERSION
    assert snap.header["size"] == [payload.COVER, payload.COVER] and snap.warnings == [] and snap.header["bounds"] == [[-1, -1, -1], [1, 1, 1]]
    # An ordinary PNG to any viewer.
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"


def test_lsb_is_exact_through_a_png_and_costs_about_6_db_per_bit(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, 36000, dtype=np.uint8).tobytes()
    img = cover()
    bits = lsb.bits_needed(img.shape, len(data))
    assert bits == 2 and lsb.capacity(img.shape, 1) < len(data) <= lsb.capacity(img.shape, 2)
    stego = lsb.embed(img, data, bits)
    path = str(tmp_path / "s.png")
    container.write(path, stego, header(data))
    back = container.read(path)
    assert lsb.extract(back.pixels, len(data), bits) == data
    mse = np.mean((stego.astype(float) - img) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 44  # 2 bits: about 46 dB
    with pytest.raises(ValueError):
        lsb.embed(img, data * 10, 1)


def test_quantized_planes_come_back_within_one_level():
    rng = np.random.default_rng(2)
    planes = rng.normal(0, 0.2, (3, 4, 16, 16)).astype(np.float32)
    codes, layout = quantize.quantize(planes, clip_percentile=0.0)
    assert codes.dtype == np.uint8 and codes.shape == planes.shape
    # From the bytes alone and the JSON layout, as a decoder sees them.
    back = quantize.dequantize(np.frombuffer(codes.tobytes(), np.uint8), json.loads(json.dumps(layout)))
    step = (np.asarray(layout["hi"]) - np.asarray(layout["lo"])) / 255
    assert np.all(np.abs(back - planes) <= step[..., None, None] / 2 + 1e-5)


def _save(path, pixels, text=None, fmt="PNG"):
    info = None
    if text is not None:
        info = PngInfo()
        info.add_itxt(container.KEY, text)
    Image.fromarray(pixels).save(path, format=fmt, pnginfo=info) if fmt == "PNG" else Image.fromarray(pixels).save(path, format=fmt)


def _error(path):
    with pytest.raises(protocol.JobError) as exc:
        container.read(str(path))
    return exc.value.message


def test_foreign_damaged_and_re_encoded_files_are_clear_errors(tmp_path):
    good = tmp_path / "good.png"
    container.write(str(good), cover(), header())
    text = Image.open(good).text[container.KEY]

    plain = tmp_path / "plain.png"
    _save(plain, cover())
    assert "no PS4PRO snapshot header" in _error(plain)

    other = tmp_path / "v9.png"
    _save(other, cover(), json.dumps(dict(json.loads(text), version=9)))
    assert "format version 9" in _error(other)

    for bad_text, words in (("{not json", "not JSON"), (json.dumps({"magic": "x"}), "not a PS4PRO snapshot"),
                            (json.dumps(dict(json.loads(text), bounds=[[0, 0, 0], [0, 0, 0]])), "bounds"),
                            (json.dumps(dict(json.loads(text), layout="x")), "layout")):
        p = tmp_path / "bad.png"
        _save(p, cover(), bad_text)
        assert words in _error(p)

    jpeg = tmp_path / "snap.jpg"
    Image.open(good).convert("RGB").save(jpeg, format="JPEG", quality=95)
    assert "not a PNG" in _error(jpeg)

    resized = tmp_path / "resized.png"
    _save(resized, np.asarray(Image.open(good).convert("RGB").resize((64, 48))), text)
    assert "resized" in _error(resized)

    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    assert "not a readable image" in _error(truncated)

    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(os.urandom(4000))
    assert "not a readable image" in _error(garbage)

    assert "No image" in _error(tmp_path / "missing.png")


def test_header_is_written_only_when_complete(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        container.write(str(tmp_path / "x.png"), cover(), {"method": "lsb"})
    with pytest.raises(ValueError, match="uint8"):
        container.write(str(tmp_path / "x.png"), cover().astype(np.float32), header())
    assert not os.listdir(tmp_path)


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(protocol.JobError, match="Cannot write"):
        container.write(str(blocker / "s.png"), cover(), header())
    assert os.listdir(tmp_path) == ["file"]


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    container.write(str(good), cover(), header())
    # Pillow refuses images over twice this many pixels with an error that is not an OSError.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert "too large to be a snapshot" in _error(good)
