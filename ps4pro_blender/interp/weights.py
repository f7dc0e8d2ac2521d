"""Interpolation weights: plain state dicts with a little metadata, never arbitrary pickles.

File layout (``torch.save`` of a dict, loaded with ``weights_only=True``)::

    {"format": "ps4pro-interp", "version": 1, "config": {...model config...},
     "meta": {...how the weights were made...}, "state_dict": {name: tensor}}
"""

from __future__ import annotations

import json
import os

from ..protocol import JobError
from ..torch_io import save_atomic  # noqa: F401  (re-exported for train.py)

FORMAT = "ps4pro-interp"
CKPT_FORMAT = "ps4pro-interp-checkpoint"
VERSION = 1
LEGACY_PREFIXES = ("flow.",)
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "interp.pt")

_HINT = "Delete the file or point to a weights file that train-interp wrote (the default ships in ps4pro_blender/weights/)"


def save(path: str, model, meta: dict | None = None) -> None:
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    # Plain JSON types only, so that weights_only loading accepts the metadata.
    plain = lambda d: json.loads(json.dumps(d or {}, default=str))  # noqa: E731
    save_atomic({"format": FORMAT, "version": VERSION, "config": plain(model.config), "meta": plain(meta),
                 "state_dict": state}, path)


def read(path: str, map_location="cpu") -> dict:
    """The checked file content; a clear JobError for a missing, corrupt or foreign file."""
    import torch

    if not os.path.exists(path):
        raise JobError(f"No interpolation weights at {path}", hint=_HINT)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, a pickle with code in it, ...
        raise JobError(f"Cannot read interpolation weights {path}: the file is damaged or not a "
                       f"weights file ({type(exc).__name__})", hint=_HINT)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise JobError(f"{path} is not a PS4PRO interpolation weights file", hint=_HINT)
    if obj.get("version") != VERSION:
        raise JobError(f"{path} has weights format version {obj.get('version')}; this PS4PRO reads version {VERSION}",
                       hint="Use weights made by this version of train-interp")
    if not isinstance(obj.get("state_dict"), dict) or not isinstance(obj.get("config", {}), dict):
        raise JobError(f"{path} is damaged: no state dict", hint=_HINT)
    return obj


def load(path: str | None = None, device="cpu"):
    """(model in eval mode on ``device``, meta dict)."""
    from .model import PS4PROInterp

    path = path or DEFAULT_PATH
    obj = read(path)
    try:
        model = PS4PROInterp(obj.get("config") or {})
        # Files from before the learned flow refiner was dropped also hold its (unused) tensors.
        state = {k: v for k, v in obj["state_dict"].items() if not k.startswith(LEGACY_PREFIXES)}
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise JobError(f"{path} does not fit this interpolation network: {str(exc).splitlines()[0]}", hint=_HINT)
    model.to(device).eval()
    return model, dict(obj.get("meta") or {})


def read_checkpoint(path: str, map_location="cpu") -> dict:
    """A training checkpoint (weights, optimizer state, step); clear errors as for weights."""
    import torch

    if not os.path.exists(path):
        raise JobError(f"No checkpoint at {path}", hint="Pass a checkpoint that train-interp wrote (last.pt)")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise JobError(f"Cannot read checkpoint {path}: the file is damaged ({type(exc).__name__})",
                       hint="Resume from another checkpoint or start again")
    if not isinstance(obj, dict) or obj.get("format") != CKPT_FORMAT or "optimizer" not in obj:
        raise JobError(f"{path} is not a train-interp checkpoint", hint="Pass a checkpoint that train-interp wrote (last.pt)")
    return obj
