"""Where the capture's cameras come from: a camera path, an orbit, or a collection.

``make_source`` checks everything up front and raises ``OperatorError`` before anything
is rendered or changed. A source's ``views(context)`` is a context manager that yields
an iterator; each step puts the scene in place for one view (frame, active camera, or
the temporary orbit camera's pose) and yields a ``View``. Leaving the context removes
any temporary camera; the caller restores frame and active camera.
"""

import contextlib
import math
from dataclasses import dataclass, field

import bpy
from mathutils import Vector

from ..errors import OperatorError

DEFAULT_LENS = 50.0
DEFAULT_SENSOR = 36.0
_KIND_WORDS = {"ORTHO": "orthographic", "PANO": "panoramic"}


@dataclass
class View:
    name: str  # camera object name, or the virtual name of an orbit view
    frame: int
    camera: object  # the bpy camera object that renders it
    split: str | None = None  # "train"/"val"/"test" when the camera says so (else Hold Out Every decides)


@dataclass
class Source:
    kind: str
    count: int
    frame_range: tuple[int, int, int]  # start, end, step (one frame for orbit/collection)
    extra: dict = field(default_factory=dict)  # written under ps4pro in transforms.json


def check_perspective(ob) -> None:
    if ob.type != "CAMERA":
        raise OperatorError(f"'{ob.name}' is not a camera", "Make a camera object the scene camera")
    if ob.data.type != "PERSP":
        word = _KIND_WORDS.get(ob.data.type, ob.data.type.lower())
        raise OperatorError(
            f"Camera '{ob.name}' is {word}; PS4PRO needs a perspective camera",
            "Set the camera's Type to Perspective",
        )


def _has_animation(id_data) -> bool:
    ad = getattr(id_data, "animation_data", None)
    return bool(ad and (ad.action or len(ad.drivers) or len(ad.nla_tracks)))


def is_animated(ob) -> bool:
    """Could the pose or lens change over time? (animation, drivers, NLA or constraints
    on the camera, its data or any parent)."""
    if _has_animation(ob.data):
        return True
    while ob is not None:
        if _has_animation(ob) or any(not c.mute for c in ob.constraints):
            return True
        ob = ob.parent
    return False


# --- camera path -----------------------------------------------------------------------


class PathSource(Source):
    def __init__(self, scene, frames: list[int], frame_range):
        super().__init__("PATH", len(frames), frame_range)
        self.scene = scene
        self.frames = frames

    @contextlib.contextmanager
    def views(self, context):
        yield self._iterate()

    def _iterate(self):
        for frame in self.frames:
            self.scene.frame_set(frame)  # timeline markers may switch scene.camera here
            yield View(self.scene.camera.name, frame, self.scene.camera)


def camera_at(scene, frame: int):
    """The camera Blender renders at ``frame``: as ``BKE_scene_camera_switch_find`` picks it
    from camera-bound markers (the latest at or before the frame, else the earliest), or
    the scene camera when no marker binds one."""
    bound = [m for m in scene.timeline_markers if m.camera is not None and not m.camera.hide_render]
    if not bound:
        return scene.camera
    before = [m for m in bound if m.frame <= frame]
    pick = max(before, key=lambda m: m.frame) if before else min(bound, key=lambda m: m.frame)
    return pick.camera


def path_source(context, options) -> PathSource:
    scene = context.scene
    if options.use_scene_frame_range:
        start, end = scene.frame_start, scene.frame_end
    else:
        start, end = options.frame_start, options.frame_end
    if end < start:
        raise OperatorError(
            f"The frame range is empty (end {end} is before start {start})",
            "Set an End frame at or after the Start frame",
        )
    step = max(1, options.frame_step)
    frames = list(range(start, end + 1, step))
    cameras = {camera_at(scene, f) for f in frames}
    if None in cameras:
        raise OperatorError("The scene has no active camera", "Add a camera and make it active (Ctrl Numpad 0), or use Orbit")
    for cam in sorted(cameras, key=lambda ob: ob.name):
        check_perspective(cam)
    (only,) = cameras if len(cameras) == 1 else (None,)
    if len(frames) > 1 and only is not None and not is_animated(only):
        raise OperatorError(
            f"Camera '{only.name}' has no animation; animate it or use Orbit/Collection",
            "Keyframe the camera (or a parent), or switch Cameras to Orbit or Collection",
        )
    return PathSource(scene, frames, (start, end, step))


# --- orbit ---------------------------------------------------------------------------------


def selection_bounds(context) -> tuple[Vector, float]:
    """Centre and bounding radius of the selected objects (lights and cameras ignored)."""
    depsgraph = context.evaluated_depsgraph_get()
    corners = []
    for ob in context.view_layer.objects:
        if ob.select_get() and ob.type not in {"CAMERA", "LIGHT", "LIGHT_PROBE", "SPEAKER"}:
            ev = ob.evaluated_get(depsgraph)
            corners += [ev.matrix_world @ Vector(c) for c in ev.bound_box]
    if not corners:
        raise OperatorError("Nothing is selected to orbit around", "Select the objects to capture, then capture again")
    lo = Vector([min(c[i] for c in corners) for i in range(3)])
    hi = Vector([max(c[i] for c in corners) for i in range(3)])
    centre = (lo + hi) / 2
    radius = max((c - centre).length for c in corners)
    return centre, max(radius, 1e-3)


def orbit_directions(count: int, layout: str, elevation: float) -> list[Vector]:
    """Unit vectors from the target to each camera, deterministic for given arguments.

    SPHERE and HEMISPHERE are Fibonacci lattices (golden-angle azimuths, evenly spaced
    heights, offset by half a step so no view sits exactly on a pole, where "up" is
    undefined); RING spaces azimuths evenly at one elevation.
    """
    golden = math.pi * (3.0 - math.sqrt(5.0))
    out = []
    for i in range(count):
        if layout == "RING":
            z, azimuth = math.sin(elevation), 2.0 * math.pi * i / count
        else:
            span = 2.0 if layout == "SPHERE" else 1.0
            z, azimuth = 1.0 - span * (i + 0.5) / count, golden * i
        r = math.sqrt(max(0.0, 1.0 - z * z))
        out.append(Vector((r * math.cos(azimuth), r * math.sin(azimuth), z)))
    return out


class OrbitSource(Source):
    def __init__(self, scene, centre, radius, options):
        frame = scene.frame_current
        super().__init__("ORBIT", options.orbit_count, (frame, frame, 1))
        self.scene = scene
        self.centre = centre
        self.distance = options.orbit_distance * radius
        self.radius = radius
        self.directions = orbit_directions(options.orbit_count, options.orbit_layout, options.orbit_elevation)
        self.template = scene.camera if scene.camera and scene.camera.type == "CAMERA" else None
        self.extra = {
            "orbit": {
                "layout": options.orbit_layout,
                "count": options.orbit_count,
                "elevation": options.orbit_elevation,
                "center": list(centre),
                "radius": radius,
                "distance": self.distance,
            }
        }

    def _make_camera(self):
        data = bpy.data.cameras.new("PS4PRO Orbit")
        tpl = self.template.data if self.template and self.template.data.type == "PERSP" else None
        if tpl:  # lens and sensor only: no shift, so every view looks straight at the target
            data.lens, data.sensor_width, data.sensor_height = tpl.lens, tpl.sensor_width, tpl.sensor_height
            data.sensor_fit = tpl.sensor_fit
        else:
            data.lens, data.sensor_width, data.sensor_fit = DEFAULT_LENS, DEFAULT_SENSOR, "AUTO"
        # Keep the whole target (and some surroundings) between the clip planes.
        near = max(self.distance - self.radius, 1e-3)
        data.clip_start = min(tpl.clip_start if tpl else 0.1, 0.5 * near)
        data.clip_end = max(tpl.clip_end if tpl else 100.0, 10.0 * (self.distance + self.radius))
        ob = bpy.data.objects.new("PS4PRO Orbit", data)
        self.scene.collection.objects.link(ob)
        return ob, data

    @contextlib.contextmanager
    def views(self, context):
        ob, data = self._make_camera()
        try:
            self.scene.camera = ob
            yield self._iterate(context, ob)
        finally:
            # Removing the object first leaves the data without users; drop both.
            bpy.data.objects.remove(ob)
            bpy.data.cameras.remove(data)

    def _iterate(self, context, ob):
        for i, direction in enumerate(self.directions):
            position = self.centre + direction * self.distance
            pose = (-direction).to_track_quat("-Z", "Y").to_matrix().to_4x4()  # look at the centre, +Z up
            pose.translation = position
            ob.matrix_world = pose
            context.view_layer.update()
            yield View(f"orbit_{i:04d}", self.scene.frame_current, ob)


def orbit_source(context, options) -> OrbitSource:
    centre, radius = selection_bounds(context)
    return OrbitSource(context.scene, centre, radius, options)


# --- collection ------------------------------------------------------------------------


class CollectionSource(Source):
    def __init__(self, scene, cameras):
        frame = scene.frame_current
        super().__init__("COLLECTION", len(cameras), (frame, frame, 1))
        self.scene = scene
        self.cameras = cameras

    @contextlib.contextmanager
    def views(self, context):
        yield self._iterate()

    def _iterate(self):
        # Cameras may name their split (custom property ps4pro_split): then the unmarked ones
        # train, so that a user's hand-placed test views are exactly the held-out ones.
        marked = any(SPLIT_PROPERTY in cam for cam in self.cameras)
        for cam in self.cameras:
            self.scene.camera = cam
            split = str(cam.get(SPLIT_PROPERTY, "train")) if marked else None
            yield View(cam.name, self.scene.frame_current, cam, split)


SPLIT_PROPERTY = "ps4pro_split"
SPLITS = ("train", "test")  # captures keep no separate val views (see transforms_io)


def collection_source(context, options) -> CollectionSource:
    name = options.camera_collection
    if not name:
        raise OperatorError("No camera collection is set", "Set Cameras > Collection to the collection holding the cameras")
    coll = bpy.data.collections.get(name)
    if coll is None:
        raise OperatorError(f"Collection '{name}' not found", "Set Cameras > Collection to an existing collection")
    cameras = sorted((ob for ob in coll.all_objects if ob.type == "CAMERA"), key=lambda ob: ob.name)
    if not cameras:
        raise OperatorError(f"Collection '{name}' has no cameras", "Put camera objects in it, or pick another collection")
    for cam in cameras:
        check_perspective(cam)
        if SPLIT_PROPERTY in cam and str(cam[SPLIT_PROPERTY]) not in SPLITS:
            raise OperatorError(f"Camera '{cam.name}' has {SPLIT_PROPERTY} = {cam[SPLIT_PROPERTY]!r}",
                                f"Set it to one of {', '.join(SPLITS)}, or remove it")
    return CollectionSource(context.scene, cameras)


def make_source(context, options) -> Source:
    return {"PATH": path_source, "ORBIT": orbit_source, "COLLECTION": collection_source}[options.source](context, options)
