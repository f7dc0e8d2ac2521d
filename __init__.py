"""PS4PRO for Blender: capture, augment, reconstruct, import, snapshot.

The Blender side imports bpy and never torch: ``operators/`` (one module per user action),
``panels/`` (the sidebar), ``settings/`` (scene settings, preferences, output folders), ``scene/``
(reading and writing the scene), ``jobs/`` (running operators and backend jobs) and
``command_line.py`` (``blender -c ps4pro``). The backend (``ps4pro_blender/``) runs in its own
Python process. See README.md and docs/DESIGN.md.
"""

from . import command_line, operators, panels, settings


def register():
    settings.register()
    operators.register()
    panels.register()
    command_line.register()


def unregister():
    command_line.unregister()
    panels.unregister()
    operators.unregister()
    settings.unregister()
