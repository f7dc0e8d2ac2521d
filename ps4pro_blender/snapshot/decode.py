"""``snapshot-decode``: any snapshot PNG back into a reconstruction.

    python -m ps4pro_blender snapshot-decode PNG [--out DIR] [--dataset D] [--render-path JSON] [--no-export]

Reads and checks the header (never executing anything from the file), recovers the hidden codes,
rebuilds the field with the shared decoder and writes into ``--out``: ``field.pt`` (a field like
reconstruct's), ``points.ply`` and ``mesh.ply``; with ``--dataset``, ``eval.json`` and ``eval/``
on that capture's test views; with ``--render-path``, novel views. A payload that came back
different from what the encoder read from its own file (an edited, filtered or re-compressed PNG)
is flagged: ``degraded`` in the result and a ``DEGRADED`` warning.
"""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np

from .. import ply, protocol
from ..cli import Command
from ..configs import SnapshotDecodeConfig
from ..protocol import JobError
from . import container, payload, quantize
from . import decoder as D
from . import methods

# How much a payload may move before the decode is flagged DEGRADED. The encoder keeps a sketch of
# the codes it read back from its own PNG (payload.sketch), so the INN's known error is already in
# the reference and an untouched file gives a distance of exactly 0, or a few hundredths of a code
# where another device rounds a handful of codes the other way. A JPEG round trip at quality 95
# moves the shipped network's codes by about 40 codes RMS, a blur by about 28, a 10 x 10 pixel
# patch by about 1.7: 1 code RMS separates them with room to spare.
READBACK_TOLERANCE = 1.0  # codes, root mean square
# Files from before the sketch keep only the true codes' channel means. Those include the INN's
# own error, which moves the means by up to about 5 codes on some covers (clean files can be
# flagged), while re-encoding moves them by tens of codes.
MEANS_TOLERANCE = 2.0


def _background(header: dict):
    """The background mode and, for ``env``, its colours (the header's schema is already checked)."""
    bg = header.get("background") or {"mode": "alpha"}
    return bg["mode"], (D.unpack_env(bg) if bg["mode"] == "env" else None)


def payload_change(codes: np.ndarray, header: dict) -> str | None:
    """How the recovered codes moved from what was written, when beyond the tolerance (None when
    not). LSB gives the codes back exactly, so their hash must match; the INN gives them back with
    its own small error, which the sketch of what the encoder read back already holds."""
    layout = header["layout"]
    if header["method"] == "lsb" and hashlib.sha256(codes.tobytes()).hexdigest() != header["payload_sha256"]:
        return "their hash differs from the header's payload_sha256"
    ref = layout.get("readback_sketch")
    if ref is not None:
        try:
            ref = np.asarray(ref, dtype=np.float64)
            ok = ref.shape == (payload.SKETCH_SIZE,) and bool(np.all(np.isfinite(ref)))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return "the header's payload fingerprint is damaged"
        drift = payload.sketch_distance(payload.sketch(codes), ref)
        return f"about {drift:.1f} codes RMS from what was written" if drift > READBACK_TOLERANCE else None
    means = np.asarray(payload.channel_means(codes))
    try:
        expected = np.asarray(layout.get("means") or means, dtype=np.float64)
    except (TypeError, ValueError):
        expected = np.zeros(0)
    drift = float(np.abs(means - expected).max()) if expected.shape == means.shape else float("inf")
    return f"channel means off by up to {drift:.1f} codes" if drift > MEANS_TOLERANCE else None


def decode(png: str, weights_path: str | None = None, device="cpu"):
    """(snapshot field, header, codes, warnings, seconds): the PNG to a field ready to render."""
    t0 = time.monotonic()
    snap = container.read(png)  # every header field is checked there
    header = snap.header
    layout = header["layout"]
    weights = D.load(weights_path, device)
    if header["decoder"] != weights["decoder_id"]:
        raise JobError(f"The snapshot needs decoder {header['decoder']}, but this PS4PRO has {weights['decoder_id']}",
                       hint="Decode it with the PS4PRO version that wrote it")
    mode, env = _background(header)
    method = header["method"]
    net = D.hiding_net(weights, device) if method == "inn" else None
    codes = methods.reveal(method, snap.pixels, layout, net)
    warnings = list(snap.warnings)
    change = payload_change(codes, header)
    if change:
        warnings.append(f"DEGRADED: the hidden planes came back changed ({change}); the PNG was probably edited, "
                        "filtered or re-compressed after it was written, so the scene will look wrong")
    planes = quantize.dequantize(codes, layout)
    model = D.make_field(planes, header["bounds"], weights["decoder"], mode, env, device)
    D.refresh_grid(model, coarse=D.unpack_occupancy(header.get("occupancy")))
    model.eval()
    return model, header, codes, warnings, time.monotonic() - t0


def run(ctx, args) -> dict:
    from ..field import evaluate as E
    from ..field import export as X
    from ..field import model as M
    from .distill import Cameras

    png = os.path.abspath(args.png)
    out = os.path.abspath(args.out or ctx.job_dir or os.path.splitext(png)[0] + "_decoded")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise JobError(f"Cannot write to {out}: {exc.strerror}", hint="Choose a writable folder")
    device = ctx.torch_device()
    model, header, codes, warnings, seconds = decode(png, args.weights, device)
    for w in warnings:
        ctx.emit.warning(w)
    field_path = os.path.join(out, "field.pt")
    M.save_atomic(M.checkpoint(model, 0, snapshot={"png": png, "method": header["method"], "decoder": header["decoder"]}),
                  field_path)
    result = {"field": field_path, "method": header["method"], "decode_seconds": round(seconds, 3),
              "bounds": header["bounds"], "background": model.background.mode, "warnings": warnings,
              "degraded": any(w.startswith("DEGRADED") for w in warnings), "points": None, "mesh": None}
    if args.dataset:
        from .. import dataset as ds
        from ..views import load_view

        data = ds.load(args.dataset)
        test = data.split("test")
        if not test:
            raise JobError(f"{args.dataset} has no test views to evaluate on", hint="Pick the capture the scene came from")
        images = [load_view(f, with_depth=False)[0] for f in test]
        report = E.evaluate(model, test, images, device, os.path.join(out, "eval"), ctx)
        protocol.write_json_atomic(os.path.join(out, "eval.json"), report)
        result.update(psnr=report["psnr"], ssim=report["ssim"], eval=os.path.join(out, "eval.json"),
                      test_views=len(test))
    if not args.no_export:
        frames = Cameras.sphere(header["bounds"], n=32).frames()
        views = X.render_views(model, frames, device, ctx=ctx)
        points, colors, extra = X.points_from_views(model, views)
        result["points"] = os.path.join(out, "points.ply")
        ply.write_ply(result["points"], points, colors, extra=extra, comments=["PS4PRO snapshot-decode points"])
        verts, vcolors, faces, _ = X.mesh_from_field(model, device, res=args.mesh_res,
                                                     seen_by=None if args.keep_unseen else views, ctx=ctx)
        result["mesh"] = os.path.join(out, "mesh.ply")
        ply.write_ply(result["mesh"], verts, vcolors, faces=faces, comments=["PS4PRO snapshot-decode mesh"])
        result.update(num_points=int(len(points)), num_vertices=int(len(verts)), num_faces=int(len(faces)))
    if args.render_path:
        from .. import dataset as ds

        result["renders"] = E.render_path(model, ds.load(args.render_path).frames, device, os.path.join(out, "renders"), ctx)
    return result


COMMAND = Command(name="snapshot-decode", help="turn a snapshot PNG back into a reconstruction (field, points, mesh)",
                  config=SnapshotDecodeConfig, run=run)
