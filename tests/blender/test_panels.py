"""The sidebar panels' draw code, run against a recording layout (no window exists headless):
every property a panel shows exists, every button names a registered operator and sets only
properties that operator has, every icon is one Blender knows, and the labels say what they should."""

import importlib

import bpy
import pytest

from conftest import ADDON

ICONS = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())


class OperatorRecord:
    """What ``layout.operator()`` returns: setting a property the operator lacks fails, as in Blender."""

    def __init__(self, idname, log):
        module, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, module), name).get_rna_type()  # raises if not registered
        object.__setattr__(self, "_names", set(rna.properties.keys()))
        object.__setattr__(self, "_idname", idname)
        object.__setattr__(self, "_log", log)

    def __setattr__(self, name, value):
        assert name in self._names, f"{self._idname} has no property {name}"
        self._log.append(("operator_prop", self._idname, name, value))


class RecordingLayout:
    def __init__(self, log, alert=False):
        self.log = log
        self.alert = alert
        self.enabled = True

    def _child(self, *args, **kw):
        return RecordingLayout(self.log, self.alert)

    row = column = box = split = _child

    def _icon(self, kw):
        assert kw.get("icon", "NONE") in ICONS, f"unknown icon {kw['icon']}"

    def prop(self, data, name, **kw):
        assert hasattr(data, name), f"panel shows missing property {name}"
        self._icon(kw)
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kw):
        assert hasattr(data, name) and hasattr(search_data, search_name)
        self._icon(kw)
        self.log.append(("prop", name))

    def operator(self, idname, **kw):
        self._icon(kw)
        self.log.append(("operator", idname))
        return OperatorRecord(idname, self.log)

    def label(self, text="", **kw):
        self._icon(kw)
        self.log.append(("label", text, self.alert))

    def __getattr__(self, name):  # progress(), separator(), template_icon(), ...
        def call(*args, **kw):
            return None

        return call


def draw(cls, log):
    panel = type("P", (), {"layout": RecordingLayout(log), "draw_settings": cls.draw_settings})()
    cls.draw(panel, bpy.context)
    return log


@pytest.mark.parametrize("state", ["idle", "running"])
@pytest.mark.parametrize("advanced", [False, True])
def test_every_panel_draws_real_settings_and_operators(scene, addon, state, advanced):
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    jobs = bpy.context.window_manager.ps4pro_job
    s = scene.ps4pro
    jobs.running = state == "running"
    s.show_advanced = s.recon_render = s.decode_render = s.recon_resume = advanced
    try:
        for cls in sidebar.CLASSES:
            log = draw(cls, [])
            assert any(entry[0] == "operator" for entry in log), cls.__name__
    finally:
        jobs.running = False


def test_reconstruct_and_snapshot_show_their_options(scene, addon):
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    s = scene.ps4pro
    s.show_advanced = s.recon_render = s.decode_render = True
    recon = {e[1] for e in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, []) if e[0] == "prop"}
    assert {"recon_device", "recon_resume", "recon_render", "render_camera", "batch_rays", "plane_res"} <= recon
    snap = {e[1] for e in draw(sidebar.VIEW3D_PT_ps4pro_snapshot, []) if e[0] == "prop"}
    assert {"decode_render", "render_camera", "decode_mesh_res", "decode_keep_unseen"} <= snap
    s.show_advanced = False
    snap = {e[1] for e in draw(sidebar.VIEW3D_PT_ps4pro_snapshot, []) if e[0] == "prop"}
    assert "decode_mesh_res" not in snap  # advanced


def test_running_reconstruct_shows_the_heldout_psnr_on_its_own_label(scene, addon):
    """The metrics travel as numbers, from the backend's progress message into the job state, and
    the panel draws them from there (no text is parsed)."""
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    driver = importlib.import_module(f"{ADDON}.jobs.driver")
    state = bpy.context.window_manager.ps4pro_job
    state.running, state.operator = True, "ps4pro.reconstruct"
    try:
        driver.set_metrics(state, {"loss": 0.0123, "step": 300, "occupancy": 0.41, "res": 64, "s_per_step": 0.21,
                                   "psnr": 23.456, "note": "not a number", "flag": True})
        assert [m.name for m in state.metrics] == ["loss", "step", "occupancy", "res", "s_per_step", "psnr"]
        labels = [e[1] for e in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, []) if e[0] == "label"]
        assert "Held-out PSNR 23.46 dB" in labels
        assert "loss 0.0123 step 300 occupancy 0.41 res 64 s_per_step 0.21" in labels  # the rest, without psnr
        driver.set_metrics(state, {"loss": 0.5, "step": 10})  # before the first held-out evaluation
        labels = [e[1] for e in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, []) if e[0] == "label"]
        assert "Held-out PSNR: not yet measured" in labels
        state.operator = "ps4pro.augment"  # another job's metrics are not the reconstruction's
        labels = [e[1] for e in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, []) if e[0] == "label"]
        assert not any("PSNR" in t for t in labels)
    finally:
        state.running, state.operator, state.text = False, "", ""
        state.metrics.clear()


def test_a_missing_backend_offers_set_up_backend(scene, addon):
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    state = bpy.context.window_manager.ps4pro_job
    state.last_report = "No backend Python is set up"
    try:
        state.error_code = "missing_dependency"
        log = draw(sidebar.VIEW3D_PT_ps4pro_backend, [])
        assert ("label", "No backend Python is set up", True) in log  # in red
        assert log.count(("operator", "ps4pro.setup_backend")) == 1
        state.error_code = "bad_input"  # nothing to set up for a bad dataset
        assert ("operator", "ps4pro.setup_backend") not in draw(sidebar.VIEW3D_PT_ps4pro_backend, [])
    finally:
        state.error_code, state.last_report = "", ""


def test_import_buttons_name_the_last_reconstructions_files(scene, addon, tmp_path):
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    s = scene.ps4pro
    s.last_reconstruction = str(tmp_path)
    assert ("operator", "ps4pro.import_result") not in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, [])  # no PLYs yet
    (tmp_path / "points.ply").write_bytes(b"ply\n")
    (tmp_path / "mesh.ply").write_bytes(b"ply\n")
    log = draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, [])
    files = [e[3] for e in log if e[:3] == ("operator_prop", "ps4pro.import_result", "filepath")]
    assert files == [str(tmp_path / "points.ply"), str(tmp_path / "mesh.ply")]


def test_resume_and_decode_report_are_flagged(scene, addon, tmp_path):
    sidebar = importlib.import_module(f"{ADDON}.panels.sidebar")
    s = scene.ps4pro
    s.recon_resume, s.recon_dir = True, str(tmp_path)
    assert ("label", "No checkpoint.pt there to resume from", True) in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, [])
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert ("label", "From its checkpoint.pt", False) in draw(sidebar.VIEW3D_PT_ps4pro_reconstruct, [])

    s.decode_report = "INN, decoded in 1.2 s\nDEGRADED: the planes came back changed (3.1 codes); the PNG was edited"
    log = draw(sidebar.VIEW3D_PT_ps4pro_snapshot, [])
    assert ("label", "INN, decoded in 1.2 s", False) in log
    assert ("label", "DEGRADED: the planes came back changed (3.1 codes)", True) in log  # drawn in red
    assert ("label", "the PNG was edited", True) in log


def test_panel_options_are_operator_arguments(addon):
    """Every scene setting a panel shows can be passed to an operator (one set of arguments)."""
    settings = bpy.context.scene.ps4pro.bl_rna.properties.keys()
    op_args = set()
    for op in ("capture", "augment", "reconstruct", "snapshot_encode", "snapshot_decode", "fuse_depth", "import_result"):
        op_args |= set(getattr(bpy.ops.ps4pro, op).get_rna_type().properties.keys())
    internal = {"rna_type", "name", "show_advanced", "last_dataset", "last_result", "last_augmented", "preview_synthetic",
                "augment_report", "last_reconstruction", "last_snapshot", "snapshot_report", "decode_report", "decode_degraded",
                "last_renders"}
    assert set(settings) - internal <= op_args
