"""What only a GPU can show (skipped without CUDA; ``bench/gpu_check.sh`` runs these on one):
a training step never waits for the device, and the GPU trains to the same place as the CPU."""

import numpy as np
import pytest
import torch

from ps4pro_blender import dataset
from ps4pro_blender import reconstruct as R
from ps4pro_blender import views as V
from ps4pro_blender.field.config import TrainConfig
from ps4pro_blender.field.trainer import PixelStore, Trainer

from synthetic_dataset import make

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class Ctx:
    class emit:
        warning = staticmethod(lambda text: None)
        status = staticmethod(lambda text: None)

    def progress(self, *a, **k):
        pass

    def check_cancel(self):
        pass


def _trainer(tmp_path, device, **cfg):
    data = dataset.load(make(str(tmp_path / "data"), n_views=8))
    train, test, _ = R.choose_split(data, Ctx())
    ims, deps = zip(*[V.load_view(f) for f in train])
    aabb = R.scene_bounds(data, train, deps, Ctx())
    tims = [V.load_view(f)[0] for f in test]
    held = R.heldout_pixels(test, tims, device, True, 1024, 0)
    config = TrainConfig(**dict(dict(res=32, res_start=32, channels=8, hidden=32, grid_res=32, bins=64, samples=16,
                                     probe=16, batch_rays=4096, background="alpha"), aabb=aabb.tolist(), **cfg))
    t = Trainer(config, PixelStore(train, ims, deps, device), held, device)
    R.occupancy_priors(t, train, ims, deps, Ctx())
    return t


def test_a_training_step_never_waits_for_the_gpu(tmp_path):
    t = _trainer(tmp_path, "cuda")
    t.run(None, steps=17)  # past the first occupancy update (every 16 steps), which may wait
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            t.train_step()
            t.step += 1
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert np.isfinite(float(t.train_step()))


def test_the_gpu_trains_a_field_as_good_as_the_cpu(tmp_path):
    gpu = _trainer(tmp_path / "gpu", "cuda")
    cpu = _trainer(tmp_path / "cpu", "cpu")
    for t in (gpu, cpu):
        t.run(None, steps=300)
    assert gpu.heldout_psnr() > cpu.heldout_psnr() - 1.0 > 15.0
