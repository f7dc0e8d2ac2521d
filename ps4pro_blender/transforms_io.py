"""Writing ``transforms.json`` datasets so that instant-ngp, nerfstudio and the NeRF "blender"
loaders read them unchanged. Standard library only: the Blender side's capture and the backend's
augmentation both write through here.

- ``transforms.json`` (nerfstudio / instant-ngp): file paths with extensions, global intrinsics
  when every view shares them, ``train/val/test_filenames`` lists; written last, so its
  presence marks a finished dataset.
- ``transforms_{train,val,test}.json`` (NeRF "blender"): those loaders append ".png" to
  ``file_path`` themselves, so the extension is left off there.
"""

from __future__ import annotations

import json
import os
import re

from .files import write_bytes_atomic as write_atomic  # the one atomic writer, under this module's old name

SPLITS = ("train", "val", "test")
INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
_NUMBER_LIST = re.compile(r"\[\s+([-+0-9.eE,\s]+?)\s+\]")


def dumps(content: dict) -> str:
    """Indented JSON with each list of plain numbers (a matrix row, a bound) on one line."""
    text = json.dumps(content, indent=2)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"





def shared_intrinsics(frames: list[dict]) -> dict:
    """Global intrinsics when every view shares them; the angles always (first view's)."""
    first = frames[0]
    out = {k: first[k] for k in ("camera_angle_x", "camera_angle_y") if k in first}
    if all(all(abs(f[k] - first[k]) <= 1e-9 * max(1.0, abs(first[k])) for k in INTRINSIC_KEYS) for f in frames):
        out.update({k: first[k] for k in INTRINSIC_KEYS})
    out.update({"k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "camera_model": "OPENCV"})
    return out


def _extensionless(path: str) -> str:
    stem = os.path.splitext(path)[0]
    return stem if stem.startswith((".", "/")) else "./" + stem


def write_transforms(folder: str, frames: list[dict], header: dict, val_is_test: bool = False) -> str:
    """Write the split files, then ``transforms.json``; returns its path.

    Each frame has a ``split``. With ``val_is_test`` the val files list the test views (captures
    keep no separate validation views, so that none are lost to training).
    """
    names = {s: [f["file_path"] for f in frames if f["split"] == s] for s in SPLITS}
    if val_is_test:
        names["val"] = names["test"]
    top = shared_intrinsics(frames)
    top.update(header)
    for split in SPLITS:
        top[f"{split}_filenames"] = names[split]
    for split in SPLITS:
        wanted = "test" if split == "val" and val_is_test else split
        part = [{**f, "file_path": _extensionless(f["file_path"])} for f in frames if f["split"] == wanted]
        write_atomic(os.path.join(folder, f"transforms_{split}.json"), dumps({**top, "frames": part}).encode())
    path = os.path.join(folder, "transforms.json")
    write_atomic(path, dumps({**top, "frames": frames}).encode())
    return path
