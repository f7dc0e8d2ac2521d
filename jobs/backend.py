"""Blender-side glue for backend jobs: which Python, where job folders go, and the
:class:`BackendJobOperator` mixin that turns a job into a StepOperator body."""

from __future__ import annotations

import datetime
import os

import bpy

from ..errors import OperatorError
from ..settings import folders, preferences
from . import process
from .driver import Progress, StepOperator

SETUP_ENV_NAME = "backend_env"


def setup_env_dir(create: bool = False) -> str:
    """Where Set Up Backend makes the backend environment (the extension's user folder)."""
    try:
        return folders.user_folder(SETUP_ENV_NAME, create=create)
    except OSError:
        return ""


def backend_python(context) -> process.PythonChoice:
    prefs = preferences.preferences(context)
    preference = bpy.path.abspath(prefs.backend_python) if prefs and prefs.backend_python else ""
    try:
        return process.choose_python(preference, setup_env_dir())
    except process.BackendError as exc:
        raise OperatorError(exc.message, exc.hint, exc.code) from None


def device(context) -> str:
    prefs = preferences.preferences(context)
    return prefs.device if prefs else "AUTO"


def new_job_dir(context, command: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = os.path.join(folders.work_folder(context), "jobs", f"{stamp}-{command}")
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
    dataset (where asked for) or the last capture. What counts as a dataset is the backend's
    rule (``dataset.locate``): a folder with ``transforms.json`` or the NeRF-blender split files;
    a path to one of those files means its folder."""
    from ..ps4pro_blender import dataset
    from ..ps4pro_blender.protocol import JobError

    path = path or (prefer_augmented and settings.last_augmented) or settings.last_dataset
    if not path:
        raise OperatorError(f"No dataset to {verb}", "Capture the scene first, or choose a dataset folder")
    try:
        found = dataset.locate(os.path.abspath(bpy.path.abspath(path)))
    except JobError as exc:
        raise OperatorError(exc.message, exc.hint) from None
    return os.path.dirname(found) if os.path.isfile(found) else found


# -- novel views along a camera path ----------------------------------------------------------


def render_path_frames(context, camera_name: str = "") -> list[dict]:
    """Cameras for ``--render-path``: ``camera_name`` (else the camera the scene renders at each
    frame, as timeline markers bind it) over the scene's frame range and frame step, with the
    capture's pose and intrinsics code (``camera_model``). A camera that does not move gives one
    view, at the current frame. Raises OperatorError before anything changes; the scene's frame
    is restored afterwards."""
    from ..scene import camera_model, capture_sources

    scene = context.scene
    start, end, step = scene.frame_start, scene.frame_end, max(1, scene.frame_step)
    if end < start:
        raise OperatorError(f"The scene's frame range is empty (end {end} is before start {start})",
                            "Set the scene's End frame at or after its Start frame")
    frames = list(range(start, end + 1, step))
    if camera_name:
        camera = bpy.data.objects.get(camera_name)
        if camera is None:
            raise OperatorError(f"No object named {camera_name!r} to render novel views from",
                                "Pick a camera as the Render Camera, or leave it empty for the scene camera")
        at = {f: camera for f in frames}
    else:
        at = {f: capture_sources.camera_at(scene, f) for f in frames}
        if None in at.values():
            raise OperatorError("The scene has no active camera to render novel views from",
                                "Make a camera the scene camera, or pick a Render Camera")
    cameras = set(at.values())
    for camera in sorted(cameras, key=lambda ob: ob.name):
        capture_sources.check_perspective(camera)
    if len(cameras) == 1 and not capture_sources.is_animated(next(iter(cameras))):
        at = {scene.frame_current: next(iter(cameras))}  # every frame would render the same view
    width, height = camera_model.render_size(scene.render)
    if width < 1 or height < 1:
        raise OperatorError("The scene's render resolution is zero", "Set Output Properties > Resolution")
    records = []
    frame, subframe, active = scene.frame_current, scene.frame_subframe, scene.camera
    moved = len(at) > 1
    try:
        for i, (f, camera) in enumerate(at.items()):
            if moved:
                scene.frame_set(f)
            cam = camera.evaluated_get(context.evaluated_depsgraph_get())
            record = {"file_path": f"renders/{i:04d}.png",
                      "transform_matrix": camera_model.camera_to_world(cam.matrix_world)}
            record.update(camera_model.intrinsics(cam.data, scene.render))
            record.update(frame=int(f), camera=camera.name)
            records.append(record)
    finally:
        if moved:
            scene.frame_set(frame, subframe=subframe)
            if scene.camera != active:  # markers switch the scene camera on frame changes
                scene.camera = active
    return records


def write_render_path(folder: str, records: list[dict]) -> str:
    """The cameras of ``render_path_frames`` as a transforms.json that ``--render-path`` reads."""
    from ..ps4pro_blender import transforms_io

    path = os.path.join(folder, "render_path.json")
    content = {"ps4pro": {"render_path": True}, "frames": records}
    transforms_io.write_atomic(path, transforms_io.dumps(content).encode())
    return path


def renders_report(result: dict) -> str:
    """Where a job's novel views went, for the finished report ("" when it rendered none)."""
    renders = result.get("renders") or []
    if not renders:
        return ""
    folder = os.path.dirname(renders[0])
    return f"; {len(renders)} novel view{'s' if len(renders) != 1 else ''} in {folder}"


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

    def job_device(self, context) -> str:
        """AUTO/CPU/CUDA for the backend's --device; operators with their own override change it."""
        return device(context)

    def steps(self, context):
        python = backend_python(context)
        job_dir = new_job_dir(context, self.bl_idname.split(".")[-1])
        command, argv = self.job_command(context, job_dir)
        self.job = process.BackendJob(python.path, command, argv, job_dir, self.job_device(context))
        body = process.run_job_steps(self.job, blocking=self.blocking)
        try:
            while True:
                try:
                    messages = next(body)
                except StopIteration as stop:
                    result = stop.value
                    break
                except process.BackendError as exc:
                    hint = exc.hint or (f"See {exc.log}" if exc.log else "")
                    raise OperatorError(exc.message, hint, exc.code) from None
                progress = None
                for message in messages:
                    if self.blocking and message.kind != "progress":
                        process.print_message(message)
                    if message.kind == "warning":
                        self.report({"WARNING"}, message.get("text", ""))
                    elif message.kind == "status":
                        progress = Progress(message.get("text", ""))
                    elif message.kind == "progress":
                        metrics = message.get("metrics") or {}
                        progress = Progress(message.get("stage", ""), message.get("done", 0), message.get("total", 0),
                                            metrics=metrics if isinstance(metrics, dict) else {})
                yield progress
        finally:
            body.close()  # stops the backend on cancel or error (SIGTERM, then kill)
        self.result = result
        self.on_result(context, result)
