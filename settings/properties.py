"""Scene settings that the panels show, and the running job's state.

Each option is declared once here. Operators take the same dicts as their own
properties, so a script can pass any of them (``bpy.ops.ps4pro.capture(source='ORBIT')``);
an argument a script leaves unset is taken from the scene settings, i.e. from the panel.
An option that a backend command has too takes its default, limits and description from that
command's config (``ps4pro_blender/configs.py``) through :func:`config_property`.
"""

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..ps4pro_blender import configs
from ..ps4pro_blender.configs import (AugmentConfig, FuseDepthConfig, ReconstructConfig, SnapshotDecodeConfig,
                                      SnapshotEncodeConfig)

# Paths may be blend-relative ("//..."); Blender 4.2 lacks this option and treats them the same.
_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()


def _path(**kw):
    return StringProperty(options=_RELATIVE, **kw)


# What Blender needs beyond a config field: an enum's rows (identifier, label, description; the
# identifiers are the config's choices in capitals) and display settings.
ENUM_ITEMS = {
    "interp_mode": (
        ("AUTO", "Auto", "Geometry-aware where the capture has depth, footage mode elsewhere"),
        ("GEOMETRY", "Geometry-Aware", "Warp both neighbours with depth and poses, then fuse"),
        ("FOOTAGE", "Footage", "2-D flow between the images only"),
    ),
    "snapshot_method": (
        ("AUTO", "Auto", "The hiding network when its weights are trained, else LSB"),
        ("INN", "Hiding Network", "The invertible hiding network: the cover barely changes, tiny payload errors"),
        ("LSB", "LSB", "The exact low-bit baseline: bit-exact payload, the cover changes more"),
    ),
}
DISPLAY = {"voxel_size": {"precision": 4}, "eval_dataset": {"subtype": "DIR_PATH"}}


def config_options(config) -> dict:
    """Scene settings (and operator arguments) for the options of a backend command's config that
    the panel shows, by their Blender names."""
    return {configs.prop_name(f): config_property(f, kind) for f, kind in configs.panel_fields(config)}


def config_property(f, kind):
    """The Blender property of one config option: its default, limits and description from the field."""
    name, m = configs.prop_name(f), f.metadata
    items = ENUM_ITEMS.get(name)
    kw = dict(name=m["label"], description=m["doc"][0].upper() + m["doc"][1:], **DISPLAY.get(name, {}))
    if m["choices"] and kind is str:
        assert [i[0].lower() for i in items] == list(m["choices"]), name  # one list of choices
        return EnumProperty(items=items, default=f.default.upper(), **kw)
    limits = {k: v for k, v in (("min", m["lo"]), ("max", m["hi"])) if v is not None}
    if kind is bool:
        return BoolProperty(default=f.default, **kw)
    if kind is int:
        return IntProperty(default=f.default or 0, **limits, **kw)
    if kind is float:
        return FloatProperty(default=f.default or 0.0, **limits, **kw)
    return _path(default=f.default or "", **kw)


CAPTURE_OPTIONS = {
    "source": EnumProperty(
        name="Cameras",
        items=(
            ("PATH", "Camera Path", "The active camera's animation over the frame range"),
            ("ORBIT", "Orbit", "Views on a sphere around the selected objects"),
            ("COLLECTION", "Collection", "Every camera in a collection"),
        ),
        default="PATH",
    ),
    "use_scene_frame_range": BoolProperty(
        name="Scene Frame Range", default=True, description="Use the scene's start and end frame"
    ),
    "frame_start": IntProperty(name="Start", default=1, description="First frame of the camera path"),
    "frame_end": IntProperty(name="End", default=250, description="Last frame of the camera path"),
    "frame_step": IntProperty(name="Step", default=1, min=1, description="Capture every n-th frame"),
    "orbit_count": IntProperty(name="Views", default=24, min=2, max=4096, description="Number of orbit views"),
    "orbit_layout": EnumProperty(
        name="Layout",
        items=(
            ("SPHERE", "Sphere", "Evenly spread over the upper hemisphere and below (Fibonacci sphere)"),
            ("HEMISPHERE", "Hemisphere", "Evenly spread over the upper hemisphere"),
            ("RING", "Ring", "One ring at a fixed elevation"),
        ),
        default="HEMISPHERE",
    ),
    "orbit_elevation": FloatProperty(
        name="Elevation", default=0.4363, subtype="ANGLE", description="Elevation of a ring orbit"
    ),
    "orbit_distance": FloatProperty(
        name="Distance", default=3.5, min=0.1, description="Camera distance in units of the selection's bounding radius"
    ),
    "camera_collection": StringProperty(name="Collection", default="", description="Collection whose cameras are captured"),
    "resolution_x": IntProperty(name="Width", default=0, min=0, description="Render width in pixels (0: the scene's)"),
    "resolution_y": IntProperty(name="Height", default=0, min=0, description="Render height in pixels (0: the scene's)"),
    "samples": IntProperty(name="Samples", default=0, min=0, description="Render samples (0: the scene's)"),
    "transparent": BoolProperty(name="Transparent Film", default=False, description="Render the background transparent"),
    "depth_format": EnumProperty(
        name="Depth",
        items=(
            ("EXR", "EXR", "Planar depth in a float OpenEXR file"),
            ("NPY", "NPY", "Planar depth as a float32 NumPy array"),
            ("NONE", "None", "No depth"),
        ),
        default="EXR",
    ),
    "normals": BoolProperty(name="Normals", default=False, description="Also write world-space normals"),
    "masks": BoolProperty(name="Object Masks", default=False, description="Also write per-pixel object index masks"),
    "test_every": IntProperty(
        name="Hold Out Every", default=8, min=0, description="Every n-th view goes to the test split (0: none)"
    ),
    "output_dir": _path(
        name="Output", default="//ps4pro/capture", subtype="DIR_PATH", description="Folder for the dataset"
    ),
}

FUSE_OPTIONS = {
    "dataset": _path(name="Dataset", default="", subtype="DIR_PATH", description="Captured dataset folder"),
    **config_options(FuseDepthConfig),
    "import_result": BoolProperty(name="Import Result", default=True, description="Import the point cloud when done"),
}

AUGMENT_OPTIONS = {
    **config_options(AugmentConfig),
    "augment_dir": _path(
        name="Augmented Output", default="", subtype="DIR_PATH",
        description="Folder for the augmented dataset (empty: beside the capture, with _augmented)",
    ),
}

RECONSTRUCT_OPTIONS = {
    **config_options(ReconstructConfig),
    "recon_dir": _path(
        name="Reconstruction Output", default="", subtype="DIR_PATH",
        description="Folder for the field, evaluation and exports (empty: beside the dataset, with _recon)",
    ),
    "recon_resume": BoolProperty(
        name="Resume", default=False,
        description="Continue from checkpoint.pt in the Reconstruction Output (Steps and Minutes count the "
                    "steps and time already trained); an error when there is none",
    ),
    "recon_device": EnumProperty(
        name="Device",
        description="Where the backend trains and renders (Preferences: the device set in the add-on's preferences)",
        items=(
            ("PREFERENCES", "Preferences", "The device set in Preferences > Add-ons > PS4PRO"),
            ("AUTO", "Auto", "CUDA when the backend's torch sees a GPU, else the CPU"),
            ("CPU", "CPU", "Always the CPU"),
            ("CUDA", "CUDA", "An NVIDIA GPU (fails clearly when there is none)"),
        ),
        default="PREFERENCES",
    ),
    "recon_render": BoolProperty(
        name="Render Novel Views", default=False,
        description="When trained, render the field from the Render Camera over the scene's frame range, "
                    "as PNGs in the output's renders folder",
    ),
}

# Which camera Render Novel Views renders (shared by Reconstruct and Decode Snapshot).
RENDER_OPTIONS = {
    "render_camera": StringProperty(
        name="Render Camera", default="",
        description="Camera object to render novel views from over the scene's frame range (empty: the scene's "
                    "active camera at each frame; one view when it does not move)",
    ),
}

SNAPSHOT_OPTIONS = {
    **config_options(SnapshotEncodeConfig),
    **config_options(SnapshotDecodeConfig),
    "reconstruction": _path(
        name="Reconstruction", default="", subtype="DIR_PATH",
        description="Reconstruct's output folder to encode (empty: the last reconstruction)",
    ),
    "cover_path": _path(
        name="Cover File", default="", subtype="FILE_PATH",
        description="Cover image file (empty: the cover image below, else the capture's first view)",
    ),
    "cover_image": StringProperty(name="Cover Image", default="", description="An image in this file to use as the cover"),
    "snapshot_path": _path(
        name="Snapshot File", default="", subtype="FILE_PATH",
        description="The snapshot PNG to write (empty: snapshot.png in the reconstruction folder)",
    ),
    "snapshot_file": _path(
        name="Snapshot", default="", subtype="FILE_PATH", description="A snapshot PNG to decode (empty: the image below, else the last one written)",
    ),
    "snapshot_image": StringProperty(name="Snapshot Image", default="", description="A snapshot PNG already in this file to decode"),
    "decode_render": BoolProperty(
        name="Render Novel Views", default=False,
        description="Render the decoded scene from the Render Camera over the scene's frame range, as PNGs "
                    "in the decode's renders folder",
    ),
}

IMPORT_OPTIONS = {
    "filepath": _path(name="File", default="", subtype="FILE_PATH", description="PLY file, result.json or dataset"),
    "point_radius": FloatProperty(
        name="Point Radius",
        default=0.0,
        min=0.0,
        precision=4,
        subtype="DISTANCE",
        description="Radius of imported points (0: from the typical point spacing)",
    ),
}


def _group(name, *option_dicts, extra=None):
    annotations = {}
    for options in option_dicts:
        annotations.update(options)
    annotations.update(extra or {})
    return type(name, (bpy.types.PropertyGroup,), {"__annotations__": annotations})


PS4PROSceneSettings = _group(
    "PS4PROSceneSettings",
    CAPTURE_OPTIONS,
    FUSE_OPTIONS,
    AUGMENT_OPTIONS,
    RECONSTRUCT_OPTIONS,
    RENDER_OPTIONS,
    SNAPSHOT_OPTIONS,
    IMPORT_OPTIONS,
    extra={
        "last_augmented": StringProperty(name="Last Augmented Dataset", default="", subtype="DIR_PATH"),
        "preview_synthetic": StringProperty(name="Preview", default="", subtype="FILE_PATH"),
        "augment_report": StringProperty(name="Augment Numbers", default="",
                                         description="What the last augmentation bought, one item per line"),
        "show_advanced": BoolProperty(name="Advanced", default=False),
        "last_dataset": StringProperty(name="Last Dataset", default="", subtype="DIR_PATH"),
        "last_result": StringProperty(name="Last Result", default="", subtype="FILE_PATH"),
        "last_reconstruction": StringProperty(name="Last Reconstruction", default="", subtype="DIR_PATH"),
        "last_snapshot": StringProperty(name="Last Snapshot", default="", subtype="FILE_PATH"),
        "snapshot_report": StringProperty(name="Snapshot Numbers", default=""),
        "decode_report": StringProperty(name="Decode Numbers", default="", description="The last decode's numbers, one per line"),
        "decode_degraded": BoolProperty(name="Decode Degraded", default=False),
        "last_renders": StringProperty(name="Last Renders", default="", subtype="DIR_PATH"),
    },
)


class PS4PROMetric(bpy.types.PropertyGroup):
    """One number a running job reported (``name`` is the metric: loss, psnr, step, ...)."""

    value: FloatProperty(default=0.0)


class PS4PROJobState(bpy.types.PropertyGroup):
    """What the one running job shows in the panel and the status bar (window manager, not saved)."""

    running: BoolProperty(default=False)
    metrics: CollectionProperty(type=PS4PROMetric)
    error_code: StringProperty(default="", description="The last failed job's error code (protocol.E_*)")
    operator: StringProperty(default="")
    stage: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0)
    text: StringProperty(default="")
    last_report: StringProperty(default="")
    backend_report: StringProperty(default="")


CLASSES = [PS4PROSceneSettings, PS4PROMetric, PS4PROJobState]


def attach():
    bpy.types.Scene.ps4pro = bpy.props.PointerProperty(type=PS4PROSceneSettings)
    bpy.types.WindowManager.ps4pro_job = bpy.props.PointerProperty(type=PS4PROJobState)


def detach():
    del bpy.types.WindowManager.ps4pro_job
    del bpy.types.Scene.ps4pro


def settings(context):
    return context.scene.ps4pro


def job_state(context):
    return context.window_manager.ps4pro_job


def fill_unset(operator, source, names):
    """Copy each option the caller left unset on ``operator`` from ``source`` (the scene settings)."""
    for name in names:
        if not operator.properties.is_property_set(name):
            setattr(operator, name, getattr(source, name))
