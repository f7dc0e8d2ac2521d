"""The job protocol and the backend's command line, across a real process boundary."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ps4pro_blender import protocol

from conftest import REPO


def run_backend(*args, env=None, job=None):
    cmd = [sys.executable, "-m", "ps4pro_blender", *args] + (["--job", str(job)] if job else [])
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=300)


def messages(stdout):
    out = [protocol.decode(line) for line in stdout.splitlines()]
    assert all(m is not None for m in out), f"non-protocol line on stdout: {stdout!r}"
    return out


def test_encode_decode_round_trip():
    line = protocol.encode("progress", stage="Fusing", done=3, total=10, metrics={"loss": 0.5})
    message = protocol.decode(line)
    assert message.kind == "progress"
    assert message.data == {"stage": "Fusing", "done": 3, "total": 10, "metrics": {"loss": 0.5}}


@pytest.mark.parametrize("junk", ["", "hello", "[1, 2]", '{"kind": "nonsense"}', '{"no": "kind"}', "{broken"])
def test_decode_tolerates_junk(junk):
    assert protocol.decode(junk) is None


def test_encode_rejects_unknown_kind_and_nan():
    with pytest.raises(ValueError):
        protocol.encode("chatter", text="x")
    with pytest.raises(ValueError):
        protocol.encode("progress", stage="x", done=0, total=1, metrics={"loss": float("nan")})


def test_emitter_turns_nan_metric_into_null(tmp_path):
    path = tmp_path / "out.txt"
    with open(path, "w") as f:
        protocol.Emitter(f).progress("Training", 1, 2, loss=float("nan"), psnr=30.5)
    message = protocol.decode(path.read_text())
    assert message.get("metrics") == {"loss": None, "psnr": 30.5}


def test_write_json_atomic_leaves_no_temp_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "result.json"
    protocol.write_json_atomic(str(target), {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        protocol.write_json_atomic(str(target), {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_check_command_reports_python_and_torch(tmp_path):
    proc = run_backend("check", job=tmp_path)
    assert proc.returncode == 0, proc.stderr
    msgs = messages(proc.stdout)
    assert [m.kind for m in msgs][-2:] == ["result", "done"]
    result = msgs[-2].get("result")
    assert result["ok"] is True
    assert result["python_version"].startswith("3.")
    assert result["torch"].startswith("2.")
    assert result["device"] in ("cpu",) or result["device"].startswith("cuda")
    assert json.loads((tmp_path / "result.json").read_text()) == result


def test_unknown_command_is_a_usage_error():
    proc = run_backend("no-such-command")
    assert proc.returncode == protocol.EXIT_USAGE
    assert "invalid choice" in proc.stderr


def test_bad_input_is_a_protocol_error_with_hint(tmp_path):
    proc = run_backend("fuse-depth", str(tmp_path / "nothing-here"), job=tmp_path)
    assert proc.returncode == protocol.EXIT_ERROR
    error = messages(proc.stdout)[-1]
    assert error.kind == "error" and error.get("code") == protocol.E_BAD_INPUT
    assert "No dataset" in error.get("message") and error.get("hint")
    assert not (tmp_path / "result.json").exists()


def test_stray_prints_go_to_stderr_not_the_protocol(tmp_path):
    # A broken transforms.json makes the command fail inside the JSON parser; whatever the code
    # or libraries print must not corrupt stdout.
    (tmp_path / "transforms.json").write_text("{not json")
    proc = run_backend("fuse-depth", str(tmp_path))
    msgs = messages(proc.stdout)
    assert msgs[-1].kind == "error" and "Cannot read" in msgs[-1].get("message")


def test_sigterm_cancels_at_a_step_and_leaves_no_output(tmp_path):
    from synthetic_dataset import make

    data = make(str(tmp_path / "data"), n_views=12)
    job = tmp_path / "job"
    job.mkdir()
    out = job / "points.ply"
    env = dict(os.environ, PYTHONPATH=str(REPO), PS4PRO_STEP_DELAY="0.5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ps4pro_blender", "fuse-depth", data, "--out", str(out), "--job", str(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = protocol.decode(proc.stdout.readline())
    while first.kind != "progress":
        first = protocol.decode(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == protocol.EXIT_CANCELLED, stderr
    last = messages(stdout)[-1]
    assert last.kind == "error" and last.get("code") == protocol.E_CANCELLED
    assert not out.exists() and not (job / "result.json").exists()
    # Only job.json, which records the config the job ran with (not an output: result.json marks those).
    assert [p.name for p in job.iterdir()] == ["job.json"]
    assert json.load(open(job / "job.json"))["config"]["dataset"] == data


def test_every_user_command_runs_with_its_typed_config(tmp_path):
    """Each command module hands its config class to the CLI; job.json records the parsed config."""
    from ps4pro_blender import cli, configs

    for name, config in configs.CONFIGS.items():
        assert cli.load_command(name).config is config, name
    job = tmp_path / "job"
    proc = subprocess.run([sys.executable, "-m", "ps4pro_blender", "reconstruct", str(tmp_path / "none"), "--job", str(job),
                           "--plane-res", "64"], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          timeout=300)
    assert proc.returncode == protocol.EXIT_ERROR  # no dataset there: a clean error, after the config was recorded
    recorded = json.load(open(job / "job.json"))["config"]
    assert recorded["plane_res"] == 64 and recorded["steps"] == 0 and recorded["minutes"] == 10.0
    # A value out of its limits is bad input, named by its flag.
    proc = subprocess.run([sys.executable, "-m", "ps4pro_blender", "reconstruct", str(tmp_path), "--plane-res", "5"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    error = [m for m in map(protocol.decode, proc.stdout.splitlines()) if m is not None and m.kind == "error"][0]
    assert error.get("code") == protocol.E_BAD_INPUT and "--plane-res must be at least 16 and at most 1024" in error.get("message")
