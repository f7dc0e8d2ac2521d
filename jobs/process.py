"""Runs backend jobs in their own Python process. Standard library only (no bpy), so it can be
tested and reused without Blender.

The backend is ``PYTHON -m ps4pro_blender <command> --job JOB_DIR`` with the extension root on
PYTHONPATH. Its stdout carries protocol messages, read by a thread into a queue that the main
thread drains; its stderr goes to ``JOB_DIR/backend.log``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from ..ps4pro_blender import protocol

EXTENSION_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where scripts/setup.sh puts the backend environment when the extension runs from a checkout.
CHECKOUT_BACKEND = os.path.join(EXTENSION_ROOT, ".venv", "backend", "bin", "python")
CANCEL_GRACE_SECONDS = 5.0


class BackendError(Exception):
    """The backend could not run or failed; ``hint`` says what to do, ``log`` where to look."""

    def __init__(self, message: str, hint: str = "", code: str = protocol.E_INTERNAL, log: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.log = log


# -- which interpreter --------------------------------------------------------------------


@dataclass
class PythonChoice:
    path: str
    origin: str  # "preferences", "PS4PRO_PYTHON", "setup", "checkout"


def venv_python(env_dir: str) -> str:
    sub = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    return os.path.join(env_dir, *sub)


def choose_python(preference: str = "", setup_env_dir: str = "") -> PythonChoice:
    """Preferences, then $PS4PRO_PYTHON, then the environment Set Up Backend made, then a checkout's."""
    candidates = []
    if preference:
        candidates.append(PythonChoice(preference, "preferences"))
    elif os.environ.get("PS4PRO_PYTHON"):
        candidates.append(PythonChoice(os.environ["PS4PRO_PYTHON"], "PS4PRO_PYTHON"))
    else:
        if setup_env_dir:
            candidates.append(PythonChoice(venv_python(setup_env_dir), "setup"))
        candidates.append(PythonChoice(CHECKOUT_BACKEND, "checkout"))
    for choice in candidates:
        if os.path.isfile(choice.path) and os.access(choice.path, os.X_OK):
            return choice
    if candidates[0].origin in ("preferences", "PS4PRO_PYTHON"):
        raise BackendError(
            f"The backend Python set in {candidates[0].origin} does not exist or is not executable: "
            f"{candidates[0].path}",
            hint="Fix the path in Preferences > Add-ons > PS4PRO, or clear it and press Set Up Backend",
            code=protocol.E_MISSING_DEPENDENCY,
        )
    raise BackendError(
        "No backend Python is set up",
        hint="Press Set Up Backend in Preferences > Add-ons > PS4PRO, or set the Backend Python "
        "(a Python with torch) there or in the PS4PRO_PYTHON environment variable",
        code=protocol.E_MISSING_DEPENDENCY,
    )


def backend_env(python: str) -> dict:
    env = dict(os.environ)
    # The backend package lives in the extension root; keep the user's own PYTHONPATH after it.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (EXTENSION_ROOT, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONHOME", None)  # Blender sets it for its own Python; it would break another one
    return env


# -- one job --------------------------------------------------------------------------------


class BackendJob:
    """A backend process working on one job folder."""

    def __init__(self, python: str, command: str, argv: list[str], job_dir: str, device: str = "AUTO"):
        self.python = python
        self.command = command
        self.argv = [str(a) for a in argv]
        self.job_dir = os.path.abspath(job_dir)
        self.device = device
        self.messages: queue.Queue = queue.Queue()
        self.process: subprocess.Popen | None = None
        self.result: dict | None = None
        self.error: protocol.Message | None = None
        self.warnings: list[str] = []
        self.got_done = False
        self.cancelled = False
        self._reader: threading.Thread | None = None
        self._log = None

    @property
    def log_path(self) -> str:
        return os.path.join(self.job_dir, protocol.LOG_FILE)

    def start(self) -> None:
        protocol.new_job(self.job_dir, self.command, {"argv": self.argv, "device": self.device})
        cmd = [self.python, "-m", "ps4pro_blender", self.command, "--job", self.job_dir, "--device", self.device]
        self._log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                cmd + self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._log,
                cwd=self.job_dir,
                env=backend_env(self.python),
                start_new_session=(os.name != "nt"),  # our SIGTERM reaches the backend, not Blender
            )
        except OSError as exc:
            self._log.close()
            raise BackendError(
                f"Could not start the backend Python {self.python}: {exc.strerror or exc}",
                hint="Check the Backend Python in Preferences > Add-ons > PS4PRO",
                code=protocol.E_MISSING_DEPENDENCY,
                log=self.log_path,
            ) from exc
        self._reader = threading.Thread(target=self._read, name="ps4pro-backend-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process and self.process.stdout
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            message = protocol.decode(line)
            if message is None:
                if line.strip():
                    self._log_line(f"[ps4pro] non-protocol line on stdout: {line.rstrip()}")
                continue
            self.messages.put(message)
        self.messages.put(None)  # end of stream

    def _log_line(self, text: str) -> None:
        try:
            self._log.write((text + "\n").encode("utf-8"))
            self._log.flush()
        except (OSError, ValueError):
            pass

    def poll(self, timeout: float = 0.0) -> list[protocol.Message]:
        """Messages that arrived since the last call (waits up to ``timeout`` for the first)."""
        out = []
        try:
            item = self.messages.get(timeout=timeout) if timeout > 0 else self.messages.get_nowait()
            while True:
                if item is not None:
                    self._note(item)
                    out.append(item)
                item = self.messages.get_nowait()
        except queue.Empty:
            pass
        return out

    def _note(self, message: protocol.Message) -> None:
        if message.kind == "result":
            self.result = message.get("result")
        elif message.kind == "error":
            self.error = message
        elif message.kind == "warning":
            self.warnings.append(message.get("text", ""))
        elif message.kind == "done":
            self.got_done = True

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def finished(self) -> bool:
        """True once the process has exited and every message it wrote has been read."""
        if self.process is None or self.process.poll() is None:
            return False
        return self._reader is None or not self._reader.is_alive()

    def cancel(self, grace: float = CANCEL_GRACE_SECONDS) -> None:
        """SIGTERM (the backend stops at its next step), then kill after ``grace`` seconds."""
        self.cancelled = True
        if not self.running:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        if self.running:
            self.cancel()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        if self._log is not None and not self._log.closed:
            self._log.close()

    def outcome(self) -> dict:
        """The result of a finished job, or BackendError saying what went wrong."""
        code = self.process.returncode if self.process else None
        if self.cancelled:
            raise BackendError("Cancelled", code=protocol.E_CANCELLED, log=self.log_path)
        if self.error is not None:
            raise BackendError(
                self.error.get("message", "The backend reported an error"),
                hint=self.error.get("hint", ""),
                code=self.error.get("code", protocol.E_INTERNAL),
                log=self.log_path,
            )
        result_file = os.path.join(self.job_dir, protocol.RESULT_FILE)
        if code == 0 and self.got_done and os.path.isfile(result_file):
            return protocol.read_json(result_file)
        how = _describe_exit(code)
        last = _last_log_line(self.log_path)
        raise BackendError(
            f"The backend stopped unexpectedly ({how})" + (f": {last}" if last else ""),
            hint=f"Nothing was imported; the full log is in {self.log_path}",
            code=protocol.E_INTERNAL,
            log=self.log_path,
        )


def _describe_exit(code) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _last_log_line(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def run_job_steps(job: BackendJob, blocking: bool, poll_seconds: float = 0.1):
    """Generator for StepOperator bodies: starts ``job``, yields each batch of messages, and
    returns the result dict (``StopIteration.value``); always stops the process on exit."""
    job.start()
    try:
        while True:
            messages = job.poll(timeout=poll_seconds if blocking else 0.0)
            yield messages
            if job.finished():
                messages = job.poll()
                if messages:
                    yield messages
                return job.outcome()
    finally:
        job.close()


def run_to_end(job: BackendJob, on_message=None, timeout: float | None = None) -> dict:
    """Blocking helper for scripts and tests."""
    deadline = time.monotonic() + timeout if timeout else None
    steps = run_job_steps(job, blocking=True)
    try:
        while True:
            for message in next(steps):
                if on_message:
                    on_message(message)
            if deadline and time.monotonic() > deadline:
                job.cancel()
    except StopIteration as stop:
        return stop.value
    finally:
        steps.close()


def print_message(message: protocol.Message, stream=None) -> None:
    stream = stream or sys.stdout
    if message.kind == "progress":
        metrics = message.get("metrics") or {}
        extra = "".join(f" {k}={v:.4g}" if isinstance(v, float) else f" {k}={v}" for k, v in metrics.items())
        print(f"[ps4pro] {message.get('stage')} {message.get('done')}/{message.get('total')}{extra}", file=stream)
    elif message.kind in ("status", "warning"):
        print(f"[ps4pro] {message.kind}: {message.get('text')}", file=stream)
