"""Backend jobs driven from Blender: the real backend process, its errors, a crash and a cancel."""

import _thread
import os
import signal
import subprocess
import threading
import time

import bpy
import pytest

from conftest import ADDON, BACKEND_PYTHON, REPO


def addon_prefs():
    return bpy.context.preferences.addons[ADDON].preferences


@pytest.fixture
def prefs(scene, tmp_path):
    p = addon_prefs()
    saved = (p.backend_python, p.work_folder)
    p.work_folder = str(tmp_path / "work")
    yield p
    p.backend_python, p.work_folder = saved


@pytest.fixture
def synthetic(tmp_path):
    out = tmp_path / "data"
    subprocess.run([str(BACKEND_PYTHON), str(REPO / "tests" / "synthetic_dataset.py"), str(out), "12"], check=True)
    return str(out)


def job_dirs(prefs):
    root = os.path.join(prefs.work_folder, "jobs")
    return sorted(os.path.join(root, d) for d in os.listdir(root)) if os.path.isdir(root) else []


def scene_snapshot():
    return sorted(o.name for o in bpy.data.objects), len(bpy.data.meshes), len(bpy.data.pointclouds)


def test_check_backend_reports_python_torch_and_device(prefs):
    assert bpy.ops.ps4pro.check_backend() == {"FINISHED"}
    report = bpy.context.window_manager.ps4pro_job.backend_report
    assert "Python 3.11" in report and "torch 2." in report and "device cpu" in report


def test_missing_backend_python_is_a_clear_error(prefs, tmp_path):
    prefs.backend_python = str(tmp_path / "no" / "python")
    with pytest.raises(RuntimeError, match="does not exist or is not executable.*Preferences"):
        bpy.ops.ps4pro.check_backend()
    # The error's code reaches the job state, where the Backend panel offers Set Up Backend.
    assert bpy.context.window_manager.ps4pro_job.error_code == "missing_dependency"


def test_backend_python_without_torch(prefs, tmp_path, synthetic):
    env = tmp_path / "bare"
    subprocess.run([str(BACKEND_PYTHON), "-m", "venv", "--without-pip", str(env)], check=True)
    prefs.backend_python = str(env / "bin" / "python")
    state = bpy.context.window_manager.ps4pro_job
    with pytest.raises(RuntimeError, match="lacks torch.*Set Up Backend"):
        bpy.ops.ps4pro.check_backend()
    assert state.error_code == "missing_dependency"
    state.error_code = ""
    with pytest.raises(RuntimeError, match="torch"):
        bpy.ops.ps4pro.fuse_depth(dataset=synthetic, import_result=False)
    assert state.error_code == "missing_dependency"  # from the backend's own error message


def test_fuse_depth_imports_a_point_cloud(prefs, synthetic):
    assert bpy.ops.ps4pro.fuse_depth(dataset=synthetic, voxel_size=0.05) == {"FINISHED"}
    result = bpy.context.scene.ps4pro.last_result
    assert os.path.isfile(result)
    obj = bpy.context.active_object
    assert obj is not None and obj.type in {"POINTCLOUD", "MESH"}
    assert len(obj.data.attributes["position"].data) > 100
    job = job_dirs(prefs)[-1]
    assert sorted(os.listdir(job)) == ["backend.log", "job.json", "points.ply", "result.json"]


def test_settings_come_from_the_panel_when_a_script_leaves_them_unset(prefs, synthetic):
    bpy.context.scene.ps4pro.dataset = synthetic
    bpy.context.scene.ps4pro.import_result = False
    before = scene_snapshot()
    assert bpy.ops.ps4pro.fuse_depth() == {"FINISHED"}
    assert scene_snapshot() == before


def _kill_backend_when_it_runs(signum, seen):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-f", "ps4pro_blender fuse-depth"], capture_output=True, text=True).stdout
        pids = [int(p) for p in out.split()]
        if pids:
            time.sleep(1.0)  # let it get going: mid-job, after its first progress messages
            for pid in pids:
                os.kill(pid, signum)
            seen.append(pids)
            return
        time.sleep(0.05)


def test_backend_crash_mid_job_imports_nothing_and_keeps_the_log(prefs, synthetic, monkeypatch):
    monkeypatch.setenv("PS4PRO_STEP_DELAY", "0.3")
    before = scene_snapshot()
    seen = []
    killer = threading.Thread(target=_kill_backend_when_it_runs, args=(signal.SIGKILL, seen))
    killer.start()
    with pytest.raises(RuntimeError, match="stopped unexpectedly.*SIGKILL"):
        bpy.ops.ps4pro.fuse_depth(dataset=synthetic)
    killer.join()
    assert seen
    assert scene_snapshot() == before
    job = job_dirs(prefs)[-1]
    assert os.path.isfile(os.path.join(job, "backend.log"))
    assert not os.path.exists(os.path.join(job, "result.json"))
    assert not os.path.exists(os.path.join(job, "points.ply"))
    assert bpy.context.window_manager.ps4pro_job.running is False


@pytest.fixture
def console_sigint():
    """Python's own SIGINT handler, as in a console where Ctrl-C raises KeyboardInterrupt. Python only
    installs it when SIGINT is not ignored at startup, and a shell's background job (`cmd &`) starts
    with SIGINT ignored: there _thread.interrupt_main() would do nothing at all."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_cancel_mid_job_stops_the_backend_and_leaves_no_result(prefs, synthetic, monkeypatch, console_sigint):
    """Ctrl-C in the console (KeyboardInterrupt) cancels like Esc does in the UI."""
    monkeypatch.setenv("PS4PRO_STEP_DELAY", "1.0")  # the job outlasts the interrupt even on a busy machine
    before = scene_snapshot()

    def interrupt():
        seen = []
        _kill_backend_when_it_runs(0, seen)  # signal 0: just wait until it runs
        _thread.interrupt_main()

    t = threading.Thread(target=interrupt)
    t.start()
    assert bpy.ops.ps4pro.fuse_depth(dataset=synthetic) == {"CANCELLED"}
    t.join()
    assert scene_snapshot() == before
    job = job_dirs(prefs)[-1]
    assert not os.path.exists(os.path.join(job, "result.json"))
    assert not os.path.exists(os.path.join(job, "points.ply"))
    # The backend is gone.
    assert subprocess.run(["pgrep", "-f", "ps4pro_blender fuse-depth"], capture_output=True).returncode == 1
    assert bpy.context.window_manager.ps4pro_job.running is False


def test_second_job_is_refused_while_one_runs(prefs):
    state = bpy.context.window_manager.ps4pro_job
    state.running = True
    try:
        assert not bpy.ops.ps4pro.check_backend.poll()
    finally:
        state.running = False
    assert bpy.ops.ps4pro.check_backend.poll()


def test_ui_driver_steps_never_wait_for_the_backend(prefs, synthetic, monkeypatch, addon):
    """The modal timer advances the job body one step per tick: in the non-blocking mode a step
    returns at once with whatever arrived, so the UI keeps drawing while the backend works."""
    import importlib

    jobs = importlib.import_module(f"{addon}.jobs.process")
    monkeypatch.setenv("PS4PRO_STEP_DELAY", "0.2")
    job = jobs.BackendJob(str(BACKEND_PYTHON), "fuse-depth", [synthetic, "--out", str(prefs.work_folder) + "/p.ply"],
                          os.path.join(prefs.work_folder, "ui-job"))
    steps = jobs.run_job_steps(job, blocking=False)
    empty_ticks, messages = 0, []
    try:
        while True:
            batch = next(steps)
            empty_ticks += not batch
            messages += batch
            time.sleep(0.01)  # the timer's interval
    except StopIteration as stop:
        result = stop.value
    assert result["num_points"] > 0
    assert [m.kind for m in messages][-2:] == ["result", "done"]
    assert sum(m.kind == "progress" for m in messages) == 13
    assert empty_ticks > 20  # most ticks found nothing yet and returned instead of waiting
