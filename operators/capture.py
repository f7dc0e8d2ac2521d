"""``ps4pro.capture``: render the scene's cameras into a ``transforms.json`` dataset.

The body is ``capture_steps(context, options)``, a generator yielding one ``Progress``
per rendered view; the operator's ``steps`` delegates to it, and tests drive it directly
(e.g. one ``next()`` then ``close()`` to cancel). Everything that can be refused is
refused by ``plan_capture`` before the scene is touched; after that the scene is
restored on every way out (see ``capture_render.preserved_scene``), and the dataset only
counts as finished once ``transforms.json`` is written, last (see ``dataset_writer``).
"""

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from types import SimpleNamespace

import bpy
from mathutils import Vector

from ..errors import OperatorError
from ..jobs.driver import Progress, StepOperator
from ..scene import camera_model, capture_render, capture_sources, dataset_writer
from ..settings.folders import resolve_output
from ..settings.properties import CAPTURE_OPTIONS, fill_unset

FORMAT_VERSION = 1


def capture_options(context, given=None) -> SimpleNamespace:
    """Options as a namespace: ``given`` (mapping or object) over the scene settings."""
    settings = context.scene.ps4pro
    given = {} if given is None else given
    get = given.get if isinstance(given, dict) else lambda name, default: getattr(given, name, default)
    return SimpleNamespace(**{name: get(name, getattr(settings, name)) for name in CAPTURE_OPTIONS})


@dataclass
class Plan:
    source: capture_sources.Source
    output_dir: str
    passes: set
    resolution: tuple[int, int] | None


def _resolution(render, options):
    """Requested size; a missing side keeps the scene's aspect ratio (None: the scene's)."""
    w, h = options.resolution_x, options.resolution_y
    if not w and not h:
        return None
    w = w or max(1, round(h * render.resolution_x / render.resolution_y))
    h = h or max(1, round(w * render.resolution_y / render.resolution_x))
    return int(w), int(h)


def plan_capture(context, options) -> Plan:
    """Check everything that can be checked before rendering; raises ``OperatorError``."""
    if bpy.app.is_job_running("RENDER"):
        raise OperatorError("A render is already running", "Wait for it to finish, or cancel it")
    passes = set()
    if options.depth_format != "NONE":
        passes.add("depth")
    if options.normals:
        passes.add("normals")
    if options.masks:
        passes.add("masks")
    capture_render.check_engine(context.scene.render.engine, passes)
    source = capture_sources.make_source(context, options)
    output_dir = resolve_output(options.output_dir, context, "capture")
    dataset_writer.check_writable(output_dir)
    return Plan(source, output_dir, passes, _resolution(context.scene.render, options))


def _world_bounds(context, bounds):
    """Grow ``bounds`` ([lo, hi] lists) by the renderable geometry as evaluated now."""
    depsgraph = context.evaluated_depsgraph_get()
    for inst in depsgraph.object_instances:
        ob = inst.object
        owner = (inst.parent if inst.is_instance and inst.parent else ob).original
        if ob.type not in capture_render.GEOMETRY_TYPES or owner.hide_render:
            continue
        m = inst.matrix_world
        for corner in ob.bound_box:
            p = m @ Vector(corner)
            for i in range(3):
                bounds[0][i] = min(bounds[0][i], p[i])
                bounds[1][i] = max(bounds[1][i], p[i])


def _view_record(context, view, frame_range) -> dict:
    depsgraph = context.evaluated_depsgraph_get()
    cam = view.camera.evaluated_get(depsgraph)
    record = {"transform_matrix": camera_model.camera_to_world(cam.matrix_world)}
    record.update(camera_model.intrinsics(cam.data, context.scene.render))
    start, end, _step = frame_range
    record["frame"] = int(view.frame)
    # Scene time of the view, 0..1 over the captured range (0 for a single-frame capture).
    record["time"] = (view.frame - start) / (end - start) if end > start else 0.0
    record["camera"] = view.name
    return record


class _Pinned:
    """The scene and view layer the capture started in, standing in for ``context``.

    In the UI the body runs over many timer ticks; the invoke-time context may by then
    point at another window, scene or view layer, so the body only uses these."""

    def __init__(self, context):
        self.scene = context.scene
        self.view_layer = context.view_layer

    def evaluated_depsgraph_get(self):
        self.view_layer.update()
        return self.view_layer.depsgraph


def capture_steps(context, options=None, plan=None):
    """Capture a dataset; yields ``Progress`` after each rendered view."""
    options = capture_options(context, options)
    plan = plan or plan_capture(context, options)
    context = _Pinned(context)
    scene = context.scene
    source, count = plan.source, plan.source.count
    indexed = capture_render.mask_objects(context) if "masks" in plan.passes else []
    writer = dataset_writer.DatasetWriter(
        plan.output_dir, options.depth_format, options.normals, options.masks, options.test_every, len(indexed)
    )
    scratch = None
    with capture_render.preserved_scene(context, indexed), source.views(context) as views:
        capture_render.apply_settings(context, options, plan.passes, plan.resolution)
        mask_names = capture_render.assign_pass_indices(indexed)
        writer.begin()
        scratch = tempfile.mkdtemp(prefix=".ps4pro-render-", dir=plan.output_dir)
        inf = float("inf")
        bounds = [[inf] * 3, [-inf] * 3]
        try:
            for i, view in enumerate(views):
                record = _view_record(context, view, source.frame_range)
                if i == 0 or source.kind == "PATH":
                    _world_bounds(context, bounds)
                started = time.monotonic()
                passes = capture_render.render_view(
                    context, writer.image_path(i), os.path.join(scratch, "passes.exr"), plan.passes
                )
                # What a view costs to render: what each view that augmentation synthesises saves.
                record["render_seconds"] = round(time.monotonic() - started, 3)
                writer.add(i, record, passes.get("depth"), passes.get("normals"), passes.get("masks"), view.split)
                yield Progress("Rendering", i + 1, count, view.name)
            header = _header(context, options, plan, bounds, mask_names, writer)
            writer.finish(header)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    scene.ps4pro.last_dataset = plan.output_dir


def _header(context, options, plan, bounds, mask_names, writer) -> dict:
    scene = context.scene
    if bounds[0][0] > bounds[1][0]:  # nothing renderable: bound the cameras instead
        positions = [[row[3] for row in f["transform_matrix"][:3]] for f in writer.frames]
        bounds = [[min(p[i] for p in positions) - 1 for i in range(3)], [max(p[i] for p in positions) + 1 for i in range(3)]]
    depth_format = {"EXR": "exr", "NPY": "npy"}.get(options.depth_format)
    ps4pro = {
        "version": FORMAT_VERSION,
        "source": plan.source.kind,
        "scene": scene.name,
        "view_layer": context.view_layer.name,
        "engine": scene.render.engine,
        "blender": bpy.app.version_string,
        "transparent": bool(options.transparent),
        "depth": {
            "format": depth_format,
            "kind": "planar",  # distance along the camera's view axis, not along the ray
            "background": dataset_writer.DEPTH_BACKGROUND,
            "exr_channel": "Z" if depth_format == "exr" else None,
        },
        "normals": (
            {
                "format": writer.normal_ext[1:],
                "space": "world",
                "exr_channels": ["R", "G", "B"] if writer.normal_ext == ".exr" else None,
            }
            if options.normals
            else None
        ),
        "masks": (
            {"format": "png", "bits": writer.mask_bits, "background": 0, "objects": mask_names}
            if options.masks
            else None
        ),
        "frame_range": list(plan.source.frame_range),
        "render_seconds": round(sum(f.get("render_seconds", 0.0) for f in writer.frames), 3),
        "split": {"test_every": options.test_every, "val": "same as test"},
        **plan.source.extra,
    }
    return {"aabb": [list(bounds[0]), list(bounds[1])], "ps4pro": ps4pro}


class PS4PRO_OT_capture(StepOperator, bpy.types.Operator):
    """Render the scene's cameras into a dataset (images, depth, poses, transforms.json)"""

    bl_idname = "ps4pro.capture"
    bl_label = "Capture Dataset"
    bl_options = {"REGISTER"}
    __annotations__ = dict(CAPTURE_OPTIONS)

    def prepare(self, context):
        fill_unset(self, context.scene.ps4pro, CAPTURE_OPTIONS)
        self._options = capture_options(context, self)
        self._plan = plan_capture(context, self._options)

    def steps(self, context):
        yield from capture_steps(context, self._options, self._plan)

    def finished_report(self) -> str:
        return f"Captured {self._plan.source.count} views to {self._plan.output_dir}"


CLASSES = [PS4PRO_OT_capture]
