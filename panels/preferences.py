"""Add-on preferences: backend interpreter, device, work folder."""

import os
import tempfile

import bpy
from bpy.props import EnumProperty, StringProperty

# The extension's package, e.g. "bl_ext.user_default.ps4pro" (this file is one level down).
PACKAGE = __package__.rpartition(".")[0]


class PS4PROPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    backend_python: StringProperty(
        name="Backend Python",
        subtype="FILE_PATH",
        default="",
        description="Python interpreter with torch for the backend (empty: PS4PRO_PYTHON, then the one Set Up Backend made)",
    )
    device: EnumProperty(
        name="Device",
        items=(
            ("AUTO", "Auto", "CUDA when the backend's torch sees a GPU, else the CPU"),
            ("CPU", "CPU", "Always the CPU"),
            ("CUDA", "CUDA", "An NVIDIA GPU (fails clearly when there is none)"),
        ),
        default="AUTO",
    )
    work_folder: StringProperty(
        name="Work Folder",
        subtype="DIR_PATH",
        default="",
        description="Where job folders go, and captures of unsaved files (empty: the extension's user folder)",
    )

    def draw(self, context):
        from .sidebar import draw_backend_box

        layout = self.layout
        layout.prop(self, "backend_python")
        row = layout.row()
        row.prop(self, "device")
        layout.prop(self, "work_folder")
        draw_backend_box(layout, context, show_setup=True)


CLASSES = [PS4PROPreferences]


def preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon else None


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
