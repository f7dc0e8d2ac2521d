"""``ps4pro.setup_backend``: make the backend environment in the extension's user folder with pip,
so that an artist never needs a terminal. Only when Blender allows online access."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading

import bpy

from ..errors import OperatorError
from ..jobs import process
from ..jobs.backend import new_job_dir, setup_env_dir
from ..jobs.driver import Progress, StepOperator
from ..jobs.process import venv_python

TORCH = "torch==2.13.0"
PACKAGES = ("numpy", "Pillow", "OpenEXR")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def install_commands(python: str, env_dir: str, gpu: bool) -> list[list[str]]:
    """The commands that make the environment: a venv, then pip (CUDA torch with a GPU, CPU torch without)."""
    env_python = venv_python(env_dir)
    torch_index = [] if gpu else ["--index-url", CPU_INDEX, "--extra-index-url", "https://pypi.org/simple"]
    return [
        [python, "-m", "venv", env_dir],
        [env_python, "-m", "pip", "install", "--upgrade", "pip"],
        [env_python, "-m", "pip", "install", TORCH, *torch_index],
        [env_python, "-m", "pip", "install", *PACKAGES],
    ]


def _pump(stream, sink: queue.Queue):
    for raw in stream:
        sink.put(raw.decode("utf-8", "replace").rstrip())
    sink.put(None)


class PS4PRO_OT_setup_backend(StepOperator, bpy.types.Operator):
    """Create the backend's Python environment (torch and friends) in the extension's user folder"""

    bl_idname = "ps4pro.setup_backend"
    bl_label = "Set Up Backend"

    def prepare(self, context):
        if not bpy.app.online_access:
            raise OperatorError(
                "Blender does not allow online access, so the backend cannot be downloaded",
                "Enable Preferences > System > Network > Allow Online Access, or set Backend Python to a "
                "Python that already has torch",
            )
        self.env_dir = setup_env_dir(create=False)
        try:
            os.makedirs(os.path.dirname(self.env_dir), exist_ok=True)
        except OSError:
            self.env_dir = ""
        if not self.env_dir:
            raise OperatorError("The extension has no writable user folder", "Check your Blender user folder")
        self.gpu = has_nvidia_gpu()

    def steps(self, context):
        log_path = os.path.join(os.path.dirname(self.env_dir), "setup_backend.log")
        # Build beside the final place and swap it in only when complete, so a failed or cancelled
        # setup never leaves a half-made environment that looks usable.
        partial = self.env_dir + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        done = False
        try:
            yield from self._install(context, partial, log_path)
            done = True
        finally:
            if not done:
                shutil.rmtree(partial, ignore_errors=True)

    def _install(self, context, partial, log_path):
        commands = install_commands(sys.executable, partial, self.gpu)
        with open(log_path, "w", encoding="utf-8") as log:
            for i, cmd in enumerate(commands):
                yield Progress("Setting up backend", i, len(commands), " ".join(os.path.basename(c) for c in cmd[:4]))
                log.write("$ " + " ".join(cmd) + "\n")
                log.flush()
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                lines: queue.Queue = queue.Queue()
                threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
                try:
                    while True:
                        try:
                            line = lines.get(timeout=0.1 if self.blocking else 0.0)
                        except queue.Empty:
                            yield None
                            continue
                        if line is None:
                            break
                        log.write(line + "\n")
                        yield Progress("Setting up backend", i, len(commands), line[:80])
                    code = proc.wait()
                finally:
                    if proc.poll() is None:  # cancelled: stop pip, keep the log
                        proc.terminate()
                        proc.wait()
                if code != 0:
                    raise OperatorError(
                        f"Setting up the backend failed at: {' '.join(os.path.basename(c) for c in cmd[:5])}",
                        f"See {log_path}; check your connection, or set Backend Python by hand",
                    )
        yield Progress("Checking backend", len(commands), len(commands))
        job = process.BackendJob(venv_python(partial), "check", [], new_job_dir(context, "check"))
        try:
            info = process.run_to_end(job, timeout=300)
        except process.BackendError as exc:
            raise OperatorError(f"The new backend does not run: {exc.message}", f"See {job.log_path}") from None
        if not info.get("ok"):
            raise OperatorError(f"The new backend lacks {', '.join(info.get('missing', []))}", f"See {log_path}")
        shutil.rmtree(self.env_dir, ignore_errors=True)
        os.replace(partial, self.env_dir)

    def finished_report(self):
        return f"Backend ready in {self.env_dir} ({'CUDA' if self.gpu else 'CPU'} torch)"


CLASSES = [PS4PRO_OT_setup_backend]
