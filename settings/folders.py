"""Where outputs go: the extension's user folder, the work folder for jobs and unsaved files, and
each command's default output folder (one rule each, used by operators and panels alike)."""

import os
import tempfile

import bpy

from .preferences import PACKAGE, preferences


def user_folder(*parts, create=True) -> str:
    """The extension's writable user folder (survives upgrades; the extension folder does not)."""
    try:
        base = bpy.utils.extension_path_user(PACKAGE, create=create)
    except ValueError:  # not loaded as an extension (e.g. a legacy add-on install)
        base = os.path.join(bpy.utils.user_resource("DATAFILES"), "ps4pro")
    path = os.path.join(base, *parts)
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def work_folder(context=None) -> str:
    """Absolute folder for job folders and for outputs of unsaved .blend files."""
    prefs = preferences(context)
    folder = bpy.path.abspath(prefs.work_folder) if prefs and prefs.work_folder else ""
    if not folder:
        try:
            folder = user_folder("work")
        except OSError:
            folder = os.path.join(tempfile.gettempdir(), "ps4pro")
    os.makedirs(folder, exist_ok=True)
    return os.path.abspath(folder)


def resolve_output(path: str, context=None, default_name: str = "output") -> str:
    """An absolute folder for ``path``: blend-relative paths of an unsaved file go to the work folder."""
    if not path:
        return os.path.join(work_folder(context), default_name)
    if path.startswith("//") and not bpy.data.filepath:
        return os.path.join(work_folder(context), path[2:].strip("/\\") or default_name)
    return os.path.abspath(bpy.path.abspath(path))


def reconstruction_folder(recon_dir: str, dataset: str) -> str:
    """The folder Reconstruct writes to: ``recon_dir`` when set, else ``<dataset>_recon`` beside the
    dataset folder (a transforms*.json names its folder); "" when neither is known."""
    if recon_dir:
        return os.path.abspath(bpy.path.abspath(recon_dir))
    dataset = bpy.path.abspath(dataset) if dataset else ""
    if not dataset:
        return ""
    if os.path.basename(dataset).startswith("transforms") and dataset.endswith(".json"):
        dataset = os.path.dirname(dataset)
    return os.path.abspath(os.path.normpath(dataset) + "_recon")
