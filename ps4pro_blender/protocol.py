"""The job protocol shared by the Blender side and the backend. Standard library only.

A job is a folder holding ``job.json`` (what to do, absolute paths), the outputs,
``backend.log`` (the backend's stderr) and ``result.json`` (written last, atomically,
only on success). The backend prints one JSON object per line on stdout:

    {"kind": "status",   "text": ...}
    {"kind": "progress", "stage": ..., "done": n, "total": m, "metrics": {...}}
    {"kind": "warning",  "text": ...}
    {"kind": "error",    "code": ..., "message": ..., "hint": ...}
    {"kind": "result",   "result": {...}}          # the content of result.json
    {"kind": "done"}

and exits 0 only after ``done``. Readers tolerate (and log) lines that are not JSON.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field

PROTOCOL_VERSION = 1

JOB_FILE = "job.json"
RESULT_FILE = "result.json"
LOG_FILE = "backend.log"

KINDS = ("status", "progress", "warning", "error", "result", "done")

# Exit codes of the backend process.
EXIT_OK = 0
EXIT_ERROR = 1  # a reported error (an "error" message was sent)
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_CANCELLED = 3  # stopped by SIGTERM at a step boundary

# Error codes: what went wrong, so that the Blender side can word its report.
E_BAD_INPUT = "bad_input"
E_MISSING_DEPENDENCY = "missing_dependency"
E_CANCELLED = "cancelled"
E_INTERNAL = "internal"


class JobError(Exception):
    """An error with a code and a hint for the user; the backend reports it as an ``error``."""

    def __init__(self, message: str, hint: str = "", code: str = E_BAD_INPUT):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


@dataclass
class Message:
    kind: str
    data: dict = field(default_factory=dict)

    def get(self, key, default=None):
        return self.data.get(key, default)


def encode(kind: str, **fields) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    return json.dumps({"kind": kind, **fields}, separators=(",", ":"), allow_nan=False)


def decode(line: str) -> Message | None:
    """A message, or None for a line that is not one (the caller logs it)."""
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
        return None
    kind = obj.pop("kind")
    return Message(kind, obj)


class Emitter:
    """Writes messages to a stream (the backend's real stdout), one line each, flushed."""

    def __init__(self, stream=None):
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()

    def send(self, kind: str, **fields) -> None:
        line = encode(kind, **fields)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def status(self, text: str) -> None:
        self.send("status", text=text)

    def progress(self, stage: str, done: int, total: int, **metrics) -> None:
        fields = {"stage": stage, "done": int(done), "total": int(total)}
        if metrics:
            fields["metrics"] = {k: _plain(v) for k, v in metrics.items()}
        self.send("progress", **fields)

    def warning(self, text: str) -> None:
        self.send("warning", text=text)

    def error(self, code: str, message: str, hint: str = "") -> None:
        self.send("error", code=code, message=message, hint=hint)

    def result(self, result: dict) -> None:
        self.send("result", result=result)

    def done(self) -> None:
        self.send("done")


def _plain(value):
    """JSON-safe scalar (numpy and torch scalars have .item())."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def write_json_atomic(path: str, obj) -> None:
    """Write JSON next to ``path`` under a temporary name, then rename over it (``files.atomic_path``)."""
    from .files import atomic_path

    with atomic_path(path, ".json") as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def new_job(job_dir: str, command: str, args: dict) -> str:
    """Create a job folder with its job.json; returns the job.json path."""
    os.makedirs(job_dir, exist_ok=True)
    path = os.path.join(job_dir, JOB_FILE)
    write_json_atomic(path, {"protocol": PROTOCOL_VERSION, "command": command, "args": args})
    return path
