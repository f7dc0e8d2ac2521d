"""``ps4pro.snapshot_encode`` and ``ps4pro.snapshot_decode``: a reconstruction into one PNG (3D
Snapshot) and any such PNG back into the scene as points and a mesh.

The snapshot's header lives in a PNG text chunk, which Blender's image loader does not keep: an
image already in the file is decoded from its packed bytes or from its file on disk, never from
its pixels.
"""

import os

import bpy

from ..errors import OperatorError
from ..jobs.backend import BackendJobOperator, render_path_frames, renders_report, write_render_path
from ..ps4pro_blender import configs
from ..ps4pro_blender.configs import SnapshotDecodeConfig, SnapshotEncodeConfig
from ..settings.properties import FUSE_OPTIONS, RENDER_OPTIONS, SNAPSHOT_OPTIONS, fill_unset
from .augment import load_preview

PREVIEW_NAMES = ("PS4PRO Snapshot", "PS4PRO Snapshot Cover")


def _abs(path: str) -> str:
    return os.path.abspath(bpy.path.abspath(path)) if path else ""


def image_file(name: str, folder: str, role: str, need_original: bool) -> str:
    """A file on disk holding the image ``name`` of this blend file. ``need_original``: the
    bytes must be the original file's (a snapshot's header), so a generated image is refused."""
    image = bpy.data.images.get(name)
    if image is None:
        raise OperatorError(f"No image named {name!r} in this file", f"Pick an existing image as the {role}")
    if image.packed_file is not None:
        ext = os.path.splitext(image.filepath)[1] or ".png"
        path = os.path.join(folder, f"{role}{ext}")
        with open(path, "wb") as f:
            f.write(image.packed_file.data)
        return path
    path = _abs(image.filepath)
    if image.filepath and os.path.isfile(path):
        return path
    if need_original:
        raise OperatorError(f"The image {name!r} has no file behind it, so its snapshot header is gone",
                            "Decode the snapshot PNG from disk instead")
    path = os.path.join(folder, f"{role}.png")
    image.save_render(path)  # a generated or rendered image: its pixels as the scene shows them
    return path


class PS4PRO_OT_snapshot_encode(BackendJobOperator, bpy.types.Operator):
    """Hide a reconstruction in one ordinary-looking PNG of the scene (3D Snapshot)"""

    bl_idname = "ps4pro.snapshot_encode"
    bl_label = "Encode Snapshot"
    bl_options = {"REGISTER"}
    __annotations__ = {k: SNAPSHOT_OPTIONS[k] for k in ("reconstruction", "cover_path", "cover_image", "snapshot_method",
                                                         "snapshot_steps", "snapshot_path")}

    def prepare(self, context):
        settings = context.scene.ps4pro
        fill_unset(self, settings, tuple(self.__annotations__))
        recon = _abs(self.reconstruction or settings.last_reconstruction)
        if not recon:
            raise OperatorError("No reconstruction to encode", "Reconstruct the scene first, or choose its output folder")
        if not os.path.isfile(os.path.join(recon, "field.pt")):
            raise OperatorError(f"{recon} holds no field.pt", "Choose the output folder of Reconstruct")
        self.recon = recon
        self.out_png = _abs(self.snapshot_path) or os.path.join(recon, "snapshot.png")

    def job_command(self, context, job_dir):
        cover = None
        if self.cover_path:
            cover = _abs(self.cover_path)
            if not os.path.isfile(cover):
                raise OperatorError(f"No cover image at {cover}", "Pick an image file, or leave the cover empty")
        elif self.cover_image:
            cover = image_file(self.cover_image, job_dir, "cover", need_original=False)
        config = configs.from_settings(SnapshotEncodeConfig, self, reconstruction=self.recon, out=self.out_png, cover=cover)
        return "snapshot-encode", configs.to_argv(config)

    def on_result(self, context, result):
        settings = context.scene.ps4pro
        settings.last_snapshot = result["snapshot"]
        load_preview([result["snapshot"], result["cover_preview"]], PREVIEW_NAMES)
        settings.snapshot_report = (
            f"{result['png_bytes'] / 1024:.0f} KB, {result['method'].upper()}, cover PSNR {result['cover_psnr']:.1f} dB, "
            f"payload exact {result['payload_exact']:.1%}, encoded in {result['encode_seconds']:.0f} s")
        notes = f" ({'; '.join(result['notes'])})" if result.get("notes") else ""
        self._text = f"Snapshot {result['snapshot']}: {settings.snapshot_report}{notes}"

    def finished_report(self):
        return self._text


DECODE_OPTIONS = ("snapshot_file", "snapshot_image", "eval_dataset", "decode_render", "decode_mesh_res", "decode_keep_unseen")


class PS4PRO_OT_snapshot_decode(BackendJobOperator, bpy.types.Operator):
    """Turn a snapshot PNG back into the scene: a point cloud and a mesh, optionally novel views"""

    bl_idname = "ps4pro.snapshot_decode"
    bl_label = "Decode Snapshot"
    bl_options = {"REGISTER", "UNDO"}
    __annotations__ = {**{k: SNAPSHOT_OPTIONS[k] for k in DECODE_OPTIONS},
                       **RENDER_OPTIONS,
                       "import_result": FUSE_OPTIONS["import_result"]}

    def prepare(self, context):
        settings = context.scene.ps4pro
        fill_unset(self, settings, tuple(self.__annotations__))
        if not (self.snapshot_file or self.snapshot_image or settings.last_snapshot):
            raise OperatorError("No snapshot to decode", "Choose a snapshot PNG")
        self.render_frames = render_path_frames(context, self.render_camera) if self.decode_render else None

    def job_command(self, context, job_dir):
        if self.snapshot_file:
            png = _abs(self.snapshot_file)
        elif self.snapshot_image:
            png = image_file(self.snapshot_image, job_dir, "snapshot", need_original=True)
        else:
            png = _abs(context.scene.ps4pro.last_snapshot)
        if not os.path.isfile(png):
            raise OperatorError(f"No snapshot at {png}", "Choose a snapshot PNG")
        config = configs.from_settings(
            SnapshotDecodeConfig, self, png=png, out=os.path.join(job_dir, "decoded"), dataset=_abs(self.eval_dataset) or None,
            render_path=write_render_path(job_dir, self.render_frames) if self.render_frames else None)
        return "snapshot-decode", configs.to_argv(config)

    def on_result(self, context, result):
        from .import_result import import_path

        settings = context.scene.ps4pro
        result_file = os.path.join(self.job.job_dir, "result.json")
        self.objects = import_path(context, result_file) if self.import_result else []
        settings.last_result = result_file
        if result.get("renders"):
            settings.last_renders = os.path.dirname(result["renders"][0])
        lines = [f"{str(result.get('method', '?')).upper()}, decoded in {result['decode_seconds']:.1f} s"]
        if result.get("psnr") is not None:
            lines.append(f"held-out PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.3f}")
        if result.get("num_points") is not None:
            lines.append(f"{result['num_points']:,} points, mesh {result.get('num_faces', 0):,} faces")
        degraded = bool(result.get("degraded"))
        if degraded:
            lines += [w for w in result.get("warnings") or [] if w.startswith("DEGRADED")] or [
                "DEGRADED: the payload came back changed"]
        else:
            lines.append("payload check passed")
        settings.decode_report = "\n".join(lines)
        settings.decode_degraded = degraded
        score = f", held-out PSNR {result['psnr']:.2f} dB" if result.get("psnr") is not None else ""
        warn = " (DEGRADED: the PNG was changed after it was written)" if degraded else ""
        self._text = f"Decoded the snapshot in {result['decode_seconds']:.1f} s{score}{warn}{renders_report(result)}"

    def finished_report(self):
        return self._text


CLASSES = [PS4PRO_OT_snapshot_encode, PS4PRO_OT_snapshot_decode]
