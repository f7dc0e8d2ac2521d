"""The add-on preferences as the rest of the extension reads them (the preferences' UI and their
properties are ``panels/preferences.py``)."""

import bpy

# The extension's package, e.g. "bl_ext.user_default.ps4pro" (this file is one level down).
PACKAGE = __package__.rpartition(".")[0]


def preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon else None
