"""Pipelines without a UI: a fresh Blender process running a saved .blend through the operators
(what `blender -b file.blend --python-expr ...` does), and the `blender -c ps4pro` command line."""

import importlib
import json
import os
import subprocess
import sys

import bpy
import pytest

from conftest import ADDON, USER_DIR


def build_small_scene(path):
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_cube_add(size=1.0)
    cube = bpy.context.active_object
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location = (0.0, -4.0, 1.5)
    cam.rotation_euler = (1.25, 0.0, 0.0)
    scene.camera = cam
    light = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(light)
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 2
    scene.render.resolution_x, scene.render.resolution_y = 48, 36
    cube.select_set(True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def test_blocking_pipeline_in_a_fresh_background_process(tmp_path, addon):
    blend = build_small_scene(tmp_path / "scene.blend")
    out = tmp_path / "cap"
    script = f"""
import bpy
bpy.ops.preferences.addon_enable(module={addon!r})  # as a user's saved preferences would
bpy.ops.wm.open_mainfile(filepath={str(blend)!r})
assert bpy.app.background
assert bpy.ops.ps4pro.capture(source='ORBIT', orbit_count=6, output_dir={str(out)!r}) == {{'FINISHED'}}
assert bpy.ops.ps4pro.fuse_depth(dataset={str(out)!r}) == {{'FINISHED'}}
bpy.ops.wm.save_as_mainfile(filepath={str(tmp_path / 'after.blend')!r})
"""
    env = dict(os.environ, BLENDER_USER_RESOURCES=USER_DIR)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The blocking driver prints progress for pipelines to log.
    assert "[ps4pro] Rendering" in proc.stdout and "[ps4pro] Fusing depth" in proc.stdout
    assert len(json.loads((out / "transforms.json").read_text())["frames"]) == 6
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "after.blend"))
    assert any(o.type in {"POINTCLOUD", "MESH"} and o.name != "Cube" for o in bpy.data.objects)


def test_command_line_runs_operators_with_generated_options(tmp_path, addon):
    cli = importlib.import_module(f"{ADDON}.command_line")
    blend = build_small_scene(tmp_path / "scene.blend")
    out = tmp_path / "cap"
    code = cli.execute(
        ["capture", "--open", str(blend), "--source", "ORBIT", "--orbit-count", "4", "--output-dir", str(out),
         "--depth-format", "NPY", "--no-transparent"]
    )
    assert code == 0
    assert len(json.loads((out / "transforms.json").read_text())["frames"]) == 4
    saved = tmp_path / "fused.blend"
    assert cli.execute(["fuse-depth", "--dataset", str(out), "--save", str(saved)]) == 0
    assert saved.exists()
    # Bad input: a clear non-zero exit, not a traceback.
    assert cli.execute(["capture", "--source", "COLLECTION", "--camera-collection", "Nope"]) == 1
    assert cli.execute(["capture", "--source", "BOGUS"]) == 2


def test_cli_command_is_registered(addon):
    cli = importlib.import_module(f"{ADDON}.command_line")
    assert cli._handle is not None
