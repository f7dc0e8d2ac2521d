"""``ps4pro.snapshot_encode`` / ``ps4pro.snapshot_decode`` through the real backend and the shipped
weights: a tiny reconstruction into a PNG, previewed, and back into the scene from the file and
from an image packed in the .blend; a foreign PNG is refused with the scene untouched."""

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

    # An image packed into the .blend decodes from its original bytes (the header is kept there).
    image = bpy.data.images.load(png, check_existing=False)
    image.pack()
    image.name = "packed snapshot"
    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.ps4pro.snapshot_decode(snapshot_file="", snapshot_image="packed snapshot") == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.name not in before]) == 2


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
