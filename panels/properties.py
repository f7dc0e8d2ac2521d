"""Scene settings that the panels show, and the running job's state.

Each option is declared once here. Operators take the same dicts as their own
properties, so a script can pass any of them (``bpy.ops.ps4pro.capture(source='ORBIT')``);
an argument a script leaves unset is taken from the scene settings, i.e. from the panel.
"""

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

# Paths may be blend-relative ("//..."); Blender 4.2 lacks this option and treats them the same.
_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()


def _path(**kw):
    return StringProperty(options=_RELATIVE, **kw)

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
    "voxel_size": FloatProperty(
        name="Voxel Size", default=0.0, min=0.0, precision=4, description="Point spacing (0: 1/256 of the scene diagonal)"
    ),
    "import_result": BoolProperty(name="Import Result", default=True, description="Import the point cloud when done"),
}

AUGMENT_OPTIONS = {
    "in_between": IntProperty(
        name="In-Between Views", default=0, min=0, max=64,
        description="Synthetic views per pair of neighbouring views (0: from the angular gap)",
    ),
    "max_gap_deg": FloatProperty(
        name="Max Gap (°)", default=6.0, min=0.5, max=90.0,
        description="With automatic in-between views: the largest angle left between neighbouring views",
    ),
    "off_path_deg": FloatProperty(
        name="Off-Path (°)", default=10.0, min=0.0, max=45.0,
        description="Geometry-aware mode: also synthesise views this far above and below the camera path, "
                    "around the point the cameras look at (0: only on the path)",
    ),
    "interp_mode": EnumProperty(
        name="Mode",
        items=(
            ("AUTO", "Auto", "Geometry-aware where the capture has depth, footage mode elsewhere"),
            ("GEOMETRY", "Geometry-Aware", "Warp both neighbours with depth and poses, then fuse"),
            ("FOOTAGE", "Footage", "2-D flow between the images only"),
        ),
        default="AUTO",
    ),
    "synthetic_weight": FloatProperty(
        name="Synthetic Weight", default=0.5, min=0.0, max=1.0,
        description="Loss weight of synthetic views in reconstruction (real views weigh 1)",
    ),
    "augment_dir": _path(
        name="Augmented Output", default="", subtype="DIR_PATH",
        description="Folder for the augmented dataset (empty: beside the capture, with _augmented)",
    ),
}

RECONSTRUCT_OPTIONS = {
    "recon_minutes": FloatProperty(
        name="Minutes", default=10.0, min=0.1, max=1440.0, description="Training time budget (ignored when Steps is set)"
    ),
    "recon_steps": IntProperty(name="Steps", default=0, min=0, description="Training steps (0: use the time budget)"),
    "plane_res": IntProperty(name="Plane Resolution", default=128, min=16, max=1024, description="Final tri-plane resolution"),
    "depth_loss": FloatProperty(
        name="Depth Supervision", default=0.1, min=0.0, max=10.0, description="Weight of the depth loss where views have depth (0: off)"
    ),
    "recon_seed": IntProperty(name="Seed", default=0, min=0),
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
    "batch_rays": IntProperty(
        name="Batch Rays", default=2048, min=64, max=1 << 20,
        description="Rays per training step (fewer: less memory, noisier steps)",
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
    "reconstruction": _path(
        name="Reconstruction", default="", subtype="DIR_PATH",
        description="Reconstruct's output folder to encode (empty: the last reconstruction)",
    ),
    "cover_path": _path(
        name="Cover File", default="", subtype="FILE_PATH",
        description="Cover image file (empty: the cover image below, else the capture's first view)",
    ),
    "cover_image": StringProperty(name="Cover Image", default="", description="An image in this file to use as the cover"),
    "snapshot_method": EnumProperty(
        name="Method",
        items=(
            ("AUTO", "Auto", "The hiding network when its weights are trained, else LSB"),
            ("INN", "Hiding Network", "The invertible hiding network: the cover barely changes, tiny payload errors"),
            ("LSB", "LSB", "The exact low-bit baseline: bit-exact payload, the cover changes more"),
        ),
        default="AUTO",
    ),
    "snapshot_steps": IntProperty(
        name="Distillation Steps", default=1500, min=1, max=100000,
        description="Steps distilling the reconstruction into the snapshot's planes (more: closer to the field, slower)",
    ),
    "snapshot_path": _path(
        name="Snapshot File", default="", subtype="FILE_PATH",
        description="The snapshot PNG to write (empty: snapshot.png in the reconstruction folder)",
    ),
    "snapshot_file": _path(
        name="Snapshot", default="", subtype="FILE_PATH", description="A snapshot PNG to decode (empty: the image below, else the last one written)",
    ),
    "snapshot_image": StringProperty(name="Snapshot Image", default="", description="A snapshot PNG already in this file to decode"),
    "eval_dataset": _path(
        name="Evaluate On", default="", subtype="DIR_PATH",
        description="A capture whose test views the decoded scene is scored on (optional)",
    ),
    "decode_render": BoolProperty(
        name="Render Novel Views", default=False,
        description="Render the decoded scene from the Render Camera over the scene's frame range, as PNGs "
                    "in the decode's renders folder",
    ),
    "decode_mesh_res": IntProperty(
        name="Mesh Resolution", default=192, min=16, max=1024,
        description="Marching-cubes grid resolution of the decoded mesh",
    ),
    "decode_keep_unseen": BoolProperty(
        name="Keep Unseen Surfaces", default=False,
        description="Keep mesh surfaces that no camera around the scene saw (inside objects, under the table); "
                    "by default they are removed, being guesses",
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
