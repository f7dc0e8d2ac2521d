"""Operators: one module per user action. Each module lists its classes in ``CLASSES``."""

import importlib

import bpy

# Modules whose CLASSES are registered, in order. A module may also define
# register()/unregister() for things that are not classes (handlers).
_MODULES = (
    "check_backend",
    "setup_backend",
    "capture",
    "augment",
    "reconstruct",
    "snapshot",
    "fuse_depth",
    "import_result",
)


def _modules():
    return [importlib.import_module(f".{name}", __name__) for name in _MODULES]


def register():
    for mod in _modules():
        for cls in getattr(mod, "CLASSES", ()):
            bpy.utils.register_class(cls)
        if hasattr(mod, "register"):
            mod.register()


def unregister():
    for mod in reversed(_modules()):
        if hasattr(mod, "unregister"):
            mod.unregister()
        for cls in reversed(getattr(mod, "CLASSES", ())):
            bpy.utils.unregister_class(cls)
