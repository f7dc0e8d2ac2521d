"""Reads ``transforms.json`` datasets: ours, instant-ngp's, nerfstudio's and the NeRF "blender" ones.

Camera-to-world matrices are in Blender/OpenGL camera axes (−Z forward, +Y up). Pixel
coordinates put (0, 0) at the top-left corner of the image, pixel centres at +0.5.

This is the one reader of datasets, and it trusts nothing in them: every field the backend uses is
checked (``schema.py``: types, ranges, finite numbers, invertible poses, sizes, nesting) before
use, files are opened only if they are regular files inside the dataset's folder (or its source
dataset's), and image sizes are checked before pixels are decoded. Every failure is a ``JobError``
that names the file and field and says what to do.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import files, schema
from .protocol import JobError

SPLITS = ("train", "val", "test")


@dataclass
class Frame:
    image_path: str
    c2w: np.ndarray  # (4, 4) float64
    fx: float
    fy: float
    cx: float
    cy: float
    w: int
    h: int
    split: str = "train"
    depth_path: str | None = None
    split_given: bool = False  # the file says the split (a split key or list, or a transforms_<split>.json)
    extra: dict = field(default_factory=dict)
    # Metres (scene units) per stored depth value: nerfstudio's depth_unit_scale_factor; None: the
    # depth format's own default (1e-3 for 16-bit PNG in millimetres, 1 for EXR and NPY).
    depth_scale: float | None = None

    def intrinsics(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)


@dataclass
class Dataset:
    root: str
    frames: list[Frame]
    aabb: np.ndarray | None  # (2, 3) or None
    meta: dict
    warnings: list[str] = field(default_factory=list)  # for the job to emit (see camera_warnings)

    def split(self, name: str) -> list[Frame]:
        return [f for f in self.frames if f.split == name]

    @property
    def depth(self) -> dict:
        return (self.meta.get("ps4pro") or {}).get("depth") or {}


# Limits that no real dataset reaches and that keep a hostile one from costing minutes or gigabytes.
MAX_JSON_BYTES = 64 << 20  # a 100,000-view transforms.json is about 40 MB
MAX_FRAMES = 100_000
MAX_SIDE = 16384  # pixels, each way
MAX_PIXELS = 1 << 26  # per image (64 megapixels): decoded as float RGBA that is 1 GB already
MAX_NESTING = 32  # lists and objects inside each other
MAX_SOURCE_CHAIN = 8  # an augmented dataset of an augmented dataset of ...
ALLOW_OUTSIDE_ENV = "PS4PRO_ALLOW_OUTSIDE_FILES"

# Camera keys a frame may give itself or inherit from the file's top level (instant-ngp, nerfstudio).
INTRINSIC_KEYS = ("w", "h", "fl_x", "fl_y", "cx", "cy", "camera_angle_x", "camera_angle_y", "depth_unit_scale_factor")

_FIX_HINT = "Fix that field in the file, or capture (or export) the dataset again"
_OUTSIDE_HINT = (f"Copy the files into the dataset folder and give their paths relative to it, or set {ALLOW_OUTSIDE_ENV}=1 "
                 "in the environment of Blender (or of the backend) to let PS4PRO read files outside it")


def _invalid(name: str, exc: schema.Invalid) -> JobError:
    return JobError(f"{name}: {exc}", hint=_FIX_HINT)


class _Files:
    """Where a dataset may read from: its own folder and the folders of the datasets it names as its
    sources (an augmented dataset's real views stay in its source capture), each resolved through
    symlinks, so that no path in the file, absolute or ``..``, reaches anything else."""

    def __init__(self, root: str, meta: dict, name: str):
        self.root, self.name = root, name
        self.allow_anywhere = os.environ.get(ALLOW_OUTSIDE_ENV, "") not in ("", "0")
        self.roots = [os.path.realpath(root)] + _source_roots(root, meta, name)

    def resolve(self, value, where: str, image: bool = False) -> str:
        try:
            rel = schema.string(value, where, max_len=4096)
        except schema.Invalid as exc:
            raise _invalid(self.name, exc) from None
        if not rel.strip():
            raise JobError(f"{self.name}: {where} is empty", hint=_FIX_HINT)
        path = os.path.normpath(os.path.join(self.root, rel))
        if image:
            path = _with_extension(path)
        if not self.allow_anywhere:
            real = os.path.realpath(path)
            if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots):
                raise JobError(f"{self.name}: {where} points outside the dataset folder ({rel})", hint=_OUTSIDE_HINT)
        return path


def _source_roots(root: str, meta: dict, name: str) -> list[str]:
    """The folders of the datasets this one was made from (``ps4pro.augment.source_dataset``, a path
    relative to the dataset or absolute), followed up the chain. A named source must itself be a
    dataset (a folder with transforms.json), so naming "/" allows nothing."""
    roots, folder, here = [], root, meta
    for _ in range(MAX_SOURCE_CHAIN):
        source = ((here.get("ps4pro") or {}).get("augment") or {}).get("source_dataset") if isinstance(here, dict) else None
        if not isinstance(source, str) or not source:
            break
        folder = os.path.normpath(os.path.join(folder, source))
        main = os.path.join(folder, "transforms.json")
        if not os.path.isfile(main):
            raise JobError(f"{name} was made from the dataset {folder}, which is not there any more",
                           hint="Keep an augmented dataset beside the capture it was made from, or augment again")
        roots.append(os.path.realpath(folder))
        try:
            here = json.loads(files.read_bytes(main, MAX_JSON_BYTES))
        except (OSError, ValueError, RecursionError):
            break
    return roots


def _with_extension(path: str) -> str:
    if os.path.splitext(path)[1]:
        return path
    # NeRF-blender layouts leave the extension off and mean .png.
    for ext in (".png", ".jpg", ".jpeg", ".exr"):
        if os.path.exists(path + ext):
            return path + ext
    return path + ".png"


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file from its header alone: PNG and JPEG are parsed here (the
    Blender side has no Pillow), anything else through Pillow, lazily (no pixel is decoded)."""
    import struct

    try:
        with files.open_regular(path) as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"\xff\xd8"):
                f.seek(2)
                for _ in range(4096):  # markers before the frame header; a damaged file may loop
                    marker = f.read(2)
                    if len(marker) < 2 or marker[0] != 0xFF:
                        break
                    if marker[1] in (0xD8, 0x01) or 0xD0 <= marker[1] <= 0xD7:
                        continue
                    length = struct.unpack(">H", f.read(2))[0]
                    if marker[1] in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                        h, w = struct.unpack(">xHH", f.read(5))
                        return w, h
                    f.seek(length - 2, 1)
                raise JobError(f"Cannot read the size of image {path}", hint="The file is damaged; re-capture the dataset")
    except FileNotFoundError:
        raise JobError(f"Missing image {path}", hint="Re-capture the dataset, restore the file, or give w and h "
                       "in transforms.json") from None
    except (OSError, struct.error) as exc:
        raise JobError(f"Cannot read image {path}: {exc}", hint="Put the image file there, or re-capture the dataset") from None
    try:
        import PIL  # noqa: F401  (the backend has it; Blender's Python does not)
    except ImportError:
        raise JobError(f"Cannot tell the size of {os.path.basename(path)} without its w and h",
                       hint="Give w and h in transforms.json, or use PNG or JPEG images") from None
    with open_image(path) as im:
        return im.size


def open_image(path: str, what: str = "Image", size: tuple[int, int] | None = None):
    """A PIL image opened (not yet decoded) from a regular file, its size checked against
    ``size`` and the pixel limit before any pixel is decoded. A clear error otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        f = files.in_memory(path)
    except FileNotFoundError:
        raise JobError(f"Missing {what.lower()} {path}", hint="Re-capture the dataset or restore the file") from None
    except OSError as exc:
        raise JobError(f"Cannot read {what.lower()} {path}: {exc}", hint="Put the image file there, or re-capture the dataset") from None
    try:
        with warnings.catch_warnings():  # Pillow's own size warning: ours follows, and is an error
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(f)
        w, h = im.size
        if size is not None and (w, h) != tuple(size):
            raise JobError(f"{what} {os.path.basename(path)} is {w}x{h} but transforms.json says {size[0]}x{size[1]}",
                           hint="Re-capture the dataset, or fix w/h in transforms.json")
        if w * h > MAX_PIXELS:
            raise JobError(f"{what} {os.path.basename(path)} is {w}x{h}, over the {MAX_PIXELS >> 20} megapixel limit",
                           hint="Scale the images down (and the intrinsics with them)")
        return im
    except JobError:
        f.close()
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        f.close()
        raise JobError(f"Cannot read {what.lower()} {path}: {exc}", hint="The file is damaged; re-capture the dataset") from None


def _frame_from(entry, meta: dict, place: _Files, split: str, where: str, given: bool = False) -> Frame:
    name = place.name
    try:
        schema.mapping(entry, where)
        schema.required(entry, "file_path", schema.string, where)
        if entry.get("transform_matrix") is None:
            raise schema.Invalid(f"{where}.transform_matrix", "is missing")
        c2w = _pose(entry["transform_matrix"], f"{where}.transform_matrix")
        own = {k: entry[k] for k in INTRINSIC_KEYS if entry.get(k) is not None}
        cam = {**{k: meta[k] for k in INTRINSIC_KEYS if meta.get(k) is not None}, **own}
        # A value's name in messages: the frame's own field, or the file-level one it inherits.
        names = {k: f"{where}.{k}" if k in own else k for k in INTRINSIC_KEYS}
        w = _camera(cam, names, "w", schema.integer, lo=1, hi=MAX_SIDE)
        h = _camera(cam, names, "h", schema.integer, lo=1, hi=MAX_SIDE)
        extra = _extra(entry, where)
        frame_split = schema.optional(entry, "split", schema.string, where, choices=SPLITS) or split
    except schema.Invalid as exc:
        raise _invalid(name, exc) from None
    image_path = place.resolve(entry["file_path"], f"{where}.file_path", image=True)
    if w is None or h is None:
        w, h = image_size(image_path)
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise JobError(f"Image {image_path} is {w}x{h}, over {MAX_SIDE} pixels a side",
                           hint="Scale the images down (and the intrinsics with them)")
    try:
        fx, fy, cx, cy = _intrinsics(cam, names, w, h, where)
    except schema.Invalid as exc:
        raise _invalid(name, exc) from None
    depth = entry.get("depth_file_path")
    depth_path = place.resolve(depth, f"{where}.depth_file_path") if depth is not None else None
    if extra.get("confidence_file_path") is not None:  # a synthetic view's per-pixel confidence
        extra["confidence_file_path"] = place.resolve(extra["confidence_file_path"], f"{where}.confidence_file_path")
    return Frame(image_path=image_path, c2w=c2w, fx=fx, fy=fy, cx=cx, cy=cy, w=w, h=h, split=frame_split,
                 split_given=given or entry.get("split") is not None,
                 depth_path=depth_path, extra=extra,
                 depth_scale=float(cam["depth_unit_scale_factor"]) if cam.get("depth_unit_scale_factor") is not None else None)


def _pose(value, where: str) -> np.ndarray:
    """A camera-to-world matrix: 4 x 4 (or 3 x 4), finite, affine, with an invertible rotation part
    (a singular one has no view direction and would fail deep inside training)."""
    rows = value if isinstance(value, list) else None
    shape = (3, 4) if rows is not None and len(rows) == 3 else (4, 4)
    c2w = schema.array(value, where, shape, lo=-1e9, hi=1e9)
    if shape == (3, 4):
        c2w = np.vstack([c2w, [0.0, 0.0, 0.0, 1.0]])
    if np.abs(c2w[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-4:
        raise schema.Invalid(where, f"must have a last row of 0 0 0 1, not {c2w[3].tolist()}")
    rot = c2w[:3, :3]
    scale = np.linalg.norm(rot, axis=0)
    if scale.min() < 1e-9 or np.linalg.cond(rot / scale) > 1e6:
        raise schema.Invalid(where, "is not invertible (its rotation part is singular): it is not a camera pose")
    return c2w


def _camera(cam: dict, names: dict, key: str, check, **bounds):
    return None if cam.get(key) is None else check(cam[key], names[key], **bounds)


def _intrinsics(cam: dict, names: dict, w: int, h: int, where: str) -> tuple[float, float, float, float]:
    fx = _camera(cam, names, "fl_x", schema.number, above=0, hi=1e8)
    fy = _camera(cam, names, "fl_y", schema.number, above=0, hi=1e8)
    if fx is None:
        angle = _camera(cam, names, "camera_angle_x", schema.number, above=0, below=math.pi)
        if angle is None:
            raise schema.Invalid(where, "gives neither fl_x nor camera_angle_x: add the camera intrinsics")
        fx = 0.5 * w / math.tan(0.5 * angle)
    if fy is None:
        angle = _camera(cam, names, "camera_angle_y", schema.number, above=0, below=math.pi)
        fy = 0.5 * h / math.tan(0.5 * angle) if angle is not None else fx
    cx = _camera(cam, names, "cx", schema.number, lo=-1e8, hi=1e8)
    cy = _camera(cam, names, "cy", schema.number, lo=-1e8, hi=1e8)
    _camera(cam, names, "depth_unit_scale_factor", schema.number, above=0, hi=1e8)
    return fx, fy, (w / 2.0 if cx is None else cx), (h / 2.0 if cy is None else cy)


# Per-frame keys that the backend uses, beyond the camera's: checked here so that nothing later
# meets a string where it wants a number.
def _extra(entry: dict, where: str) -> dict:
    extra = {k: v for k, v in entry.items() if k not in ("file_path", "transform_matrix", "depth_file_path")}
    schema.optional(extra, "weight", schema.number, where, lo=0, hi=1e6)
    schema.optional(extra, "synthetic", schema.boolean, where)
    for key in ("t", "time", "frame"):
        schema.optional(extra, key, schema.number, where, lo=-1e12, hi=1e12)
    sources = schema.optional(extra, "source", schema.sequence, where, max_len=16)
    for i, s in enumerate(sources or []):
        schema.string(s, f"{where}.source[{i}]")
    schema.optional(extra, "confidence_file_path", schema.string, where)
    return extra


def _load_json(path: str) -> dict:
    name = os.path.basename(path)
    try:
        raw = files.read_bytes(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise JobError(f"No dataset at {path}", hint="Capture the scene first, or pick a folder with transforms.json") from None
    except files.TooLarge as exc:
        raise JobError(f"{exc}: too large for a dataset", hint="Split the dataset, or pick the right file") from None
    except OSError as exc:
        raise JobError(f"Cannot read {path}: {exc}", hint="Pick a folder with a transforms.json file") from None
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise JobError(f"Cannot read {path}: not valid JSON ({why})", hint="The file is damaged; re-capture the dataset") from None
    if not isinstance(meta, dict):
        raise JobError(f"{name} must hold a JSON object ({{...}}), not {type(meta).__name__}", hint=_FIX_HINT)
    if schema.depth(meta, MAX_NESTING) > MAX_NESTING:
        raise JobError(f"{name} nests lists and objects more than {MAX_NESTING} deep", hint=_FIX_HINT)
    return meta


def _check_meta(meta: dict, name: str) -> None:
    """The file-level fields used, before any frame is read."""
    try:
        # Intrinsics are checked per frame, with the frame's own values first.
        if meta.get("aabb") is not None:
            box = schema.array(meta["aabb"], "aabb", (2, 3), lo=-1e9, hi=1e9)
            if not np.all(box[1] > box[0]):
                raise schema.Invalid("aabb", f"must have its second corner above its first, not {box.tolist()}")
        for split in SPLITS:
            names = schema.optional(meta, f"{split}_filenames", schema.sequence, "", max_len=MAX_FRAMES)
            for i, n in enumerate(names or []):
                schema.string(n, f"{split}_filenames[{i}]")
        ps4pro = schema.optional(meta, "ps4pro", schema.mapping, "")
        if ps4pro:
            schema.optional(ps4pro, "depth", schema.mapping, "ps4pro")
            augment = schema.optional(ps4pro, "augment", schema.mapping, "ps4pro")
            if augment:
                schema.optional(augment, "source_dataset", schema.string, "ps4pro.augment")
    except schema.Invalid as exc:
        raise _invalid(name, exc) from None


def _frames_of(meta: dict, name: str) -> list:
    try:
        return schema.sequence(meta.get("frames"), "frames", min_len=1, max_len=MAX_FRAMES)
    except schema.Invalid as exc:
        if meta.get("frames") in (None, []):
            raise JobError(f"{name} has no frames", hint="Capture at least one view") from None
        raise _invalid(name, exc) from None


SPLIT_FILES = tuple(f"transforms_{split}.json" for split in SPLITS)


def locate(path: str) -> str:
    """The dataset ``path`` names, as what :func:`load` takes: a folder with ``transforms.json`` or
    with the NeRF-blender split files, or one ``transforms*.json`` file. The one rule for "is this a
    dataset", on both sides; a ``JobError`` that says what is missing otherwise."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        name = os.path.basename(path)
        if not (name.startswith("transforms") and name.endswith(".json")):
            raise JobError(f"{path} is a file, not a dataset folder or transforms*.json",
                           hint="Choose the dataset folder (it holds transforms.json)")
        return path
    if not os.path.isdir(path):
        raise JobError(f"{path} holds no transforms.json (there is no such folder)",
                       hint="Capture the scene first, or choose a dataset folder")
    if os.path.isfile(os.path.join(path, "transforms.json")) or os.path.isfile(os.path.join(path, SPLIT_FILES[0])):
        return path
    if any(os.path.isfile(os.path.join(path, f)) for f in SPLIT_FILES):
        raise JobError(f"{path} has transforms_val/test.json but no transforms_train.json",
                       hint="Add the training split, or choose a dataset folder with transforms.json")
    raise JobError(f"{path} holds no transforms.json", hint="Capture the scene first, or choose a dataset folder")


def load(path: str) -> Dataset:
    """A dataset from a folder or a transforms*.json file, every field it uses checked.

    A folder with per-split files (``transforms_train/val/test.json``, the NeRF-blender layout)
    and no ``transforms.json`` is read split by split; otherwise ``transforms.json`` is read, and
    each frame's split comes from its ``split`` key or the nerfstudio ``*_filenames`` lists.
    Every file a frame names must lie in the dataset's folder or its source datasets' (see
    :class:`_Files`).
    """
    path = os.path.abspath(path)
    if os.path.isdir(path):
        root = path
        main = os.path.join(root, "transforms.json")
        if not os.path.exists(main) and os.path.exists(os.path.join(root, "transforms_train.json")):
            return _load_split_files(root)
    else:
        root, main = os.path.dirname(path), path
    name = os.path.basename(main)
    meta = _load_json(main)
    _check_meta(meta, name)
    entries = _frames_of(meta, name)
    place = _Files(root, meta, name)
    named = {}
    for split in SPLITS:
        for n in meta.get(f"{split}_filenames") or []:
            named[os.path.normpath(n)] = split
    frames = []
    for i, entry in enumerate(entries):
        file_path = entry.get("file_path") if isinstance(entry, dict) else None
        key = os.path.normpath(file_path) if isinstance(file_path, str) and file_path else None
        frames.append(_frame_from(entry, meta, place, named.get(key, "train"), f"frames[{i}]", key in named))
    return Dataset(root, frames, _aabb(meta), meta, camera_warnings(meta, entries))


def _load_split_files(root: str) -> Dataset:
    frames, meta, entries = [], {}, []
    for split in SPLITS:
        path = os.path.join(root, f"transforms_{split}.json")
        if not os.path.exists(path):
            continue
        name = os.path.basename(path)
        part = _load_json(path)
        _check_meta(part, name)
        meta = meta or part
        part_entries = _frames_of(part, name) if part.get("frames") else []
        place = _Files(root, part, name)
        entries += part_entries
        frames += [_frame_from(e, part, place, split, f"frames[{i}]", True) for i, e in enumerate(part_entries)]
        if len(frames) > MAX_FRAMES:
            raise JobError(f"The dataset in {root} has over {MAX_FRAMES:,} views", hint="Split it into smaller datasets")
    if not frames:
        raise JobError(f"No frames in {root}", hint="Capture at least one view")
    return Dataset(root, frames, _aabb(meta), meta, camera_warnings(meta, entries))


DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
PINHOLE_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE")


def camera_warnings(meta: dict, entries: list) -> list[str]:
    """What the cameras have that this backend does not model: lens distortion (instant-ngp and
    nerfstudio ``k1 k2 k3 k4 p1 p2``) and fisheye models. Such views are used as pinhole views,
    which blurs and bends the reconstruction, so the user hears of it."""
    keys, models, count = set(), set(), 0
    for entry in entries:
        own = {k for k in DISTORTION_KEYS if _nonzero(entry.get(k, meta.get(k)))}
        model = str(entry.get("camera_model", meta.get("camera_model", "OPENCV"))).upper()
        if bool(entry.get("is_fisheye", meta.get("is_fisheye"))) and "FISHEYE" not in model:
            model = "FISHEYE"  # instant-ngp's flag
        if model not in PINHOLE_MODELS:
            models.add(model)
        if own:
            keys |= own
            count += 1
    notes = []
    if keys:
        notes.append(f"{count} of {len(entries)} views have lens distortion ({', '.join(sorted(keys))}), which is not "
                     "modelled: they are used as undistorted pinhole views. Undistort the images first (e.g. nerfstudio's "
                     "ns-process-data or COLMAP's image_undistorter) for sharper results")
    if models:
        notes.append(f"The camera model {', '.join(sorted(models))} is not modelled: its views are used as pinhole "
                     "views. Convert the dataset to undistorted pinhole images first")
    return notes


def _nonzero(value) -> bool:
    try:
        return value is not None and float(value) != 0.0
    except (TypeError, ValueError):
        return False


def _aabb(meta: dict):
    box = meta.get("aabb")  # checked by _check_meta
    return None if box is None else np.asarray(box, dtype=np.float64)


def load_rgba(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 4) float32 in 0..1 (alpha 1 where the image has none). With ``size`` (w, h), an image
    of another size is an error before its pixels are decoded."""
    from PIL import Image

    with open_image(path, "Image", size) as im:
        try:
            rgba = im.convert("RGBA")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise JobError(f"Cannot read image {path}: {exc}", hint="The file is damaged; re-capture the dataset") from None
    return np.asarray(rgba, dtype=np.float32) / 255.0
