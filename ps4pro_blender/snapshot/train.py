"""``train-snapshot``: train the shared decoder and the hiding network, reproducibly from a seed.

    python -m ps4pro_blender train-snapshot FIELD_DIR [FIELD_DIR ...] --out weights.pt [--covers DIR ...]
        [--decoder-steps 4000] [--hiding-steps 6000] [--seed 0]

FIELD_DIR: reconstruct output folders (each with ``field.pt``), or folders holding them, from
scenes rendered by Blender (``scripts/make_snapshot_data.py``; keep evaluation scenes out).

1. Decoder: every field is distilled at once into its own snapshot planes with one shared decoder
   (``distill.fit``). The planes are kept in ``--work`` (``planes_NNN.npy``) for stage 2, with the
   decoder (``decoder.pt``) and how it was trained (``decoder.json``, for ``--reuse-decoder``).
2. Hiding network: covers are the scenes' training views (plus ``--covers`` images), secrets the
   quantised planes of stage 1 (flipped, rotated and channel-shuffled for variety). Random crops
   (covers 2k x 2k, secrets k x k) train the fully convolutional network; the stego image is
   rounded to 8 bits in the loop, and the part the network would lose is pushed to zero, which is
   what ``reveal`` puts in its place.

Writes the weights file (``decoder.py`` describes it) with a ``meta`` record of how it was made.
"""

from __future__ import annotations

import glob
import math
import os
import time

import numpy as np
import torch

from .. import protocol
from ..cli import Command
from ..configs import TrainSnapshotConfig
from ..metrics import psnr
from ..protocol import JobError
from . import decoder as D
from . import payload, quantize
from .hiding import HidingNet, haar, to_8bit


def find_fields(paths: list[str]) -> list[str]:
    found = []
    for p in paths:
        p = os.path.abspath(p)
        if os.path.isfile(os.path.join(p, "field.pt")):
            found.append(os.path.join(p, "field.pt"))
        else:
            found += sorted(glob.glob(os.path.join(p, "*", "field.pt")) + glob.glob(os.path.join(p, "*", "*", "field.pt")))
    if not found:
        raise JobError(f"No field.pt under {', '.join(paths)}", hint="Pass reconstruct output folders (scripts/make_snapshot_data.py makes them)")
    return found


def load_covers(datasets, extra_dirs, limit: int = 400) -> list[np.ndarray]:
    """Cover images as float32 (H, W, 3) in 0..1: the scenes' training views over white, and any
    PNG/JPEG under ``extra_dirs``."""
    from PIL import Image

    from ..dataset import load_rgba

    covers = []
    for data in datasets:
        for f in (data.split("train") or data.frames)[:: 2]:
            rgba = load_rgba(f.image_path)
            covers.append((rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:]).astype(np.float32))
    for d in extra_dirs or []:
        files = sorted(glob.glob(os.path.join(d, "**", "*.png"), recursive=True)
                       + glob.glob(os.path.join(d, "**", "*.jpg"), recursive=True))
        for path in files[:limit]:
            if "depth" in os.path.basename(path):
                continue
            with Image.open(path) as im:
                covers.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    return [c for c in covers if min(c.shape[:2]) >= 32]


class HidingData:
    """Random (cover crop, secret crop) batches, deterministic from a generator."""

    def __init__(self, covers, secrets, crop: int):
        self.covers = covers
        self.secrets = [torch.from_numpy(s) for s in secrets]
        self.crop = crop

    def batch(self, rng: np.random.Generator, n: int):
        c, k = self.crop, self.crop // 2
        cov, sec = [], []
        for _ in range(n):
            img = self.covers[rng.integers(len(self.covers))]
            h, w = img.shape[:2]
            side = min(h, w)
            if side < c:
                y = x = 0
                crop = img[:side, :side]
                crop = torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None],
                                                       size=(c, c), mode="bilinear", align_corners=False)[0]
            else:
                y, x = rng.integers(h - c + 1), rng.integers(w - c + 1)
                crop = torch.from_numpy(np.ascontiguousarray(img[y:y + c, x:x + c])).permute(2, 0, 1)
            cov.append(crop)
            s = self.secrets[rng.integers(len(self.secrets))]
            s = s[torch.from_numpy(rng.permutation(s.shape[0]))]  # channel shuffle
            if rng.random() < 0.5:
                s = s.flip(-1)
            s = torch.rot90(s, int(rng.integers(4)), (-2, -1))
            y, x = rng.integers(s.shape[1] - k + 1), rng.integers(s.shape[2] - k + 1)
            sec.append(s[:, y:y + k, x:x + k])
        return torch.stack(cov).float(), torch.stack(sec).float()


def hiding_loss(net, cover, secret, weights=(1.0, 4.0, 1.0, 1.0), tolerance: float = 0.0):
    """Cover change, payload error beyond ``tolerance`` codes (the decoder was trained to shrug off
    about a code of noise, so exactness there would be paid for in cover quality for nothing), the
    lost part, and the cover's low-frequency band. Returns (loss, cover MSE, payload MSE)."""
    stego, lost = net.hide(cover, secret)
    stego_q = to_8bit(stego)
    back = net.reveal(stego_q)
    l_cover = ((stego_q - cover) ** 2).mean()
    err = back - secret
    l_secret = (torch.relu(err.abs() - tolerance / 255.0) ** 2).mean()
    l_lost = (lost ** 2).mean()
    l_low = ((haar(stego)[:, :3] - haar(cover)[:, :3]) ** 2).mean()
    wc, ws, wl, wlow = weights
    total = wc * l_cover + ws * l_secret + wl * l_lost + wlow * l_low
    return total, float(l_cover.detach()), float((err.detach() ** 2).mean())


def train_hiding(covers, secrets, steps: int, seed: int, blocks: int, hidden: int, crop: int = 48, batch: int = 8,
                 lr: float = 1e-3, cover_weight: float = 1.0, tolerance: float = 0.0, init: dict | None = None,
                 ctx=None, log_every: int = 50) -> tuple[HidingNet, list]:
    torch.manual_seed(seed)
    net = HidingNet(blocks=blocks, hidden=hidden)
    if init is not None:  # fine-tune a trained network (e.g. towards a cleaner cover)
        net.load_state_dict(init)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    data = HidingData(covers, secrets, crop)
    rng = np.random.default_rng(seed)
    history, avg = [], None
    for step in range(steps):
        if ctx is not None:
            ctx.check_cancel()
        for g in opt.param_groups:
            g["lr"] = lr * 0.1 ** (step / max(1, steps))
        cover, secret = data.batch(rng, batch)
        loss, mc, ms = hiding_loss(net, cover, secret, (cover_weight, 4.0, 1.0, 1.0), tolerance)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if not math.isfinite(float(loss.detach())):
            raise JobError(f"Hiding-network training diverged at step {step}", hint="Lower --hiding-lr or change --seed")
        avg = (mc, ms) if avg is None else (0.95 * avg[0] + 0.05 * mc, 0.95 * avg[1] + 0.05 * ms)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            rec = {"step": step + 1, "cover_psnr": round(psnr(avg[0]), 2), "secret_psnr": round(psnr(avg[1]), 2)}
            history.append(rec)
            if ctx is not None:
                ctx.progress("Training hiding network", step + 1, steps, **{k: v for k, v in rec.items() if k != "step"})
    return net.eval(), history


DECODER_RECORD = "decoder.json"  # beside --work's decoder.pt: how that decoder was trained
_DECODER_KEYS = ("decoder_steps", "decoder_seed", "decoder_history")


def reused_decoder_record(work: str, decoder: dict, init_weights: dict | None) -> dict:
    """How a reused decoder was trained, for the new file's meta (not this run's --decoder-steps).
    From --work's record; else from --hiding-init's meta when that file holds the same decoder and
    trained it (it has a decoder_history: an older reusing run recorded its CLI defaults instead);
    else unknown."""
    import json

    did = D.decoder_id(decoder)
    try:
        with open(os.path.join(work, DECODER_RECORD)) as f:
            rec = json.load(f)
        if isinstance(rec, dict) and rec.get("decoder_id") == did:
            return {k: rec.get(k) for k in _DECODER_KEYS} | {"decoder_reused": work}
    except (OSError, ValueError):
        pass
    meta = (init_weights or {}).get("meta") or {}
    if (init_weights or {}).get("decoder_id") == did and meta.get("decoder_history"):
        return {"decoder_steps": meta.get("decoder_steps"), "decoder_seed": meta.get("decoder_seed", meta.get("seed")),
                "decoder_history": meta["decoder_history"], "decoder_reused": work}
    return {k: None for k in _DECODER_KEYS} | {"decoder_reused": work}


def run(ctx, args) -> dict:
    from .. import dataset as ds
    from ..field import model as M
    from .distill import Cameras, fit, join

    t0 = time.monotonic()
    device = ctx.torch_device()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    fields = find_fields(args.fields)
    work = os.path.abspath(args.work or os.path.join(os.path.dirname(os.path.abspath(args.out)), "snapshot_work"))
    os.makedirs(work, exist_ok=True)
    teachers, cams, datasets = [], [], []
    for path in fields:
        model, ck = M.load(path, device)
        teachers.append(model.eval())
        c = Cameras.sphere(model.field.aabb.cpu().numpy(), device=device)
        if ck.get("dataset") and os.path.exists(ck["dataset"]):
            data = ds.load(ck["dataset"])
            datasets.append(data)
            c = join(Cameras.from_frames(data.split("train") or data.frames, device), c)
        cams.append(c)
    ctx.emit.status(f"{len(teachers)} fields, {len(datasets)} with their captures")

    planes_files = [os.path.join(work, f"planes_{i:03d}.npy") for i in range(len(fields))]
    decoder_file = os.path.join(work, "decoder.pt")
    init_weights = D.load(args.hiding_init) if args.hiding_init else None
    if args.reuse_decoder and os.path.isfile(decoder_file) and all(os.path.isfile(p) for p in planes_files):
        decoder = torch.load(decoder_file, weights_only=True)
        planes = [np.load(p, allow_pickle=False) for p in planes_files]
        dec_history = []
        dec_record = reused_decoder_record(work, decoder, init_weights)
        ctx.emit.status(f"Reusing the decoder and planes in {work}")
    else:
        decoder, planes, dec_history = fit(teachers, cams, args.decoder_steps, seed=args.seed, device=device, ctx=ctx,
                                           hidden=args.decoder_hidden, sh_degree=args.decoder_sh_degree)
        torch.save(decoder, decoder_file)
        for p, arr in zip(planes_files, planes):
            np.save(p, arr.reshape(payload.SHAPE), allow_pickle=False)
        dec_record = {"decoder_steps": args.decoder_steps, "decoder_seed": args.seed,
                      "decoder_history": dec_history[-1:] if dec_history else None}
        protocol.write_json_atomic(os.path.join(work, DECODER_RECORD),
                                   {"decoder_id": D.decoder_id(decoder), "fields": fields, **dec_record})
    secrets = [payload.codes_to_secret(quantize.quantize(p.reshape(payload.SHAPE))[0]) for p in planes]
    covers = load_covers(datasets, args.covers)
    if not covers:
        raise JobError("No cover images to train the hiding network on", hint="Pass --covers DIR with PNG/JPEG images")
    ctx.emit.status(f"Hiding network: {len(covers)} covers, {len(secrets)} secrets")
    init, blocks, hidden = None, args.blocks, args.hidden
    if init_weights is not None:
        if not init_weights.get("hiding"):
            raise JobError(f"{args.hiding_init} has no hiding network to start from", hint="Leave out --hiding-init")
        init = init_weights["hiding"]
        blocks, hidden = init_weights["hiding_config"]["blocks"], init_weights["hiding_config"]["hidden"]
    net, hide_history = train_hiding(covers, secrets, args.hiding_steps, args.seed, blocks, hidden,
                                     lr=args.hiding_lr, cover_weight=args.cover_weight,
                                     tolerance=args.secret_tolerance, init=init, ctx=ctx)
    meta = {"seed": args.seed, "fields": fields, **dec_record, **D.decoder_shape(decoder), "hiding_steps": args.hiding_steps,
            "cover_weight": args.cover_weight, "secret_tolerance": args.secret_tolerance, "hiding_lr": args.hiding_lr,
            "hiding_init": os.path.basename(args.hiding_init) if args.hiding_init else None,
            "covers": len(covers), "hiding_history": hide_history[-1:], "torch": str(torch.__version__),
            "command": "python -m ps4pro_blender train-snapshot " + " ".join(args.fields)}
    decoder_id = D.save(os.path.abspath(args.out), decoder, net, meta)
    params = sum(p.numel() for p in net.parameters()) + sum(v.numel() for v in decoder.values())
    return {"weights": os.path.abspath(args.out), "decoder_id": decoder_id, "parameters": int(params),
            "bytes": os.path.getsize(args.out), "seconds": round(time.monotonic() - t0, 1),
            "decoder_history": dec_history, "hiding_history": hide_history}


COMMAND = Command(name="train-snapshot", help="train the snapshot's shared decoder and hiding network (reproducible from --seed)",
                  config=TrainSnapshotConfig, run=run)
