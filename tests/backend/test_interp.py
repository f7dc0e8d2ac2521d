"""Interpolation: warping on analytic scenes, the plain baseline, the network, tiling, weights files,
and a short train-interp run through the real command line."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ps4pro_blender import protocol
from ps4pro_blender.interp import flow, infer, model, warp, weights

from conftest import REPO
from interp_scenes import make_clips, render, scene, sky
from synthetic_dataset import look_at

torch.set_num_threads(2)


def K(f, w, h):
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])


def translate(x=0.0, y=0.0, z=0.0, yaw_deg=0.0):
    m = np.eye(4)
    a = math.radians(yaw_deg)
    m[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    m[:3, 3] = (x, y, z)
    return m


def T(img):
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


def Z(depth):
    return torch.from_numpy(np.asarray(depth, dtype=np.float32))[None, None]


def psnr(a, b):
    return -10 * math.log10(float(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def test_warp_into_itself_is_identity():
    sc = scene(3)
    c2w = look_at((3, 1, 1.5), (0, 0, 0.3))
    rgb, depth = render(sc, c2w, 60, 60, 40, 30, 80, 60, ss=1)
    out, z, m = warp.forward_warp(T(rgb), Z(depth), K(60, 80, 60), c2w, K(60, 80, 60), c2w, (60, 80))
    assert m.min() == 1
    assert float((out[0].permute(1, 2, 0) - torch.from_numpy(rgb).float()).abs().max()) < 1e-4
    assert torch.allclose(z[0, 0], torch.from_numpy(depth), rtol=1e-5)


def test_fronto_parallel_plane_moves_by_the_analytic_shift():
    # Plane at depth 5, camera moved 0.4 to the right, f = 50: the image moves 4 px to the left.
    rng = np.random.default_rng(0)
    w, h = 40, 30
    rgb = rng.random((h, w, 3))
    out, z, m = warp.forward_warp(T(rgb), Z(np.full((h, w), 5.0)), K(50, w, h), np.eye(4), K(50, w, h),
                                  translate(0.4), (h, w))
    out = out[0].permute(1, 2, 0).numpy()
    assert np.abs(out[:, : w - 4] - rgb[:, 4:]).max() < 1e-3
    assert m[0, 0, :, : w - 4].min() == 1 and m[0, 0, :, w - 4:].max() == 0  # the uncovered band is a hole
    assert np.allclose(z[0, 0, :, : w - 4].numpy(), 5.0, rtol=1e-5)


def test_z_test_keeps_the_nearer_surface_and_leaves_disocclusions_empty():
    w, h, f = 48, 40, 40.0
    rgb = np.zeros((h, w, 3))
    rgb[..., 1] = np.linspace(0.2, 0.9, w)[None]  # far plane: green ramp
    depth = np.full((h, w), 4.0)
    rgb[10:31, 20:36] = (1.0, 0.0, 0.0)  # near square: red, depth 2
    depth[10:31, 20:36] = 2.0
    out, z, m = warp.forward_warp(T(rgb), Z(depth), K(f, w, h), np.eye(4), K(f, w, h), translate(0.4), (h, w))
    out = out[0].permute(1, 2, 0).numpy()
    # The near square moves 8 px, the far plane 4 px: the square covers far pixels that landed there.
    assert np.abs(out[10:31, 12:28] - (1, 0, 0)).max() < 1e-3
    assert np.allclose(z[0, 0, 10:31, 12:28].numpy(), 2.0)
    # Far pixels hidden behind the square in the source: a disocclusion, left as a hole.
    assert m[0, 0, 12:29, 28:32].max() == 0
    filled = warp.fill_holes(torch.from_numpy(out).permute(2, 0, 1)[None], m)
    assert torch.isfinite(filled).all() and float(filled[0, 1, 20, 30]) > 0.3  # filled from its surroundings
    # The far-side fill takes the disocclusion's colour from the background, not the occluder.
    far = warp.fill_holes_far(torch.from_numpy(out).permute(2, 0, 1)[None], m, z)
    red_far, red_plain = float(far[0, 0, 14:28, 28:32].mean()), float(filled[0, 0, 14:28, 28:32].mean())
    assert red_far < red_plain - 0.1 and float(far[0, 0, 14:28, 31].mean()) < 0.25


def test_background_moves_by_rotation_only():
    w, h, f = 64, 48, 50.0
    Ks = K(f, w, h)

    def sky_image(c2w):
        u = (np.arange(w) + 0.5 - w / 2) / f
        v = (np.arange(h) + 0.5 - h / 2) / f
        uu, vv = np.meshgrid(u, v)
        return sky(np.stack([uu, -vv, -np.ones_like(uu)], -1) @ c2w[:3, :3].T)

    src = look_at((0, 0, 0), (0, 1, 0.2))
    bg = np.full((h, w), 1e10)
    # Translation alone: the background does not move at all.
    moved = src.copy()
    moved[:3, 3] += (50.0, -20.0, 3.0)
    out, z, m = warp.forward_warp(T(sky_image(src)), Z(bg), Ks, src, Ks, moved, (h, w))
    assert m.min() == 1 and torch.all(z == warp.BG_DEPTH)
    assert float((out - T(sky_image(src))).abs().max()) < 1e-4
    # Rotation (and translation): it lands where the target camera sees the same direction.
    dst = look_at((3.0, 1.0, 0.5), (3.0 + math.sin(0.08), 1.0 + math.cos(0.08), 0.7))
    out, _, m = warp.forward_warp(T(sky_image(src)), Z(bg), Ks, src, Ks, dst, (h, w))
    inner = m[0, 0].numpy() > 0
    inner[:, :2] = inner[:, -2:] = False
    err = np.abs(out[0].permute(1, 2, 0).numpy() - sky_image(dst))[inner]
    assert inner.mean() > 0.7 and np.median(err) < 0.01


def _triplet(w=96, h=72, step_deg=6.0, seed=1):
    sc = scene(seed)
    f = 0.5 * w / math.tan(math.radians(25))
    views = []
    for i in range(3):
        a = 0.7 + math.radians(step_deg) * i
        c2w = look_at((3.5 * math.cos(a), 3.5 * math.sin(a), 1.8), (0, 0, 0.3))
        rgb, depth = render(sc, c2w, f, f, w / 2, h / 2, w, h, ss=1)
        views.append(infer.View(rgb.astype(np.float32), depth, K(f, w, h), c2w))
    return views


def test_plain_warp_beats_blending_and_model_starts_at_plain_warp():
    a, mid, b = _triplet()
    h, w = mid.rgb.shape[:2]
    plain = warp.plain_warp_interpolate(T(a.rgb), Z(a.depth), a.K, a.c2w, T(b.rgb), Z(b.depth), b.K, b.c2w,
                                        mid.K, mid.c2w, 0.5, (h, w))
    plain = plain[0].permute(1, 2, 0).numpy()
    assert psnr(plain, mid.rgb) > psnr(0.5 * (a.rgb + b.rgb), mid.rgb) + 5
    assert psnr(plain, mid.rgb) > 20
    # An untrained network (zero output head) reproduces the plain warp exactly where a source saw
    # the scene, and the far-side fill in holes.
    net = model.PS4PROInterp().eval()
    wp = warp.warp_pair(T(a.rgb), Z(a.depth), a.K, a.c2w, T(b.rgb), Z(b.depth), b.K, b.c2w, mid.K, mid.c2w, (h, w))
    with torch.no_grad():
        out = net.forward_geometry(wp, 0.5)
        inp = model.geometry_inputs(wp, 0.5)
    assert out.shape == (1, 3, h, w)
    cov = inp["cov"][0, 0].numpy() > 0
    assert 0 < (~cov).sum() and np.abs(out[0].permute(1, 2, 0).numpy() - plain)[cov].max() < 1e-5
    assert torch.allclose(out[0, :, ~torch.from_numpy(cov)], inp["F"][0, :, ~torch.from_numpy(cov)])


def test_model_shapes_and_size():
    net = model.PS4PROInterp()
    n = model.count_parameters(net)
    assert 100_000 < n < 3_000_000
    i0, i1 = torch.rand(2, 3, 50, 70), torch.rand(2, 3, 50, 70)
    out, inp = net.forward_footage(i0, i1, torch.tensor([0.3, 0.7]))
    assert out.shape == (2, 3, 50, 70) and inp["x"].shape[1] == model.IN_CHANNELS


def _perturbed_model(seed=0):
    torch.manual_seed(seed)
    net = model.PS4PROInterp()
    with torch.no_grad():
        net.fusion.head.weight.normal_(0, 0.02)
    return net.eval()


def test_tiled_matches_untiled():
    net = _perturbed_model()
    # Smooth, image-like inputs at 512 x 512.
    x = torch.nn.functional.interpolate(torch.rand(1, model.IN_CHANNELS, 16, 16), size=(512, 512), mode="bicubic",
                                        align_corners=False)
    with torch.no_grad():
        full = net.fusion(x)
        tiled = infer.run_tiled(net.fusion, x, tile=288, overlap=64)  # 2 x 2 tiles
    assert tiled.shape == full.shape
    diff = (tiled - full).abs()
    scale = full.abs().mean()
    assert float(diff.mean()) < 0.005 * float(scale) and float(diff.max()) < 0.05 * float(full.abs().max())


def test_weights_round_trip_and_bad_files(tmp_path):
    net = _perturbed_model(1)
    path = str(tmp_path / "w.pt")
    weights.save(path, net, {"modes": ["geometry"], "seed": 1})
    loaded, meta = weights.load(path)
    assert meta["seed"] == 1
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    # Damaged: random bytes, a truncated file, a foreign torch file, a pickle with code in it.
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(2000))
    with pytest.raises(protocol.JobError, match="damaged or not a weights file"):
        weights.load(str(bad))
    bad.write_bytes(open(path, "rb").read()[:5000])
    with pytest.raises(protocol.JobError, match="damaged or not a weights file"):
        weights.load(str(bad))
    torch.save({"model": {"w": torch.zeros(3)}}, str(bad))
    with pytest.raises(protocol.JobError, match="not a PS4PRO interpolation weights file"):
        weights.load(str(bad))
    torch.save({"format": weights.FORMAT, "version": 1, "config": {}, "state_dict": {"w": torch.zeros(3)}}, str(bad))
    with pytest.raises(protocol.JobError, match="does not fit"):
        weights.load(str(bad))
    torch.save({"format": weights.FORMAT, "version": 1, "x": protocol.Message("status")}, str(bad))
    with pytest.raises(protocol.JobError, match="damaged or not a weights file"):
        weights.load(str(bad))
    with pytest.raises(protocol.JobError, match="No interpolation weights"):
        weights.load(str(tmp_path / "missing.pt"))
    with pytest.raises(protocol.JobError):
        infer.Interpolator(str(bad))


def test_interpolator_with_and_without_weights(tmp_path):
    a, mid, b = _triplet(64, 48)
    notes = []
    plain = infer.Interpolator(weights=False, warn=notes.append)
    out = plain.views(a, b, mid.c2w, mid.K, 0.5)
    assert out.shape == mid.rgb.shape and notes == [infer.PLAIN_NOTE]
    # Footage without weights: classical DIS flow, and it says so.
    img0 = mid.rgb
    img1 = np.roll(mid.rgb, 4, axis=1)
    mid_frame = plain.footage(img0, img1, 0.5)
    assert flow.CLASSICAL_NOTE in notes
    assert psnr(mid_frame[:, 8:-8], np.roll(mid.rgb, 2, axis=1)[:, 8:-8]) > psnr(0.5 * (img0 + img1)[:, 8:-8], np.roll(mid.rgb, 2, axis=1)[:, 8:-8])
    path = str(tmp_path / "w.pt")
    weights.save(path, model.PS4PROInterp(), {"modes": ["geometry", "footage"]})
    learned = infer.Interpolator(path, warn=notes.append)
    out2 = learned.views(a, b, mid.c2w, mid.K, 0.5)
    assert np.median(np.abs(out2 - out)) < 1e-5  # an untrained network is the plain warp (but for holes)
    # An untrained footage network is the classical DIS result (its output head starts at zero).
    assert np.abs(learned.footage(img0, img1, 0.5) - mid_frame).max() < 1e-5


@pytest.fixture(scope="module")
def tiny_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("interp")
    make_clips(str(root / "train"), 2, seed=0, n_frames=7, w=48, h=40)
    make_clips(str(root / "eval"), 1, seed=9, n_frames=13, w=48, h=40)
    return root


def _start_training(root, out):
    return subprocess.Popen(
        [sys.executable, "-m", "ps4pro_blender", "train-interp", "--data", str(root / "train"), "--eval", str(root / "eval"),
         "--out", str(out), "--steps", "5", "--seed", "3", "--batch", "2", "--crop", "32", "--mode", "both",
         "--log-every", "1", "--eval-every", "0", "--ckpt-every", "2", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


def test_train_interp_command_is_deterministic(tiny_clips, tmp_path):
    # Two runs with the same seed, side by side (one thread each): identical weights.
    procs = [_start_training(tiny_clips, tmp_path / name) for name in ("a.pt", "b.pt")]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    msgs = [protocol.decode(line) for line in outs[0][0].splitlines()]
    assert all(m is not None for m in msgs) and msgs[-1].kind == "done"
    progress = [m for m in msgs if m.kind == "progress" and m.get("stage") == "Training"]
    assert [m.get("done") for m in progress] == [1, 2, 3, 4, 5] and "loss" in progress[-1].get("metrics")
    result = [m for m in msgs if m.kind == "result"][0].get("result")
    assert result["params"] < 3_000_000 and "24deg" in result["eval"]["geometry"]
    a, meta = weights.load(str(tmp_path / "a.pt"))
    b, _ = weights.load(str(tmp_path / "b.pt"))
    assert meta["seed"] == 3 and meta["steps"] == 5 and meta["modes"] == ["geometry", "footage"]
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert os.path.exists(tmp_path / "a_ckpt" / "last.pt")


def test_footage_mode_trusts_a_flow_that_checks_out_and_not_one_that_does_not():
    """Footage mode's per-pixel trust: high where the frames are one motion apart (the flow comes
    back and both warps agree), low between unrelated frames, where the in-between is a guess."""
    a, mid, b = _triplet(64, 48)
    plain = infer.Interpolator(weights=False)
    img0 = mid.rgb
    moved = np.roll(mid.rgb, 4, axis=1)
    _, trust = plain.footage(img0, moved, 0.5, coverage=True)
    assert trust.shape == img0.shape[:2] and 0.0 <= trust.min() and trust.max() <= 1.0
    assert float(np.mean(trust[:, 8:-8])) > 0.7
    unrelated = np.random.default_rng(0).random(img0.shape).astype(np.float32)
    _, guess = plain.footage(img0, unrelated, 0.5, coverage=True)
    assert float(np.mean(guess)) < 0.2


def test_geometry_trust_is_the_agreement_of_the_two_warps():
    from ps4pro_blender.interp import warp as W

    ones = torch.ones(1, 1, 2, 3)
    A = torch.zeros(1, 3, 2, 3)
    B = A.clone()
    B[..., 0, 1] = 0.3  # the sources disagree here (a highlight, a ghost)
    w = {"A": A, "B": B, "zA": 2 * ones, "zB": 2 * ones, "mA": ones.clone(), "mB": ones.clone()}
    w["mB"][..., 1, 2] = 0.0  # only A saw this pixel
    w["mA"][..., 1, 0] = 0.0
    w["mB"][..., 1, 0] = 0.0  # nobody saw this one
    trust = W.geometry_trust(w)[0, 0]
    assert trust[0, 0] == 1.0 and trust[0, 1] < 0.01
    assert trust[1, 2] == W.SINGLE_SOURCE_TRUST and trust[1, 0] == 0.0
