"""What the user sets and where it goes: the scene's PS4PRO settings (``properties``), the add-on
preferences as read (``preferences``) and the output folders (``folders``). Operators and panels
both read from here."""

import bpy

from . import properties


def register():
    for cls in properties.CLASSES:
        bpy.utils.register_class(cls)
    properties.attach()


def unregister():
    properties.detach()
    for cls in reversed(properties.CLASSES):
        bpy.utils.unregister_class(cls)
