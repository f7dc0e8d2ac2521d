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
- ``FlowNet`` (footage mode): coarse-to-fine bidirectional flow from t to both frames in the style
  of IFNet (RIFE), much smaller: 4 levels of tiny conv blocks, each refining the flow and the
  occlusion mask of the last. It starts from classical DIS flow (``flow.classical_flow_t``), itself
  coarse to fine, and its output heads start at zero: untrained, it returns the classical flow and
  blend, and training (a few CPU-minutes, not the GPU-days a flow net learnt from nothing needs)
  only learns corrections: motion boundaries, occlusion masks, large textureless areas.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import flow as flowlib
from . import warp as warplib

DEFAULT_CONFIG = {"unet": [16, 32, 64, 96, 128], "flow": [80, 64, 48, 32], "flow_scales": [8, 4, 2, 1]}
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


class FlowBlock(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.conv0 = nn.Sequential(conv(cin, c // 2, 2), conv(c // 2, c, 2))
        self.body = nn.Sequential(conv(c, c), conv(c, c), conv(c, c), conv(c, c))
        self.head = nn.ConvTranspose2d(c, 5, 4, 2, 1)
        nn.init.zeros_(self.head.weight)  # refinements start at zero: see the module note
        nn.init.zeros_(self.head.bias)

    def forward(self, x, flow, scale):
        H, W = x.shape[-2:]
        size = (max(1, round(H / scale)), max(1, round(W / scale)))
        if scale != 1:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            flow = F.interpolate(flow, size=size, mode="bilinear", align_corners=False) / scale
        feat = self.conv0(torch.cat([x, flow], 1))
        feat = self.body(feat) + feat
        out = self.head(feat)
        out = F.interpolate(out, size=(H, W), mode="bilinear", align_corners=False)
        return out[:, :4] * scale * 2, out[:, 4:5]


class FlowNet(nn.Module):
    """Bidirectional flow from the in-between time t to both frames, refined coarse to fine from an
    initial flow (B, 4, H, W: t->0, t->1) and an initial blend-mask logit (B, 1, H, W)."""

    def __init__(self, ch=(80, 64, 48, 32), scales=(8, 4, 2, 1)):
        super().__init__()
        self.scales = list(scales)
        # inputs: I0, I1, warped I0, warped I1, t, mask logit (14) + flow (4)
        self.blocks = nn.ModuleList([FlowBlock(14 + 4, c) for c in ch])
        self.multiple = 4 * max(scales)

    def forward(self, img0, img1, t, flow, mask):
        B, _, H, W = img0.shape
        m = self.multiple
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            pad = lambda v: F.pad(v, (0, pw, 0, ph), mode="replicate")  # noqa: E731
            img0, img1, flow, mask = pad(img0), pad(img1), pad(flow), pad(mask)
        tmap = warplib._t_map(t, img0).expand(B, 1, *img0.shape[-2:])
        w0 = flowlib.backward_warp(img0, flow[:, :2])
        w1 = flowlib.backward_warp(img1, flow[:, 2:])
        for block, scale in zip(self.blocks, self.scales):
            x = torch.cat([img0, img1, w0, w1, tmap, mask], 1)
            dflow, dmask = block(x, flow, scale)
            flow = flow + dflow
            mask = mask + dmask
            w0 = flowlib.backward_warp(img0, flow[:, :2])
            w1 = flowlib.backward_warp(img1, flow[:, 2:])
        return flow[..., :H, :W], mask[..., :H, :W]


class PS4PROInterp(nn.Module):
    def __init__(self, config: dict | None = None):
        super().__init__()
        self.config = dict(DEFAULT_CONFIG, **(config or {}))
        self.fusion = FusionUNet(IN_CHANNELS, self.config["unet"], HEAD)
        self.flow = FlowNet(self.config["flow"], self.config["flow_scales"])

    def fuse(self, inp: dict):
        """Fusion of prepared candidates (see ``geometry_inputs`` / ``footage_inputs``)."""
        out = self.fusion(inp["x"])
        return combine(inp, out)

    def forward_geometry(self, w: dict, t):
        return self.fuse(geometry_inputs(w, t))

    def estimate_flow(self, img0, img1, t):
        """(flow t->0 and t->1, blend-mask logit): classical DIS flow refined by ``FlowNet``."""
        flow = flowlib.classical_flow_t_batch(img0, img1, t)
        return self.flow(img0, img1, t, flow, classical_mask_logit(flow, t))

    def forward_footage(self, img0, img1, t, flow=None, mask_logit=None):
        """Returns (rgb, prepared inputs). Without ``flow``, ``estimate_flow`` runs."""
        if flow is None:
            flow, mask_logit = self.estimate_flow(img0, img1, t)
        inp = footage_inputs(img0, img1, t, flow, mask_logit)
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


def classical_mask_logit(flow, t):
    m = classical_mask(flow, t).clamp(0.02, 0.98)
    return torch.log(m / (1 - m))


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
    return {"x": x, "P": P, "A": A, "B": B, "F": P, "cov": torch.ones_like(vA)}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
