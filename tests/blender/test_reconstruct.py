"""``ps4pro.reconstruct`` through the real backend: a tiny training run whose points and mesh are
imported, the held-out score reported, novel views rendered from the scene camera, a run resumed
from its checkpoint, NeRF-blender datasets accepted, and bad input refused with the scene unchanged."""

import importlib
import json
import os
import shutil

import bpy
import pytest

from conftest import ADDON
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


def _scene_state():
    scene = bpy.context.scene
    s = scene.ps4pro
    return ({o.name for o in bpy.data.objects}, scene.frame_current, scene.camera, s.last_result,
            s.last_reconstruction, s.last_renders)


def test_render_novel_views_then_resume_from_the_checkpoint(captured, tmp_path):
    scene = bpy.context.scene
    cam = scene.camera
    # Three frames of a moving scene camera; the renders follow it at the scene's resolution.
    for frame, x in ((1, -0.5), (2, 0.0), (3, 0.5)):
        cam.location.x = x
        cam.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = 1, 3
    scene.frame_set(2)
    width, height = scene.render.resolution_x, scene.render.resolution_y  # 48 x 36; the capture is 40 x 30

    # The dataset as NeRF-blender ships it: split files only, no transforms.json; named by a split file.
    nerf = tmp_path / "nerf_blender"
    shutil.copytree(captured, nerf)
    os.remove(nerf / "transforms.json")
    recon = tmp_path / "recon"

    # Nothing to resume yet: a clear error, and nothing changed.
    before = _scene_state()
    with pytest.raises(RuntimeError, match="Nothing to resume"):
        bpy.ops.ps4pro.reconstruct(dataset=str(nerf), recon_dir=str(recon), recon_resume=True, recon_steps=5)
    assert _scene_state() == before and not recon.exists()

    assert bpy.ops.ps4pro.reconstruct(dataset=str(nerf / "transforms_train.json"), recon_steps=20, plane_res=32,
                                      batch_rays=512, recon_device="CPU", recon_dir=str(recon), recon_render=True,
                                      import_result=False) == {"FINISHED"}
    s = scene.ps4pro
    result = json.loads(open(s.last_result).read())
    job = json.loads(open(os.path.join(os.path.dirname(s.last_result), "job.json")).read())["args"]
    assert "--batch-rays" in job["argv"] and job["argv"][job["argv"].index("--batch-rays") + 1] == "512"
    assert job["device"] == "CPU" and result["device"] == "cpu" and result["steps"] == 20
    renders = result["renders"]
    assert [os.path.basename(p) for p in renders] == ["0000.png", "0001.png", "0002.png"]
    assert s.last_renders == str(recon / "renders") and all(os.path.dirname(p) == s.last_renders for p in renders)
    sizes = []
    for path in renders:
        image = bpy.data.images.load(path, check_existing=False)
        sizes.append(tuple(image.size))
        bpy.data.images.remove(image)
    assert sizes == [(width, height)] * 3
    path_cams = json.loads(open(os.path.join(os.path.dirname(s.last_result), "render_path.json")).read())["frames"]
    assert [f["frame"] for f in path_cams] == [1, 2, 3]
    assert [round(f["transform_matrix"][0][3], 4) for f in path_cams] == [-0.5, 0.0, 0.5]
    assert scene.frame_current == 2 and scene.camera == cam  # the scene is where it was
    assert "3 novel views in" in bpy.context.window_manager.ps4pro_job.last_report

    # Resume: training continues from the checkpoint's step 20 up to 30 (not 30 fresh steps).
    assert bpy.ops.ps4pro.reconstruct(dataset=str(nerf), recon_steps=30, plane_res=32, batch_rays=512,
                                      recon_dir=str(recon), recon_resume=True, recon_render=False,
                                      import_result=False) == {"FINISHED"}
    result = json.loads(open(s.last_result).read())
    job = json.loads(open(os.path.join(os.path.dirname(s.last_result), "job.json")).read())["args"]
    assert job["argv"][job["argv"].index("--resume") + 1] == str(recon / "checkpoint.pt")
    assert result["steps"] == 30
    history = [h["step"] for h in json.loads((recon / "eval.json").read_text())["history"]]
    assert history[0] <= 20 and 20 in history and history[-1] == 30


def test_bad_render_camera_is_refused_before_training(captured, tmp_path):
    scene = bpy.context.scene
    ortho = bpy.data.objects.new("Ortho", bpy.data.cameras.new("Ortho"))
    ortho.data.type = "ORTHO"
    scene.collection.objects.link(ortho)
    before = _scene_state()
    for name, message in (("Nope", "No object named 'Nope'"), ("Cube", "'Cube' is not a camera"),
                          ("Ortho", "is orthographic")):
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.ps4pro.reconstruct(dataset=str(captured), recon_dir=str(tmp_path / "r"), recon_steps=5,
                                       recon_render=True, render_camera=name)
        assert _scene_state() == before and not (tmp_path / "r").exists()


def test_dataset_folder_accepts_nerf_blender_layouts(addon, tmp_path):
    backend = importlib.import_module(f"{ADDON}.jobs.backend")
    driver = importlib.import_module(f"{ADDON}.jobs.driver")
    settings = bpy.context.scene.ps4pro
    ours, nerf, test_only, empty = (tmp_path / n for n in ("ours", "nerf", "test_only", "empty"))
    for folder, files in ((ours, ["transforms.json"]), (nerf, ["transforms_train.json", "transforms_test.json"]),
                          (test_only, ["transforms_test.json"]), (empty, [])):
        folder.mkdir()
        for name in files:
            (folder / name).write_text("{}")
    assert backend.dataset_folder(str(ours), settings, "reconstruct") == str(ours)
    assert backend.dataset_folder(str(nerf), settings, "reconstruct") == str(nerf)
    assert backend.dataset_folder(str(nerf / "transforms_test.json"), settings, "reconstruct") == str(nerf)
    assert backend.dataset_folder(str(ours / "transforms.json"), settings, "reconstruct") == str(ours)
    with pytest.raises(driver.OperatorError, match="no transforms_train.json"):
        backend.dataset_folder(str(test_only), settings, "reconstruct")
    with pytest.raises(driver.OperatorError, match="holds no transforms.json"):
        backend.dataset_folder(str(empty), settings, "reconstruct")
    (empty / "notes.json").write_text("{}")
    with pytest.raises(driver.OperatorError, match="is a file, not a dataset folder"):
        backend.dataset_folder(str(empty / "notes.json"), settings, "reconstruct")


def test_reconstruct_prefers_the_augmented_dataset(captured, tmp_path):
    settings = bpy.context.scene.ps4pro
    settings.last_augmented = str(tmp_path / "missing_augmented")
    settings.dataset = ""
    with pytest.raises(RuntimeError, match="missing_augmented holds no transforms.json"):
        bpy.ops.ps4pro.reconstruct(recon_steps=1)
