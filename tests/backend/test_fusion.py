"""Depth fusion on a dataset with exact, analytic depth."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ps4pro_blender import dataset, depth_io, fusion, ply, protocol

from conftest import REPO
from synthetic_dataset import make


@pytest.fixture
def data_dir(tmp_path):
    return make(str(tmp_path / "data"), n_views=6)


def test_backproject_inverts_projection(data_dir):
    data = dataset.load(data_dir)
    frame = data.frames[0]
    depth = depth_io.read_depth(frame.depth_path)
    points = fusion.backproject(frame, depth)[depth_io.valid_mask(depth)]
    # Every back-projected pixel lies on the plane z = 0 inside the 2 x 2 square.
    assert np.abs(points[:, 2]).max() < 1e-5
    assert np.abs(points[:, :2]).max() <= 1.0 + 1e-5


def test_fuse_command_writes_points_on_the_surface(data_dir, tmp_path):
    out = tmp_path / "job" / "points.ply"
    proc = subprocess.run(
        [sys.executable, "-m", "ps4pro_blender", "fuse-depth", data_dir, "--out", str(out), "--voxel-size", "0.02"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = protocol.decode(proc.stdout.splitlines()[-2]).get("result")
    cloud = ply.read_ply(str(out))
    assert result["num_points"] == len(cloud.points) > 1000
    assert np.abs(cloud.points[:, 2]).max() < 1e-4
    # Voxel downsampling: no two points closer than a voxel apart along all axes at once.
    keys = np.floor(cloud.points / 0.02).astype(int)
    assert len(np.unique(keys, axis=0)) >= 0.95 * len(keys)
    # Colours encode position in the synthetic images: red = (x + 1) * 127.5.
    red = cloud.colors[:, 0].astype(float)
    assert np.median(np.abs(red - (cloud.points[:, 0] + 1) * 127.5)) < 3
    assert "views" in cloud.extra


def test_exr_depth_reads_like_npy(data_dir, tmp_path):
    import OpenEXR

    depth = np.load(os.path.join(data_dir, "depth", "0000.npy"))
    path = str(tmp_path / "d.exr")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"ViewLayer.Depth.Z": depth, "ViewLayer.Combined.R": depth * 0}) as f:
        f.write(path)
    assert np.array_equal(depth_io.read_depth(path), depth)


def test_nerf_blender_split_files_and_extensionless_paths(data_dir):
    meta = json.load(open(os.path.join(data_dir, "transforms.json")))
    for split in ("train", "test"):
        part = dict(meta, frames=[dict(f, file_path="./" + f["file_path"][:-4]) for f in meta["frames"] if f["split"] == split])
        json.dump(part, open(os.path.join(data_dir, f"transforms_{split}.json"), "w"))
    os.remove(os.path.join(data_dir, "transforms.json"))
    data = dataset.load(data_dir)
    assert len(data.split("test")) == 1 and len(data.split("train")) == 5
    assert all(f.image_path.endswith(".png") and os.path.exists(f.image_path) for f in data.frames)


def test_missing_depth_and_size_mismatch_are_clear_errors(data_dir):
    meta_path = os.path.join(data_dir, "transforms.json")
    meta = json.load(open(meta_path))
    for f in meta["frames"]:
        f.pop("depth_file_path")
    json.dump(meta, open(meta_path, "w"))
    with pytest.raises(protocol.JobError, match="no depth"):
        fusion.fuse(dataset.load(data_dir))


def test_image_depth_size_mismatch(data_dir):
    np.save(os.path.join(data_dir, "depth", "0000.npy"), np.ones((10, 10), np.float32))
    with pytest.raises(protocol.JobError, match="10x10, the image 64x48"):
        fusion.fuse(dataset.load(data_dir))
