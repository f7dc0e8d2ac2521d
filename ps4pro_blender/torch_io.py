"""Saving torch files so that a crash or a cancel never leaves a half-written one."""

from __future__ import annotations

from .files import atomic_path


def save_atomic(obj, path: str) -> None:
    """torch.save under a temporary name in the same folder, then rename over ``path``."""
    import torch

    with atomic_path(path, ".pt") as tmp:
        torch.save(obj, tmp)
