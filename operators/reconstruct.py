"""``ps4pro.reconstruct``: the backend trains a tri-plane radiance field on a (possibly augmented)
dataset, evaluates it on the held-out views, exports points and a mesh; they are imported."""

import os

import bpy

from ..panels.properties import FUSE_OPTIONS, RECONSTRUCT_OPTIONS, fill_unset
from .backend import BackendJobOperator, dataset_folder


class PS4PRO_OT_reconstruct(BackendJobOperator, bpy.types.Operator):
    """Train a radiance field on the dataset, evaluate it on held-out views, and import its points and mesh"""

    bl_idname = "ps4pro.reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"REGISTER", "UNDO"}
    __annotations__ = {
        "dataset": FUSE_OPTIONS["dataset"],
        "import_result": FUSE_OPTIONS["import_result"],
        **RECONSTRUCT_OPTIONS,
    }

    def prepare(self, context):
        settings = context.scene.ps4pro
        fill_unset(self, settings, ("dataset", "import_result", *RECONSTRUCT_OPTIONS))
        self.dataset = dataset_folder(self.dataset, settings, "reconstruct", prefer_augmented=True)
        out = bpy.path.abspath(self.recon_dir) if self.recon_dir else os.path.normpath(self.dataset) + "_recon"
        self.out_dir = os.path.abspath(out)

    def job_command(self, context, job_dir):
        budget = ["--steps", str(self.recon_steps)] if self.recon_steps else ["--minutes", repr(self.recon_minutes)]
        return "reconstruct", [
            self.dataset, "--out", self.out_dir, *budget, "--seed", str(self.recon_seed),
            "--plane-res", str(self.plane_res), "--depth-loss", repr(self.depth_loss),
        ]

    def on_result(self, context, result):
        from .import_result import import_path

        result_file = os.path.join(self.job.job_dir, "result.json")
        self.objects = import_path(context, result_file) if self.import_result else []
        context.scene.ps4pro.last_result = result_file
        context.scene.ps4pro.last_reconstruction = os.path.dirname(result["field"])
        psnr, ssim = result.get("psnr"), result.get("ssim")
        score = f"held-out PSNR {psnr:.2f} dB, SSIM {ssim:.3f}" if psnr is not None else "no held-out score"
        self._text = f"Reconstructed in {result.get('steps', 0)} steps: {score}"

    def finished_report(self):
        return self._text


CLASSES = [PS4PRO_OT_reconstruct]
