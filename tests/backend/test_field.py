"""The tri-plane field: ray convention, volume rendering, training, checkpoints, cancel, export.

Tiny settings throughout (a 64 x 48 synthetic plane, a few hundred rays, tens of steps): these
check behaviour, not quality; quality lives in bench/.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ps4pro_blender import dataset, depth_io, fusion, protocol
from ps4pro_blender import reconstruct as R
from ps4pro_blender import views as V
from ps4pro_blender.field import export, render, sampler
from ps4pro_blender.field.model import FieldModel
from ps4pro_blender.field.occupancy import OccupancyGrid
from ps4pro_blender.field.config import TrainConfig
from ps4pro_blender.field.trainer import PixelStore, Trainer

from conftest import REPO
from synthetic_dataset import H, W, make

TINY = dict(res=32, res_start=32, channels=8, hidden=32, grid_res=32, bins=64, samples=16, batch_rays=256,
            eval_every=20, background="alpha")


class Ctx:
    """Enough of cli.Context for in-process runs."""

    class emit:
        warnings = []
        warning = staticmethod(lambda text: Ctx.emit.warnings.append(text))
        status = staticmethod(lambda text: None)

    def progress(self, *a, **k):
        pass

    def check_cancel(self):
        pass


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make(str(tmp_path_factory.mktemp("field") / "data"), n_views=8)


@pytest.fixture(scope="module")
def views(data_dir):
    data = dataset.load(data_dir)
    train, test, _ = R.choose_split(data, Ctx())
    ims, deps = zip(*[V.load_view(f) for f in train])
    tims = [V.load_view(f)[0] for f in test]
    aabb = R.scene_bounds(data, train, deps, Ctx())
    held = R.heldout_pixels(test, tims, "cpu", True, 1024, 0)
    return dict(train=train, ims=ims, deps=deps, aabb=aabb, held=held)


def trainer(views, **cfg):
    torch.use_deterministic_algorithms(True)
    t = Trainer(TrainConfig(**dict(TINY, aabb=views["aabb"].tolist(), **cfg)), PixelStore(views["train"], views["ims"], views["deps"], "cpu"),
                views["held"], "cpu")
    R.occupancy_priors(t, views["train"], views["ims"], views["deps"], Ctx())
    return t


def test_rays_pass_through_the_points_their_pixels_see(data_dir):
    frame = dataset.load(data_dir).frames[1]
    depth = depth_io.read_depth(frame.depth_path)
    py, px = np.argwhere(depth_io.valid_mask(depth))[[0, 100, -1]].T
    world = fusion.backproject(frame, depth)[py, px]  # the dataset's own projection convention
    o, d, zs = sampler.pixel_rays(torch.tensor(frame.c2w, dtype=torch.float64), frame.fx, frame.fy, frame.cx, frame.cy,
                                  torch.tensor(px), torch.tensor(py))
    t = torch.tensor(depth[py, px], dtype=torch.float64) / zs  # planar depth -> distance along the ray
    assert np.allclose((o + d * t[:, None]).numpy(), world, atol=1e-6)
    # And projecting the point back lands on the same pixel centre (+0.5) at the same depth.
    u, v, z = sampler.project(frame, world)
    assert np.allclose(u, px + 0.5) and np.allclose(v, py + 0.5) and np.allclose(z, depth[py, px], atol=1e-5)


def test_views_render_anti_aliased_from_rays_inside_each_pixel(data_dir, views):
    from ps4pro_blender.field import evaluate

    frame = dataset.load(data_dir).frames[0]
    # An offset ray passes through that point of its pixel.
    o, d, _ = sampler.frame_rays(frame, "cpu", torch.float64, offset=(0.25, -0.25))
    cam = np.linalg.inv(frame.c2w) @ np.c_[(o + 2.0 * d).numpy(), np.ones(len(o))].T
    u, v = frame.fx * cam[0] / -cam[2] + frame.cx, -frame.fy * cam[1] / -cam[2] + frame.cy
    py, px = np.mgrid[0:frame.h, 0:frame.w]
    assert np.allclose(u, px.ravel() + 0.75) and np.allclose(v, py.ravel() + 0.25)
    # A 2 x 2 render is the mean of the four quarter-pixel renders.
    t = trainer(views)
    t.run(None, steps=20)
    model = t.model.eval()
    full = evaluate.render_frame(model, frame, "cpu", supersample=2)
    parts = []
    for dy in (-0.25, 0.25):
        for dx in (-0.25, 0.25):
            o, d, zs = sampler.frame_rays(frame, "cpu", offset=(dx, dy))
            with torch.no_grad():
                parts.append(model.render_rays(o, d, zs)["rgb"].clamp(0, 1).numpy().reshape(frame.h, frame.w, 3))
    assert np.allclose(full["rgb"], np.mean(parts, 0), atol=1e-5)
    centre = evaluate.render_frame(model, frame, "cpu", supersample=1)["rgb"]
    assert not np.allclose(full["rgb"], centre, atol=1e-3)  # edges differ: the average is not the centre ray
    assert full["opacity"].shape == (frame.h, frame.w) and np.isfinite(full["depth"][full["opacity"] > 0.5]).all()


def test_slab_renders_analytic_opacity_and_depth():
    sigma, z0, z1 = 5.0, 0.4, 0.6  # a slab 0.2 thick, seen from z = 2 looking down -Z
    aabb = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])
    grid = OccupancyGrid(aabb, 40)
    centres = grid.centres(torch.arange(40 ** 3)).view(40, 40, 40, 3)
    grid.restrict((centres[..., 2] > z0) & (centres[..., 2] < z1), dilate=0)
    o, d = torch.tensor([[0.1, 0.2, 2.0]]), torch.tensor([[0.0, 0.0, -1.0]])
    near, far, hit = sampler.intersect_aabb(o, d, aabb)
    assert hit.all() and abs(float(near) - 1.0) < 1e-6 and abs(float(far) - 3.0) < 1e-6
    t, step, active = sampler.occupied_samples(o, d, near, far, grid, 400, 2000)
    z = 2.0 - t
    assert active.all() and float(z.min()) > z0 - 1e-6 and float(z.max()) < z1 + 1e-6  # only in occupied space
    assert abs(float(step) * 2000 - (z1 - z0)) < 1e-5
    w = render.composite_weights(torch.full_like(t, sigma), step[:, None])
    _, opacity, dist = render.accumulate(w, torch.ones(1, 2000, 3), t)
    L = z1 - z0
    assert abs(float(opacity) - (1 - math.exp(-sigma * L))) < 1e-4
    expected = (2.0 - z1) + 1 / sigma - L * math.exp(-sigma * L) / (1 - math.exp(-sigma * L))
    assert abs(float(dist) - expected) < 1e-3


def test_stop_depth_is_where_the_ray_is_blocked():
    """Where a ray has lost 99% of its light: what hides the surfaces behind it from the camera."""
    sigma, z0, z1 = 50.0, 0.4, 0.6
    model = FieldModel(TrainConfig(aabb=[[-1, -1, -1], [1, 1, 1]], res=8, grid_res=40, samples=2000, bins=400,
                                   background="alpha").model_config())
    model.field.forward = lambda x, d: (sigma * ((x[:, 2] > z0) & (x[:, 2] < z1)).float(), torch.ones(len(x), 3))
    o, d = torch.tensor([[0.1, 0.2, 2.0], [0.9, 0.9, 2.0]]), torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    out = model.render_rays(o, d, torch.ones(2), bg=torch.zeros(2, 3), stop_opacity=0.99)
    assert abs(float(out["stop_depth"][0]) - ((2.0 - z1) + math.log(100) / sigma)) < 2e-3
    thin = model.render_rays(o, d, torch.ones(2), bg=torch.zeros(2, 3), stop_opacity=1.0 - math.exp(-sigma * 0.3))
    assert torch.isinf(thin["stop_depth"]).all()  # the slab never blocks that much: nothing hidden behind it


def test_training_raises_heldout_psnr(views):
    t = trainer(views)
    start = t.heldout_psnr()
    summary = t.run(None, steps=60)
    assert summary["steps"] == 60 and math.isfinite(summary["loss"])
    assert summary["heldout_psnr"] > start + 8, (start, t.history)


def test_deterministic_and_resume_continues_at_the_saved_step(views, tmp_path):
    ck = str(tmp_path / "checkpoint.pt")
    a = trainer(views, ckpt_every=8)
    a.run(None, steps=12, checkpoint_path=ck)  # leaves the step-8 checkpoint behind
    b = trainer(views)
    b.run(None, steps=12)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k  # same seed, same weights
    c = trainer(views)
    c.load(ck)
    assert c.step == 8
    c.run(None, steps=12)
    assert c.step == 12
    for (k, va), vc in zip(a.model.state_dict().items(), c.model.state_dict().values()):
        assert torch.equal(va, vc), k  # resumed == uninterrupted


def test_spherical_harmonics_are_orthonormal_up_to_degree_4():
    from ps4pro_blender.field.triplane import sh_encode

    gen = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(400_000, 3, generator=gen, dtype=torch.float64), dim=-1)
    for degree, size in ((2, 9), (4, 25)):
        y = sh_encode(d, degree)
        gram = 4 * math.pi * (y.t() @ y) / len(d)  # Monte Carlo integral over the sphere
        assert y.shape[1] == size and torch.allclose(gram, torch.eye(size, dtype=torch.float64), atol=0.02)


def test_sh_degrees_train_do_not_mix_and_older_checkpoints_read_as_degree_2(views, tmp_path):
    from ps4pro_blender.field import model as M

    for degree in (4, 2):  # 4, the default, and 2, the lighter choice
        t = trainer(views, sh_degree=degree)
        start = t.heldout_psnr()
        t.run(None, steps=40)
        assert t.last_psnr > start + 5
        t.save(str(tmp_path / f"deg{degree}.pt"))
        assert M.load(str(tmp_path / f"deg{degree}.pt"))[0].field.config["sh_degree"] == degree
    # A checkpoint of one degree does not resume into a run of the other.
    with pytest.raises(protocol.JobError, match="sh_degree"):
        trainer(views, sh_degree=2).load(str(tmp_path / "deg4.pt"))
    # Checkpoints written before sh_degree existed have no such key: they are degree 2.
    old = trainer(views, sh_degree=2)
    ck = old.state()
    del ck["config"]["sh_degree"], ck["train"]["sh_degree"]
    torch.save(ck, tmp_path / "old.pt")
    model, _ = M.load(str(tmp_path / "old.pt"))
    assert model.field.config["sh_degree"] == 2
    trainer(views, sh_degree=2).load(str(tmp_path / "old.pt"))


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(views, tmp_path):
    ck = str(tmp_path / "checkpoint.pt")
    t = trainer(views, ckpt_every=4)
    t.run(None, steps=4, checkpoint_path=ck)
    t.cfg.ckpt_every = 0
    with torch.no_grad():
        t.model.field.density_net[0].weight.fill_(float("nan"))
    with pytest.raises(protocol.JobError, match="diverged.*step 4"):
        t.run(None, steps=8, checkpoint_path=ck)
    good = trainer(views)
    good.load(ck)
    assert good.step == 4 and all(torch.isfinite(v).all() for v in good.model.state_dict().values() if v.is_floating_point())


def test_sphere_mesh_lies_within_a_voxel_and_small_pieces_go():
    aabb = np.array([[-1.0, -1, -1], [1, 1, 1]])
    blob = torch.tensor([0.8, 0.8, 0.8])

    def density(x):  # a sphere of radius 0.5 (iso 5) and a speck far from it
        return 50 * (0.6 - x.norm(dim=-1)) + 1e3 * ((x - blob).norm(dim=-1) < 0.06)

    res = 48
    vol = export.density_grid(density, aabb, res)
    verts, faces, normals = export.marching_cubes(vol, aabb, 5.0)
    verts, faces, normals = export.remove_small_components(verts, faces, normals)
    voxel = 2.0 / (res - 1)
    r = np.linalg.norm(verts, axis=1)
    assert len(faces) > 1000 and np.abs(r - 0.5).max() < voxel
    a, b, c = (verts[faces[:, i]] for i in range(3))
    assert np.mean(np.sum(np.cross(b - a, c - a) * a, axis=1) > 0) > 0.99  # outward winding
    assert np.mean(np.sum(normals * verts, axis=1) > 0) > 0.99


def test_mesh_keeps_what_cameras_saw_and_drops_what_hides_under_the_table():
    """Behind every visible surface a field's density is a guess, and must not become geometry."""
    from synthetic_dataset import FX, look_at, plane_depth

    aabb = np.array([[-1.0, -1, -1], [1, 1, 1]])

    def density(x):  # a table top (z in [-0.2, 0]) across the box, and a blob under it
        table = (x[:, 2] > -0.2) & (x[:, 2] < 0.0)
        blob = (x - torch.tensor([0.0, 0.0, -0.6])).norm(dim=-1) < 0.25
        return 1e3 * (table | blob).float()

    res = 48
    verts, faces, normals = export.marching_cubes(export.density_grid(density, aabb, res), aabb, 5.0)
    views = []
    for a in np.linspace(0, 2 * np.pi, 6, endpoint=False):  # cameras above the table; what they see is z = 0
        c2w = look_at((3 * np.cos(a), 3 * np.sin(a), 3.0), (0.0, 0.0, 0.0))
        frame = dataset.Frame("", c2w, FX, FX, W / 2, H / 2, W, H)
        depth = plane_depth(c2w, FX, FX, W / 2, H / 2, W, H)[0].reshape(-1)
        hit = depth < 1e9
        views.append(export.ViewRender(frame, 1, H, W, np.where(hit, depth, np.nan), hit.astype(np.float32),
                                       np.zeros((H * W, 3), np.float32), np.where(hit, depth, np.inf)))
    cell = 2.0 / (res - 1)
    kept, kept_faces, kept_normals = export.cull_unseen(verts, faces, normals, views, tolerance=2 * cell)
    assert len(kept) == len(kept_normals) and kept_faces.max() < len(kept)
    assert (verts[:, 2] < -0.3).any() and not (kept[:, 2] < -0.3).any()  # the blob is gone
    under = lambda v: (v[:, 2] < -0.15) & (np.abs(v[:, :2]) < 0.8).all(1)  # noqa: E731 (the sides are in view)
    assert under(verts).any() and not under(kept).any()  # and the table's underside
    top = (np.abs(verts[:, 2]) < cell) & (np.abs(verts[:, :2]) < 0.5).all(1)
    kept_top = (np.abs(kept[:, 2]) < cell) & (np.abs(kept[:, :2]) < 0.5).all(1)
    assert kept_top.sum() == top.sum() > 100  # every vertex of the top the cameras look at stays


def test_a_cloudy_field_keeps_its_whole_mesh_and_says_so():
    """Views blocked right in front of the camera (floaters) cannot tell what is hidden."""
    from synthetic_dataset import FX, look_at

    model = FieldModel(TrainConfig(aabb=[[-1, -1, -1], [1, 1, 1]], res=8, grid_res=16, background="alpha").model_config())
    ball = lambda x: 50.0 * (0.6 - x.norm(dim=-1))  # noqa: E731 (a sphere of radius 0.5 at iso 5)
    model.field.density = ball
    model.field.forward = lambda x, d: (ball(x), torch.ones(len(x), 3))
    c2w = look_at((3.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    frame = dataset.Frame("", c2w, FX, FX, W / 2, H / 2, W, H)
    blocked = export.ViewRender(frame, 1, H, W, *(np.full(H * W, 0.1, np.float32),) * 2,
                                np.zeros((H * W, 3), np.float32), np.full(H * W, 0.1, np.float32))
    Ctx.emit.warnings.clear()
    whole = export.mesh_from_field(model, "cpu", res=32, level=5.0)
    kept = export.mesh_from_field(model, "cpu", res=32, level=5.0, seen_by=[blocked], ctx=Ctx())
    assert len(whole[2]) > 100 and len(kept[2]) == len(whole[2])
    assert any("see only 0%" in w for w in Ctx.emit.warnings)


def test_confidence_weights_pixels_of_synthetic_views(views):
    frames, images, depths = views["train"], views["ims"], views["deps"]
    confidences = [None] * len(frames)
    confidences[1] = np.zeros((frames[1].h, frames[1].w), np.float32)  # a view whose pixels are all guesses
    store = PixelStore(frames, images, depths, "cpu", confidences)
    first = int(store.offsets[1])
    idx = torch.arange(first - 4, first + 4)  # the last pixels of view 0, the first of view 1
    w = store.rays(idx)[5]
    assert torch.all(w[:4] == 1.0) and torch.all(w[4:] == 0.0)


def test_real_views_keep_their_share_of_each_batch(views):
    """Many synthetic views must not crowd the few real ones out of the batches."""
    import copy

    frames = [copy.copy(f) for f in views["train"]]
    for f in frames[1:]:
        f.extra = dict(f.extra, synthetic=True)
    store = PixelStore(frames, views["ims"], views["deps"], "cpu", real_share=0.25)
    gen = torch.Generator().manual_seed(0)
    idx = torch.cat([store._draw(gen, 4000, store.groups[0]), store._draw(gen, 4000, store.groups[1])])
    frame = torch.searchsorted(store.offsets[1:], idx, right=True)
    assert bool((frame[:4000] == 0).all()) and bool((frame[4000:] > 0).all())
    assert int(idx.max()) < store.count and len(torch.unique(frame[4000:])) == len(frames) - 1
    o, d, zs, rgba, depth, w = store.sample(gen, 400)
    assert o.shape == (400, 3) and w.shape == (400,)
    n_real = int(round(400 * 0.25))
    assert torch.allclose(o[:n_real], store.c2w[0, :3, 3].expand(n_real, 3))  # the first quarter comes from view 0
    assert not torch.allclose(o[n_real:], store.c2w[0, :3, 3].expand(400 - n_real, 3))


def test_synthetic_draws_skip_the_pixels_that_weigh_nothing(views):
    import copy

    frames = [copy.copy(f) for f in views["train"]]
    for f in frames[1:]:
        f.extra = dict(f.extra, synthetic=True)
    confidences = [None] + [np.zeros((f.h, f.w), np.float32) for f in frames[1:]]
    confidences[1][:, : frames[1].w // 2] = 1.0  # view 1: its left half is trusted; the others are all guesses
    store = PixelStore(frames, views["ims"], views["deps"], "cpu", confidences, real_share=0.5)
    w = store.sample(torch.Generator().manual_seed(0), 2000)[5]
    assert bool((w > 0).all())  # no draw is wasted on a zero-confidence pixel
    # With no trusted synthetic pixel at all, every draw is from the real views.
    nothing = [None] + [np.zeros((f.h, f.w), np.float32) for f in frames[1:]]
    store = PixelStore(frames, views["ims"], views["deps"], "cpu", nothing, real_share=0.5)
    o = store.sample(torch.Generator().manual_seed(0), 500)[0]
    assert torch.allclose(o, store.c2w[0, :3, 3].expand(500, 3))


def test_the_real_views_share_grows_to_all_of_the_batch_over_the_budget(views):
    import copy

    frames = [copy.copy(f) for f in views["train"]]
    for f in frames[4:]:
        f.extra = dict(f.extra, synthetic=True)
    t = Trainer(TrainConfig(**dict(TINY, aabb=views["aabb"].tolist())),
                PixelStore(frames, views["ims"], views["deps"], "cpu", real_share=0.5), None, "cpu")
    shares = []
    for fraction in (0.0, 0.5, 1.0):
        t._apply_schedule(fraction)
        shares.append(t.store.real_share)
    assert shares == [0.5, 0.75, 1.0]
    assert t.store.sample(torch.Generator().manual_seed(0), 64)[0].shape == (64, 3)


def test_a_hollow_shell_gives_only_its_outer_surface():
    """What a field learns of an object is a shell: its inner side must not become a second surface."""
    aabb = np.array([[-1.0, -1, -1], [1, 1, 1]])

    def shell(x):  # dense between radius 0.4 and 0.5, empty inside and out
        r = x.norm(dim=-1)
        return 50.0 * ((r > 0.4) & (r < 0.5))

    res = 48
    vol = export.density_grid(shell, aabb, res)
    verts, faces, _ = export.marching_cubes(export.fill_interior(vol, 5.0), aabb, 5.0)
    r = np.linalg.norm(verts, axis=1)
    assert len(faces) > 500 and np.abs(r - 0.5).max() < 2.0 / (res - 1) * 1.5
    hollow, _, _ = export.marching_cubes(vol, aabb, 5.0)
    assert (np.linalg.norm(hollow, axis=1) < 0.45).any()  # without the fill, the inner side shows


def test_zero_test_views_make_a_split_without_leaks(data_dir, tmp_path):
    meta = json.load(open(os.path.join(data_dir, "transforms.json")))
    for f in meta["frames"]:
        f["split"] = "train"
    meta["frames"].append(dict(meta["frames"][4], synthetic=True, source=[meta["frames"][4]["file_path"]]))
    path = os.path.join(data_dir, "no_test_views.json")  # beside the images: a dataset reads only its own folder
    json.dump(meta, open(path, "w"))
    ctx = Ctx()
    ctx.emit.warnings.clear()
    data = dataset.load(path)
    train, test, note = R.choose_split(data, ctx)
    assert len(test) == 1 and note and ctx.emit.warnings
    assert test[0].image_path not in {f.image_path for f in train}
    assert not any(f.extra.get("synthetic") for f in train)  # the synthetic view made from it is dropped


def test_bad_images_are_clear_errors(data_dir):
    frame = dataset.load(data_dir).frames[0]
    frame.w += 1
    with pytest.raises(protocol.JobError, match="transforms.json says"):
        V.load_view(frame)
    frame.image_path += ".missing.png"
    with pytest.raises(protocol.JobError, match="Missing image"):
        V.load_view(frame)


def _cli(*args, **env):
    return subprocess.Popen([sys.executable, "-m", "ps4pro_blender", "reconstruct", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO), **env))


TINY_ARGS = ["--plane-res", "32", "--grid-res", "32", "--samples", "16", "--batch-rays", "256", "--channels", "8"]


def test_cli_runs_and_cancel_keeps_the_checkpoint(data_dir, tmp_path):
    job = tmp_path / "job"
    out = tmp_path / "out"
    proc = _cli(data_dir, "--out", str(out), "--job", str(job), "--steps", "100000", *TINY_ARGS, PS4PRO_STEP_DELAY="0.05")
    job.mkdir()
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # wait until training is under way
        msg = protocol.decode(line)
        if msg and msg.kind == "progress" and msg.get("stage") == "Training" and msg.get("done") >= 10:
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == protocol.EXIT_CANCELLED, err
    assert not (job / "result.json").exists() and not (out / "field.pt").exists()
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["format"] == "ps4pro-field" and ck["step"] >= 10  # saved at the cancel


def test_cli_end_to_end_writes_eval_points_and_mesh(data_dir, tmp_path):
    from ps4pro_blender import ply

    out = tmp_path / "out"
    meta = json.load(open(os.path.join(data_dir, "transforms.json")))
    meta["frames"] = [f for f in meta["frames"] if f["split"] == "test"]  # a camera path: any transforms file
    os.makedirs(tmp_path / "cams")
    path = str(tmp_path / "cams" / "transforms.json")
    json.dump(meta, open(path, "w"))
    proc = _cli(data_dir, "--out", str(out), "--steps", "40", "--mesh-res", "48", "--render-path", path, *TINY_ARGS)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result = protocol.decode(stdout.splitlines()[-2]).get("result")
    report = json.load(open(result["eval"]))
    assert report["views"] and all(os.path.exists(v["image"]) for v in report["views"])
    assert result["psnr"] == report["psnr"] and 0 < report["ssim"] <= 1
    cloud = ply.read_ply(result["points"])
    assert result["num_points"] == len(cloud.points) > 0 and "opacity" in cloud.extra
    assert ply.read_ply(result["mesh"]).faces is not None
    # Novel views along the given cameras: one RGBA image per camera, at the camera's size.
    cams = json.load(open(path))["frames"]
    assert len(result["renders"]) == len(cams) > 0
    for render, cam in zip(result["renders"], cams):
        with Image.open(render) as im:
            assert im.mode == "RGBA" and im.size == (cam.get("w", W), cam.get("h", H))


# ----------------------------------------------------------------------------- checkpoints, schedule


def test_a_nan_anywhere_never_overwrites_the_last_good_checkpoint(views, tmp_path):
    ck = tmp_path / "checkpoint.pt"
    t = trainer(views)
    t.run(None, steps=2)
    t.save(str(ck))
    good = ck.read_bytes()
    with torch.no_grad():
        t.model.field.color_net[2].weight[0, 0] = float("nan")  # the planes stay finite
    with pytest.raises(protocol.JobError, match="color_net.2.weight is not finite"):
        t.save(str(ck))
    assert ck.read_bytes() == good
    with torch.no_grad():
        t.model.field.color_net[2].weight[0, 0] = 0.0
        t.opt.state[t.model.field.planes]["exp_avg"][0, 0, 0, 0] = float("inf")  # a resume would inherit it
    with pytest.raises(protocol.JobError, match="optimizer state of exp_avg"):
        t.save(str(ck))
    assert ck.read_bytes() == good


def test_resolution_schedule_doubles_up_to_the_final_resolution():
    from ps4pro_blender.field.trainer import resolution_at, resolution_schedule

    cfg = TrainConfig(res=128, res_start=32, coarse_to_fine_until=0.3)
    assert resolution_schedule(cfg) == [(0.0, 32), (0.15, 64), (0.3, 128)]
    assert [resolution_at(cfg, f) for f in (0.0, 0.149, 0.15, 0.29, 0.3, 1.0)] == [32, 32, 64, 64, 128, 128]
    assert resolution_schedule(TrainConfig(res=128, res_start=128)) == [(0.0, 128)]
    assert resolution_schedule(TrainConfig(res=96, res_start=20)) == [(0.0, 24), (0.15, 48), (0.3, 96)]


@pytest.mark.parametrize("levels", [1, 3])
def test_upsampling_keeps_the_field_and_resizes_adams_moments(views, levels):
    t = trainer(views, res_start=16, coarse_to_fine_until=10.0, levels=levels)  # stays at 16 for the whole run
    t.run(None, steps=10)
    assert t.model.field.res == 16
    lo, hi = (torch.tensor(b, dtype=torch.float32) for b in views["aabb"])
    x = lo + torch.rand(2000, 3, generator=torch.Generator().manual_seed(0)) * (hi - lo)
    with torch.no_grad():
        f0, s0 = t.model.field.features(x), t.model.field.density(x)
    t._upsample(32)
    planes = t.model.field.planes
    with torch.no_grad():
        f1, s1 = t.model.field.features(x), t.model.field.density(x)
    assert planes.shape[-2:] == (32, 32)
    assert [p.shape[-1] for p in t.model.field.levels()] == [32, 16, 8][:levels]  # each level halves the one before
    assert f1.shape[1] == 3 * t.cfg.channels * levels
    assert float((f1 - f0).abs().mean()) < 0.1 * float(f0.std())  # (nearly) the same function
    assert float(((s1 - s0).abs() / s0).median()) < 0.02
    for level in t.model.field.levels():
        state = t.opt.state[level]
        assert state["exp_avg"].shape == state["exp_avg_sq"].shape == level.shape
        assert any(p is level for g in t.opt.param_groups for p in g["params"])
    assert len(t.opt.state) == sum(len(g["params"]) for g in t.opt.param_groups)  # the old planes' state is gone
    t.run(None, steps=12)  # training goes on at the new size, though the schedule still says 16: never shrink
    assert t.step == 12 and t.model.field.res == 32


@pytest.mark.parametrize("levels", [1, 2])
def test_a_resume_across_an_upsample_continues_exactly(views, tmp_path, levels):
    from ps4pro_blender.cli import Cancelled

    class StopAt4(Ctx):
        def check_cancel(self):
            if t.step == 4:
                raise Cancelled()

    ck = str(tmp_path / "checkpoint.pt")
    cfg = dict(res_start=16, coarse_to_fine_until=0.5, eval_every=0, levels=levels)  # 16 until step 6 of 12, then 32
    t = trainer(views, **cfg)
    with pytest.raises(Cancelled):
        t.run(StopAt4(), steps=12, checkpoint_path=ck)  # saved at the cancel, still at 16
    whole = trainer(views, **cfg)
    whole.run(None, steps=12)
    resumed = trainer(views, **cfg)
    resumed.load(ck)
    assert resumed.step == 4 and resumed.model.field.res == 16
    resumed.run(None, steps=12)
    assert resumed.model.field.res == whole.model.field.res == 32
    for (k, va), vb in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(va.float(), vb.float(), atol=1e-6), k


# ----------------------------------------------------------------------------- background, depth, weights


def test_background_is_alpha_for_transparent_images_and_env_for_opaque_ones():
    opaque = np.ones((6, 8, 4), np.float32)
    cutout = opaque.copy()
    cutout[:2, :, 3] = 0.0
    assert R.detect_background([opaque, opaque]) == "env"
    assert R.detect_background([opaque, cutout]) == "alpha"


def test_env_background_learns_the_colour_around_an_opaque_capture(views):
    sky = np.array([0.2, 0.5, 0.9], np.float32)
    opaque = [np.dstack([im[..., :3] * im[..., 3:] + sky * (1 - im[..., 3:]), np.ones(im.shape[:2], np.float32)])
              for im in views["ims"]]
    assert R.detect_background(opaque) == "env"
    torch.use_deterministic_algorithms(True)
    t = Trainer(TrainConfig(**dict(TINY, aabb=views["aabb"].tolist(), background="env", env_res=8)),
                PixelStore(views["train"], opaque, views["deps"], "cpu"), None, "cpu")
    R.occupancy_priors(t, views["train"], opaque, views["deps"], Ctx())
    _, d, _, _, depth, _ = t.store.sample(torch.Generator().manual_seed(1), 2048)
    d = d[~torch.isfinite(depth)]  # rays that miss the plane: they see only the environment
    with torch.no_grad():
        start = t.model.background.env(d)
    summary = t.run(None, steps=60)
    with torch.no_grad():
        end = t.model.background.env(d)
    assert math.isfinite(summary["loss"]) and len(d) > 100 and torch.allclose(start, torch.full_like(start, 0.5))
    # Adam moves the texture at most about lr per step: the colour heads for the sky's, and is
    # well on its way (red down from 0.5 towards 0.2, blue up towards 0.9, green stays).
    red, green, blue = end.mean(0).tolist()
    assert red < 0.42 and blue > 0.58 and abs(green - 0.5) < 0.05, (red, green, blue)


def _depth_error(views, depth_loss):
    # No occupancy priors: the depth loss is then what tells the field where the surface is.
    torch.use_deterministic_algorithms(True)
    t = Trainer(TrainConfig(**TINY, aabb=views["aabb"].tolist(), depth_loss=depth_loss),
                PixelStore(views["train"], views["ims"], views["deps"], "cpu"), None, "cpu")
    t.run(None, steps=40)
    o, d, zs, _, depth, _ = t.store.sample(torch.Generator().manual_seed(1), 4096)
    with torch.no_grad():
        pred = t.model.render_rays(o, d, zs)["depth"]
    valid = torch.isfinite(depth) & (depth < 1e9)
    return float(torch.nan_to_num((pred[valid] - depth[valid]).abs(), nan=10.0).mean())


def test_depth_loss_pulls_rendered_depth_onto_the_captured_depth(views):
    without, with_ = _depth_error(views, 0.0), _depth_error(views, 0.1)
    assert with_ < 0.5 * without, (with_, without)


def test_frame_weight_halves_synthetic_views_unless_a_weight_is_given():
    from ps4pro_blender.field.trainer import frame_weight

    def frame(**extra):
        return dataset.Frame("", np.eye(4), 1.0, 1.0, 1, 1, 2, 2, extra=extra)

    assert frame_weight(frame()) == 1.0
    assert frame_weight(frame(synthetic=True)) == 0.5
    assert frame_weight(frame(synthetic=True, weight=0.2)) == 0.2
    assert frame_weight(frame(weight=2)) == 2.0


# ----------------------------------------------------------------------------- the job: out of memory, cancel


class RunCtx(Ctx):
    job_dir = None

    def torch_device(self):
        return torch.device("cpu")


def _args(data_dir, out, *more):
    from ps4pro_blender.cli import parse

    _, config, _ = parse(R.COMMAND, [data_dir, "--out", str(out), "--steps", "2", *TINY_ARGS, "--mesh-res", "16",
                                     "--supersample", "1", *more])
    return config


@pytest.mark.parametrize("module, name, where", [("trainer", "PixelStore", "moving the training views to cpu"),
                                                 ("export", "mesh_from_field", "exporting the mesh")])
def test_out_of_gpu_memory_anywhere_is_a_clear_error(data_dir, tmp_path, monkeypatch, module, name, where):
    import importlib

    def out_of_memory(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(importlib.import_module(f"ps4pro_blender.field.{module}"), name, out_of_memory)
    with pytest.raises(protocol.JobError, match=f"Out of GPU memory while {where}") as err:
        R.run(RunCtx(), _args(data_dir, tmp_path / "out"))
    assert "--batch-rays" in err.value.hint and "--mesh-res" in err.value.hint and "--device CPU" in err.value.hint
    assert not (tmp_path / "out" / "field.pt").exists()


def test_a_cancel_after_training_keeps_the_checkpoint_and_publishes_nothing(data_dir, tmp_path):
    from ps4pro_blender.cli import Cancelled

    class CancelAt(RunCtx):
        stage = "Evaluating"

        def progress(self, stage, done, total, **metrics):
            if stage == self.stage:
                raise Cancelled()

    out = tmp_path / "out"
    (out / "eval").mkdir(parents=True)
    (out / "field.pt").write_bytes(b"an earlier run's field")
    (out / "eval" / "999_old.png").write_bytes(b"an earlier run's image")
    for stage in ("Evaluating", "Exporting mesh"):
        ctx = CancelAt()
        ctx.stage = stage
        with pytest.raises(Cancelled):
            R.run(ctx, _args(data_dir, out))
        assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 2
        assert (out / "field.pt").read_bytes() == b"an earlier run's field"  # not replaced by a half-done run
        assert not (out / "eval.json").exists() and not (out / "points.ply").exists()
        assert os.listdir(out / "eval") == ["999_old.png"] and not (out / R.PARTIAL).exists()
    # Finished, everything is published at once, and eval/ holds this run's images only.
    result = R.run(RunCtx(), _args(data_dir, out))
    assert result["field"] == str(out / "field.pt") and result["mesh"] == str(out / "mesh.ply")
    report = json.load(open(out / "eval.json"))
    assert sorted(os.listdir(out)) == sorted(["checkpoint.pt", "eval", "eval.json", "field.pt", "mesh.ply", "points.ply",
                                           "splats.ply"])
    images = sorted(os.path.join(out, "eval", n) for n in os.listdir(out / "eval"))
    assert images == sorted(v["image"] for v in report["views"]) and len(images) == report["test_views"] > 0
    assert torch.load(out / "field.pt", weights_only=True)["step"] == 2


def test_a_resumed_run_goes_on_with_the_options_it_started_with(data_dir, tmp_path):
    """--resume takes what the model is made of and how it learns from the checkpoint (a user
    resuming from the panel need not repeat them); an option given again wins."""
    from ps4pro_blender.cli import parse

    out = tmp_path / "out"
    R.run(RunCtx(), _args(data_dir, out, "--lr", "0.02", "--seed", "3", "--no-export"))
    ckpt = str(out / "checkpoint.pt")
    assert torch.load(ckpt, weights_only=True)["command_config"]["lr"] == 0.02

    _, config, notes = parse(R.COMMAND, [data_dir, "--out", str(out), "--resume", ckpt, "--steps", "4",
                                         "--no-export", "--mesh-res", "16", "--supersample", "1"])
    assert (config.plane_res, config.channels, config.grid_res, config.samples, config.batch_rays) == (32, 8, 32, 16, 256)
    assert (config.lr, config.seed, config.steps) == (0.02, 3, 4)  # kept, kept, and the new budget
    assert notes and "--channels 8" in notes[0] and "--lr 0.02" in notes[0]
    result = R.run(RunCtx(), config)  # without the recorded channels this would be refused as a mismatch
    assert result["steps"] == 4

    _, given, _ = parse(R.COMMAND, [data_dir, "--out", str(out), "--resume", ckpt, "--lr", "0.005"])
    assert given.lr == 0.005 and given.channels == 8


def test_splats_are_the_field_as_3dgs_gaussians_that_read_back(tmp_path):
    """splats.ply in the 3DGS layout: discs in the surface (normal from the density), the field's
    own view-dependent colour in the SH coefficients, logit opacity, log scales, unit quaternions."""
    from ps4pro_blender import ply
    from ps4pro_blender.field import splats

    model = FieldModel(TrainConfig(aabb=[[-1, -1, -1], [1, 1, 1]], res=8, grid_res=16).model_config())
    ball = lambda x: torch.exp(50.0 * (0.5 - x.norm(dim=-1)))  # noqa: E731 (density rises into a sphere of radius 0.5)
    model.field.density = ball
    model.field._density = lambda x: (ball(x), x)  # "geometry features": the point itself
    # Colour: red rises as the view turns towards +x, blue is constant (sh_encode's band 3 is -0.4886 x).

    class Colour(torch.nn.Module):
        def forward(self, f):
            return torch.stack([-4.0 * f[:, 3 + 3], torch.zeros(len(f)), torch.full((len(f),), 1.0)], -1)

    model.field.color_net = Colour()

    pts = splats.fibonacci_sphere(400) * 0.5
    props = splats.gaussians(model, pts, np.full(len(pts), 0.9), spacing=0.01)
    path = tmp_path / "splats.ply"
    splats.write(str(path), props)

    header = path.read_bytes().split(b"end_header")[0].decode()
    names = [line.split()[-1] for line in header.splitlines() if line.startswith("property")]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(45)]
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert names == expected and "property float f_rest_44" in header
    back = ply.read_ply(path)
    got = dict(back.extra, x=back.points[:, 0], y=back.points[:, 1], z=back.points[:, 2])
    assert np.allclose(back.points, pts, atol=1e-6)

    normal = np.stack([got["nx"], got["ny"], got["nz"]], -1)
    assert (np.sum(normal * pts / 0.5, -1) > 0.999).all()  # outward, from the density's gradient
    w, x, y, z = (got[f"rot_{k}"].astype(np.float64) for k in range(4))
    assert np.allclose(w * w + x * x + y * y + z * z, 1.0, atol=1e-5)
    rotated_z = np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], -1)
    assert np.allclose(rotated_z, normal, atol=1e-4)  # the disc's thin axis is the normal
    assert np.allclose(1 / (1 + np.exp(-got["opacity"])), 0.9, atol=1e-5)
    assert np.allclose(np.exp(got["scale_0"]), splats.WIDTH * 0.01, rtol=1e-5)
    assert np.allclose(np.exp(got["scale_2"]), splats.WIDTH * splats.THICKNESS * 0.01, rtol=1e-5)

    # What a 3DGS viewer shows, seen head-on from a few directions, is the field's own colour.
    for direction in ([-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.6, -0.8]):
        d = np.asarray(direction) / np.linalg.norm(direction)
        front = np.sum(normal * d, -1) < -0.3  # points on the side that faces this camera
        shown = splats.colour_at(got, d)[front]
        dt = torch.as_tensor(d, dtype=torch.float32).expand(int(front.sum()), 3)
        from ps4pro_blender.field.triplane import sh_encode

        feats = torch.cat([torch.as_tensor(pts[front], dtype=torch.float32), sh_encode(dt, 4)], -1)
        truth = torch.sigmoid(model.field.color_net(feats)).numpy()
        assert front.sum() > 50 and np.abs(shown - truth).max() < 0.02, np.abs(shown - truth).max()


def _rendered_both_ways(t, switch: str, values, seed: int, rays: int, stop_opacity: float):
    """The same training rays rendered without gradients once per value of the model's ``switch``."""
    o, d, zs, _, _, _ = t.store.sample(torch.Generator().manual_seed(seed), rays)
    out = []
    with torch.no_grad():
        for value in values:
            setattr(t.model, switch, value)
            out.append(t.model.render_rays(o, d, zs, stop_opacity=stop_opacity))
    return out


def test_the_gpu_way_of_marching_renders_what_the_cpu_way_does(views):
    """Without compaction (every ray marched, no host sync: how a GPU runs) the render is the same
    as with it (only the rays that meet occupied space: how the CPU runs), probe and all."""
    t = trainer(views, probe=16)
    t.run(None, steps=30)
    a, b = _rendered_both_ways(t, "compact", (True, False), seed=3, rays=512, stop_opacity=0.99)
    for key in ("rgb", "opacity", "stop_depth"):
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert torch.equal(torch.isnan(a["depth"]), torch.isnan(b["depth"]))
    assert int(a["samples"]) == int(b["samples"]) > 0


def test_the_probe_puts_samples_only_where_the_ray_still_sees(views):
    """With the probe, no trained sample lies behind the point where the ray's light is gone."""
    from ps4pro_blender.field import sampler

    t = trainer(views, probe=32)
    t.run(None, steps=60)
    m = t.model
    o, d, zs, _, _, _ = t.store.sample(torch.Generator().manual_seed(5), 1024)
    with torch.no_grad():
        near, far, hit = sampler.intersect_aabb(o, d, m.field.aabb)
        bins = sampler.occupied_bins(o, d, near, far, m.grid, m.bins)
        tp, step, active = sampler.place_samples(bins, m.probe)
        active &= hit
        sigma = m.field.density((o[:, None] + d[:, None] * tp[..., None]).reshape(-1, 3)).view(tp.shape)
        end = sampler.visible_end(tp, step, sigma, far)
        t2, _, _ = sampler.place_samples(bins, m.samples, end=end)
    blocked = active & (end < far - 1e-6)
    assert int(blocked.sum()) > 20  # the plane blocks many rays
    assert (t2[blocked] <= end[blocked, None] + 1e-5).all()
    assert (bins.occupied_before(end) <= bins.cdf[:, -1] + 1e-6).all()


@pytest.mark.parametrize("probe", [0, 16])
def test_early_ray_termination_renders_what_every_sample_does(views, probe):
    """Renders without gradients march front to back and stop where the light is gone: the same
    colour, opacity, depth and blocking depth as marching every sample (what training does)."""
    t = trainer(views, probe=probe)
    t.run(None, steps=60)
    full, fast = _rendered_both_ways(t, "early_stop", (False, True), seed=7, rays=2048, stop_opacity=0.5)
    assert float(full["opacity"].max()) > 0.99  # rays that saturate: the early stop has work to skip
    for key in ("rgb", "opacity"):
        assert torch.allclose(full[key], fast[key], atol=2e-4), (key, float((full[key] - fast[key]).abs().max()))
    seen = full["opacity"] > 0.01
    assert torch.allclose(full["depth"][seen], fast["depth"][seen], atol=1e-3)
    assert torch.equal(torch.isinf(full["stop_depth"]), torch.isinf(fast["stop_depth"]))
    finite = torch.isfinite(full["stop_depth"])
    assert torch.allclose(full["stop_depth"][finite], fast["stop_depth"][finite], atol=1e-5)


@pytest.mark.parametrize("res", [16, 128, 300])
def test_occupancy_along_rays_is_exact_and_agrees_with_the_point_lookup(res):
    """The per-bin lookup counts cells in floating point (float32 up to 256^3 cells, float64 above)
    and indexes with int32: exactly the cells of the plain int64 computation, and (but for points
    within rounding of a cell boundary) what the point lookup says at the bins' centres."""
    gen = torch.Generator().manual_seed(res)
    grid = OccupancyGrid(torch.tensor([[-1.0, -2, -1], [1, 1, 3]]), res)
    grid.mask.copy_(torch.rand(grid.mask.shape, generator=gen) < 0.3)
    o = torch.rand(512, 3, generator=gen) * 6 - 3
    d = torch.nn.functional.normalize(torch.randn(512, 3, generator=gen), dim=-1)
    near, far, hit = sampler.intersect_aabb(o, d, grid.aabb)
    o, d, near, far = o[hit], d[hit], near[hit], far[hit]
    n = 61  # not a divisor of the cells: bin centres of a ray from face to face fall inside cells
    width = (far - near) / n
    along = grid.lookup_along(o, d, near, width, n)
    scale = res / (grid.aabb[1] - grid.aabb[0])
    first = (o + d * (near + 0.5 * width)[:, None] - grid.aabb[0]) * scale
    cells = torch.addcmul(first[:, None], (d * (width[:, None] * scale))[:, None],
                          torch.arange(n, dtype=torch.float32)[None, :, None])
    ijk = cells.clamp(0, res - 1).long()
    reference = grid.mask[ijk[..., 0], ijk[..., 1], ijk[..., 2]]
    assert along.shape == reference.shape and len(o) > 100
    assert torch.equal(along, reference)
    t = near[:, None] + (torch.arange(n)[None] + 0.5) * width[:, None]
    points = grid.lookup((o[:, None] + d[:, None] * t[..., None]).reshape(-1, 3)).view(-1, n)
    assert (along != points).float().mean() < 1e-3


def test_depth_says_what_is_opaque_and_what_is_empty():
    # Three rays: one met a surface at depth 2 (rendered half opaque), one saw the world behind
    # the scene (+inf, rendered 30% opaque), one has no depth (NaN: it says nothing).
    from ps4pro_blender.field import losses

    out = {"depth": torch.tensor([2.5, float("nan"), 5.0]), "opacity": torch.tensor([0.5, 0.3, 0.9])}
    depth = torch.tensor([2.0, float("inf"), float("nan")])
    assert losses.depth_loss(out, depth, torch.ones(3), scene_scale=1.0).item() == pytest.approx(0.5)
    assert losses.coverage_loss(out, depth, torch.ones(3)).item() == pytest.approx(0.5 + 0.3)  # transparency + fog


def test_views_read_the_world_behind_the_scene_as_infinitely_far(tmp_path):
    # Blender's depth pass gives the world 1e10: no surface, not "unknown" (which stays NaN).
    from synthetic_dataset import make as make_data

    folder = make_data(str(tmp_path / "d"), n_views=2)
    f = dataset.load(folder).frames[0]
    depth = V.load_view(f)[1]
    raw = depth_io.read_frame_depth(f)
    assert np.array_equal(np.isposinf(depth), raw >= depth_io.BACKGROUND) and np.isposinf(depth).any()
    assert np.isfinite(depth[raw < depth_io.BACKGROUND]).all()


def test_depth_carves_the_space_in_front_of_each_surface():
    g = OccupancyGrid([[-1, -1, -1], [1, 1, 1]], 32)
    c2w = np.eye(4)
    c2w[2, 3] = 3.0  # looking down -Z at a plane z = 0 (planar depth 3)
    depth = np.full((64, 64), 3.0, np.float32)
    depth[:, :24] = np.inf  # these pixels saw nothing: their rays are empty the whole way
    depth[:20, :] = np.nan  # these say nothing
    empty = g.carve_depth(c2w, 64.0, 64.0, 32.0, 32.0, depth)
    z = (torch.arange(32) + 0.5) / 16 - 1  # cell centres
    column = empty[16, 16]  # the cells above the image centre
    assert column[z > 2 * 2 / 32 + 1e-6].all() and not column[z < 2 * 2 / 32].any()  # a 2-cell margin
    assert empty[0, 16].all()  # the cells at x = -1 project onto +inf pixels, even those under the plane
    assert not empty[16, 31].any()  # the cells at y = +1 project onto the top rows: NaN, nothing carved


def test_the_environment_fills_what_no_training_ray_showed():
    env = render.EnvMap(8)
    with torch.no_grad():
        env.texture[:] = 0.0
        env.texture[0, 0, :4] = 1.0  # the upper half: red-ish where seen
    # Rays towards the upper hemisphere, each fully transparent: only those texels count as seen.
    d = torch.nn.functional.normalize(torch.randn(20000, 3), dim=-1)
    d = d[d[:, 2] > 0.05]
    env.record_seen(d, torch.ones(len(d)))
    seen = env.seen >= 1.0
    assert seen[:3].all() and not seen[4:].any()
    before = env.texture.detach().clone()
    filled = env.fill_unseen(seen)
    assert filled == int((~seen).sum())
    assert torch.equal(env.texture[0, :, seen], before[0, :, seen])  # seen texels keep what they learned
    assert torch.allclose(env.texture[0, 0, 4:], torch.ones(4, 16))  # the rest takes the seen colour

