"""PS4PRO augmentation: in-between poses, and the augmented dataset the augment command writes."""

import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ps4pro_blender import augment, dataset, poses, protocol

from conftest import REPO
from synthetic_dataset import look_at, make, render_view


def run_interpolate(*args, env=None, command="augment"):
    proc = subprocess.run(
        [sys.executable, "-m", "ps4pro_blender", command, *map(str, args)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})), timeout=300,
    )
    return proc, [protocol.decode(line) for line in proc.stdout.splitlines()]


def orbit(n, radius=1.5, height=2.0, start=0.0, step=math.pi / 8):
    return [look_at((radius * math.cos(start + i * step), radius * math.sin(start + i * step), height), (0, 0, 0))
            for i in range(n)]


def test_pose_interpolation_ends_and_middle_of_an_orbit():
    path = orbit(4)
    assert np.allclose(poses.interpolate_pose(path, 1, 0.0), path[1])
    assert np.allclose(poses.interpolate_pose(path, 1, 1.0), path[2])
    mid = poses.interpolate_pose(path, 1, 0.5)
    # On the circle (the spline follows the orbit), and looking at the centre like its neighbours.
    assert abs(np.linalg.norm(mid[:2, 3]) - 1.5) < 0.01
    assert np.allclose(mid[:3, :3] @ mid[:3, :3].T, np.eye(3), atol=1e-9)
    expected = look_at((1.5 * math.cos(1.5 * math.pi / 8), 1.5 * math.sin(1.5 * math.pi / 8), 2.0), (0, 0, 0))
    assert poses.view_angle_deg(mid, expected) < 0.5


def test_pose_interpolation_on_a_straight_path_is_linear():
    path = [look_at((x, -3.0, 1.0), (x, 0.0, 1.0)) for x in (0.0, 1.0, 2.0, 3.0)]
    mid = poses.interpolate_pose(path, 1, 0.25)
    assert np.allclose(mid[:3, 3], (1.25, -3.0, 1.0), atol=1e-9)


def test_a_closed_orbit_is_augmented_across_its_closing_gap():
    full = orbit(8, step=math.pi / 4)  # 45 degrees apart, all the way round
    assert augment.is_closed_loop(full)
    assert not augment.is_closed_loop(full[:6])  # an arc: its ends are 90 degrees apart
    frames = [dataset.Frame(image_path=f"{i}.png", c2w=c2w, fx=50.0, fy=50.0, cx=32.0, cy=24.0, w=64, h=48,
                            split="train", depth_path=None, extra={"frame": i}) for i, c2w in enumerate(full)]
    data = dataset.Dataset(root=".", frames=frames, aabb=None, meta={})
    jobs = augment.plan(data, k=1)
    assert len(jobs) == 8 and jobs[-1]["a"] is frames[-1] and jobs[-1]["b"] is frames[0]
    # The closing view sits on the circle, halfway round from the last view to the first.
    mid = jobs[-1]["c2w"]
    angle = 2 * math.pi * 7.5 / 8
    assert np.allclose(mid[:3, 3], (1.5 * math.cos(angle), 1.5 * math.sin(angle), 2.0), atol=0.02)
    assert len(augment.plan(dataset.Dataset(root=".", frames=frames[:6], aabb=None, meta={}), k=1)) == 5


def test_off_path_views_move_up_and_down_the_sphere_around_the_centre():
    full = orbit(8, step=math.pi / 4)
    frames = [dataset.Frame(image_path=f"{i}.png", c2w=c2w, fx=50.0, fy=50.0, cx=32.0, cy=24.0, w=64, h=48,
                            split="train", depth_path=None, extra={"frame": i}) for i, c2w in enumerate(full)]
    data = dataset.Dataset(root=".", frames=frames, aabb=None, meta={})
    assert np.allclose(poses.look_at_point(full), 0.0, atol=1e-9)
    jobs = augment.plan(data, k=1, off_path_deg=12.0)
    off = [j for j in jobs if "offset_deg" in j]
    assert len(jobs) == 8 + len(off) and len(off) == 2 * (8 + 8)  # around every real and in-between view
    elevation = lambda m: math.degrees(math.atan2(m[2, 3], np.linalg.norm(m[:2, 3])))  # noqa: E731
    for j in off:
        m = j["c2w"]
        base = j["a"].c2w if j["t"] == 0.0 else poses.interpolate_pose([full[-1]] + full + full[:2], j["pair"] + 1, j["t"])
        assert abs(np.linalg.norm(m[:3, 3]) - np.linalg.norm(base[:3, 3])) < 1e-9  # same distance from the centre
        assert abs(elevation(m) - elevation(base) - j["offset_deg"]) < 1e-6  # moved up (+) or down (-)
        aim = lambda c: float(np.dot(-c[:3, 2], -c[:3, 3] / np.linalg.norm(c[:3, 3])))  # noqa: E731
        assert abs(aim(m) - aim(base)) < 1e-9 and aim(m) > 0.999  # turned with the move: still looks at the centre
        assert np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-9)
    # A straight dolly has no centre to move around: no off-path views.
    line = [look_at((x, -3.0, 1.0), (x, 0.0, 1.0)) for x in (0.0, 1.0, 2.0, 3.0)]
    assert poses.look_at_point(line) is None
    frames = [dataclasses.replace(frames[i], c2w=c2w) for i, c2w in enumerate(line)]
    assert not any("offset_deg" in j for j in augment.plan(dataset.Dataset(".", frames, None, {}), k=1, off_path_deg=12))


def test_interpolate_off_path_views_match_the_truth(tmp_path):
    data = make(str(tmp_path / "data"), n_views=16)
    out = tmp_path / "aug"
    proc, msgs = run_interpolate(data, "--out", out, "--k", "1", "--mode", "geometry", "--off-path-deg", "8")
    assert proc.returncode == 0, proc.stderr
    synth = [f for f in dataset.load(str(out)).frames if f.extra.get("synthetic")]
    off = [f for f in synth if "offset_deg" in f.extra]
    pairs = len(synth) - len(off)  # an open path here (test views are left out of it): k=1 per pair
    assert len(synth) == msgs[-2].get("result")["synthetic_views"] and len(off) == 2 * (2 * pairs + 1)
    for f in off[::7]:
        truth, _ = render_view(f.c2w)
        got = np.asarray(Image.open(f.image_path).convert("RGBA"), dtype=np.float64)
        seen = (truth[..., 3] == 255) & (got[..., 3] > 127) & (np.asarray(Image.open(f.extra["confidence_file_path"])) >= 128)
        assert seen.mean() > 0.2
        mse = np.mean((got[..., :3][seen] - truth[..., :3][seen].astype(np.float64)) ** 2)
        assert 10 * math.log10(255.0**2 / max(mse, 1e-9)) > 26


def test_count_between_follows_the_gap():
    assert augment.count_between(45.0, 0, 6.0) == 7
    assert augment.count_between(6.0, 0, 6.0) == 0
    assert augment.count_between(45.0, 3, 6.0) == 3


def test_interpolate_writes_an_augmented_dataset_close_to_the_truth(tmp_path):
    data = make(str(tmp_path / "data"), n_views=16)  # 22.5 degrees apart
    out = tmp_path / "aug"
    proc, msgs = run_interpolate(data, "--out", out, "--k", "1", "--mode", "geometry", "--off-path-deg", "0")
    assert proc.returncode == 0, proc.stderr
    result = msgs[-2].get("result")
    source = dataset.load(data)
    train = source.split("train")
    assert result["synthetic_views"] == len(train) - 1  # one per consecutive training pair

    aug = dataset.load(str(out))
    synth = [f for f in aug.frames if f.extra.get("synthetic")]
    real = [f for f in aug.frames if not f.extra.get("synthetic")]
    assert len(real) == len(source.frames) and len(synth) == result["synthetic_views"]
    test_images = {os.path.normpath(f.image_path) for f in source.split("test")}
    for f in synth:
        assert f.split == "train" and f.extra["weight"] == 0.5 and f.extra["t"] == 0.5
        srcs = {os.path.normpath(os.path.join(str(out), s)) for s in f.extra["source"]}
        assert not srcs & test_images  # test views are never sources
        # Against the analytic truth at the synthetic pose.
        truth, _ = render_view(f.c2w)
        got = np.asarray(Image.open(f.image_path).convert("RGBA"), dtype=np.float64)
        seen = (truth[..., 3] == 255) & (got[..., 3] > 127)
        assert seen.mean() > 0.3
        # The confidence image: high where both warps agree, half where one source alone saw the
        # pixel, 0 where the view is a guess.
        conf = np.asarray(Image.open(f.extra["confidence_file_path"]))
        assert conf.shape == got.shape[:2] and conf.max() == 255 and conf.mean() > 127
        assert np.all(conf[(truth[..., 3] == 255) & (got[..., 3] <= 127)] < 128)
        seen &= conf >= 128
        mse = np.mean((got[..., :3][seen] - truth[..., :3][seen].astype(np.float64)) ** 2)
        assert 10 * math.log10(255.0**2 / max(mse, 1e-9)) > 28
    # NeRF-blender split files list the synthetic views with the training ones.
    train_split = json.loads((out / "transforms_train.json").read_text())["frames"]
    assert sum(1 for f in train_split if f.get("synthetic")) == len(synth)
    assert len(json.loads((out / "transforms_test.json").read_text())["frames"]) == len(source.split("test"))


def test_missing_depth_falls_back_to_footage_mode_and_says_so(tmp_path):
    data = make(str(tmp_path / "data"), n_views=8)
    meta_path = os.path.join(data, "transforms.json")
    meta = json.load(open(meta_path))
    for f in meta["frames"]:
        f.pop("depth_file_path")
    json.dump(meta, open(meta_path, "w"))
    proc, msgs = run_interpolate(data, "--out", tmp_path / "aug", "--k", "1")
    assert proc.returncode == 0, proc.stderr
    warnings = " ".join(m.get("text") for m in msgs if m.kind == "warning")
    assert "footage mode" in warnings
    assert msgs[-2].get("result")["counts"] == {"geometry": 0, "footage": 5}
    # Off-path views need depth: without it they are left out, with a warning.
    proc, msgs = run_interpolate(data, "--out", tmp_path / "aug2", "--k", "1", "--off-path-deg", "10")
    assert proc.returncode == 0, proc.stderr
    assert msgs[-2].get("result")["synthetic_views"] == 5
    assert "off-path views skipped" in " ".join(m.get("text") for m in msgs if m.kind == "warning")


def test_one_view_and_mismatched_sizes_are_clear_errors(tmp_path):
    data = make(str(tmp_path / "data"), n_views=8)
    meta_path = os.path.join(data, "transforms.json")
    meta = json.load(open(meta_path))
    one = dict(meta, frames=meta["frames"][:1])
    json.dump(one, open(meta_path, "w"))
    proc, msgs = run_interpolate(data, "--out", tmp_path / "a")
    assert proc.returncode == 1 and "at least two" in msgs[-1].get("message")

    meta["frames"][1]["w"] = 32
    json.dump(meta, open(meta_path, "w"))
    proc, msgs = run_interpolate(data, "--out", tmp_path / "b")
    assert proc.returncode == 1 and "different sizes" in msgs[-1].get("message")
    assert not (tmp_path / "b" / "transforms.json").exists()


def test_old_command_and_option_names_still_work_with_a_warning(tmp_path):
    """The stage is called augment everywhere now; scripts that say interpolate and --weight still run."""
    data = make(str(tmp_path / "cap"), n_views=3)
    proc, msgs = run_interpolate(data, "--out", tmp_path / "aug", "--k", "1", "--weight", "0.25", command="interpolate")
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [m.get("text") for m in msgs if m is not None and m.kind == "warning"]
    assert any("'interpolate' is now 'augment'" in w for w in warnings), warnings
    frames = json.load(open(tmp_path / "aug" / "transforms.json"))["frames"]
    assert {f["weight"] for f in frames if f.get("synthetic")} == {0.25}
