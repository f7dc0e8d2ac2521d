"""Geometry out of the field, for Blender: a coloured point cloud and a vertex-coloured mesh.

Every training camera renders the field once (``render_views``). Points: pixels that are opaque
enough are lifted to 3-D with the field's own (un-composited) colour, merged per voxel, and points
with few neighbours (floaters) are dropped. Mesh: marching cubes on the density sampled over the
aabb (only inside occupied cells), small disconnected pieces removed, surfaces no camera saw
removed, each vertex coloured by the field looking at it from outside along its normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import fusion
from . import sampler


# ----------------------------------------------------------------------------- views

STOP_OPACITY = 0.99  # a ray with this much of its light gone hides what lies further along it
# Below this share of seen faces the field is too cloudy for its views to judge (floaters in front
# of the cameras hide everything): the mesh is then left whole. A clean field sees about half.
MIN_SEEN_SHARE = 0.25


def grid_rays(frame, stride: int, device, dtype=torch.float32):
    """Rays through every ``stride``-th pixel of a frame in both directions, row by row."""
    py, px = torch.meshgrid(torch.arange(0, frame.h, stride, device=device),
                            torch.arange(0, frame.w, stride, device=device), indexing="ij")
    c2w = torch.as_tensor(np.asarray(frame.c2w), dtype=dtype, device=device)
    return sampler.pixel_rays(c2w, frame.fx, frame.fy, frame.cx, frame.cy, px.reshape(-1), py.reshape(-1))


@dataclass
class ViewRender:
    """What one camera sees of the field at every ``stride``-th pixel (row-major, ``rows x cols``):
    planar depth (NaN where the ray meets nothing), opacity, the field's own colour, and the
    planar depth where the ray is blocked (``STOP_OPACITY`` of its light gone; inf if never)."""
    frame: object
    stride: int
    rows: int
    cols: int
    depth: np.ndarray    # (rows * cols,) float32
    opacity: np.ndarray  # (rows * cols,) float32
    rgb: np.ndarray      # (rows * cols, 3) float32, un-composited, divided by opacity
    stop: np.ndarray     # (rows * cols,) float32

    def rays(self, device="cpu", dtype=torch.float32):
        """Origins, directions and zscale of this render's rays (``sampler.pixel_rays``)."""
        return grid_rays(self.frame, self.stride, device, dtype)

    def sees(self, points: np.ndarray, tolerance: float) -> np.ndarray:
        """Which points this camera sees: in front of it, inside its image, and not more than
        ``tolerance`` behind where its nearest rendered ray is blocked. Blocked, not the expected
        depth: a foggy field's expected depth lies in front of its dense surfaces, which the
        camera still sees through the fog."""
        x, y, z = sampler.project(self.frame, points)
        i = np.round((y - 0.5) / self.stride).astype(np.int64)
        j = np.round((x - 0.5) / self.stride).astype(np.int64)
        inside = (z > 0) & (i >= 0) & (i < self.rows) & (j >= 0) & (j < self.cols)
        k = np.where(inside, i * self.cols + j, 0)
        return inside & (z <= self.stop[k] + tolerance)


@torch.no_grad()
def render_views(model, frames, device, max_rays: int = 65536, chunk: int = 16384, ctx=None) -> list[ViewRender]:
    """Each camera's view of the field, at most ``max_rays`` rays per view (every stride-th pixel
    of larger images). Rendered once, then lifted to points and used to cull unseen surfaces."""
    out = []
    for n, frame in enumerate(frames):
        if ctx is not None:
            ctx.progress("Rendering training views", n, len(frames))
        stride = max(1, int(np.ceil(np.sqrt(frame.w * frame.h / max_rays))))
        o, d, zs = grid_rays(frame, stride, device)
        parts = []
        for s in range(0, len(o), chunk):
            k = slice(s, s + chunk)
            r = model.render_rays(o[k], d[k], zs[k], bg=torch.zeros(len(o[k]), 3, device=o.device),
                                  stop_opacity=STOP_OPACITY)
            a = r["opacity"]
            rgb = (r["field_rgb"] / a.clamp_min(1e-6)[:, None]).clamp(0, 1)
            parts.append([v.float().cpu() for v in (r["depth"], a, rgb, r["stop_depth"])])
        depth, opacity, rgb, stop = (torch.cat(p).numpy() for p in zip(*parts))
        out.append(ViewRender(frame, stride, -(-frame.h // stride), -(-frame.w // stride), depth, opacity, rgb, stop))
    if ctx is not None:
        ctx.progress("Rendering training views", len(frames), len(frames))
    return out


# ----------------------------------------------------------------------------- points


def point_spacing(model) -> float:
    """The exported points' spacing (their voxel): 1/256 of the scene's diagonal."""
    aabb = model.field.aabb.detach().cpu().numpy().astype(np.float64)
    return float(np.linalg.norm(aabb[1] - aabb[0])) / 256.0


def points_from_views(model, views: list[ViewRender], min_opacity: float = 0.5, voxel: float = 0.0,
                      min_neighbours: int = 4):
    """Points (N, 3) float32, colours (N, 3) uint8, extra {"opacity", "views"} (N,) float32: the
    views' opaque pixels lifted to 3-D and merged per voxel, floaters dropped."""
    aabb = model.field.aabb.detach().cpu().numpy().astype(np.float64)
    voxel = voxel if voxel > 0 else point_spacing(model)
    acc = fusion.VoxelAccumulator(voxel, aabb[0] - voxel)
    opac = fusion.VoxelAccumulator(voxel, aabb[0] - voxel)
    for view in views:
        ok = (view.opacity >= min_opacity) & np.isfinite(view.depth)
        if not ok.any():
            continue
        o, d, zs = view.rays(dtype=torch.float64)
        k = torch.as_tensor(ok)
        t = torch.as_tensor(view.depth[ok], dtype=torch.float64) / zs[k]
        pts = (o[k] + d[k] * t[:, None]).numpy()
        acc.add(pts, view.rgb[ok].astype(np.float64))
        opac.add(pts, np.repeat(view.opacity[ok].astype(np.float64)[:, None], 3, axis=1))
    points, colors, counts = acc.result()
    # Same points in the same voxels: the second accumulator's rows line up with the first's.
    opacity = (opac.sums[:, 3] / opac.sums[:, 6]).astype(np.float32)
    keep = sparse_point_mask(points, voxel, min_neighbours) if len(points) else np.zeros(0, bool)
    return points[keep], colors[keep], {"opacity": opacity[keep], "views": counts[keep]}


def sparse_point_mask(points: np.ndarray, voxel: float, min_neighbours: int) -> np.ndarray:
    """True for points with at least ``min_neighbours`` others in the 3x3x3 voxels around them
    (floaters are isolated specks)."""
    ijk = np.floor((points - points.min(0)) / voxel).astype(np.int64) + 1
    dims = ijk.max(0) + 2
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    order = np.argsort(key)
    sorted_keys = key[order]
    counts = np.zeros(len(points), np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                if dx == dy == dz == 0:
                    continue
                nk = key + (dx * dims[1] + dy) * dims[2] + dz
                lo = np.searchsorted(sorted_keys, nk, side="left")
                hi = np.searchsorted(sorted_keys, nk, side="right")
                counts += hi - lo
    return counts >= min_neighbours


# ----------------------------------------------------------------------------- mesh


@torch.no_grad()
def density_grid(density_fn, aabb, res: int, occupied=None, device="cpu", chunk: int = 1 << 18) -> np.ndarray:
    """Density at res^3 points spanning the aabb corner to corner; 0 where ``occupied(points)``
    says the space is empty (the occupancy grid), which saves most of the work."""
    aabb = torch.as_tensor(aabb, dtype=torch.float32, device=device)
    axis = [torch.linspace(float(aabb[0, i]), float(aabb[1, i]), res, device=device) for i in range(3)]
    out = np.zeros(res ** 3, np.float32)
    n = res ** 3
    for s in range(0, n, chunk):
        idx = torch.arange(s, min(n, s + chunk), device=device)
        pts = torch.stack([axis[0][idx // (res * res)], axis[1][(idx // res) % res], axis[2][idx % res]], -1)
        vals = torch.zeros(len(idx), device=device)
        live = occupied(pts) if occupied is not None else torch.ones(len(idx), dtype=torch.bool, device=device)
        if bool(live.any()):
            vals[live] = density_fn(pts[live]).float()
        out[s:s + len(idx)] = vals.cpu().numpy()
    return out.reshape(res, res, res)


def marching_cubes(volume: np.ndarray, aabb, level: float):
    """Vertices (world), triangles (outward winding), outward unit normals. The volume is padded
    with empty space so surfaces that touch the box still close."""
    from skimage.measure import marching_cubes as mc

    aabb = np.asarray(aabb, np.float64)
    res = volume.shape[0]
    spacing = (aabb[1] - aabb[0]) / (res - 1)
    if not volume.max() > level:  # nothing dense enough: no surface
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros((0, 3), np.float32)
    padded = np.pad(volume, 1, constant_values=min(0.0, float(volume.min())))
    verts, faces, normals, _ = mc(padded, level=level, spacing=tuple(spacing), gradient_direction="descent")
    verts = verts - spacing + aabb[0]
    # Face winding so that (b - a) x (c - a) points along the outward normal (Blender's rule).
    a, b, c = (verts[faces[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    if np.sum(cross * normals[faces].mean(1)) < 0:
        faces = faces[:, ::-1]
    return verts.astype(np.float32), np.ascontiguousarray(faces, np.int32), normals.astype(np.float32)


def fill_interior(volume: np.ndarray, level: float) -> np.ndarray:
    """The density grid with every enclosed cavity made solid. A radiance field learns only a shell
    around each surface (no view sees inside an object, and the occupancy grid skips it), so
    marching cubes would also find the shell's inner side, a second surface a few cells inside
    the true one. Cells that the outside cannot reach without crossing the shell are set dense."""
    from scipy.ndimage import binary_fill_holes

    solid = volume > level
    cavity = binary_fill_holes(solid) & ~solid
    if not cavity.any():
        return volume
    return np.where(cavity, np.float32(max(float(volume.max()), 2.0 * level)), volume)


def remove_small_components(verts, faces, normals, min_fraction: float = 0.05):
    """Keep the connected pieces with at least ``min_fraction`` of the largest piece's faces."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(faces) == 0:
        return verts, faces, normals
    n = len(verts)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    face_label = labels[faces[:, 0]]
    sizes = np.bincount(face_label)
    return keep_faces(verts, faces, normals, sizes[face_label] >= min_fraction * sizes.max())


def keep_faces(verts, faces, normals, keep: np.ndarray):
    """The mesh with only the faces where ``keep`` is true, and only the vertices they use."""
    faces = faces[keep]
    used = np.zeros(len(verts), bool)
    used[faces.reshape(-1)] = True
    remap = np.cumsum(used) - 1
    return verts[used], remap[faces].astype(np.int32), normals[used]


def cull_unseen(verts, faces, normals, views: list[ViewRender], tolerance: float):
    """Drop the faces no view saw any corner of. A field is only constrained where light reached:
    behind every visible surface (inside objects, under the table, between touching objects) its
    density is whatever training left there, and marching cubes turns that into surfaces that are
    not in the scene."""
    if len(faces) == 0 or not views:
        return verts, faces, normals
    seen = np.zeros(len(verts), bool)
    for view in views:
        todo = ~seen
        seen[todo] = view.sees(verts[todo].astype(np.float64), tolerance)
    return keep_faces(verts, faces, normals, seen[faces].any(1))


@torch.no_grad()
def vertex_colors(model, verts, normals, device, chunk: int = 65536) -> np.ndarray:
    """The field's colour just inside each vertex, seen from outside along the normal."""
    field = model.field
    inset = float((field.aabb[1] - field.aabb[0]).min()) / 512.0
    out = []
    for s in range(0, len(verts), chunk):
        v = torch.as_tensor(verts[s:s + chunk], device=device)
        nrm = torch.nn.functional.normalize(torch.as_tensor(normals[s:s + chunk], device=device), dim=-1)
        _, rgb = field(v - nrm * inset, -nrm)
        out.append(rgb.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 3), np.float32)


def mesh_from_field(model, device, res: int = 256, level: float | None = None, min_fraction: float = 0.05,
                    seen_by: list[ViewRender] | None = None, ctx=None):
    """Vertices (N, 3), vertex colours (N, 3) uint8, triangles (M, 3) and the iso level used. With
    ``seen_by``, only surfaces those views saw are kept (within two grid cells of what they see)."""
    aabb = model.field.aabb.detach().cpu().numpy()
    spacing = float(((aabb[1] - aabb[0]) / (res - 1)).min())
    if level is None:
        level = float(-np.log(0.5) / spacing)  # half the light stops within one voxel
    if ctx is not None:
        ctx.progress("Exporting mesh", 0, 2)
    vol = density_grid(model.field.density, aabb, res, occupied=model.grid.lookup, device=device)
    if ctx is not None:
        ctx.progress("Exporting mesh", 1, 2)
    verts, faces, normals = marching_cubes(fill_interior(vol, level), aabb, level)
    verts, faces, normals = remove_small_components(verts, faces, normals, min_fraction)
    if seen_by:
        kept = cull_unseen(verts, faces, normals, seen_by, tolerance=2.0 * spacing)
        if len(kept[1]) >= MIN_SEEN_SHARE * len(faces):
            verts, faces, normals = kept
        elif ctx is not None:
            ctx.emit.warning(f"The export's views see only {len(kept[1]) / max(1, len(faces)):.0%} of the mesh "
                             "(a cloudy field hides the rest from them), so unseen surfaces were kept")
    colors = vertex_colors(model, verts, normals, device)
    if ctx is not None:
        ctx.progress("Exporting mesh", 2, 2)
    return verts, np.clip(np.round(colors * 255), 0, 255).astype(np.uint8), faces, level
