"""Set Up Backend: refused without online access; a failing install reports clearly and leaves no
half-made environment; the torch build follows the GPU."""

import importlib
import os
import sys

import bpy
import pytest

from conftest import ADDON


@pytest.fixture
def online(scene):
    system = bpy.context.preferences.system
    saved = system.use_online_access
    yield system
    system.use_online_access = saved


def test_refused_without_online_access(online):
    online.use_online_access = False
    with pytest.raises(RuntimeError, match="does not allow online access.*Allow Online Access"):
        bpy.ops.ps4pro.setup_backend()


def test_failed_install_reports_and_leaves_nothing(online, monkeypatch, tmp_path):
    online.use_online_access = True
    # No package source at all: pip fails at once, as it would offline.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    backend = importlib.import_module(f"{ADDON}.jobs.backend")
    env_dir = backend.setup_env_dir()
    with pytest.raises(RuntimeError, match="Setting up the backend failed at: .*pip install.*setup_backend.log"):
        bpy.ops.ps4pro.setup_backend()
    assert not os.path.exists(env_dir) and not os.path.exists(env_dir + ".partial")
    log = os.path.join(os.path.dirname(env_dir), "setup_backend.log")
    assert "torch==2.13.0" in open(log).read()


def test_torch_build_follows_the_gpu(addon):
    setup = importlib.import_module(f"{ADDON}.operators.setup_backend")
    cpu = setup.install_commands(sys.executable, "/env", gpu=False)
    gpu = setup.install_commands(sys.executable, "/env", gpu=True)
    torch_cpu = next(c for c in cpu if setup.TORCH in c)
    torch_gpu = next(c for c in gpu if setup.TORCH in c)
    assert setup.CPU_INDEX in torch_cpu and setup.CPU_INDEX not in torch_gpu
    assert cpu[0][:3] == [sys.executable, "-m", "venv"]
