"""Blender-side tests: the real bpy wheel, with the extension built by Blender's own
builder and installed from its zip, as a user would, into a throwaway user folder."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER_DIR = tempfile.mkdtemp(prefix="ps4pro-blender-user-")
# Blender reads this when bpy is imported: keep the tests out of the real user's config.
os.environ["BLENDER_USER_RESOURCES"] = USER_DIR
BACKEND_PYTHON = REPO / ".venv" / "backend" / "bin" / "python"
if "PS4PRO_PYTHON" not in os.environ and BACKEND_PYTHON.exists():
    os.environ["PS4PRO_PYTHON"] = str(BACKEND_PYTHON)

import bpy  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import extension_build  # noqa: E402  (scripts/extension_build.py: Blender's builder, validator, installer)

ADDON = "bl_ext.user_default.ps4pro"


def blender_ext_script() -> Path:
    return extension_build.blender_ext_script()


def build_extension_zip(out_dir) -> Path:
    """Build the extension zip with Blender's own builder (the manifest's exclude rules apply)."""
    return extension_build.build(REPO, Path(out_dir) / "ps4pro.zip")


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory):
    return build_extension_zip(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="session")
def addon(extension_zip):
    """The installed and enabled extension; yields its module name."""
    if ADDON not in bpy.context.preferences.addons:
        assert extension_build.install(extension_zip) == ADDON
    assert ADDON in bpy.context.preferences.addons
    yield ADDON


@pytest.fixture
def scene(addon):
    """An empty scene with the extension enabled."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy.context.scene
