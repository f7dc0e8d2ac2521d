"""Blender-side glue for backend jobs: which Python, where job folders go, and the
:class:`BackendJobOperator` mixin that turns a job into a StepOperator body."""

from __future__ import annotations

import datetime
import os

import bpy

from ..panels import preferences as prefs_mod
from . import jobs
from .driver import OperatorError, Progress, StepOperator

SETUP_ENV_NAME = "backend_env"


def setup_env_dir(create: bool = False) -> str:
    """Where Set Up Backend makes the backend environment (the extension's user folder)."""
    try:
        return prefs_mod.user_folder(SETUP_ENV_NAME, create=create)
    except OSError:
        return ""


def backend_python(context) -> jobs.PythonChoice:
    prefs = prefs_mod.preferences(context)
    preference = bpy.path.abspath(prefs.backend_python) if prefs and prefs.backend_python else ""
    try:
        return jobs.choose_python(preference, setup_env_dir())
    except jobs.BackendError as exc:
        raise OperatorError(exc.message, exc.hint) from None


def device(context) -> str:
    prefs = prefs_mod.preferences(context)
    return prefs.device if prefs else "AUTO"


def new_job_dir(context, command: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = os.path.join(prefs_mod.work_folder(context), "jobs", f"{stamp}-{command}")
    try:
        os.makedirs(folder)
    except OSError as exc:
        raise OperatorError(
            f"Cannot create a job folder in {os.path.dirname(folder)}: {exc.strerror}",
            "Set a writable Work Folder in Preferences > Add-ons > PS4PRO",
        ) from None
    return folder


def dataset_folder(path: str, settings, verb: str, prefer_augmented: bool = False) -> str:
    """The absolute dataset folder an operator works on: ``path``, else the last augmented
    dataset (where asked for) or the last capture."""
    path = path or (prefer_augmented and settings.last_augmented) or settings.last_dataset
    if not path:
        raise OperatorError(f"No dataset to {verb}", "Capture the scene first, or choose a dataset folder")
    path = os.path.abspath(bpy.path.abspath(path))
    if not os.path.isfile(os.path.join(path, "transforms.json")):
        raise OperatorError(f"{path} holds no transforms.json", "Capture the scene first, or choose a dataset folder")
    return path


class BackendJobOperator(StepOperator):
    """A StepOperator whose work is one backend job.

    Subclasses implement ``job_command(context, job_dir) -> (command, argv)`` and
    ``on_result(context, result)`` (main thread, after the job succeeded). Nothing of the
    job's output touches the scene unless the job finished with ``done`` and a result.json.
    """

    stage_names = {}
    job = None

    def job_command(self, context, job_dir: str):
        raise NotImplementedError

    def on_result(self, context, result: dict) -> None:
        pass

    def steps(self, context):
        python = backend_python(context)
        job_dir = new_job_dir(context, self.bl_idname.split(".")[-1])
        command, argv = self.job_command(context, job_dir)
        self.job = jobs.BackendJob(python.path, command, argv, job_dir, device(context))
        body = jobs.run_job_steps(self.job, blocking=self.blocking)
        try:
            while True:
                try:
                    messages = next(body)
                except StopIteration as stop:
                    result = stop.value
                    break
                except jobs.BackendError as exc:
                    hint = exc.hint or (f"See {exc.log}" if exc.log else "")
                    raise OperatorError(exc.message, hint) from None
                progress = None
                for message in messages:
                    if self.blocking and message.kind != "progress":
                        jobs.print_message(message)
                    if message.kind == "warning":
                        self.report({"WARNING"}, message.get("text", ""))
                    elif message.kind == "status":
                        progress = Progress(message.get("text", ""))
                    elif message.kind == "progress":
                        metrics = message.get("metrics") or {}
                        text = " ".join(
                            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
                        )
                        progress = Progress(message.get("stage", ""), message.get("done", 0), message.get("total", 0), text)
                yield progress
        finally:
            body.close()  # stops the backend on cancel or error (SIGTERM, then kill)
        self.result = result
        self.on_result(context, result)
