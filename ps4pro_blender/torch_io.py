"""Saving torch files so that a crash or a cancel never leaves a half-written one."""

from __future__ import annotations

import os
import tempfile


def save_atomic(obj, path: str) -> None:
    """torch.save under a temporary name in the same folder, then rename over ``path``."""
    import torch

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
