"""The "PS4PRO" tab in the 3D viewport's sidebar, and job progress in the status bar."""

import os

import bpy

from ..settings.folders import reconstruction_folder


def draw_progress(layout, context) -> bool:
    """Draw the running job's progress bar; True when a job runs."""
    state = context.window_manager.ps4pro_job
    if not state.running:
        return False
    text = state.stage + (f": {state.text}" if state.text else "")
    if state.metrics and not state.text:
        text += ": " + metrics_line(state)
    row = layout.row(align=True)
    if hasattr(row, "progress"):  # UILayout.progress: Blender 4.0+
        row.progress(factor=state.progress, type="BAR", text=text or "Working")
    else:
        row.label(text=f"{text} {state.progress:.0%}")
    row.label(text="", icon="CANCEL")
    layout.label(text="Esc cancels")
    return True


def draw_backend_box(layout, context, show_setup=False):
    state = context.window_manager.ps4pro_job
    box = layout.box()
    row = box.row(align=True)
    row.operator("ps4pro.check_backend", icon="CONSOLE")
    if show_setup:
        row.operator("ps4pro.setup_backend", icon="IMPORT")
    if state.backend_report:
        box.label(text=state.backend_report)
    if show_setup and not bpy.app.online_access:
        box.label(text="Set Up Backend needs online access (Preferences > System)", icon="INFO")


class PS4PROPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "PS4PRO"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        self.draw_settings(layout, context.scene.ps4pro, context)

    def draw_settings(self, layout, s, context):
        raise NotImplementedError


def draw_dataset(layout, s, default_path):
    """The dataset field, and which dataset an empty field means."""
    layout.prop(s, "dataset", text="Dataset")
    if not s.dataset and default_path:
        layout.label(text=f"Default: {os.path.basename(os.path.normpath(default_path))}")


class VIEW3D_PT_ps4pro_backend(PS4PROPanel, bpy.types.Panel):
    bl_label = "Backend"

    def draw(self, context):
        layout = self.layout
        draw_progress(layout, context)
        draw_backend_box(layout, context)
        state = context.window_manager.ps4pro_job
        if state.last_report:
            row = layout.row()
            row.alert = bool(state.error_code)
            row.label(text=state.last_report)
        if state.error_code == "missing_dependency":  # no backend, or one without torch: offer the fix
            layout.operator("ps4pro.setup_backend", icon="IMPORT")


class VIEW3D_PT_ps4pro_capture(PS4PROPanel, bpy.types.Panel):
    bl_label = "Capture"

    def draw_settings(self, layout, s, context):
        layout.prop(s, "source")
        if s.source == "PATH":
            layout.prop(s, "use_scene_frame_range")
            col = layout.column(align=True)
            col.enabled = not s.use_scene_frame_range
            col.prop(s, "frame_start")
            col.prop(s, "frame_end")
            layout.prop(s, "frame_step")
        elif s.source == "ORBIT":
            layout.prop(s, "orbit_count")
            layout.prop(s, "orbit_layout")
            if s.orbit_layout == "RING":
                layout.prop(s, "orbit_elevation")
            layout.prop(s, "orbit_distance")
        else:
            layout.prop_search(s, "camera_collection", bpy.data, "collections")
        col = layout.column(align=True)
        col.prop(s, "resolution_x")
        col.prop(s, "resolution_y")
        layout.prop(s, "samples")
        layout.prop(s, "transparent")
        layout.prop(s, "depth_format")
        row = layout.row(heading="Extra Passes")
        row.prop(s, "normals", toggle=True)
        row.prop(s, "masks", toggle=True)
        layout.prop(s, "test_every")
        layout.prop(s, "output_dir")
        layout.operator("ps4pro.capture", icon="RENDER_ANIMATION")


class VIEW3D_PT_ps4pro_augment(PS4PROPanel, bpy.types.Panel):
    bl_label = "Augment"

    def draw_settings(self, layout, s, context):
        draw_dataset(layout, s, s.last_dataset)
        layout.prop(s, "interp_mode")
        layout.prop(s, "in_between")
        if s.in_between == 0:
            layout.prop(s, "max_gap_deg")
        if s.interp_mode != "FOOTAGE":
            layout.prop(s, "off_path_deg")
        layout.prop(s, "synthetic_weight")
        layout.prop(s, "augment_dir")
        layout.operator("ps4pro.augment", icon="IMAGE_REFERENCE")
        if s.augment_report:
            box = layout.box()
            for line in s.augment_report.splitlines():
                box.label(text=line)
        draw_preview(layout, s)


def draw_preview(layout, settings):
    """The last synthetic view between its two neighbours."""
    images = [bpy.data.images.get(n) for n in ("PS4PRO Source A", "PS4PRO Synthetic", "PS4PRO Source B")]
    if not all(images):
        return
    row = layout.row(align=True)
    for image, label in zip(images, ("Before", "Synthetic", "After")):
        col = row.column(align=True)
        col.template_icon(icon_value=image.preview_ensure().icon_id, scale=4.0)
        col.label(text=label)


def job_metric(state, name: str):
    """The running job's latest ``name`` metric (None: not reported yet)."""
    item = state.metrics.get(name)
    return None if item is None else item.value


def metrics_line(state, skip=()) -> str:
    """The running job's other metrics, as "loss 0.0123 step 300"."""
    return " ".join(f"{m.name} {m.value:.4g}" for m in state.metrics if m.name not in skip)


def draw_render_options(layout, s, context, flag):
    """Render Novel Views and, when on, which camera."""
    layout.prop(s, flag)
    if getattr(s, flag):
        layout.prop_search(s, "render_camera", bpy.data, "objects", text="Camera")
        if not s.render_camera:
            scene = context.scene
            name = scene.camera.name if scene.camera else "none"
            layout.label(text=f"Scene camera ({name}), frames {scene.frame_start}-{scene.frame_end}", icon="CAMERA_DATA")


def recon_output(s) -> str:
    """The folder Reconstruct writes to with these settings ("" when no dataset is known)."""
    return reconstruction_folder(s.recon_dir, s.dataset or s.last_augmented or s.last_dataset)


def draw_import_buttons(layout, folder):
    """Import Points / Import Mesh for the PLYs in ``folder`` (a reconstruction's output)."""
    files = [(os.path.join(folder, name), text, icon) for name, text, icon in
             (("points.ply", "Import Points", "POINTCLOUD_DATA"), ("mesh.ply", "Import Mesh", "MESH_DATA"))]
    files = [f for f in files if os.path.isfile(f[0])]
    if not files:
        return
    row = layout.row(align=True)
    for path, text, icon in files:
        row.operator("ps4pro.import_result", text=text, icon=icon).filepath = path


class VIEW3D_PT_ps4pro_reconstruct(PS4PROPanel, bpy.types.Panel):
    bl_label = "Reconstruct"

    def draw_settings(self, layout, s, context):
        draw_dataset(layout, s, s.last_augmented or s.last_dataset)
        col = layout.column(align=True)
        col.prop(s, "recon_steps")
        sub = col.row()
        sub.enabled = s.recon_steps == 0
        sub.prop(s, "recon_minutes")
        layout.prop(s, "recon_device")
        layout.prop(s, "recon_dir")
        layout.prop(s, "recon_resume")
        if s.recon_resume:
            out = recon_output(s)
            found = bool(out) and os.path.isfile(os.path.join(out, "checkpoint.pt"))
            row = layout.row()
            row.alert = not found
            row.label(text="From its checkpoint.pt" if found else "No checkpoint.pt there to resume from",
                      icon="FILE_REFRESH" if found else "ERROR")
        draw_render_options(layout, s, context, "recon_render")
        layout.prop(s, "import_result")
        layout.prop(s, "show_advanced")
        if s.show_advanced:
            col = layout.column()
            col.prop(s, "plane_res")
            col.prop(s, "batch_rays")
            col.prop(s, "depth_loss")
            col.prop(s, "recon_seed")
        layout.operator("ps4pro.reconstruct", icon="MESH_ICOSPHERE")
        state = context.window_manager.ps4pro_job
        if state.running and state.operator == "ps4pro.reconstruct":
            psnr = job_metric(state, "psnr")
            layout.label(text=f"Held-out PSNR {psnr:.2f} dB" if psnr is not None else "Held-out PSNR: not yet measured",
                         icon="IMAGE_DATA")
            rest = metrics_line(state, skip=("psnr",))
            if rest:
                layout.label(text=rest)  # loss, step, occupancy, ...
        if s.last_reconstruction:
            box = layout.box()
            box.label(text=f"Last: {s.last_reconstruction}", icon="FILE_FOLDER")
            draw_import_buttons(box, bpy.path.abspath(s.last_reconstruction))
        if s.last_renders:
            layout.label(text=f"Novel views: {s.last_renders}", icon="RENDER_RESULT")


class VIEW3D_PT_ps4pro_snapshot(PS4PROPanel, bpy.types.Panel):
    bl_label = "Snapshot"

    def draw_settings(self, layout, s, context):
        col = layout.column()
        col.prop(s, "reconstruction")
        if not s.reconstruction and s.last_reconstruction:
            col.label(text=f"Last: {s.last_reconstruction}", icon="FILE_FOLDER")
        col.prop(s, "cover_path")
        if not s.cover_path:
            col.prop_search(s, "cover_image", bpy.data, "images")
        col.prop(s, "snapshot_method")
        col.prop(s, "snapshot_steps")
        col.prop(s, "snapshot_path")
        layout.operator("ps4pro.snapshot_encode", icon="IMAGE_DATA")
        draw_snapshot_preview(layout, s)
        layout.separator()
        col = layout.column()
        col.prop(s, "snapshot_file")
        if not s.snapshot_file:
            col.prop_search(s, "snapshot_image", bpy.data, "images")
        col.prop(s, "eval_dataset")
        col.prop(s, "import_result")
        layout.prop(s, "show_advanced")
        if s.show_advanced:
            col = layout.column()
            draw_render_options(col, s, context, "decode_render")
            col.prop(s, "decode_mesh_res")
            col.prop(s, "decode_keep_unseen")
        layout.operator("ps4pro.snapshot_decode", icon="IMPORT")
        draw_decode_report(layout, s)


def draw_decode_report(layout, settings):
    """The last decode's numbers; a degraded decode in red."""
    if not settings.decode_report:
        return
    box = layout.box()
    for line in settings.decode_report.split("\n"):
        if line.startswith("DEGRADED"):  # a long warning: one red label per clause
            for i, part in enumerate(line.split("; ")):
                row = box.row()
                row.alert = True
                row.label(text=part, icon="ERROR" if i == 0 else "BLANK1")
        else:
            box.label(text=line)


def draw_snapshot_preview(layout, settings):
    """The last snapshot beside its cover, and its numbers."""
    images = [bpy.data.images.get(n) for n in ("PS4PRO Snapshot Cover", "PS4PRO Snapshot")]
    if all(images):
        row = layout.row(align=True)
        for image, label in zip(images, ("Cover", "Snapshot")):
            col = row.column(align=True)
            col.template_icon(icon_value=image.preview_ensure().icon_id, scale=4.0)
            col.label(text=label)
    if settings.snapshot_report:
        for part in settings.snapshot_report.split(", "):
            layout.label(text=part)


class VIEW3D_PT_ps4pro_result(PS4PROPanel, bpy.types.Panel):
    bl_label = "Result"

    def draw_settings(self, layout, s, context):
        draw_dataset(layout, s, s.last_dataset)
        layout.prop(s, "voxel_size")
        layout.prop(s, "import_result")
        layout.operator("ps4pro.fuse_depth", icon="POINTCLOUD_DATA")
        layout.separator()
        layout.prop(s, "filepath")
        layout.prop(s, "point_radius")
        layout.operator("ps4pro.import_result", icon="IMPORT")


def _status_bar(self, context):
    if context.window_manager.ps4pro_job.running:
        draw_progress(self.layout.row(), context)


CLASSES = [VIEW3D_PT_ps4pro_backend, VIEW3D_PT_ps4pro_capture, VIEW3D_PT_ps4pro_augment,
           VIEW3D_PT_ps4pro_reconstruct, VIEW3D_PT_ps4pro_snapshot, VIEW3D_PT_ps4pro_result]


def register():
    bpy.types.STATUSBAR_HT_header.prepend(_status_bar)


def unregister():
    bpy.types.STATUSBAR_HT_header.remove(_status_bar)
