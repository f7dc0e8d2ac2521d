"""Command line of the backend: ``python -m ps4pro_blender <command> [options]``.

Every command runs the same way from a terminal and from Blender: it prints protocol messages
(one JSON object per line) on stdout, sends everything else (logging, library chatter, stray
prints) to stderr, and exits 0 only after ``done``. With ``--job DIR`` it also writes
``DIR/result.json`` atomically at the end.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable

from . import configs, protocol
from .protocol import JobError


class Cancelled(Exception):
    pass


class Context:
    """What a command gets: message emitter, cancellation, device, job folder."""

    def __init__(self, emit: protocol.Emitter, job_dir: str | None, device: str):
        self.emit = emit
        self.job_dir = job_dir
        self.device_request = device
        self.cancel_requested = False
        # Seconds to wait at every progress step. A debugging aid that lets tests cancel or kill
        # a job reliably mid-run; unset in normal use.
        self.step_delay = float(os.environ.get("PS4PRO_STEP_DELAY", "0") or 0)

    def check_cancel(self) -> None:
        if self.cancel_requested:
            raise Cancelled()

    def progress(self, stage: str, done: int, total: int, **metrics) -> None:
        """Report progress; a step boundary where a cancel takes effect."""
        self.check_cancel()
        self.emit.progress(stage, done, total, **metrics)
        if self.step_delay:
            time.sleep(self.step_delay)
            self.check_cancel()

    def torch_device(self):
        """The torch device for --device AUTO/CPU/CUDA; a clear error when CUDA is asked for but absent."""
        import torch

        want = self.device_request.upper()
        if want == "CPU":
            return torch.device("cpu")
        if torch.cuda.is_available():
            return torch.device("cuda")
        if want == "CUDA":
            raise JobError(
                "CUDA was requested but this backend's torch sees no NVIDIA GPU",
                hint="Set Device to Auto or CPU in Preferences > Add-ons > PS4PRO",
                code=protocol.E_MISSING_DEPENDENCY,
            )
        return torch.device("cpu")


@dataclass
class Command:
    """A backend command: ``run(ctx, config)`` with its typed ``config`` class (``configs.py``),
    from which its options are generated. ``recorded(resume_path)``: the config a resumable
    command's checkpoint was started with (None: not recorded), which a resumed job goes on with."""

    name: str
    help: str
    run: Callable[[Context, object], dict]
    config: type
    recorded: Callable[[str], dict | None] | None = None


# name -> (module, help, needs the full backend environment). Modules are imported only when their command runs, so that a
# broken environment still gets a clear message (and `check` works without torch or numpy).
COMMANDS = {
    "check": ("envcheck", "report this backend's Python, torch and CUDA device", False),
    "fuse-depth": ("fusion", "back-project the depth of every view into one coloured point cloud (PLY)", True),
    "augment": ("augment", "augment a dataset with synthetic in-between views (PS4PRO)", True),
    "train-interp": ("interp.train", "train the interpolation network on captured clips (reproducible from --seed)", True),
    "reconstruct": ("reconstruct", "train a tri-plane radiance field on a dataset, evaluate it on held-out views, export points and a mesh", True),
    "snapshot-encode": ("snapshot.encode", "hide a reconstruction in one ordinary-looking PNG (3D Snapshot)", True),
    "snapshot-decode": ("snapshot.decode", "turn a snapshot PNG back into a reconstruction (field, points, mesh)", True),
    "train-snapshot": ("snapshot.train", "train the snapshot's shared decoder and hiding network (reproducible from --seed)", True),
}


# Old command names that still work, with a warning: scripts written against them keep running.
RENAMED = {"interpolate": "augment"}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ps4pro_blender",
        description=__doc__.splitlines()[0],
        epilog="commands:\n" + "\n".join(f"  {n:<14}{c[1]}" for n, c in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=[*COMMANDS, *RENAMED], metavar="COMMAND")
    return parser


def command_parser(command: Command) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ps4pro_blender {command.name}", description=command.help)
    parser.add_argument("--job", metavar="DIR", help="job folder: write result.json there when done")
    parser.add_argument("--device", default="AUTO", type=str.upper, choices=("AUTO", "CPU", "CUDA"))
    configs.add_arguments(parser, command.config)
    return parser


def parse(command: Command, argv: list[str]):
    """(the parsed namespace, the command's config, notes for the user): a resumed job takes the
    options it started with from its checkpoint unless the command line gives them again; a config
    out of its limits is bad input."""
    args = command_parser(command).parse_args(argv)
    config = configs.from_namespace(command.config, args)
    notes = []
    resume = getattr(config, "resume", None)
    if resume and command.recorded is not None:
        recorded = command.recorded(os.path.abspath(resume))
        if recorded:
            config, taken = configs.resumed(config, recorded, configs.given(command.config, argv))
            if taken:
                notes.append(f"Resuming with the options the run started with: {', '.join(taken)}")
    wrong = configs.problems(config)
    if wrong:
        raise JobError("; ".join(wrong), hint=f"See python -m ps4pro_blender {command.name} --help")
    return args, config, notes


def record_config(job_dir: str, command: Command, config) -> None:
    """job.json gains the config the job runs with, beside what the Blender side asked for."""
    path = os.path.join(job_dir, protocol.JOB_FILE)
    try:
        job = protocol.read_json(path)
    except (OSError, ValueError):
        job = {"protocol": protocol.PROTOCOL_VERSION, "command": command.name}
    job["config"] = configs.to_dict(config)
    os.makedirs(job_dir, exist_ok=True)
    protocol.write_json_atomic(path, job)


def load_command(name: str) -> Command:
    module = importlib.import_module(f".{COMMANDS[name][0]}", __package__)
    return module.COMMAND


def require_backend_packages() -> None:
    """Fail early and clearly in a Python that is not a backend environment. Looks the packages
    up without importing them (importing torch takes seconds); `check` imports them for real."""
    missing = [
        "Pillow" if name == "PIL" else name
        for name in ("torch", "numpy", "PIL", "OpenEXR")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise JobError(
            f"This Python ({sys.executable}) lacks {', '.join(missing)}, which the PS4PRO backend needs",
            hint="Press Set Up Backend in Preferences > Add-ons > PS4PRO, or point Backend Python at "
            "the environment that scripts/setup.sh made (.venv/backend/bin/python)",
            code=protocol.E_MISSING_DEPENDENCY,
        )


def main(argv: list[str] | None = None) -> int:
    # Only protocol messages may reach the real stdout; everything else goes to stderr (the log).
    emit = protocol.Emitter(sys.stdout)
    sys.stdout = sys.stderr
    cancel = {"requested": False}

    def on_sigterm(signum, frame):  # set first, so a cancel during start-up is clean too
        cancel["requested"] = True
        if ctx is not None:
            ctx.cancel_requested = True

    ctx = None
    signal.signal(signal.SIGTERM, on_sigterm)

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help(sys.stderr)
        return protocol.EXIT_OK if argv else protocol.EXIT_USAGE
    name = _top_parser().parse_args(argv[:1]).command
    if name in RENAMED:
        emit.warning(f"The command '{name}' is now '{RENAMED[name]}'; the old name still works, but will go")
        name = RENAMED[name]
    try:
        if COMMANDS[name][2]:
            require_backend_packages()
        command = load_command(name)
    except JobError as exc:
        emit.error(exc.code, exc.message, exc.hint)
        return protocol.EXIT_ERROR
    except ImportError as exc:
        emit.error(
            protocol.E_MISSING_DEPENDENCY,
            f"This Python ({sys.executable}) cannot run {name}: {exc}",
            "Press Set Up Backend in Preferences > Add-ons > PS4PRO, or point Backend Python at "
            "the environment that scripts/setup.sh made (.venv/backend/bin/python)",
        )
        return protocol.EXIT_ERROR
    try:
        args, config, notes = parse(command, argv[1:])
    except JobError as exc:
        emit.error(exc.code, exc.message, exc.hint)
        return protocol.EXIT_ERROR
    ctx = Context(emit, os.path.abspath(args.job) if args.job else None, args.device)
    ctx.cancel_requested = cancel["requested"]
    for note in notes:
        emit.status(note)
    started = time.monotonic()
    try:
        if ctx.job_dir:
            record_config(ctx.job_dir, command, config)
        result = command.run(ctx, config)
        result.setdefault("command", command.name)
        result.setdefault("seconds", round(time.monotonic() - started, 3))
        if ctx.job_dir:
            protocol.write_json_atomic(os.path.join(ctx.job_dir, protocol.RESULT_FILE), result)
        emit.result(result)
        emit.done()
        return protocol.EXIT_OK
    except (Cancelled, KeyboardInterrupt):
        print("[ps4pro] cancelled", file=sys.stderr)
        emit.error(protocol.E_CANCELLED, "Cancelled", "")
        return protocol.EXIT_CANCELLED
    except JobError as exc:
        print(f"[ps4pro] error: {exc.message} ({exc.hint})", file=sys.stderr)
        emit.error(exc.code, exc.message, exc.hint)
        return protocol.EXIT_ERROR
    except Exception as exc:  # a bug: full traceback to the log, a short message to the user
        traceback.print_exc()
        emit.error(
            protocol.E_INTERNAL,
            f"Backend error in {command.name}: {type(exc).__name__}: {exc}",
            "The full traceback is in the job's backend.log",
        )
        return protocol.EXIT_ERROR
