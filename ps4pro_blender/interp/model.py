"""PS4PROInterp: one small network family for both interpolation modes.

- ``FusionUNet`` (shared by both modes): a 5-level U-Net that looks at two candidate images aligned
  with the target (geometry mode: both neighbours forward-warped with depth and poses; footage mode:
  both frames backward-warped along the estimated flow), their masks, their relative depth and t,
  the classical merge ``P`` and a far-side hole fill ``F``, and predicts per pixel three blend
  coefficients (A, B, F against P) and an RGB residual. Its output head starts at zero, so an
  untrained network reproduces the classical result exactly (the merge where a source saw the
  scene, the far-side fill in holes) and training only has to learn corrections: occlusions,
  resampling blur, edges, view-dependent shading. Pixels that neither source saw keep the
  classical fill (see ``combine``).
- Footage mode's flow is OpenCV's DIS (``flow.classical_flow_t``: coarse to fine, both directions,
  turned into flows from t to each frame); the fusion network then resolves what flow gets wrong
  (occlusions, out-of-frame samples, blur). A learned coarse-to-fine flow refiner in the style of
  IFNet was tried: trained on our rendered clips it cost 0.6 dB on real footage against DIS alone
  (see ``weights/README.md``), so it is not part of the product.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import flow as flowlib
from . import warp as warplib

DEFAULT_CONFIG = {"unet": [16, 32, 64, 96, 128]}
IN_CHANNELS = 24  # see geometry_inputs / footage_inputs
HEAD = 6  # blend coefficients for A, B, F against P, and an RGB residual
FLOW_NORM = 32.0  # flows enter the fusion net in units of this many pixels


def conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True))


class FusionUNet(nn.Module):
    def __init__(self, cin=IN_CHANNELS, ch=(16, 32, 64, 96, 128), cout=6):
        super().__init__()
        self.enc = nn.ModuleList([nn.Sequential(conv(cin, ch[0]), conv(ch[0], ch[0]))])
        for i in range(1, len(ch)):
            self.enc.append(nn.Sequential(conv(ch[i - 1], ch[i], 2), conv(ch[i], ch[i])))
        self.dec = nn.ModuleList()
        for i in range(len(ch) - 1, 0, -1):
            self.dec.append(nn.Sequential(conv(ch[i] + ch[i - 1], ch[i - 1]), conv(ch[i - 1], ch[i - 1])))
        self.head = nn.Conv2d(ch[0], cout, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.multiple = 2 ** (len(ch) - 1)

    def forward(self, x):
        H, W = x.shape[-2:]
        m = self.multiple
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        skips = []
        for enc in self.enc:
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        for dec in self.dec:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], 1))
        return self.head(x)[..., :H, :W]


class PS4PROInterp(nn.Module):
    def __init__(self, config: dict | None = None):
        super().__init__()
        self.config = dict(DEFAULT_CONFIG, **(config or {}))
        self.fusion = FusionUNet(IN_CHANNELS, self.config["unet"], HEAD)

    def fuse(self, inp: dict):
        """Fusion of prepared candidates (see ``geometry_inputs`` / ``footage_inputs``)."""
        out = self.fusion(inp["x"])
        return combine(inp, out)

    def forward_geometry(self, w: dict, t):
        return self.fuse(geometry_inputs(w, t))

    def forward_footage(self, img0, img1, t, flow=None):
        """Returns (rgb, prepared inputs). Without ``flow`` (B, 4, H, W), DIS flow is estimated."""
        if flow is None:
            flow = flowlib.classical_flow_t_batch(img0, img1, t)
        inp = footage_inputs(img0, img1, t, flow)
        return self.fuse(inp), inp


def combine(inp: dict, out: torch.Tensor) -> torch.Tensor:
    """Where some source saw the scene: P + a·(A − P) + b·(B − P) + c·(F − P) + residual.
    Where neither did (cov = 0), the far-side fill F: the network's guesses there generalised worse
    than this classical fill on held-out scenes (large unseen background at wide gaps), so holes
    are not the network's to invent."""
    P, A, B, Fc, cov = inp["P"], inp["A"], inp["B"], inp["F"], inp["cov"]
    learned = P + out[:, 0:1] * (A - P) + out[:, 1:2] * (B - P) + out[:, 2:3] * (Fc - P) + out[:, 3:6]
    return cov * learned + (1 - cov) * Fc


def _disparity(z, mask):
    """1/z for surfaces, 0 for the background and for holes."""
    fg = (mask > 0) & (z > 0) & (z < warplib.BACKGROUND)
    return torch.where(fg, 1.0 / z.clamp(min=1e-6), torch.zeros_like(z)), fg


def geometry_inputs(w: dict, t) -> dict:
    """Network inputs from two forward warps (``warp.warp_pair``)."""
    merged, wa, wb, mask = warplib.merge_warps(w, t)
    P = warplib.fill_holes(merged, mask)
    Fc = warplib.fill_holes_far(merged, mask, torch.where(wa >= wb, w["zA"], w["zB"]))
    A = warplib.fill_holes(w["A"], w["mA"])
    B = warplib.fill_holes(w["B"], w["mB"])
    dA, fgA = _disparity(w["zA"], w["mA"])
    dB, fgB = _disparity(w["zB"], w["mB"])
    scale = torch.maximum(dA.amax((1, 2, 3), keepdim=True), dB.amax((1, 2, 3), keepdim=True)).clamp(min=1e-6)
    dA = warplib.fill_holes(dA / scale, w["mA"])
    dB = warplib.fill_holes(dB / scale, w["mB"])
    both = fgA & fgB
    lr = torch.where(both, torch.log(w["zA"].clamp(min=1e-6) / w["zB"].clamp(min=1e-6)).clamp(-1, 1) * 4,
                     torch.zeros_like(dA))
    tmap = warplib._t_map(t, A).expand_as(dA)
    x = torch.cat([A, B, P, Fc, w["mA"], w["mB"], wa, dA, dB, lr, tmap, torch.ones_like(dA),
                   torch.zeros_like(A[:, :2]), torch.zeros_like(A[:, :2])], 1)
    return {"x": x, "P": P, "A": A, "B": B, "F": Fc, "cov": mask}


def classical_mask(flow, t):
    """Share of frame 0 in the blend: linear in t, out-of-frame samples taken from the other side."""
    vA = flowlib.inside_mask(flow[:, :2])
    vB = flowlib.inside_mask(flow[:, 2:])
    tmap = warplib._t_map(t, vA).expand_as(vA)
    m = (1 - tmap) * vA
    return m / (m + tmap * vB).clamp(min=1e-6)


def footage_inputs(img0, img1, t, flow, mask_logit=None) -> dict:
    """Network inputs from two frames and the flow from t to each (B, 4, H, W: t->0, t->1)."""
    A = flowlib.backward_warp(img0, flow[:, :2])
    B = flowlib.backward_warp(img1, flow[:, 2:])
    vA = flowlib.inside_mask(flow[:, :2])
    vB = flowlib.inside_mask(flow[:, 2:])
    tmap = warplib._t_map(t, A).expand_as(vA)
    m = classical_mask(flow, t) if mask_logit is None else torch.sigmoid(mask_logit)
    P = m * A + (1 - m) * B
    z = torch.zeros_like(vA)
    x = torch.cat([A, B, P, P, vA, vB, m, z, z, z, tmap, z, flow / FLOW_NORM], 1)
    # cov: the fusion's own mask (every pixel has a flow estimate); seen: a source frame holds the pixel.
    return {"x": x, "P": P, "A": A, "B": B, "F": P, "cov": torch.ones_like(vA), "seen": torch.maximum(vA, vB)}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
