"""``snapshot-encode``: a reconstruction into one ordinary-looking PNG.

    python -m ps4pro_blender snapshot-encode RECONSTRUCTION [--cover IMAGE] [--out PNG] [--method inn|lsb]

RECONSTRUCTION is a folder written by ``reconstruct`` (or its ``field.pt``). The field is distilled
into the fixed snapshot planes of the shared decoder, quantised to 8-bit codes and hidden in the
cover (by default the capture's first training view), which is brought to 256 x 256 RGB. The PNG's
header says how to undo all of it. Nothing in the reconstruction folder changes.
"""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np

from ..cli import Command
from ..configs import SnapshotEncodeConfig
from ..protocol import JobError
from . import container, payload, quantize
from . import decoder as D
from . import methods


def find_field(path: str) -> str:
    path = os.path.abspath(path)
    field = os.path.join(path, "field.pt") if os.path.isdir(path) else path
    if not os.path.isfile(field):
        raise JobError(f"No reconstruction at {path} (no field.pt)",
                       hint="Pick the output folder of Reconstruct (it holds field.pt)")
    return field


def load_cover(path: str) -> tuple[np.ndarray, list[str]]:
    """A cover image as COVER x COVER RGB uint8, and notes on what was done to it."""
    from PIL import Image, UnidentifiedImageError

    from .. import files

    notes = []
    try:
        with Image.open(files.in_memory(path)) as im:
            im.load()
            mode = im.mode
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, rgba).convert("RGB")
                notes.append(f"the cover had transparency ({mode}): composited over white")
            elif mode != "RGB":
                if mode.startswith("I;16") or mode == "I":
                    arr = np.asarray(im, dtype=np.float64)
                    im = Image.fromarray(np.clip(arr / max(arr.max(), 1.0) * 255.0, 0, 255).astype(np.uint8))
                im = im.convert("RGB")
                notes.append(f"the cover was {mode}: converted to 8-bit RGB")
            w, h = im.size
            if (w, h) != (payload.COVER, payload.COVER):
                side = min(w, h)
                if w != h:
                    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
                    im = im.crop(box)
                    notes.append(f"the cover ({w}x{h}) was cropped to its centre square")
                im = im.resize((payload.COVER, payload.COVER), Image.LANCZOS)
                notes.append(f"the cover was resized from {side}x{side} to {payload.COVER}x{payload.COVER} (a snapshot's size)")
            return np.asarray(im, dtype=np.uint8).copy(), notes
    except FileNotFoundError:
        raise JobError(f"No cover image at {path}", hint="Pick an existing image file, or leave the cover empty")
    except Image.DecompressionBombError as exc:  # not an OSError; a snapshot cover is 256 px anyway
        raise JobError(f"The cover image {path} is too large to open safely ({exc})",
                       hint="Pick a smaller image (a snapshot's cover is 256 x 256 pixels)")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise JobError(f"Cannot read the cover image {path}: {exc}", hint="Pick a PNG or JPEG image")


def default_cover(data) -> str:
    frames = data.split("train") or data.frames
    real = [f for f in frames if not f.extra.get("synthetic")] or frames
    return real[0].image_path


def load_dataset(ck: dict, override: str | None):
    from .. import dataset as ds

    path = override or ck.get("dataset")
    if not path:
        return None
    try:
        return ds.load(path)
    except JobError:
        if override:
            raise
        return None  # the capture moved: distil from a sphere of cameras alone


def encode(field_path: str, out: str, cover_path: str | None, method: str, steps: int, seed: int,
           dataset: str | None = None, weights_path: str | None = None, device="cpu", ctx=None) -> dict:
    from ..field import evaluate as E
    from ..field import model as M
    from .distill import Cameras, distill, join

    t0 = time.monotonic()
    notes = []
    teacher, ck = M.load(field_path, device)
    teacher.eval()
    weights = D.load(weights_path, device)
    net = D.hiding_net(weights, device) if method == "inn" else None
    data = load_dataset(ck, dataset)
    aabb = teacher.field.aabb.detach().cpu().numpy()
    cams = Cameras.sphere(aabb, device=device)
    if data is not None:
        cams = join(Cameras.from_frames(data.split("train") or data.frames, device), cams)
    else:
        notes.append("the reconstruction's dataset was not found: distilled from a sphere of cameras around the scene")
    if cover_path is None:
        if data is None:
            raise JobError("No cover image given and the reconstruction's dataset was not found",
                           hint="Pass --cover IMAGE")
        cover_path = default_cover(data)
        notes.append(f"cover: the capture's first view ({os.path.basename(cover_path)})")
    cover, cover_notes = load_cover(cover_path)
    notes += cover_notes
    if out and os.path.isdir(out):
        out = os.path.join(out, "snapshot.png")
    folder = os.path.dirname(os.path.abspath(out))
    try:  # before minutes of distillation, not after
        os.makedirs(folder, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise JobError(f"Cannot write to {folder}", hint="Choose a writable folder for the snapshot")

    t_distill = time.monotonic()
    planes, history = distill(teacher, cams, weights["decoder"], steps=steps, seed=seed, device=device, ctx=ctx)
    t_distill = time.monotonic() - t_distill
    codes, layout = quantize.quantize(planes)
    layout.update(arrangement="mosaic2x2", means=payload.channel_means(codes))
    pixels, extra = methods.hide(method, cover, codes, net)
    layout.update(extra)
    # What a reader gets from these pixels (a PNG keeps them exactly, checked below): the reference
    # for decode's DEGRADED check, with the INN's own small error already in it.
    back = methods.reveal(method, pixels, layout, net)
    layout["readback_sketch"] = payload.sketch(back)

    background = {"mode": teacher.background.mode}
    env = D.env_texture(teacher)
    if env is not None:
        background.update(D.pack_env(env))
    header = {"method": method, "layout": layout, "bounds": aabb.astype(float).round(6).tolist(),
              "decoder": weights["decoder_id"], "background": background,
              "occupancy": D.pack_occupancy(teacher.grid.mask),
              "payload_sha256": hashlib.sha256(codes.tobytes()).hexdigest(), "created_by": "ps4pro snapshot-encode"}
    container.write(out, pixels, header)
    seconds = time.monotonic() - t0

    result = {"snapshot": os.path.abspath(out), "method": method, "png_bytes": os.path.getsize(out),
              "cover": os.path.abspath(cover_path), "encode_seconds": round(seconds, 2),
              "distill_seconds": round(t_distill, 2), "distill_steps": steps,
              "distill_loss": history[-1]["loss"] if history else None, "notes": notes, **E.image_metrics(
                  pixels.astype(np.float64) / 255.0, cover.astype(np.float64) / 255.0)}
    # Identical images have an infinite PSNR, which JSON cannot carry: report 100 dB instead.
    result["cover_psnr"], result["cover_ssim"] = min(result.pop("psnr"), 100.0), result.pop("ssim")
    # What a reader of this very file gets back, by either method (LSB should be exact: measured, not
    # assumed): the file's pixels must be the ones revealed above.
    if not np.array_equal(container.read(out).pixels, pixels):
        raise JobError(f"{out} did not keep the snapshot's pixels exactly", hint="Write the snapshot to a local disk")
    err = np.abs(back.astype(np.int16) - codes.astype(np.int16))
    result.update(payload_exact=float((err == 0).mean()), payload_mean_error=round(float(err.mean()), 3),
                  payload_max_error=int(err.max()))
    if method == "lsb":
        result["lsb_bits"] = extra["bits"]
    preview = os.path.splitext(os.path.abspath(out))[0] + "_cover.png"
    E.save_png(preview, cover)
    result["cover_preview"] = preview
    return result


def run(ctx, args) -> dict:
    field = find_field(args.reconstruction)
    out = args.out or os.path.join(os.path.dirname(field), "snapshot.png")
    method = args.method
    if method == "auto":
        method = "inn" if D.load(args.weights).get("hiding") else "lsb"
        if method == "lsb":
            ctx.emit.warning("The snapshot weights have no trained hiding network: hiding with the exact LSB baseline")
    device = ctx.torch_device()
    result = encode(field, out, args.cover, method, args.steps, args.seed, args.dataset, args.weights, device, ctx)
    for note in result["notes"]:
        ctx.emit.status(note)
    return result


COMMAND = Command(name="snapshot-encode", help="hide a reconstruction in one ordinary-looking PNG (3D Snapshot)",
                  config=SnapshotEncodeConfig, run=run)
