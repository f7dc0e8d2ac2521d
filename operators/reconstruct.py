"""``ps4pro.reconstruct``: the backend trains a tri-plane radiance field on a (possibly augmented)
dataset, evaluates it on the held-out views, exports points and a mesh; they are imported.

Options beyond the budget: ``recon_resume`` continues from ``checkpoint.pt`` in the output folder,
``recon_device`` overrides the preferences' device, ``batch_rays`` sets the rays per step, and
``recon_render`` renders novel views from ``render_camera`` (else the scene camera) over the
scene's frame range into ``<output>/renders/``.
"""

import os

import bpy

from ..errors import OperatorError
from ..jobs.backend import BackendJobOperator, dataset_folder, device, render_path_frames, renders_report, write_render_path
from ..ps4pro_blender import configs
from ..ps4pro_blender.configs import ReconstructConfig
from ..settings.folders import reconstruction_folder
from ..settings.properties import FUSE_OPTIONS, RECONSTRUCT_OPTIONS, RENDER_OPTIONS, fill_unset


class PS4PRO_OT_reconstruct(BackendJobOperator, bpy.types.Operator):
    """Train a radiance field on the dataset, evaluate it on held-out views, and import its points and mesh"""

    bl_idname = "ps4pro.reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"REGISTER", "UNDO"}
    __annotations__ = {
        "dataset": FUSE_OPTIONS["dataset"],
        "import_result": FUSE_OPTIONS["import_result"],
        **RECONSTRUCT_OPTIONS,
        **RENDER_OPTIONS,
    }

    def prepare(self, context):
        settings = context.scene.ps4pro
        fill_unset(self, settings, ("dataset", "import_result", *RECONSTRUCT_OPTIONS, *RENDER_OPTIONS))
        self.dataset = dataset_folder(self.dataset, settings, "reconstruct", prefer_augmented=True)
        self.out_dir = reconstruction_folder(self.recon_dir, self.dataset)
        self.checkpoint = os.path.join(self.out_dir, "checkpoint.pt")
        if self.recon_resume and not os.path.isfile(self.checkpoint):
            raise OperatorError(f"Nothing to resume: {self.checkpoint} does not exist",
                                "Turn Resume off to train from the start, or set Reconstruction Output to the "
                                "folder of the run to continue")
        # The cameras are read now, so a bad camera fails before training rather than after it.
        self.render_frames = render_path_frames(context, self.render_camera) if self.recon_render else None

    def job_device(self, context):
        return device(context) if self.recon_device == "PREFERENCES" else self.recon_device

    def job_command(self, context, job_dir):
        config = configs.from_settings(
            ReconstructConfig, self, dataset=self.dataset, out=self.out_dir,
            resume=self.checkpoint if self.recon_resume else None,
            render_path=write_render_path(job_dir, self.render_frames) if self.render_frames else None)
        return "reconstruct", configs.to_argv(config)

    def on_result(self, context, result):
        from .import_result import import_path

        settings = context.scene.ps4pro
        result_file = os.path.join(self.job.job_dir, "result.json")
        self.objects = import_path(context, result_file) if self.import_result else []
        settings.last_result = result_file
        settings.last_reconstruction = os.path.dirname(result["field"])
        if result.get("renders"):
            settings.last_renders = os.path.dirname(result["renders"][0])
        psnr, ssim = result.get("psnr"), result.get("ssim")
        score = f"held-out PSNR {psnr:.2f} dB, SSIM {ssim:.3f}" if psnr is not None else "no held-out score"
        self._text = f"Reconstructed in {result.get('steps', 0)} steps: {score}{renders_report(result)}"

    def finished_report(self):
        return self._text


CLASSES = [PS4PRO_OT_reconstruct]
