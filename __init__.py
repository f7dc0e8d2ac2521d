"""PS4PRO for Blender: capture, augment, reconstruct, import, snapshot.

The Blender side (``operators/``, ``panels/``) imports bpy and never torch; the backend
(``ps4pro_blender/``) runs in its own Python process. See README.md.
"""

from . import operators, panels


def register():
    panels.register_properties()
    operators.register()
    panels.register()


def unregister():
    panels.unregister()
    operators.unregister()
    panels.unregister_properties()
