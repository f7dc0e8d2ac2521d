"""The peer a user would pick instead: 3D Gaussian splatting with gsplat, on the same capture, the
same held-out test views and the same wall-clock training budget as ``reconstruct``. CUDA only
(gsplat compiles its kernels on first use; the compile is not counted in the budget).

    python bench/peers/gsplat_peer.py CAPTURE --seconds 60 [--out result.json]

Set-up as in gsplat's own simple trainer: Gaussians start at the capture's depth points (the
same depth the product's occupancy priors use; a splatting user would start from SfM points),
spherical harmonics to degree 3, Adam with its per-parameter learning rates, and gsplat's
``DefaultStrategy`` for densification and pruning; loss 0.8 L1 + 0.2 (1 - SSIM). Transparent
captures: renders and targets are composited over a random colour per step, and evaluated over
white, as ``reconstruct`` does. PSNR/SSIM come from the product's own ``metrics``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ps4pro_blender import dataset as ds  # noqa: E402
from ps4pro_blender import fusion, metrics  # noqa: E402
from ps4pro_blender.views import load_view  # noqa: E402

MAX_INIT = 200_000  # starting Gaussians at most (depth points thinned evenly)


def camera(frame, device):
    """gsplat's world-to-camera matrix (OpenCV axes: x right, y down, z forward) and intrinsics."""
    import torch

    c2w = np.asarray(frame.c2w, np.float64) @ np.diag([1.0, -1.0, -1.0, 1.0])  # Blender/OpenGL -> OpenCV axes
    viewmat = torch.as_tensor(np.linalg.inv(c2w), dtype=torch.float32, device=device)
    k = torch.tensor([[frame.fx, 0.0, frame.cx], [0.0, frame.fy, frame.cy], [0.0, 0.0, 1.0]], device=device)
    return viewmat, k


def ssim_loss(a, b):
    """1 - SSIM (11-tap Gaussian window) of two (1, 3, H, W) images, differentiable."""
    import torch
    import torch.nn.functional as F

    x = torch.arange(11, dtype=a.dtype, device=a.device) - 5
    g = torch.exp(-x * x / (2 * 1.5 ** 2))
    g = (g / g.sum())
    win = (g[:, None] * g[None, :]).expand(3, 1, 11, 11)
    mu_a, mu_b = F.conv2d(a, win, groups=3), F.conv2d(b, win, groups=3)
    var_a = F.conv2d(a * a, win, groups=3) - mu_a ** 2
    var_b = F.conv2d(b * b, win, groups=3) - mu_b ** 2
    cov = F.conv2d(a * b, win, groups=3) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return 1.0 - s.mean()


def run(capture: str, seconds: float, seed: int = 0) -> dict:
    import torch
    from gsplat import rasterization
    from gsplat.strategy import DefaultStrategy

    device = torch.device("cuda")
    torch.manual_seed(seed)
    data = ds.load(capture)
    train, test = data.split("train"), data.split("test")
    channel = data.depth.get("exr_channel")
    views = [load_view(f, channel) for f in train]
    images = [torch.as_tensor(v[0], device=device) for v in views]
    transparent = any(float((im[..., 3] < 0.5).float().mean()) > 1e-3 for im in images)

    # Start from the depth points, coloured by their pixels.
    pts, cols = [], []
    for f, (rgba, depth) in zip(train, views):
        if depth is None:
            continue
        ok = np.isfinite(depth) & (rgba[..., 3] > 0.5)
        pts.append(fusion.backproject(f, np.nan_to_num(depth, nan=0.0))[ok])
        cols.append(rgba[..., :3][ok])
    if not pts:
        raise SystemExit("the gsplat peer starts from depth points: the capture needs depth")
    pts, cols = np.concatenate(pts), np.concatenate(cols)
    keep = np.linspace(0, len(pts) - 1, min(MAX_INIT, len(pts))).astype(np.int64)
    pts, cols = pts[keep], cols[keep]
    n = len(pts)
    scene_scale = float(np.linalg.norm(pts.max(0) - pts.min(0))) / 2
    dist = torch.as_tensor(np.full(n, scene_scale / math.sqrt(n) * 2.0), dtype=torch.float32)
    sh0 = (torch.as_tensor(cols, dtype=torch.float32) - 0.5) / 0.28209479177387814
    params = torch.nn.ParameterDict({
        "means": torch.nn.Parameter(torch.as_tensor(pts, dtype=torch.float32)),
        "scales": torch.nn.Parameter(torch.log(dist)[:, None].repeat(1, 3)),
        "quats": torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(n, 4), dim=-1)),
        "opacities": torch.nn.Parameter(torch.logit(torch.full((n,), 0.1))),
        "sh0": torch.nn.Parameter(sh0[:, None, :]),
        "shN": torch.nn.Parameter(torch.zeros(n, 15, 3)),
    }).to(device)
    lrs = {"means": 1.6e-4 * scene_scale, "scales": 5e-3, "quats": 1e-3, "opacities": 5e-2, "sh0": 2.5e-3,
           "shN": 2.5e-3 / 20}
    optimizers = {k: torch.optim.Adam([params[k]], lr=lr, eps=1e-15) for k, lr in lrs.items()}
    strategy = DefaultStrategy(verbose=False)
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state(scene_scale=scene_scale)
    cams = [camera(f, device) for f in train]

    step = 0
    torch.cuda.synchronize()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        i = int(torch.randint(len(train), (1,)))
        f, (viewmat, k), target = train[i], cams[i], images[i]
        bg = torch.rand(1, 3, device=device) if transparent else torch.zeros(1, 3, device=device)
        colors = torch.cat([params["sh0"], params["shN"]], 1)
        out, alpha, info = rasterization(params["means"], params["quats"], torch.exp(params["scales"]),
                                         torch.sigmoid(params["opacities"]), colors, viewmat[None], k[None],
                                         f.w, f.h, sh_degree=min(3, step // 1000), backgrounds=bg)
        strategy.step_pre_backward(params, optimizers, state, step, info)
        gt = target[..., :3] * target[..., 3:] + (1 - target[..., 3:]) * bg if transparent else target[..., :3]
        pred = out[0]
        loss = 0.8 * (pred - gt).abs().mean() + 0.2 * ssim_loss(pred.permute(2, 0, 1)[None], gt.permute(2, 0, 1)[None])
        loss.backward()
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        strategy.step_post_backward(params, optimizers, state, step, info, packed=False)
        step += 1
    torch.cuda.synchronize()
    train_seconds = time.monotonic() - start

    psnrs, ssims = [], []
    with torch.no_grad():
        colors = torch.cat([params["sh0"], params["shN"]], 1)
        for f in test:
            viewmat, k = camera(f, device)
            white = torch.ones(1, 3, device=device)
            out, _, _ = rasterization(params["means"], params["quats"], torch.exp(params["scales"]),
                                      torch.sigmoid(params["opacities"]), colors, viewmat[None], k[None], f.w, f.h,
                                      sh_degree=3, backgrounds=white if transparent else None)
            rgba = load_view(f, with_depth=False)[0]
            gt = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]) if transparent else rgba[..., :3]
            m = metrics.image_metrics(out[0].clamp(0, 1).cpu().numpy(), gt)
            psnrs.append(m["psnr"])
            ssims.append(m["ssim"])
    return {"peer": "gsplat", "psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "steps": step,
            "train_seconds": round(train_seconds, 2), "gaussians": int(len(params["means"])),
            "start_gaussians": n, "test_views": len(test)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the result as JSON here")
    args = p.parse_args()
    result = run(args.capture, args.seconds, args.seed)
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
