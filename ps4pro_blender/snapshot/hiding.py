"""The invertible hiding network: a Haar-wavelet front end and affine-coupling blocks whose
sub-networks are dynamic (their convolution kernels are mixed per input from a small bank, so the
same weights adapt to each cover and payload).

Forward (hide): the cover's Haar sub-bands ``x`` (12 channels at half size) and the payload
``y`` (``SECRET_CHANNELS`` channels at the same half size) pass through the blocks

    x' = x + phi(y)
    y' = y * exp(s(x')) + eta(x'),   s = CLAMP * tanh(rho(x'))

and the inverse Haar transform of the last ``x'`` is the stego image; the last ``y'`` (what is
"lost") is trained towards zero and not stored. Backward (reveal): the Haar sub-bands of the
stego PNG and zeros in place of the lost part run through the inverse blocks; their ``y`` is the
payload. Training rounds the stego image to 8 bits in the loop (straight-through), so what a real
PNG file gives back is what the loss measured.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SECRET_CHANNELS = 6
CLAMP = 1.0


def haar(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D Haar transform: (B, C, H, W) -> (B, 4C, H/2, W/2), sub-bands LL, LH, HL, HH
    grouped by band (all channels' LL first)."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return torch.cat([(a + b + c + d), (a - b + c - d), (a + b - c - d), (a - b - c + d)], 1) * 0.5


def ihaar(y: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`haar`."""
    ll, lh, hl, hh = y.chunk(4, 1)
    a = (ll + lh + hl + hh) * 0.5
    b = (ll - lh + hl - hh) * 0.5
    c = (ll + lh - hl - hh) * 0.5
    d = (ll - lh - hl + hh) * 0.5
    n, ch, h, w = a.shape
    out = a.new_empty(n, ch, 2 * h, 2 * w)
    out[..., 0::2, 0::2], out[..., 0::2, 1::2], out[..., 1::2, 0::2], out[..., 1::2, 1::2] = a, b, c, d
    return out


class DynamicConv(nn.Module):
    """A 3x3 convolution whose kernel is a per-sample softmax mixture of ``bank`` kernels, the mixing
    weights computed from the input's global average (CondConv / dynamic convolution)."""

    def __init__(self, cin: int, cout: int, bank: int = 4):
        super().__init__()
        self.cin, self.cout, self.bank = cin, cout, bank
        self.weight = nn.Parameter(torch.randn(bank, cout, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(bank, cout))
        self.route = nn.Linear(cin, bank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        mix = torch.softmax(self.route(x.mean((2, 3))), -1)  # (N, bank)
        w = torch.einsum("nk,koihw->noihw", mix, self.weight).reshape(n * self.cout, self.cin, 3, 3)
        b = (mix @ self.bias).reshape(-1)
        # Grouped convolution: one group per sample, each with its own mixed kernel.
        out = F.conv2d(x.reshape(1, n * self.cin, *x.shape[2:]), w, b, padding=1, groups=n)
        return out.reshape(n, self.cout, *x.shape[2:])


class SubNet(nn.Module):
    """conv -> dynamic conv -> conv; the last layer starts at zero so every block starts as the
    identity (x' = x, y' = y), which makes early training stable."""

    def __init__(self, cin: int, cout: int, hidden: int):
        super().__init__()
        self.inp = nn.Conv2d(cin, hidden, 3, padding=1)
        self.mid = DynamicConv(hidden, hidden)
        self.out = nn.Conv2d(hidden, cout, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        h = F.leaky_relu(self.inp(x), 0.2)
        h = F.leaky_relu(self.mid(h), 0.2)
        return self.out(h)


class Coupling(nn.Module):
    def __init__(self, cover_ch: int, secret_ch: int, hidden: int):
        super().__init__()
        self.phi = SubNet(secret_ch, cover_ch, hidden)
        self.rho = SubNet(cover_ch, secret_ch, hidden)
        self.eta = SubNet(cover_ch, secret_ch, hidden)

    def scale(self, x):
        return CLAMP * torch.tanh(self.rho(x))

    def forward(self, x, y):
        x = x + self.phi(y)
        y = y * torch.exp(self.scale(x)) + self.eta(x)
        return x, y

    def inverse(self, x, y):
        y = (y - self.eta(x)) * torch.exp(-self.scale(x))
        x = x - self.phi(y)
        return x, y


class HidingNet(nn.Module):
    def __init__(self, blocks: int = 4, hidden: int = 32, secret_channels: int = SECRET_CHANNELS):
        super().__init__()
        self.config = {"blocks": int(blocks), "hidden": int(hidden), "secret_channels": int(secret_channels)}
        self.blocks = nn.ModuleList(Coupling(12, secret_channels, hidden) for _ in range(blocks))

    def hide(self, cover: torch.Tensor, secret: torch.Tensor):
        """cover (N, 3, H, W) in 0..1, secret (N, S, H/2, W/2) around 0 -> stego (N, 3, H, W), not
        yet clamped or rounded, and the lost part (N, S, H/2, W/2)."""
        x, y = haar(cover), secret
        for block in self.blocks:
            x, y = block(x, y)
        return ihaar(x), y

    def reveal(self, stego: torch.Tensor, lost: torch.Tensor | None = None) -> torch.Tensor:
        """stego (N, 3, H, W) in 0..1 -> the secret (N, S, H/2, W/2). ``lost``: the part hide()
        discarded, if known (exact inversion, for tests); zeros otherwise."""
        x = haar(stego)
        y = lost if lost is not None else x.new_zeros(x.shape[0], self.config["secret_channels"], *x.shape[2:])
        for block in reversed(self.blocks):
            x, y = block.inverse(x, y)
        return y


def to_8bit(img: torch.Tensor) -> torch.Tensor:
    """Clamp to 0..1 and round to the 256 levels a PNG stores; gradients pass straight through."""
    img = img.clamp(0.0, 1.0)
    return img + (torch.round(img * 255.0) / 255.0 - img).detach()
