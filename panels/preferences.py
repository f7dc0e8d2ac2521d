"""Add-on preferences: backend interpreter, device, work folder (Edit > Preferences > Add-ons)."""

import bpy
from bpy.props import EnumProperty, StringProperty

from ..settings.preferences import PACKAGE
from .sidebar import draw_backend_box


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
        layout = self.layout
        layout.prop(self, "backend_python")
        row = layout.row()
        row.prop(self, "device")
        layout.prop(self, "work_folder")
        draw_backend_box(layout, context, show_setup=True)


CLASSES = [PS4PROPreferences]
