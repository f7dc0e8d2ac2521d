"""The reconstruction benchmark's geometry measures (bench/recon.py) on known shapes.

Never a benchmark figure or a time: only that the distances and the visibility test measure what
they say.
"""

import math

import numpy as np

from bench import recon
from ps4pro_blender import dataset, ply
from synthetic_dataset import look_at

SQUARE = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
SQUARE_FACES = np.array([[0, 1, 2], [0, 2, 3]])


def test_surface_samples_cover_the_surface_uniformly():
    pts = recon.sample_triangles(SQUARE, SQUARE_FACES, 20000, np.random.default_rng(0))
    assert pts.shape == (20000, 3) and np.all(pts[:, 2] == 0)
    assert pts[:, :2].min() >= 0 and pts[:, :2].max() <= 1
    # Uniform over the area: each quadrant holds a quarter.
    counts = np.histogram2d(pts[:, 0], pts[:, 1], bins=2, range=[[0, 1], [0, 1]])[0]
    assert np.allclose(counts / 20000, 0.25, atol=0.02)


def test_geometry_error_of_a_shifted_surface(tmp_path):
    """A copy of the truth lifted by 1% of the diagonal is 1% away in both directions."""
    lifted = SQUARE + [0, 0, 0.01 * math.sqrt(2)]
    a = recon.sample_triangles(SQUARE, SQUARE_FACES, 50000, np.random.default_rng(0))
    b = recon.sample_triangles(lifted, SQUARE_FACES, 50000, np.random.default_rng(1))
    diag = math.sqrt(2)
    there = recon._stats(recon._distances(b, a), diag)
    back = recon._stats(recon._distances(a, b), diag)
    for s in (there, back):
        assert 0.0099 < s["mean"] < 0.0110 and s["p95"] < 0.0125


def test_seen_by_keeps_what_a_depth_map_shows(tmp_path):
    """A camera above the square sees its top surface; points below it, or off-image, are unseen."""
    c2w = look_at((0.5, 0.5, 2.0), (0.5, 0.5, 0.0))
    w = h = 32
    fx = 40.0
    depth = np.full((h, w), 2.0, np.float32)  # the plane z = 0, 2 units in front
    np.save(tmp_path / "d.npy", depth)
    frame = dataset.Frame(image_path=str(tmp_path / "i.png"), c2w=c2w, fx=fx, fy=fx, cx=w / 2, cy=h / 2, w=w, h=h,
                          split="train", depth_path=str(tmp_path / "d.npy"), extra={})
    pts = np.array([[0.5, 0.5, 0.0], [0.6, 0.4, 0.0], [0.5, 0.5, -0.5], [5.0, 5.0, 0.0]])
    assert recon.seen_by(pts, [frame], None, diag=1.0).tolist() == [True, True, False, False]


def test_triangles_from_a_ply(tmp_path):
    path = str(tmp_path / "m.ply")
    ply.write_ply(path, SQUARE, faces=SQUARE_FACES)
    assert recon._triangles(ply.read_ply(path).faces).tolist() == SQUARE_FACES.tolist()
    assert recon._triangles(None).shape == (0, 3)
