"""Panels, scene settings and add-on preferences."""

import bpy

from . import preferences, properties, sidebar


def register_properties():
    for cls in properties.CLASSES + preferences.CLASSES:
        bpy.utils.register_class(cls)
    properties.attach()


def unregister_properties():
    properties.detach()
    for cls in reversed(properties.CLASSES + preferences.CLASSES):
        bpy.utils.unregister_class(cls)


def register():
    for cls in sidebar.CLASSES:
        bpy.utils.register_class(cls)
    sidebar.register()


def unregister():
    sidebar.unregister()
    for cls in reversed(sidebar.CLASSES):
        bpy.utils.unregister_class(cls)
