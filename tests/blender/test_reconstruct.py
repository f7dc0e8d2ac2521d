"""``ps4pro.reconstruct`` through the real backend: a tiny training run whose points and mesh are
imported, the held-out score reported, and bad input refused."""

import json
import os

import bpy
import pytest

from test_headless import build_small_scene


@pytest.fixture
def captured(scene, tmp_path):
    build_small_scene(tmp_path / "scene.blend")
    out = tmp_path / "cap"
    assert bpy.ops.ps4pro.capture(source="ORBIT", orbit_count=8, resolution_x=40, resolution_y=30, samples=1,
                                  transparent=True, test_every=4, output_dir=str(out)) == {"FINISHED"}
    return out


def test_reconstruct_trains_evaluates_and_imports(captured, tmp_path):
    recon = tmp_path / "recon"
    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.ps4pro.reconstruct(dataset=str(captured), recon_steps=30, plane_res=32,
                                      recon_dir=str(recon)) == {"FINISHED"}
    result = json.loads(open(bpy.context.scene.ps4pro.last_result).read())
    assert result["steps"] == 30 and result["psnr"] > 10
    evaluation = json.loads((recon / "eval.json").read_text())
    assert evaluation  # held-out views were scored
    new = [o for o in bpy.data.objects if o.name not in before]
    assert {o.type for o in new} >= {"MESH"} and len(new) == 2  # points and mesh
    assert os.path.isfile(recon / "points.ply") and os.path.isfile(recon / "mesh.ply")


def test_reconstruct_prefers_the_augmented_dataset(captured, tmp_path):
    settings = bpy.context.scene.ps4pro
    settings.last_augmented = str(tmp_path / "missing_augmented")
    settings.dataset = ""
    with pytest.raises(RuntimeError, match="missing_augmented holds no transforms.json"):
        bpy.ops.ps4pro.reconstruct(recon_steps=1)
