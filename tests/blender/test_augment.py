"""``ps4pro.augment`` on real captures: synthetic views written, previewed, and bad input refused."""

import json

import bpy
import pytest

from test_headless import build_small_scene


def capture(tmp_path, **kw):
    out = tmp_path / "cap"
    options = dict(source="ORBIT", orbit_count=6, orbit_layout="RING", resolution_x=64, resolution_y=48,
                   samples=1, output_dir=str(out), test_every=0)
    options.update(kw)
    assert bpy.ops.ps4pro.capture(**options) == {"FINISHED"}
    return out


@pytest.fixture
def small_scene(scene, tmp_path):
    build_small_scene(tmp_path / "scene.blend")
    return bpy.context.scene


def test_augment_adds_synthetic_views_and_a_preview(small_scene, tmp_path):
    cap = capture(tmp_path)
    assert bpy.ops.ps4pro.augment(dataset=str(cap), in_between=2) == {"FINISHED"}
    out = small_scene.ps4pro.last_augmented
    meta = json.loads(open(f"{out}/transforms.json").read())
    synth = [f for f in meta["frames"] if f.get("synthetic")]
    on = [f for f in synth if "offset_deg" not in f]
    # A ring orbit is a closed loop: 6 pairs, the last one from the last view back to the first.
    assert len(on) == 2 * 6 and len(meta["frames"]) == 6 + len(synth)
    assert all(f["interpolation"] == "geometry" for f in synth) and all(0 < f["t"] < 1 for f in on)
    # By default every real and in-between view also gets one 10° above and one 10° below the ring.
    off = [f for f in synth if "offset_deg" in f]
    assert len(off) == 2 * (6 + 12) and {f["offset_deg"] for f in off} == {10.0, -10.0}
    for name in ("PS4PRO Synthetic", "PS4PRO Source A", "PS4PRO Source B"):
        image = bpy.data.images[name]
        assert tuple(image.size) == (64, 48)
    # What it bought, from the capture's own render times: as many views' worth of rendering.
    source = json.loads(open(f"{cap}/transforms.json").read())
    per_view = [f["render_seconds"] for f in source["frames"]]
    assert all(s > 0 for s in per_view) and source["ps4pro"]["render_seconds"] == pytest.approx(sum(per_view), abs=0.01)
    bought = meta["ps4pro"]["augment"]
    assert bought["render_seconds_saved"] == pytest.approx(len(synth) * sum(per_view) / len(per_view), abs=0.1)
    assert 0.0 < bought["mean_confidence"] <= 1.0
    report = small_scene.ps4pro.augment_report.splitlines()
    assert report[0] == f"{len(synth)} synthetic views" and "of rendering saved" in report[1]
    assert report[2].startswith("mean confidence ")


def test_augment_defaults_to_the_last_capture(small_scene, tmp_path):
    capture(tmp_path)
    small_scene.ps4pro.dataset = ""
    small_scene.ps4pro.in_between = 1
    small_scene.ps4pro.off_path_deg = 0.0
    assert bpy.ops.ps4pro.augment() == {"FINISHED"}
    assert small_scene.ps4pro.last_augmented.endswith("cap_augmented")
    meta = json.loads(open(f"{small_scene.ps4pro.last_augmented}/transforms.json").read())
    assert sum(1 for f in meta["frames"] if f.get("synthetic")) == 6  # the panel's settings, off-path views off


def test_capture_without_depth_falls_back_to_footage_mode(small_scene, tmp_path):
    cap = capture(tmp_path, depth_format="NONE")
    assert bpy.ops.ps4pro.augment(dataset=str(cap), in_between=1) == {"FINISHED"}
    meta = json.loads(open(f"{small_scene.ps4pro.last_augmented}/transforms.json").read())
    assert {f["interpolation"] for f in meta["frames"] if f.get("synthetic")} == {"footage"}


def test_one_training_view_is_refused(small_scene, tmp_path):
    cap = capture(tmp_path, orbit_count=2, test_every=2)
    with pytest.raises(RuntimeError, match="at least two"):
        bpy.ops.ps4pro.augment(dataset=str(cap))


def test_missing_dataset_is_refused(small_scene, tmp_path):
    with pytest.raises(RuntimeError, match="holds no transforms.json"):
        bpy.ops.ps4pro.augment(dataset=str(tmp_path / "nothing"))
