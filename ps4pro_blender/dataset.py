"""Reads ``transforms.json`` datasets: ours, instant-ngp's, nerfstudio's and the NeRF "blender" ones.

Camera-to-world matrices are in Blender/OpenGL camera axes (−Z forward, +Y up). Pixel
coordinates put (0, 0) at the top-left corner of the image, pixel centres at +0.5.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

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


def _resolve_image(root: str, file_path: str) -> str:
    path = os.path.normpath(os.path.join(root, file_path))
    if os.path.splitext(path)[1]:
        return path
    # NeRF-blender layouts leave the extension off and mean .png.
    for ext in (".png", ".jpg", ".jpeg", ".exr"):
        if os.path.exists(path + ext):
            return path + ext
    return path + ".png"


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def _frame_from(entry: dict, meta: dict, root: str, split: str) -> Frame:
    if "file_path" not in entry or "transform_matrix" not in entry:
        raise JobError(
            "A frame in transforms.json lacks file_path or transform_matrix",
            hint="Each frame needs both; re-capture the dataset or fix the file",
        )
    image_path = _resolve_image(root, entry["file_path"])
    c2w = np.asarray(entry["transform_matrix"], dtype=np.float64)
    if c2w.shape == (3, 4):
        c2w = np.vstack([c2w, [0, 0, 0, 1]])
    if c2w.shape != (4, 4) or not np.all(np.isfinite(c2w)):
        raise JobError(f"Bad transform_matrix for {entry['file_path']}", hint="It must be a finite 4x4 matrix")

    def get(key):
        return entry.get(key, meta.get(key))

    w, h = get("w"), get("h")
    if w is None or h is None:
        if not os.path.exists(image_path):
            raise JobError(f"Missing image {image_path}", hint="Re-capture the dataset or restore the file")
        w, h = _image_size(image_path)
    w, h = int(w), int(h)
    fx, fy = get("fl_x"), get("fl_y")
    if fx is None:
        angle_x = get("camera_angle_x")
        if angle_x is None:
            raise JobError(
                "transforms.json gives neither fl_x nor camera_angle_x",
                hint="Add the camera intrinsics to the dataset",
            )
        fx = 0.5 * w / math.tan(0.5 * float(angle_x))
    if fy is None:
        angle_y = get("camera_angle_y")
        fy = 0.5 * h / math.tan(0.5 * float(angle_y)) if angle_y is not None else fx
    cx = get("cx")
    cy = get("cy")
    depth = entry.get("depth_file_path")
    scale = get("depth_unit_scale_factor")
    extra = {k: v for k, v in entry.items() if k not in ("file_path", "transform_matrix", "depth_file_path")}
    if isinstance(extra.get("confidence_file_path"), str):  # a synthetic view's per-pixel confidence
        extra["confidence_file_path"] = os.path.normpath(os.path.join(root, extra["confidence_file_path"]))
    return Frame(
        image_path=image_path,
        c2w=c2w,
        fx=float(fx),
        fy=float(fy),
        cx=float(cx) if cx is not None else w / 2.0,
        cy=float(cy) if cy is not None else h / 2.0,
        w=w,
        h=h,
        split=entry.get("split", split),
        depth_path=os.path.normpath(os.path.join(root, depth)) if depth else None,
        extra=extra,
        depth_scale=float(scale) if scale is not None else None,
    )


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise JobError(f"No dataset at {path}", hint="Capture the scene first, or pick a folder with transforms.json")
    except (OSError, ValueError) as exc:
        raise JobError(f"Cannot read {path}: {exc}", hint="The file is damaged; re-capture the dataset")


def load(path: str) -> Dataset:
    """A dataset from a folder or a transforms*.json file.

    A folder with per-split files (``transforms_train/val/test.json``, the NeRF-blender layout)
    and no ``transforms.json`` is read split by split; otherwise ``transforms.json`` is read, and
    each frame's split comes from its ``split`` key or the nerfstudio ``*_filenames`` lists.
    """
    path = os.path.abspath(path)
    if os.path.isdir(path):
        root = path
        main = os.path.join(root, "transforms.json")
        if not os.path.exists(main) and os.path.exists(os.path.join(root, "transforms_train.json")):
            return _load_split_files(root)
    else:
        root, main = os.path.dirname(path), path
    meta = _load_json(main)
    entries = meta.get("frames")
    if not isinstance(entries, list) or not entries:
        raise JobError(f"{main} has no frames", hint="Capture at least one view")
    named = {}
    for split in SPLITS:
        for name in meta.get(f"{split}_filenames", []) or []:
            named[os.path.normpath(name)] = split
    frames = []
    for entry in entries:
        split = entry.get("split") or named.get(os.path.normpath(entry.get("file_path", "")), "train")
        frames.append(_frame_from(entry, meta, root, split))
    return Dataset(root, frames, _aabb(meta), meta, camera_warnings(meta, entries))


def _load_split_files(root: str) -> Dataset:
    frames, meta, entries = [], {}, []
    for split in SPLITS:
        path = os.path.join(root, f"transforms_{split}.json")
        if not os.path.exists(path):
            continue
        part = _load_json(path)
        meta = meta or part
        entries += part.get("frames", [])
        frames += [_frame_from(e, part, root, split) for e in part.get("frames", [])]
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
    box = meta.get("aabb")
    if box is None:
        return None
    box = np.asarray(box, dtype=np.float64)
    return box if box.shape == (2, 3) and np.all(np.isfinite(box)) else None


def load_rgba(path: str) -> np.ndarray:
    """(H, W, 4) float32 in 0..1 (alpha 1 where the image has none)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGBA")
            return np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise JobError(f"Missing image {path}", hint="Re-capture the dataset or restore the file")
    except OSError as exc:
        raise JobError(f"Cannot read image {path}: {exc}", hint="The file is damaged; re-capture the dataset")
