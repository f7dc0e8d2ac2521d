"""``train-interp``: train the interpolation network on captured clips, reproducibly from a seed.

A clip is a capture dataset (``dataset.load``) whose frames follow a smooth camera path, with
depth. A training sample is a triplet: sources i and i+2k, target i+j (0 < j < 2k; j = k half of
the time), in either direction. Geometry mode warps both sources into the target camera over the
whole frame, then trains the fusion network on a random crop; footage mode trains the fusion
network on crops of the images alone, aligned by DIS flow. Augmentation: crops, flips of the
(already aligned) inputs and target together, per-channel colour gain/gamma and swapping the
sources. Loss: L1 + an SSIM term. PSNR is measured
on a fixed set of triplets from held-out clips (``--eval``), never from training clips.

Every step draws its randomness from (seed, step), so a run resumed from a checkpoint continues
exactly as the uninterrupted run would have; on the CPU, the same seed gives identical weights.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from .. import configs, metrics
from ..cli import Command
from ..configs import TrainInterpConfig
from ..protocol import JobError

KS = (1, 2, 3, 4, 5, 6)
FOOTAGE_MAX_K = 2  # footage moves little between frames: sources at most 4 frames (12°) apart
EVAL_KS = (2, 4, 6)


# ----------------------------------------------------------------------------------------- data
def find_clips(folder: str) -> list[str]:
    """Clip folders under ``folder`` (its index.json, else every subfolder with transforms.json),
    or ``folder`` itself when it is a dataset."""
    folder = os.path.abspath(folder)
    if os.path.exists(os.path.join(folder, "transforms.json")):
        return [folder]
    names = None
    index = os.path.join(folder, "index.json")
    if os.path.exists(index):
        try:
            with open(index, encoding="utf-8") as f:
                obj = json.load(f)
            names = obj.get("clips") if isinstance(obj, dict) else obj
            names = [n if isinstance(n, str) else n.get("dir") or n.get("name") or n.get("path") for n in names]
        except (OSError, ValueError, AttributeError, TypeError):
            names = None
    if names is None:
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    clips = [os.path.join(folder, n) for n in names if os.path.exists(os.path.join(folder, n, "transforms.json"))]
    return clips


class Clip:
    def __init__(self, folder: str):
        import torch

        from .. import dataset as ds
        from .. import depth_io

        data = ds.load(folder)
        frames = [f for f in data.frames if f.depth_path]
        if len(frames) < 3:
            raise JobError(f"Clip {folder} has {len(frames)} frames with depth; at least 3 are needed",
                           hint="Each training clip needs consecutive views with depth")
        channel = data.depth.get("exr_channel")
        rgb = [np.round(ds.load_rgba(f.image_path)[..., :3] * 255).astype(np.uint8) for f in frames]
        depth = [depth_io.read_frame_depth(f, channel) for f in frames]
        if any(d.shape != rgb[0].shape[:2] or r.shape != rgb[0].shape for r, d in zip(rgb, depth)):
            raise JobError(f"Clip {folder} mixes image sizes", hint="All frames of a clip must have one size")
        self.folder = folder
        self.rgb = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8
        self.depth = torch.from_numpy(np.stack(depth)).unsqueeze(1)  # (N, 1, H, W) float32
        self.K = np.stack([f.intrinsics() for f in frames])
        self.c2w = np.stack([f.c2w for f in frames])
        self.n = len(frames)
        self.hw = tuple(self.rgb.shape[-2:])

    def image(self, i):
        return self.rgb[i].float() / 255.0


def load_clips(dirs: list[str], ctx=None, what="training", max_clips: int = 0) -> list[Clip]:
    """The clips of every folder, in order (the first ``max_clips`` of each when given)."""
    paths = []
    for d in dirs:
        found = find_clips(d)
        if not found:
            raise JobError(f"No clips in {d}", hint="Each clip is a capture dataset folder with transforms.json and depth")
        paths += found[:max_clips] if max_clips else found
    clips = []
    for i, p in enumerate(paths):
        if ctx:
            ctx.progress(f"Loading {what} clips", i, len(paths))
        clips.append(Clip(p))
    return clips


# -------------------------------------------------------------------------------------- samples
def draw_triplet(rng, clips, max_k=max(KS)):
    """(clip index, source a, source b, target, t) with a < target < b or reversed."""
    while True:
        c = int(rng.integers(len(clips)))
        n = clips[c].n
        ks = [k for k in KS if k <= max_k and 2 * k < n]
        if ks:
            break
    k = int(rng.choice(ks))
    j = k if rng.random() < 0.5 else int(rng.integers(1, 2 * k))
    i = int(rng.integers(0, n - 2 * k))
    a, b, tgt = i, i + 2 * k, i + j
    if rng.random() < 0.5:
        a, b = b, a
    t = abs(tgt - a) / (2 * k)
    return c, a, b, tgt, t


def _jitter(rng):
    """Colour augmentation, the same for the sources and the target: a channel permutation (so
    that no colour prior of the training scenes is learned), per-channel gain and a gamma."""
    perm = rng.permutation(3)
    gain = rng.uniform(0.7, 1.3, size=3).astype(np.float32)
    gamma = float(rng.uniform(0.75, 1.33))
    return perm, gain, gamma


def _apply_jitter(img, jit):
    import torch

    perm, gain, gamma = jit
    return (img[torch.from_numpy(perm)].clamp(0, 1) ** gamma * torch.from_numpy(gain).view(3, 1, 1)).clamp(0, 1)


def geometry_inputs_batch(items, device):
    """Full-frame network inputs and targets for triplets (clip, a, b, target, t, jitter or None)
    of one frame size, warped as one batch."""
    import torch

    from . import model as M
    from . import warp as W

    imgs = {"a": [], "b": [], "t": []}
    for clip, a, b, tgt, t, jit in items:
        ia, ib, it = clip.image(a), clip.image(b), clip.image(tgt)
        if jit is not None:
            ia, ib, it = (_apply_jitter(x, jit) for x in (ia, ib, it))
        imgs["a"].append(ia), imgs["b"].append(ib), imgs["t"].append(it)
    stack = lambda l: torch.stack(l).to(device)  # noqa: E731
    w = W.warp_pair(
        stack(imgs["a"]), torch.cat([c.depth[a:a + 1] for c, a, *_ in items]).to(device),
        np.stack([c.K[a] for c, a, *_ in items]), np.stack([c.c2w[a] for c, a, *_ in items]),
        stack(imgs["b"]), torch.cat([c.depth[b:b + 1] for c, _, b, *_ in items]).to(device),
        np.stack([c.K[b] for c, _, b, *_ in items]), np.stack([c.c2w[b] for c, _, b, *_ in items]),
        np.stack([c.K[g] for c, _, _, g, *_ in items]), np.stack([c.c2w[g] for c, _, _, g, *_ in items]),
        items[0][0].hw)
    t = torch.tensor([it[4] for it in items], dtype=torch.float32, device=device)
    return M.geometry_inputs(w, t), stack(imgs["t"])


def geometry_sample(clip: Clip, a, b, tgt, t, device, jit=None):
    """Full-frame network inputs and target for one triplet (batch of 1)."""
    return geometry_inputs_batch([(clip, a, b, tgt, t, jit)], device)


def _crop_flip(tensors, y, x, size, fh, fv):
    out = []
    for v in tensors:
        v = v[..., y:y + size[0], x:x + size[1]]
        if fh:
            v = v.flip(-1)
        if fv:
            v = v.flip(-2)
        out.append(v)
    return out


def _crop_params(rng, hw, crop):
    ch, cw = min(crop, hw[0]), min(crop, hw[1])
    y = int(rng.integers(0, hw[0] - ch + 1))
    x = int(rng.integers(0, hw[1] - cw + 1))
    return y, x, (ch, cw), bool(rng.random() < 0.5), bool(rng.random() < 0.5)


def geometry_batch(rng, clips, batch, crop, device):
    import torch

    draws = []
    for _ in range(batch):
        c, a, b, tgt, t = draw_triplet(rng, clips)
        draws.append(((clips[c], a, b, tgt, t, _jitter(rng)), _crop_params(rng, clips[c].hw, crop)))
    keys = ("x", "P", "A", "B", "F", "cov")
    parts = {k: [None] * batch for k in keys + ("gt",)}
    for hw in sorted({d[0][0].hw for d in draws}):  # one warp batch per frame size
        idx = [i for i, d in enumerate(draws) if d[0][0].hw == hw]
        inp, gt = geometry_inputs_batch([draws[i][0] for i in idx], device)
        for j, i in enumerate(idx):
            y, x, size, fh, fv = draws[i][1]
            # Flipping the aligned inputs and the target together is exact: in geometry mode
            # nothing in x depends on image direction (its flow channels are zero).
            cropped = _crop_flip([inp[k][j:j + 1] for k in keys] + [gt[j:j + 1]], y, x, size, fh, fv)
            for k, v in zip(keys + ("gt",), cropped):
                parts[k][i] = v
    size = min(v.shape[-2] for v in parts["x"]), min(v.shape[-1] for v in parts["x"])
    cat = lambda l: torch.cat([v[..., :size[0], :size[1]] for v in l])  # noqa: E731  (clips of different sizes)
    return {k: cat(parts[k]) for k in keys}, cat(parts["gt"])


def footage_batch(rng, clips, batch, crop, device):
    import torch

    i0s, i1s, ts, gts = [], [], [], []
    for _ in range(batch):
        c, a, b, tgt, t = draw_triplet(rng, clips, max_k=FOOTAGE_MAX_K)
        clip = clips[c]
        jit = _jitter(rng)
        imgs = [_apply_jitter(clip.image(i), jit)[None] for i in (a, b, tgt)]
        y, x, size, fh, fv = _crop_params(rng, clip.hw, crop)
        imgs = _crop_flip(imgs, y, x, size, fh, fv)
        i0s.append(imgs[0]), i1s.append(imgs[1]), gts.append(imgs[2]), ts.append(t)
    size = min(v.shape[-2] for v in i0s), min(v.shape[-1] for v in i0s)
    cat = lambda l: torch.cat([v[..., :size[0], :size[1]] for v in l]).to(device)  # noqa: E731
    return cat(i0s), cat(i1s), torch.tensor(ts, dtype=torch.float32, device=device), cat(gts)


# ---------------------------------------------------------------------------------------- loss
def ssim(x, y):
    import torch.nn.functional as F

    C1, C2 = 0.01 ** 2, 0.03 ** 2
    mx, my = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), F.avg_pool2d(y, 3, 1, 1, count_include_pad=False)
    sx = F.avg_pool2d(x * x, 3, 1, 1, count_include_pad=False) - mx * mx
    sy = F.avg_pool2d(y * y, 3, 1, 1, count_include_pad=False) - my * my
    sxy = F.avg_pool2d(x * y, 3, 1, 1, count_include_pad=False) - mx * my
    s = ((2 * mx * my + C1) * (2 * sxy + C2)) / ((mx * mx + my * my + C1) * (sx + sy + C2))
    return s.clamp(-1, 1).mean()


def image_loss(out, gt):
    return (out - gt).abs().mean() + 0.1 * (1 - ssim(out, gt))


def psnr(out, gt) -> float:
    """PSNR of a predicted frame (clamped to 0..1) against the truth, both tensors."""
    return metrics.psnr(float(((out.clamp(0, 1) - gt) ** 2).mean()))


# ---------------------------------------------------------------------------------------- eval
class EvalSet:
    """Fixed held-out triplets: per eval clip and per k in EVAL_KS, the middle view between
    frames i and i+2k around the clip's middle (t = 0.5)."""

    def __init__(self, clips: list[Clip], device, max_clips: int = 12):
        self.items = []  # (k, inputs, gt, img0, img1)
        for clip in clips[:max_clips]:
            for k in EVAL_KS:
                if 2 * k >= clip.n:
                    continue
                i = (clip.n - 1 - 2 * k) // 2
                inp, gt = geometry_sample(clip, i, i + 2 * k, i + k, 0.5, device)
                self.items.append((k, inp, gt, clip.image(i)[None].to(device), clip.image(i + 2 * k)[None].to(device)))
        self.baseline = self._mean([(k, psnr(inp["P"], gt)) for k, inp, gt, _, _ in self.items])

    @staticmethod
    def _mean(pairs):
        out = {}
        for k in EVAL_KS:
            v = [p for kk, p in pairs if kk == k]
            if v:
                out[f"{3 * 2 * k}deg"] = round(float(np.mean(v)), 3)
        allv = [p for _, p in pairs]
        out["mean"] = round(float(np.mean(allv)), 3) if allv else float("nan")
        return out

    def geometry(self, model):
        import torch

        with torch.no_grad():
            return self._mean([(k, psnr(model.fuse(inp), gt)) for k, inp, gt, _, _ in self.items])

    def footage(self, model):
        import torch

        with torch.no_grad():
            pairs = []
            for k, _, gt, i0, i1 in self.items:
                out, _ = model.forward_footage(i0, i1, torch.tensor([0.5], device=i0.device))
                pairs.append((k, psnr(out, gt)))
            return self._mean(pairs)


# --------------------------------------------------------------------------------------- train
def _lr(step, steps, base):
    warm = min(100, max(1, steps // 10))
    if step < warm:
        return base * (step + 1) / warm
    p = (step - warm) / max(1, steps - warm)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def init_from(model, path, device) -> str:
    """Start from trained weights (fine-tuning): every tensor of the same name and shape."""
    from . import weights as Wt

    obj = Wt.read(path, device)
    own = model.state_dict()
    take = {k: v for k, v in obj["state_dict"].items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(take, strict=False)
    return f"Initialised {len(take)} of {len(own)} tensors from {path}"


def _ckpt_path(args):
    folder = args.ckpt_dir or (os.path.splitext(os.path.abspath(args.out))[0] + "_ckpt")
    return folder, os.path.join(folder, "last.pt")


def train(ctx, args) -> dict:
    import torch

    from . import model as M
    from . import weights as Wt

    if args.threads:
        torch.set_num_threads(args.threads)
    device = ctx.torch_device()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    modes = ["geometry", "footage"] if args.mode == "both" else [args.mode]

    ctx.emit.status(f"Loading clips from {', '.join(args.data)}")
    clips = load_clips(args.data, ctx, "training", args.max_clips)
    train_folders = {c.folder for c in clips}

    def load_eval():
        """Held-out clips; an eval folder that is still empty is looked at again at the next evaluation."""
        if not args.eval or not all(find_clips(d) for d in args.eval):
            return []
        found = load_clips(args.eval, None, "eval")
        if any(c.folder in train_folders for c in found):
            raise JobError("An eval clip is also a training clip", hint="Evaluate on held-out clips only")
        return found

    eval_clips = load_eval()
    if args.eval and not eval_clips:
        ctx.emit.warning(f"No eval clips in {', '.join(args.eval)} yet: PSNR is measured once they exist")

    torch.manual_seed(args.seed)
    model = M.PS4PROInterp().to(device)
    params = M.count_parameters(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    start = 0
    if args.init and not args.resume:
        ctx.emit.status(init_from(model, args.init, device))
    if args.resume:
        ck = Wt.read_checkpoint(args.resume, device)
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        start = int(ck["step"])
        ctx.emit.status(f"Resumed from {args.resume} at step {start}")
    evalset = EvalSet(eval_clips, device) if eval_clips else None
    eval_names = [c.folder for c in eval_clips]
    ctx.emit.status(f"{len(clips)} training clips, {len(eval_clips)} eval clips, {params} parameters, modes {modes}")
    ckpt_dir, ckpt = _ckpt_path(args)
    history = []
    last_eval = {}
    t_start = time.monotonic()
    loss_avg = None

    def evaluate(step):
        nonlocal last_eval, evalset, eval_names
        if evalset is None:
            found = load_eval()
            if not found:
                return
            evalset, eval_names = EvalSet(found, device), [c.folder for c in found]
        model.eval()
        res = {"step": step}
        if "geometry" in modes:
            res["geometry"] = evalset.geometry(model)
            res["plain_warp"] = evalset.baseline
        if "footage" in modes:
            res["footage"] = evalset.footage(model)
        model.train()
        last_eval = res
        history.append(res)
        print(f"[train-interp] eval {json.dumps(res)}", file=sys.stderr, flush=True)

    def save_ckpt(step):
        os.makedirs(ckpt_dir, exist_ok=True)
        Wt.save_atomic({"format": Wt.CKPT_FORMAT, "version": Wt.VERSION, "config": dict(model.config), "step": step,
                        "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                        "meta": {"seed": args.seed, "modes": modes}, "command_config": configs.to_dict(args)}, ckpt)

    model.train()
    for step in range(start, args.steps):
        ctx.check_cancel()
        rng = np.random.default_rng([args.seed, step])
        torch.manual_seed(args.seed * 1000003 + step)
        for g in opt.param_groups:
            g["lr"] = _lr(step, args.steps, args.lr)
        mode = modes[0] if len(modes) == 1 else ("footage" if rng.random() < args.footage_share else "geometry")
        if mode == "geometry":
            inp, gt = geometry_batch(rng, clips, args.batch, args.crop, device)
            out = model.fuse(inp)
            loss = image_loss(out, gt)
        else:
            i0, i1, t, gt = footage_batch(rng, clips, args.batch, args.crop, device)
            out, _ = model.forward_footage(i0, i1, t)
            loss = image_loss(out, gt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise JobError(f"Training diverged at step {step} (loss {lv})", hint="Lower --lr or change --seed")
        loss_avg = lv if loss_avg is None else 0.95 * loss_avg + 0.05 * lv
        done = step + 1
        if args.eval_every and (done % args.eval_every == 0 or done == args.steps):
            evaluate(done)
        if args.ckpt_every and done % args.ckpt_every == 0 and done < args.steps:
            save_ckpt(done)
        if done % args.log_every == 0 or done == args.steps:
            metrics = {"loss": round(loss_avg, 5)}
            g = (last_eval.get("geometry") or last_eval.get("footage") or {}).get("mean")
            if g is not None:
                metrics["psnr"] = g
            metrics["s_per_step"] = round((time.monotonic() - t_start) / (done - start), 3)
            ctx.progress("Training", done, args.steps, **metrics)
    seconds = time.monotonic() - t_start
    if evalset is not None and (not history or history[-1]["step"] != args.steps):
        evaluate(args.steps)
    meta = {
        "modes": modes, "seed": args.seed, "steps": args.steps, "batch": args.batch, "crop": args.crop, "lr": args.lr,
        "init": args.init, "footage_share": args.footage_share,
        "data": [os.path.abspath(d) for d in args.data], "num_clips": len(clips),
        "clips": [os.path.join(os.path.basename(os.path.dirname(c.folder)), os.path.basename(c.folder)) for c in clips],
        "eval_data": [os.path.abspath(d) for d in args.eval or []], "eval_clips": len(eval_names), "eval": last_eval,
        "train_seconds": round(seconds, 1), "resumed_from_step": start, "device": str(device),
        "torch": str(torch.__version__), "params": params,
    }
    Wt.save(os.path.abspath(args.out), model, meta)
    if args.ckpt_every:
        save_ckpt(args.steps)
    return {"weights": os.path.abspath(args.out), "params": params, "steps": args.steps, "seed": args.seed,
            "modes": modes, "eval": last_eval, "eval_history": history,
            "seconds_per_step": round(seconds / max(1, args.steps - start), 4), "checkpoint": ckpt if args.ckpt_every else None}


def run(ctx, args) -> dict:
    return train(ctx, args)


def recorded(path: str) -> dict | None:
    """The config a checkpoint's run started with (``--resume`` goes on with it)."""
    from . import weights as Wt

    return Wt.read_checkpoint(path).get("command_config")


COMMAND = Command(
    name="train-interp",
    help="train the interpolation network on captured clips (reproducible from --seed)",
    config=TrainInterpConfig,
    run=run,
    recorded=recorded,
)
