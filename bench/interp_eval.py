"""Interpolation quality and speed on held-out clips: plain z-buffer warp vs the network.

    .venv/backend/bin/python bench/interp_eval.py --eval DATA/interp_eval \
        [--weights ps4pro_blender/weights/interp.pt | --checkpoint DIR/last.pt] [--out bench/results/interp_eval.json]

PSNR per source gap (12°/24°/36°: sources i and i+2k, 3° per frame, k = 2/4/6, target the middle
view i+k), for a plain blend, the plain geometric warp (no learning), the network in geometry mode,
and footage mode (DIS flow with a plain blend, and with the network when the weights were trained for it).
Then the time to interpolate one 512×512 view on this machine's CPU.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ps4pro_blender.interp import infer, model, train, weights  # noqa: E402


def load_model(args):
    if args.checkpoint:
        ck = weights.read_checkpoint(args.checkpoint)
        net = model.PS4PROInterp(ck.get("config"))
        net.load_state_dict(ck["state_dict"])
        return net.eval(), dict(ck.get("meta") or {}, step=ck.get("step"))
    if args.weights:
        return weights.load(args.weights)
    return None, {}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--eval", action="append", required=True)
    p.add_argument("--weights")
    p.add_argument("--checkpoint")
    p.add_argument("--out")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-timing", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    net, meta = load_model(args)
    clips = train.load_clips(args.eval)
    ev = train.EvalSet(clips, torch.device("cpu"), max_clips=len(clips))
    res = {"eval_clips": len(clips), "triplets": len(ev.items), "model_meta": {k: meta.get(k) for k in ("step", "steps", "seed", "modes")}}
    res["blend"] = ev._mean([(k, train.psnr(0.5 * i0 + 0.5 * i1, gt)) for k, _, gt, i0, i1 in ev.items])
    res["plain_warp"] = ev.baseline
    # The same warp with the far-side hole fill (classical; what the network keeps in holes).
    res["plain_warp_far_fill"] = ev._mean([(k, train.psnr(inp["F"], gt)) for k, inp, gt, _, _ in ev.items])
    pairs = []
    for k, _, gt, i0, i1 in ev.items:
        out = infer.Interpolator(False).footage(i0[0].permute(1, 2, 0).numpy(), i1[0].permute(1, 2, 0).numpy(), 0.5)
        pairs.append((k, train.psnr(torch.from_numpy(out).permute(2, 0, 1)[None], gt)))
    res["footage_classical_flow"] = ev._mean(pairs)
    # Pixels seen by at least one source: where the neighbours hold the information at all
    # (the rest is disoccluded in both and can only be guessed).
    def covered_psnr(fn):
        pairs = []
        for k, inp, gt, _, _ in ev.items:
            cov = inp["cov"][0, 0] > 0
            with torch.no_grad():
                out = fn(inp).clamp(0, 1)
            mse = float(((out - gt) ** 2).mean(1)[0][cov].mean())
            pairs.append((k, 10 * np.log10(1 / max(mse, 1e-10))))
        return ev._mean(pairs)

    res["hole_fraction"] = ev._mean([(k, float((inp["cov"] == 0).float().mean())) for k, inp, _, _, _ in ev.items])
    res["plain_warp_covered"] = covered_psnr(lambda inp: inp["P"])
    if net is not None:
        res["model_geometry"] = ev.geometry(net)
        res["model_geometry_covered"] = covered_psnr(net.fuse)
        if "footage" in (meta.get("modes") or []):
            res["model_footage"] = ev.footage(net)
    if not args.no_timing:
        res["timing_512"] = timing(clips[0], net)
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


def timing(clip, net, size=512, repeats=3):
    """Seconds per 512×512 view: sources upsampled to 512×512 (intrinsics scaled to match)."""
    import torch.nn.functional as F

    H, W = clip.hw
    sy, sx = size / H, size / W

    def view(i):
        rgb = F.interpolate(clip.image(i)[None], size=(size, size), mode="bilinear", align_corners=False)[0]
        depth = F.interpolate(clip.depth[i:i + 1], size=(size, size), mode="nearest")[0, 0]
        K = clip.K[i].copy()
        K[0] *= sx
        K[1] *= sy
        return infer.View(rgb.permute(1, 2, 0).numpy(), depth.numpy(), K, clip.c2w[i])

    a, b, t = view(0), view(8), view(4)
    out = {}
    interp = infer.Interpolator(False)
    if net is not None:
        interp.model, interp.modes = net, {"geometry", "footage"}
    for name, learned in (("plain_warp", False), ("model_geometry", True)):
        if learned and net is None:
            continue
        interp.views(a, b, t.c2w, t.K, 0.5, learned=learned)
        t0 = time.perf_counter()
        for _ in range(repeats):
            interp.views(a, b, t.c2w, t.K, 0.5, learned=learned)
        out[name] = round((time.perf_counter() - t0) / repeats, 3)
    t0 = time.perf_counter()
    infer.Interpolator(False).footage(a.rgb, b.rgb, 0.5)
    out["footage_classical_flow"] = round(time.perf_counter() - t0, 3)
    if net is not None:
        interp.footage(a.rgb, b.rgb, 0.5)
        t0 = time.perf_counter()
        interp.footage(a.rgb, b.rgb, 0.5)
        out["model_footage"] = round(time.perf_counter() - t0, 3)
    out["threads"] = torch.get_num_threads()
    out["note"] = "seconds per 512x512 view on the CPU"
    return out


if __name__ == "__main__":
    main()
