"""``ps4pro.fuse_depth``: the backend fuses a capture's depth maps into one coloured point cloud."""

import os

import bpy

from ..jobs.backend import BackendJobOperator, dataset_folder
from ..ps4pro_blender import configs
from ..ps4pro_blender.configs import FuseDepthConfig
from ..settings.properties import FUSE_OPTIONS, fill_unset


class PS4PRO_OT_fuse_depth(BackendJobOperator, bpy.types.Operator):
    """Back-project the captured depth of every view into one coloured point cloud and import it"""

    bl_idname = "ps4pro.fuse_depth"
    bl_label = "Fuse Depth"
    bl_options = {"REGISTER", "UNDO"}
    __annotations__ = dict(FUSE_OPTIONS)

    def prepare(self, context):
        settings = context.scene.ps4pro
        fill_unset(self, settings, FUSE_OPTIONS)
        self.dataset = dataset_folder(self.dataset, settings, "fuse")

    def job_command(self, context, job_dir):
        out = os.path.join(job_dir, "points.ply")
        return "fuse-depth", configs.to_argv(configs.from_settings(FuseDepthConfig, self, dataset=self.dataset, out=out))

    def on_result(self, context, result):
        from .import_result import import_path

        result_file = os.path.join(self.job.job_dir, "result.json")
        self.objects = import_path(context, result_file) if self.import_result else []
        context.scene.ps4pro.last_result = result_file
        self._text = f"Fused {result['num_points']:,} points from {result['num_views']} views"

    def finished_report(self):
        return self._text


CLASSES = [PS4PRO_OT_fuse_depth]
