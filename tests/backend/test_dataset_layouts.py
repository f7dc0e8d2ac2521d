"""Datasets written by other tools: instant-ngp's single transforms.json and nerfstudio's, with its
16-bit millimetre depth PNGs. Tiny images (8 x 6) made here with numpy and Pillow."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from ps4pro_blender import dataset, depth_io, fusion, protocol
from ps4pro_blender import reconstruct as R
from ps4pro_blender import views as V

from synthetic_dataset import look_at, plane_depth

W, H = 8, 6
FX, FY, CX, CY = 7.5, 7.0, 4.2, 2.9


class Ctx:
    def __init__(self):
        self.warnings = []
        self.emit = self

    def warning(self, text):
        self.warnings.append(text)


def _pose(i):
    return look_at((2.0 * np.cos(i), 2.0 * np.sin(i), 1.5), (0.0, 0.0, 0.0))


def _image(path, i):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rgb = np.full((H, W, 3), 40 * i, np.uint8)
    Image.fromarray(rgb, "RGB").save(path)


def _write(folder, meta):
    with open(os.path.join(folder, "transforms.json"), "w") as f:
        json.dump(meta, f)


def instant_ngp(folder, n=4, **top):
    frames = []
    for i in range(n):
        _image(os.path.join(folder, "images", f"{i:04d}.png"), i)
        frames.append({"file_path": f"./images/{i:04d}.png", "sharpness": 30.0, "transform_matrix": _pose(i).tolist()})
    _write(folder, {"fl_x": FX, "fl_y": FY, "cx": CX, "cy": CY, "w": W, "h": H, "aabb_scale": 16,
                    "camera_angle_x": 1.0, **top, "frames": frames})
    return folder


def _depth_png(path, millimetres):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(millimetres.astype(np.uint16)).save(path)


def nerfstudio(folder, depths, **top):
    """Frames 0..n-1 with the given depth (uint16 millimetres, or None), the last one in val."""
    frames = []
    for i, mm in enumerate(depths):
        name = f"frame_{i + 1:05d}.png"
        _image(os.path.join(folder, "images", name), i)
        frame = {"file_path": f"images/{name}", "transform_matrix": _pose(i).tolist(), "colmap_im_id": i + 1}
        if mm is not None:
            _depth_png(os.path.join(folder, "depths", name), mm)
            frame["depth_file_path"] = f"depths/{name}"
        frames.append(frame)
    names = [f["file_path"] for f in frames]
    _write(folder, {"camera_model": "OPENCV", "fl_x": FX, "fl_y": FY, "cx": CX, "cy": CY, "w": W, "h": H,
                    "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "applied_transform": np.eye(4)[:3].tolist(),
                    "train_filenames": names[:-1], "val_filenames": names[-1:], "test_filenames": [], **top,
                    "frames": frames})
    return folder


def test_instant_ngp_layout(tmp_path):
    data = dataset.load(instant_ngp(str(tmp_path)))
    assert len(data.frames) == 4 and data.aabb is None and data.warnings == []  # aabb_scale is not a box
    for i, f in enumerate(data.frames):
        assert (f.fx, f.fy, f.cx, f.cy, f.w, f.h) == (FX, FY, CX, CY, W, H)  # fl_x wins over camera_angle_x
        assert np.array_equal(f.c2w, _pose(i)) and f.split == "train" and f.depth_path is None
        assert f.image_path == os.path.join(str(tmp_path), "images", f"{i:04d}.png")
        assert f.extra["sharpness"] == 30.0
        assert V.load_view(f)[0].shape == (H, W, 4)
    # No split: reconstruct holds out one real view and trains on the others.
    ctx = Ctx()
    train, test, note = R.choose_split(data, ctx)
    assert len(test) == 1 and len(train) == 3 and test[0] not in train and ctx.warnings == [note]


def test_lens_distortion_is_a_warning_not_silence(tmp_path):
    data = dataset.load(instant_ngp(str(tmp_path / "ngp"), k1=-0.05, p2=0.001))
    assert len(data.warnings) == 1 and "k1, p2" in data.warnings[0] and "4 of 4 views" in data.warnings[0]
    # nerfstudio keeps distortion per frame too, and names fisheye cameras by their model.
    folder = nerfstudio(str(tmp_path / "ns"), [None, None], camera_model="OPENCV_FISHEYE")
    meta = json.load(open(os.path.join(folder, "transforms.json")))
    meta["frames"][1]["k2"] = 0.01
    _write(folder, meta)
    notes = dataset.load(folder).warnings
    assert any("1 of 2 views" in n and "k2" in n for n in notes) and any("OPENCV_FISHEYE" in n for n in notes)
    # Our own captures write zero distortion and OPENCV: nothing to warn about.
    assert dataset.load(nerfstudio(str(tmp_path / "plain"), [None, None])).warnings == []


def test_nerfstudio_layout_with_millimetre_depth(tmp_path):
    mm = np.arange(W * H, dtype=np.uint16).reshape(H, W) * 100 + 500
    mm[0, 0] = 0  # no depth measured there
    data = dataset.load(nerfstudio(str(tmp_path), [mm, mm, mm]))
    assert [f.split for f in data.frames] == ["train", "train", "val"]
    f = data.frames[0]
    assert (f.fx, f.fy, f.cx, f.cy, f.w, f.h) == (FX, FY, CX, CY, W, H) and np.array_equal(f.c2w, _pose(0))
    assert f.image_path == os.path.join(str(tmp_path), "images", "frame_00001.png")
    assert f.depth_path == os.path.join(str(tmp_path), "depths", "frame_00001.png") and f.depth_scale is None
    _, depth = V.load_view(f)
    expected = mm.astype(np.float32) * 1e-3  # metres
    assert np.isnan(depth[0, 0]) and np.allclose(depth.ravel()[1:], expected.ravel()[1:], rtol=1e-6)
    # With no test split, the val views are the held-out ones.
    ctx = Ctx()
    train, test, _ = R.choose_split(data, ctx)
    assert len(train) == 2 and [t.split for t in test] == ["val"] and "val views" in ctx.warnings[0]


def test_nerfstudio_depth_unit_scale_factor_and_smaller_depth_maps(tmp_path):
    mm = np.array([[1000, 2000], [0, 4000]], np.uint16)  # a 2 x 2 depth map for an 8 x 6 image
    folder = nerfstudio(str(tmp_path), [np.kron(mm, np.ones((3, 4), np.uint16)), mm], depth_unit_scale_factor=2e-3)
    full, small = dataset.load(folder).frames[:2]
    assert full.depth_scale == small.depth_scale == 2e-3
    a, b = V.load_view(full)[1], V.load_view(small)[1]  # scaled up to the image, nearest neighbour
    assert b.shape == (H, W) and np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)])
    assert np.allclose(b[[0, 0, 5], [0, 7, 7]], [2.0, 4.0, 8.0]) and np.isnan(b[5, 0])


def test_nerfstudio_depth_is_planar_and_lands_on_the_surface(tmp_path):
    """Depth along the view axis (z-depth), as nerfstudio's depth models take it by default."""
    c2w = look_at((0.7, -0.4, 1.2), (0.0, 0.0, 0.0))
    depth, _ = plane_depth(c2w, FX, FY, CX, CY, W, H)
    mm = np.where(depth < 1e9, np.round(depth * 1000), 0)
    _depth_png(str(tmp_path / "d.png"), mm)
    frame = dataset.Frame(str(tmp_path / "i.png"), c2w, FX, FY, CX, CY, W, H, depth_path=str(tmp_path / "d.png"))
    metres = depth_io.read_frame_depth(frame)
    valid = depth_io.valid_mask(metres)
    assert valid.sum() > W * H // 2
    points = fusion.backproject(frame, np.nan_to_num(metres))[valid]
    assert np.abs(points[:, 2]).max() < 2e-3  # on the plane z = 0, to the millimetre of the PNG


def test_unreadable_depth_names_the_file_and_suggests_ignore_depth(tmp_path):
    mm = np.full((H, W), 1000, np.uint16)
    folder = nerfstudio(str(tmp_path), [mm, mm])
    frames = dataset.load(folder).frames
    with open(frames[0].depth_path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(protocol.JobError, match="frame_00001.png") as err:
        V.load_view(frames[0])
    assert "--ignore-depth" in err.value.hint
    assert V.load_view(frames[0], with_depth=False)[1] is None  # which reads the images alone
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(frames[1].depth_path)  # a picture, not depth
    with pytest.raises(protocol.JobError, match="not a 16-bit depth map") as err:
        V.load_view(frames[1])
    assert "--ignore-depth" in err.value.hint
