"""Writes a captured dataset: per-view files, then the transforms JSON last.

A dataset is finished exactly when ``transforms.json`` exists: it is written after every
image and the split files, atomically (temp file + ``os.replace``), and any old one is
removed before the first new image lands, so an interrupted capture never looks finished.

Files per view ``i`` (four digits, zero-padded):

- ``images/i.png``: RGBA, 8-bit, with the scene's view transform (written by Blender).
- ``depth/i.exr`` (one FLOAT channel ``Z``, ZIP) or ``depth/i.npy`` (float32, H x W):
  planar depth along the view axis, background 1e10, row 0 at the top.
- ``normals/i.exr`` (FLOAT ``R G B``) or ``normals/i.npy`` (float32, H x W x 3):
  world-space normals; EXR when depth is EXR, else NPY.
- ``masks/i.png``: grayscale object index (0: background), 8-bit, or 16-bit when more
  than 255 objects are indexed; the header maps index to object name.
"""

import os
import re
import struct
import zlib

import numpy as np

from ..errors import OperatorError
from ..ps4pro_blender import transforms_io

SUBDIRS = ("images", "depth", "normals", "masks")
_NUMBERED = re.compile(r"^\d{4,}\.(png|exr|npy)$")
_TRANSFORMS = re.compile(r"^transforms(_(train|val|test))?\.json(\.tmp-\d+)?$")
DEPTH_BACKGROUND = 1e10


def check_writable(folder: str) -> None:
    """Create ``folder`` and a probe file in it; a clear error when that fails."""
    probe = os.path.join(folder, ".ps4pro-write-probe")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"ok")
        os.remove(probe)
    except OSError as exc:
        raise OperatorError(
            f"Can't write to the output folder {folder}: {exc.strerror or exc}",
            "Choose an Output folder you can write to",
        ) from exc


def split_of(index: int, test_every: int) -> str:
    """Deterministic split of view ``index``.

    Every ``test_every``-th view is held out for test, counted from the middle of each
    block (views 4, 12, 20, ... for 8) so that each test view has captured neighbours on
    both sides: interpolation and reconstruction are judged in between, not by
    extrapolating past the ends of a path. ``val`` is the same set as ``test``: with the
    few views a capture has, holding out more views would open wider gaps in training.
    """
    if test_every <= 0:
        return "train"
    return "test" if index % test_every == test_every // 2 else "train"


_write_atomic = transforms_io.write_atomic


# --- OpenEXR (scanline, single part), enough for float channels ------------------------


def _exr_attr(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _zip_block(raw: bytes) -> bytes:
    """OpenEXR ZIP compression of one block: split even/odd bytes, delta, deflate."""
    b = np.frombuffer(raw, np.uint8)
    t = np.concatenate([b[0::2], b[1::2]]).astype(np.int16)
    d = t.copy()
    d[1:] = (t[1:] - t[:-1] + 128) & 0xFF
    packed = zlib.compress(d.astype(np.uint8).tobytes(), 4)
    return packed if len(packed) < len(raw) else raw  # OpenEXR stores raw when that is smaller


def write_exr(path: str, channels: dict) -> None:
    """Write float32 arrays (H x W, row 0 at the top) as FLOAT channels of one EXR."""
    names = sorted(channels)  # OpenEXR requires channels in name order
    arrays = [np.ascontiguousarray(channels[n], dtype="<f4") for n in names]
    height, width = arrays[0].shape
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", 2, 0, 1, 1) for n in names) + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = b"".join(
        [
            b"\x76\x2f\x31\x01",
            struct.pack("<i", 2),
            _exr_attr("channels", "chlist", chlist),
            _exr_attr("compression", "compression", bytes([3])),  # ZIP, 16 lines per block
            _exr_attr("dataWindow", "box2i", window),
            _exr_attr("displayWindow", "box2i", window),
            _exr_attr("lineOrder", "lineOrder", bytes([0])),
            _exr_attr("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
            _exr_attr("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
            _exr_attr("screenWindowWidth", "float", struct.pack("<f", 1.0)),
            b"\0",
        ]
    )
    # Per scanline, channel after channel: stack to (H, C, W).
    rows = np.stack(arrays, axis=1)
    chunks = []
    for y in range(0, height, 16):
        data = _zip_block(rows[y : y + 16].tobytes())
        chunks.append(struct.pack("<ii", y, len(data)) + data)
    offsets, pos = [], len(header) + 8 * len(chunks)
    for chunk in chunks:
        offsets.append(pos)
        pos += len(chunk)
    with open(path, "wb") as f:
        f.write(header + struct.pack(f"<{len(offsets)}Q", *offsets) + b"".join(chunks))


def write_png_gray(path: str, values: np.ndarray, bits: int = 8) -> None:
    """Write integer ``values`` (H x W, row 0 at the top) as an 8- or 16-bit grayscale PNG."""
    pixels = values.astype(">u2" if bits == 16 else np.uint8)
    rows = np.concatenate([np.zeros((pixels.shape[0], 1), np.uint8), pixels.view(np.uint8).reshape(pixels.shape[0], -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    height, width = values.shape
    ihdr = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


# --- the dataset ---------------------------------------------------------------------------


class DatasetWriter:
    def __init__(self, folder, depth_format: str, normals: bool, masks: bool, test_every: int, mask_count: int = 0):
        self.folder = folder
        self.depth_ext = {"EXR": ".exr", "NPY": ".npy"}.get(depth_format)
        self.normal_ext = ".exr" if depth_format == "EXR" else ".npy"
        self.normals = normals
        self.masks = masks
        self.test_every = test_every
        self.frames: list[dict] = []
        self.mask_bits = 8 if mask_count < 256 else 16  # one depth for every mask of the dataset

    def begin(self) -> None:
        """Unmark any old dataset here and drop its numbered files, so nothing stale mixes in."""
        for name in os.listdir(self.folder):
            if _TRANSFORMS.match(name):
                os.remove(os.path.join(self.folder, name))
        for sub in SUBDIRS:
            path = os.path.join(self.folder, sub)
            if os.path.isdir(path):
                for name in os.listdir(path):
                    if _NUMBERED.match(name):
                        os.remove(os.path.join(path, name))
        wanted = ["images"] + (["depth"] if self.depth_ext else []) + (["normals"] if self.normals else [])
        for sub in wanted + (["masks"] if self.masks else []):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)

    def image_path(self, index: int) -> str:
        return os.path.join(self.folder, "images", f"{index:04d}.png")

    def add(self, index: int, record: dict, depth=None, normal=None, index_pass=None, split=None) -> dict:
        """Write the view's extra files and remember its frame entry (``record``: pose etc.)."""
        stem = f"{index:04d}"
        frame = {"file_path": f"images/{stem}.png", **record}
        if self.depth_ext:
            rel = f"depth/{stem}{self.depth_ext}"
            self._write_float(rel, {"Z": depth})
            frame["depth_file_path"] = rel
        if self.normals:
            rel = f"normals/{stem}{self.normal_ext}"
            self._write_float(rel, {"R": normal[..., 0], "G": normal[..., 1], "B": normal[..., 2]}, stacked=normal)
            frame["normal_file_path"] = rel
        if self.masks:
            rel = f"masks/{stem}.png"
            write_png_gray(os.path.join(self.folder, rel), np.rint(index_pass).astype(np.int64), self.mask_bits)
            frame["mask_file_path"] = rel
        frame["split"] = split or split_of(index, self.test_every)
        self.frames.append(frame)
        return frame

    def _write_float(self, rel: str, channels: dict, stacked=None) -> None:
        path = os.path.join(self.folder, rel)
        if rel.endswith(".npy"):
            array = stacked if stacked is not None else next(iter(channels.values()))
            np.save(path, np.ascontiguousarray(array, dtype=np.float32))
        else:
            write_exr(path, channels)

    def finish(self, header: dict) -> str:
        """Write the split files, then ``transforms.json`` (the finished marker)."""
        return transforms_io.write_transforms(self.folder, self.frames, header, val_is_test=True)
