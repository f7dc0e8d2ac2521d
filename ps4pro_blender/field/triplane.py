"""The tri-plane field: three axis-aligned feature planes (xy, xz, yz) sampled with ``grid_sample``,
combined by concatenation (or product), decoded by tiny MLPs into density and view-dependent colour.

The planes are the whole scene representation (the MLPs are shared and small), which is also what a
3D Snapshot stores. Their resolution can grow mid-training (coarse-to-fine) by bilinear upsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SH_DEGREES = (2, 4)


def sh_encode(d: torch.Tensor, degree: int = 2) -> torch.Tensor:
    """Real spherical harmonics of unit directions up to ``degree`` (2: 9 values; 4: 25): a cheap,
    smooth direction encoding. Degree 2 covers most view dependence; degree 4 adds sharper lobes
    for glossy surfaces (reconstruct --sh-degree)."""
    if degree not in SH_DEGREES:
        raise ValueError(f"sh_degree must be one of {SH_DEGREES}, not {degree!r}")
    x, y, z = d.unbind(-1)
    one = torch.full_like(x, 0.28209479)
    bands = [one, -0.48860251 * y, 0.48860251 * z, -0.48860251 * x,
             1.09254843 * x * y, -1.09254843 * y * z, 0.31539157 * (3 * z * z - 1),
             -1.09254843 * x * z, 0.54627421 * (x * x - y * y)]
    if degree == 4:
        xx, yy, zz = x * x, y * y, z * z
        bands += [
            0.59004359 * y * (3 * xx - yy), 2.89061144 * x * y * z, 0.45704580 * y * (4 * zz - xx - yy),
            0.37317633 * z * (2 * zz - 3 * xx - 3 * yy), 0.45704580 * x * (4 * zz - xx - yy),
            1.44530572 * z * (xx - yy), 0.59004359 * x * (xx - 3 * yy),
            2.50334294 * x * y * (xx - yy), 1.77013077 * y * z * (3 * xx - yy), 0.94617470 * x * y * (7 * zz - 1),
            0.66904654 * y * z * (7 * zz - 3), 0.10578554 * (35 * zz * zz - 30 * zz + 3),
            0.66904654 * x * z * (7 * zz - 3), 0.47308735 * (xx - yy) * (7 * zz - 1),
            1.77013077 * x * z * (xx - 3 * yy), 0.62583574 * (xx * (xx - 3 * yy) - yy * (3 * xx - yy)),
        ]
    return torch.stack(bands, -1)


def sh_size(degree: int) -> int:
    return (degree + 1) ** 2


class TriPlane(nn.Module):
    def __init__(self, aabb, res=128, channels=16, hidden=64, geo_feat=15, combine="concat", density_bias=1.0,
                 sh_degree=2, levels=1, color_layers=1):
        super().__init__()
        if combine not in ("product", "concat"):
            raise ValueError(f"combine must be product or concat, not {combine!r}")
        if sh_degree not in SH_DEGREES:
            raise ValueError(f"sh_degree must be one of {SH_DEGREES}, not {sh_degree!r}")
        if int(levels) < 1:
            raise ValueError(f"levels must be at least 1, not {levels!r}")
        self.config = dict(res=res, channels=channels, hidden=hidden, geo_feat=geo_feat, combine=combine,
                           density_bias=density_bias, sh_degree=int(sh_degree), levels=int(levels),
                           color_layers=int(color_layers))
        # Starting density ~e^bias per unit length: enough that surfaces appear within the first
        # steps (the occupancy priors keep this fog out of known-empty space).
        self.density_bias = float(density_bias)
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).reshape(2, 3).clone())
        self.planes = nn.Parameter(_initial(channels, res, combine))  # the finest level
        # Coarser levels (K-Planes' multiscale): halving resolutions whose features are concatenated
        # with the finest, so smooth regions learn from many rays per texel and fine ones still resolve.
        self.coarse = nn.ParameterList([nn.Parameter(_initial(channels, level_res(res, k), combine))
                                        for k in range(1, int(levels))])
        in_dim = (channels if combine == "product" else 3 * channels) * int(levels)
        self.density_net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1 + geo_feat))
        # Hidden layers of the colour MLP: view dependence (glossy reflections) is what its depth buys.
        layers = [nn.Linear(geo_feat + sh_size(sh_degree), hidden), nn.ReLU()]
        for _ in range(int(color_layers) - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.color_net = nn.Sequential(*layers, nn.Linear(hidden, 3))

    @property
    def res(self) -> int:
        return int(self.planes.shape[-1])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.aabb[0], self.aabb[1]
        return (x - lo) / (hi - lo) * 2.0 - 1.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (N, C) or (N, 3C) plane features."""
        u = self.normalize(x)
        # One grid_sample call for all three planes: the planes are a batch of 3.
        grid = torch.stack([u[:, [0, 1]], u[:, [0, 2]], u[:, [1, 2]]]).unsqueeze(2)  # (3, N, 1, 2)
        out = []
        for planes in self.levels():
            f = F.grid_sample(planes, grid, mode="bilinear", padding_mode="border", align_corners=True)
            f = f[..., 0]  # (3, C, N)
            if self.config["combine"] == "product":
                out.append((f[0] * f[1] * f[2]).t())
            else:
                out.append(f.permute(2, 0, 1).reshape(x.shape[0], -1))
        return out[0] if len(out) == 1 else torch.cat(out, -1)

    def levels(self) -> list:
        """The plane tensors, finest first, each (3, C, r, r)."""
        return [self.planes, *self.coarse]

    def _density(self, x):
        h = self.density_net(self.features(x))
        # Truncated exp: sharp surfaces need a wide density range; the clamp keeps it finite.
        sigma = torch.exp((h[:, 0] + self.density_bias).clamp(max=15.0))
        return sigma, h[:, 1:]

    def density(self, x: torch.Tensor) -> torch.Tensor:
        return self._density(x)[0]

    def color(self, geo: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Colour (N, 3) in 0..1 from the density MLP's features and unit view directions d."""
        return torch.sigmoid(self.color_net(torch.cat([geo, sh_encode(d, self.config["sh_degree"])], -1)))

    def forward(self, x: torch.Tensor, d: torch.Tensor):
        """Density (N,) and colour (N, 3) in 0..1 at points x looking along unit directions d."""
        sigma, geo = self._density(x)
        return sigma, self.color(geo, d)

    @torch.no_grad()
    def upsample(self, res: int) -> list:
        """Grow the finest planes to res x res (and each coarser level to its share) by bilinear
        interpolation (same corners as grid_sample), so the field stays (nearly) the same function
        and training continues where it was. Returns (old, new) parameter pairs that changed."""
        if res == self.res:
            return []
        changed = []
        new = nn.Parameter(resize_planes(self.planes.data, res))
        changed.append((self.planes, new))
        self.planes = new
        for k in range(1, self.config["levels"]):
            old = self.coarse[k - 1]
            if old.shape[-1] != level_res(res, k):
                self.coarse[k - 1] = nn.Parameter(resize_planes(old.data, level_res(res, k)))
                changed.append((old, self.coarse[k - 1]))
        self.config["res"] = res
        return changed


def level_res(res: int, k: int) -> int:
    """Resolution of level k (0: the finest) when the finest is res: halving, never below 8."""
    return max(8, int(res) >> k)


def _initial(channels: int, res: int, combine: str) -> torch.Tensor:
    planes = torch.empty(3, channels, res, res)
    # Product: features around 0.1..0.5 so the product of three starts small but not zero
    # (the K-Planes initialisation); concatenation: small noise around zero.
    if combine == "product":
        return planes.uniform_(0.1, 0.5)
    return planes.normal_(0.0, 0.1)


def resize_planes(planes: torch.Tensor, res: int) -> torch.Tensor:
    return F.interpolate(planes, size=(res, res), mode="bilinear", align_corners=True).contiguous()
