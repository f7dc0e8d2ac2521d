"""The sidebar panels' draw code, run against a recording layout (no window exists headless):
every property a panel shows exists, and every button names a registered operator."""

import importlib

import bpy
import pytest

from conftest import ADDON


class RecordingLayout:
    def __init__(self, log):
        self.log = log

    def prop(self, data, name, **kw):
        assert hasattr(data, name), f"panel shows missing property {name}"
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kw):
        assert hasattr(data, name) and hasattr(search_data, search_name)
        self.log.append(("prop", name))

    def operator(self, idname, **kw):
        module, name = idname.split(".")
        getattr(getattr(bpy.ops, module), name).get_rna_type()  # raises if not registered
        self.log.append(("operator", idname))

    def __getattr__(self, name):  # row(), column(), box(), label(), progress(), separator(), ...
        def call(*args, **kw):
            return self if name in ("row", "column", "box", "split") else None

        return call


@pytest.mark.parametrize("state", ["idle", "running"])
def test_every_panel_draws_real_settings_and_operators(scene, addon, state):
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    jobs = bpy.context.window_manager.ps4pro_job
    jobs.running = state == "running"
    try:
        for cls in sidebar.CLASSES:
            log = []
            panel = type("P", (), {"layout": RecordingLayout(log), "draw_settings": cls.draw_settings})()
            cls.draw(panel, bpy.context)
            assert any(kind == "operator" for kind, _ in log), cls.__name__
    finally:
        jobs.running = False


def test_panel_options_are_operator_arguments(addon):
    """Every scene setting a panel shows can be passed to an operator (one set of arguments)."""
    settings = bpy.context.scene.ps4pro.bl_rna.properties.keys()
    op_args = set()
    for op in ("capture", "augment", "reconstruct", "snapshot_encode", "snapshot_decode", "fuse_depth", "import_result"):
        op_args |= set(getattr(bpy.ops.ps4pro, op).get_rna_type().properties.keys())
    internal = {"rna_type", "name", "show_advanced", "last_dataset", "last_result", "last_augmented", "preview_synthetic",
                "last_reconstruction", "last_snapshot", "snapshot_report"}
    assert set(settings) - internal <= op_args
