"""What the user sees: the sidebar panels and the add-on preferences; the settings they draw
live in ``settings/``."""

import bpy

from . import preferences, sidebar


def register():
    for cls in preferences.CLASSES + sidebar.CLASSES:
        bpy.utils.register_class(cls)
    sidebar.register()


def unregister():
    sidebar.unregister()
    for cls in reversed(preferences.CLASSES + sidebar.CLASSES):
        bpy.utils.unregister_class(cls)
