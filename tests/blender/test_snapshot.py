"""``ps4pro.snapshot_encode`` / ``ps4pro.snapshot_decode`` through the real backend and the shipped
weights: a tiny reconstruction into a PNG, previewed, and back into the scene from the file and
from an image packed in the .blend, with novel views and the decode's numbers for the panel; a foreign
PNG is refused with the scene untouched."""

import json
import os

import bpy
import numpy as np
import pytest

from test_headless import build_small_scene


@pytest.fixture
def reconstructed(scene, tmp_path):
    build_small_scene(tmp_path / "scene.blend")
    cap = tmp_path / "cap"
    assert bpy.ops.ps4pro.capture(source="ORBIT", orbit_count=8, resolution_x=40, resolution_y=30, samples=1,
                                  transparent=True, test_every=4, output_dir=str(cap)) == {"FINISHED"}
    assert bpy.ops.ps4pro.reconstruct(dataset=str(cap), recon_steps=30, plane_res=32, recon_dir=str(tmp_path / "recon"),
                                      import_result=False) == {"FINISHED"}
    return tmp_path


def test_encode_previews_and_decode_imports(reconstructed):
    s = bpy.context.scene.ps4pro
    assert s.last_reconstruction == str(reconstructed / "recon")
    assert bpy.ops.ps4pro.snapshot_encode(snapshot_method="LSB", snapshot_steps=10) == {"FINISHED"}
    png = s.last_snapshot
    assert png == str(reconstructed / "recon" / "snapshot.png") and os.path.getsize(png) < 160 * 1024
    snap, cover = bpy.data.images["PS4PRO Snapshot"], bpy.data.images["PS4PRO Snapshot Cover"]
    assert tuple(snap.size) == tuple(cover.size) == (256, 256)
    assert "KB" in s.snapshot_report and "cover PSNR" in s.snapshot_report

    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.ps4pro.snapshot_decode(snapshot_file=png, eval_dataset=str(reconstructed / "cap")) == {"FINISHED"}
    result = json.loads(open(s.last_result).read())
    assert not result["degraded"] and result["psnr"] > 5
    new = [o for o in bpy.data.objects if o.name not in before]
    assert len(new) == 2  # points and mesh
    # The panel's numbers: method, decode time, the held-out score, and the payload check.
    report = s.decode_report.split("\n")
    assert report[0] == f"LSB, decoded in {result['decode_seconds']:.1f} s" and "held-out PSNR" in report[1]
    assert report[-1] == "payload check passed" and not s.decode_degraded
    assert "renders" not in result and s.last_renders == ""

    # An image packed into the .blend decodes from its original bytes (the header is kept there),
    # here with novel views from the (still) scene camera at its resolution and a coarser mesh.
    image = bpy.data.images.load(png, check_existing=False)
    image.pack()
    image.name = "packed snapshot"
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end, frame = 1, 50, scene.frame_current
    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.ps4pro.snapshot_decode(snapshot_file="", snapshot_image="packed snapshot", decode_render=True,
                                          decode_mesh_res=48) == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.name not in before]) == 2
    coarse = json.loads(open(s.last_result).read())
    assert coarse["num_vertices"] < result["num_vertices"]  # --mesh-res 48 against the default 192
    (render,) = coarse["renders"]  # the camera does not move: one view, not fifty
    assert os.path.dirname(render) == s.last_renders == os.path.join(os.path.dirname(s.last_result), "decoded", "renders")
    view = bpy.data.images.load(render, check_existing=False)
    assert tuple(view.size) == (scene.render.resolution_x, scene.render.resolution_y) == (48, 36)
    assert scene.frame_current == frame
    assert "1 novel view in" in bpy.context.window_manager.ps4pro_job.last_report


def test_a_foreign_png_is_refused_and_nothing_changes(reconstructed):
    path = str(reconstructed / "plain.png")
    image = bpy.data.images.new("plain", 64, 64)
    image.pixels.foreach_set(np.full(64 * 64 * 4, 0.5, np.float32))
    image.filepath_raw = path
    image.file_format = "PNG"
    image.save()
    before = {o.name for o in bpy.data.objects}
    with pytest.raises(RuntimeError, match="no PS4PRO snapshot header"):
        bpy.ops.ps4pro.snapshot_decode(snapshot_file=path)
    assert {o.name for o in bpy.data.objects} == before
    with pytest.raises(RuntimeError, match="holds no field.pt"):
        bpy.ops.ps4pro.snapshot_encode(reconstruction=str(reconstructed))
    # Novel views need a camera: refused before the backend runs.
    bpy.context.scene.camera = None
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.ps4pro.snapshot_decode(snapshot_file=path, decode_render=True)
    assert {o.name for o in bpy.data.objects} == before
