"""The extension as a user gets it: Blender's validator accepts the manifest, Blender's builder
makes a zip that holds the add-on and nothing of the repository's own, and installing, enabling,
disabling and re-enabling it in the real bpy registers everything and then leaves nothing behind."""

import os
import subprocess
import sys
import zipfile

import bpy
import pytest

import extension_build  # scripts/, put on sys.path by conftest.py
from conftest import REPO

# The operators this release delivers (the public scripting API: keep the ids stable).
OPERATORS = ("capture", "augment", "reconstruct", "fuse_depth", "import_result", "check_backend", "setup_backend")
CATEGORY = "PS4PRO"
# Repository parts that must never reach a user's Blender.
NOT_SHIPPED = (".git/", ".github/", ".ci/", ".venv/", "tests/", "bench/", "scripts/", "build/", "dist/",
               "demo_out/", ".pytest_cache/", "requirements/")
BPY_BASES = ("Operator", "Panel", "Menu", "Header", "UIList", "PropertyGroup", "AddonPreferences",
             "Macro", "Gizmo", "GizmoGroup", "KeyingSetInfo", "RenderEngine", "NodeTree", "Node")


# -- helpers ---------------------------------------------------------------------------------------


def _operator_registered(name: str) -> bool:
    try:
        getattr(bpy.ops.ps4pro, name).get_rna_type()
    except KeyError:
        return False
    return True


def _registered_classes(module: str) -> list:
    """Every class of ``module`` (or its submodules) that Blender currently has registered."""
    found = []
    for base_name in BPY_BASES:
        base = getattr(bpy.types, base_name, None)
        if base is None:
            continue
        stack = list(base.__subclasses__())
        while stack:
            cls = stack.pop()
            stack.extend(cls.__subclasses__())
            if cls.__module__.startswith(module) and getattr(cls, "is_registered", False):
                found.append(cls)
    return found


def _panels(module: str) -> list:
    return [cls for cls in _registered_classes(module) if issubclass(cls, bpy.types.Panel)]


def _rna_props(struct) -> set:
    return set(struct.bl_rna.properties.keys())


def _handlers_from(module: str) -> dict:
    """Functions of ``module`` in any of ``bpy.app.handlers``' lists, by list name."""
    found = {}
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if not isinstance(handlers, list):
            continue
        ours = [fn for fn in handlers if getattr(getattr(fn, "func", fn), "__module__", "").startswith(module)]
        if ours:
            found[name] = ours
    return found


def _cli_command_taken(name: str, capfd) -> bool:
    """True when a CLI command ``name`` is registered: Blender warns about a duplicate on stderr."""
    capfd.readouterr()
    handle = _ORIGINAL["register_cli_command"](name, lambda argv: 0)
    try:
        err = capfd.readouterr().err
    finally:
        _ORIGINAL["unregister_cli_command"](handle)
    return "duplicate" in err


_ORIGINAL = {
    "register_cli_command": bpy.utils.register_cli_command,
    "unregister_cli_command": bpy.utils.unregister_cli_command,
}


def assert_enabled(module: str):
    missing = [f"ps4pro.{op}" for op in OPERATORS if not _operator_registered(op)]
    assert not missing, f"operators not registered: {missing}"
    assert "ps4pro" in _rna_props(bpy.types.Scene), "Scene.ps4pro is missing"
    assert "ps4pro_job" in _rna_props(bpy.types.WindowManager), "WindowManager.ps4pro_job is missing"
    addon = bpy.context.preferences.addons.get(module)
    assert addon is not None and addon.preferences is not None, "the add-on has no preferences"
    assert hasattr(addon.preferences, "backend_python")
    panels = _panels(module)
    assert any(getattr(p, "bl_category", "") == CATEGORY for p in panels), f"no sidebar panel in {CATEGORY!r}"


def assert_nothing_left(module: str, timers: list, cli_handles: dict, capfd):
    in_types = [name for name in dir(bpy.types) if "PS4PRO" in name.upper()]
    assert not in_types, f"left in bpy.types: {in_types}"
    classes = [cls.__name__ for cls in _registered_classes(module)]
    assert not classes, f"classes still registered: {classes}"
    assert not any(_operator_registered(op) for op in OPERATORS)
    assert "ps4pro" not in _rna_props(bpy.types.Scene), "Scene.ps4pro is still there"
    assert "ps4pro_job" not in _rna_props(bpy.types.WindowManager), "WindowManager.ps4pro_job is still there"
    assert not _handlers_from(module), f"handlers left: {_handlers_from(module)}"
    still = [fn for fn in timers if bpy.app.timers.is_registered(fn)]
    assert not still, f"timers left: {still}"
    assert all(cli_handles.values()), "a CLI command that enabling registered was not unregistered"
    assert not _cli_command_taken("ps4pro", capfd), "the `ps4pro` CLI command is still registered"


# -- the manifest and the zip ------------------------------------------------------------------------


def test_manifest_passes_blenders_validator():
    output = extension_build.validate(REPO)
    assert "Success" in output or not output.strip(), output
    meta = extension_build.manifest(REPO)
    assert meta["id"] == "ps4pro" and meta["type"] == "add-on"


def test_builder_makes_a_valid_zip(extension_zip):
    assert extension_zip.is_file() and zipfile.is_zipfile(extension_zip)
    extension_build.validate(extension_zip)


def test_zip_holds_the_addon_and_nothing_else(extension_zip):
    names = zipfile.ZipFile(extension_zip).namelist()
    for required in ("blender_manifest.toml", "__init__.py", "command_line.py", "errors.py", "operators/__init__.py",
                     "panels/__init__.py", "settings/__init__.py", "scene/__init__.py", "jobs/__init__.py",
                     "ps4pro_blender/__init__.py", "ps4pro_blender/protocol.py", "ps4pro_blender/__main__.py"):
        assert required in names, f"{required} is missing from the zip"
    for part in ("operators", "panels", "settings", "scene", "jobs", "ps4pro_blender"):
        sources = {p.relative_to(REPO).as_posix() for p in (REPO / part).rglob("*.py") if "__pycache__" not in p.parts}
        assert sources <= set(names), f"not in the zip: {sorted(sources - set(names))}"
    unwanted = [n for n in names if n.startswith(NOT_SHIPPED) or "__pycache__" in n or n.endswith((".pyc", ".zip"))]
    assert not unwanted, f"the zip holds repository files: {unwanted}"


def test_cli_builds_the_zip(tmp_path):
    script = REPO / "scripts" / "extension_build.py"
    proc = subprocess.run([sys.executable, str(script), "build", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = extension_build.manifest(REPO)
    assert (tmp_path / f"{meta['id']}-{meta['version']}.zip").is_file()


def test_release_zip_installs_into_this_blender(tmp_path):
    """The zip users get is built by the main Blender's builder (README: `.venv/blender/bin/python
    scripts/extension_build.py build`). This Blender, whichever the suite runs on (4.2 LTS too),
    accepts it with its own validator and installs and enables it in a fresh process."""
    main_python = REPO / ".venv" / "blender" / "bin" / "python"
    assert main_python.exists(), "run `bash scripts/setup.sh` first: it makes .venv/blender"
    script = REPO / "scripts" / "extension_build.py"
    proc = subprocess.run([str(main_python), str(script), "build", "--out", str(tmp_path)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = extension_build.manifest(REPO)
    release_zip = tmp_path / f"{meta['id']}-{meta['version']}.zip"
    extension_build.validate(release_zip)  # this Blender's validator (the suite's bpy is imported)
    probe = f"""
import sys
sys.path.insert(0, {str(REPO / "scripts")!r})
import bpy, extension_build
module = extension_build.install({str(release_zip)!r})
for op in {OPERATORS!r}:
    getattr(bpy.ops.ps4pro, op).get_rna_type()  # KeyError when not registered
assert "ps4pro" in bpy.types.Scene.bl_rna.properties, "Scene.ps4pro is missing"
print("INSTALLED", module, bpy.app.version_string)
"""
    user = tmp_path / "user"
    user.mkdir()
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user)}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0 and f"INSTALLED bl_ext.user_default.{meta['id']} {bpy.app.version_string}" in proc.stdout, (
        proc.stdout + proc.stderr
    )


# -- installing, enabling, disabling ------------------------------------------------------------------


def test_installed_into_the_user_repository(addon):
    extensions = bpy.utils.user_resource("EXTENSIONS", path="user_default")
    assert os.path.isfile(os.path.join(extensions, "ps4pro", "blender_manifest.toml"))


@pytest.mark.parametrize("name", OPERATORS)
def test_operator_registered(addon, name):
    assert _operator_registered(name), f"bpy.ops.ps4pro.{name} is not registered"


def test_sidebar_panels_registered(addon):
    panels = [p for p in _panels(addon) if getattr(p, "bl_category", "") == CATEGORY]
    assert panels, f"no registered panel with bl_category {CATEGORY!r}"
    assert all(p.bl_space_type == "VIEW_3D" and p.bl_region_type == "UI" for p in panels)


def test_settings_and_preferences_registered(addon):
    assert "ps4pro" in _rna_props(bpy.types.Scene)
    assert "ps4pro_job" in _rna_props(bpy.types.WindowManager)
    prefs = bpy.context.preferences.addons[addon].preferences
    assert prefs is not None and hasattr(prefs, "backend_python")


def test_cli_command_registered(addon, capfd):
    """`blender -c ps4pro ...`: the extension registers a command line named ps4pro."""
    assert _cli_command_taken("ps4pro", capfd), "no `ps4pro` CLI command is registered"


def test_disable_leaves_nothing_and_enable_again_works(addon, monkeypatch, capfd):
    timers, cli_handles = [], {}

    def register_timer(function, *args, **kwargs):
        timers.append(function)
        return _ORIGINAL_TIMER_REGISTER(function, *args, **kwargs)

    def register_cli_command(name, execute):
        handle = _ORIGINAL["register_cli_command"](name, execute)
        cli_handles[id(handle)] = False
        return handle

    def unregister_cli_command(handle):
        cli_handles[id(handle)] = True
        return _ORIGINAL["unregister_cli_command"](handle)

    _ORIGINAL_TIMER_REGISTER = bpy.app.timers.register
    try:
        assert bpy.ops.preferences.addon_disable(module=addon) == {"FINISHED"}
        assert_nothing_left(addon, timers, cli_handles, capfd)

        # Watch what enabling registers, so that disabling can be held to undoing all of it.
        monkeypatch.setattr(bpy.app.timers, "register", register_timer)
        monkeypatch.setattr(bpy.utils, "register_cli_command", register_cli_command)
        monkeypatch.setattr(bpy.utils, "unregister_cli_command", unregister_cli_command)
        assert bpy.ops.preferences.addon_enable(module=addon) == {"FINISHED"}
        assert addon in bpy.context.preferences.addons
        assert "ps4pro" in _rna_props(bpy.types.Scene)
        assert bpy.ops.preferences.addon_disable(module=addon) == {"FINISHED"}
        assert_nothing_left(addon, timers, cli_handles, capfd)
        monkeypatch.undo()
    finally:
        # Enabled again, as the tests that come after expect.
        if addon not in bpy.context.preferences.addons:
            bpy.ops.preferences.addon_enable(module=addon)
    assert_enabled(addon)
