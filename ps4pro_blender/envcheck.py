"""``check``: what this backend Python is and whether it can run PS4PRO jobs."""

from __future__ import annotations

import importlib
import platform
import sys

from . import __version__, protocol
from .cli import Command
from .configs import CheckConfig

PACKAGES = (("torch", "torch"), ("numpy", "numpy"), ("Pillow", "PIL"), ("OpenEXR", "OpenEXR"))


def report(device_request: str = "AUTO") -> dict:
    info = {
        "python": sys.executable,
        "python_version": platform.python_version(),
        "backend_version": __version__,
        "protocol": protocol.PROTOCOL_VERSION,
        "packages": {},
        "missing": [],
        "cuda": None,
        "device": None,
    }
    for label, module in PACKAGES:
        try:
            mod = importlib.import_module(module)
            info["packages"][label] = getattr(mod, "__version__", "installed")
        except Exception as exc:  # ImportError, or a broken install raising something else
            info["missing"].append(label)
            info["packages"][label] = None
            print(f"[ps4pro] cannot import {module}: {exc}", file=sys.stderr)
    if info["packages"].get("torch"):
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["cuda"] = {"version": torch.version.cuda, "device": torch.cuda.get_device_name(0)}
        cpu_only = device_request == "CPU" or not torch.cuda.is_available()
        info["device"] = "cpu" if cpu_only else f"cuda ({info['cuda']['device']})"
        if device_request == "CUDA" and not torch.cuda.is_available():
            info["missing"].append("CUDA device")
    info["ok"] = not info["missing"]
    return info


def run(ctx, args) -> dict:
    info = report(ctx.device_request)
    if not info["ok"]:
        ctx.emit.warning(f"missing: {', '.join(info['missing'])}")
    return info


COMMAND = Command(
    name="check",
    help="report this backend's Python, torch and CUDA device",
    config=CheckConfig,
    run=run,
)
