"""``ps4pro.augment``: the backend synthesises in-between views of a capture (PS4PRO) into a new
dataset, and the panel previews one synthetic view beside its two neighbours."""

import os

import bpy

from ..jobs.backend import BackendJobOperator, dataset_folder
from ..ps4pro_blender import configs
from ..ps4pro_blender.configs import AugmentConfig
from ..settings.properties import AUGMENT_OPTIONS, FUSE_OPTIONS, fill_unset

PREVIEW_NAMES = ("PS4PRO Synthetic", "PS4PRO Source A", "PS4PRO Source B")


def load_preview(paths, names=PREVIEW_NAMES):
    """(Re)load preview images into the file under fixed names (the panels look them up by name);
    returns them."""
    images = []
    for name, path in zip(names, paths):
        image = bpy.data.images.get(name)
        if image is None:
            image = bpy.data.images.load(path, check_existing=False)
            image.name = name
        else:
            image.filepath = path
            image.reload()
        images.append(image)
    return images


class PS4PRO_OT_augment(BackendJobOperator, bpy.types.Operator):
    """Synthesise in-between views of a capture with the PS4PRO interpolation network"""

    bl_idname = "ps4pro.augment"
    bl_label = "Augment"
    bl_options = {"REGISTER"}
    __annotations__ = {"dataset": FUSE_OPTIONS["dataset"], **AUGMENT_OPTIONS}

    def prepare(self, context):
        settings = context.scene.ps4pro
        fill_unset(self, settings, ("dataset", *AUGMENT_OPTIONS))
        self.dataset = dataset_folder(self.dataset, settings, "augment")
        out = bpy.path.abspath(self.augment_dir) if self.augment_dir else os.path.normpath(self.dataset) + "_augmented"
        self.out_dir = os.path.abspath(out)

    def job_command(self, context, job_dir):
        config = configs.from_settings(AugmentConfig, self, dataset=self.dataset, out=self.out_dir)
        return "augment", configs.to_argv(config)

    def on_result(self, context, result):
        settings = context.scene.ps4pro
        settings.last_augmented = result["dataset"]
        preview = result.get("preview")
        if preview:
            root = result["dataset"]
            paths = [os.path.normpath(os.path.join(root, p)) for p in (preview["synthetic"], *preview["sources"])]
            settings.preview_synthetic = paths[0]
            load_preview(paths)
        notes = f" ({'; '.join(result['notes'])})" if result.get("notes") else ""
        settings.augment_report = "\n".join(bought_lines(result))
        self._text = (f"Added {result['synthetic_views']} synthetic views to {result['dataset']}: "
                      f"{'; '.join(bought_lines(result)[1:])}{notes}")

    def finished_report(self):
        return self._text


def bought_lines(result: dict) -> list[str]:
    """What the augmentation bought, as the panel and the report say it."""
    lines = [f"{result['synthetic_views']} synthetic views"]
    saved = result.get("render_seconds_saved")
    if saved is not None:
        lines.append(f"about {_duration(saved)} of rendering saved ({result['render_seconds_per_view']:.1f} s a view)")
    else:
        lines.append("render time saved: unknown (the capture did not time its renders)")
    if result.get("mean_confidence") is not None:
        lines.append(f"mean confidence {result['mean_confidence']:.2f}")
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


CLASSES = [PS4PRO_OT_augment]
