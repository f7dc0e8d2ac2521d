"""Camera poses between captured views: rotation slerp, position along the path.

Poses are camera-to-world 4x4 matrices in Blender camera axes. Positions follow a centripetal
Catmull-Rom spline through the neighbouring views where the path has them (so in-between
cameras stay on a curved path such as an orbit), and a straight line otherwise.
"""

from __future__ import annotations

import math

import numpy as np


def _quat_from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (scale removed first)."""
    r = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    t = np.trace(r)
    if t > 0:
        s = 2.0 * math.sqrt(t + 1.0)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 1e-12))
        q = [0.0] * 4
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q)


def _matrix_from_quat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    dot = float(np.dot(q0, q1))
    if dot < 0:  # the shorter way round
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + t * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(min(1.0, dot))
    return (math.sin((1 - t) * theta) * q0 + math.sin(t * theta) * q1) / math.sin(theta)


def view_angle_deg(c2w_a: np.ndarray, c2w_b: np.ndarray) -> float:
    """Angle between two cameras' viewing directions (their -Z axes), in degrees."""
    fa = -c2w_a[:3, 2] / np.linalg.norm(c2w_a[:3, 2])
    fb = -c2w_b[:3, 2] / np.linalg.norm(c2w_b[:3, 2])
    return math.degrees(math.acos(float(np.clip(np.dot(fa, fb), -1.0, 1.0))))


def _catmull_rom(p0, p1, p2, p3, t: float, alpha: float = 0.5) -> np.ndarray:
    """Centripetal Catmull-Rom between p1 and p2 (no cusps or self-intersections)."""

    def knot(ti, a, b):
        return ti + max(float(np.linalg.norm(b - a)) ** alpha, 1e-9)

    t0 = 0.0
    t1 = knot(t0, p0, p1)
    t2 = knot(t1, p1, p2)
    t3 = knot(t2, p2, p3)
    u = t1 + t * (t2 - t1)
    a1 = (t1 - u) / (t1 - t0) * p0 + (u - t0) / (t1 - t0) * p1
    a2 = (t2 - u) / (t2 - t1) * p1 + (u - t1) / (t2 - t1) * p2
    a3 = (t3 - u) / (t3 - t2) * p2 + (u - t2) / (t3 - t2) * p3
    b1 = (t2 - u) / (t2 - t0) * a1 + (u - t0) / (t2 - t0) * a2
    b2 = (t3 - u) / (t3 - t1) * a2 + (u - t1) / (t3 - t1) * a3
    return (t2 - u) / (t2 - t1) * b1 + (u - t1) / (t2 - t1) * b2


def interpolate_pose(path: list[np.ndarray], i: int, t: float) -> np.ndarray:
    """The pose a fraction ``t`` of the way from ``path[i]`` to ``path[i + 1]``.

    Rotation by slerp between the two; position on the spline through ``path[i-1 .. i+2]``
    where those exist (mirrored end points otherwise), which reduces to the straight line
    when the four positions are collinear.
    """
    a, b = path[i], path[i + 1]
    p1, p2 = a[:3, 3], b[:3, 3]
    p0 = path[i - 1][:3, 3] if i > 0 else 2 * p1 - p2
    p3 = path[i + 2][:3, 3] if i + 2 < len(path) else 2 * p2 - p1
    out = np.eye(4)
    out[:3, :3] = _matrix_from_quat(slerp(_quat_from_matrix(a), _quat_from_matrix(b), t))
    out[:3, 3] = _catmull_rom(p0, p1, p2, p3, t) if np.linalg.norm(p2 - p1) > 1e-12 else p1
    return out


def look_at_point(c2ws: list[np.ndarray], min_spread: float = 0.02) -> np.ndarray | None:
    """The point nearest every camera's optical axis (least squares): the centre an orbit looks
    at. None when the axes are close to parallel (a dolly, a forward-moving path) or the point is
    behind a camera, since then there is no centre to move around."""
    if len(c2ws) < 2:
        return None
    a, b = np.zeros((3, 3)), np.zeros(3)
    for m in c2ws:
        d = -np.asarray(m, dtype=np.float64)[:3, 2]
        d /= np.linalg.norm(d)
        p = np.eye(3) - np.outer(d, d)
        a += p
        b += p @ np.asarray(m, dtype=np.float64)[:3, 3]
    if np.linalg.eigvalsh(a)[0] < min_spread * len(c2ws):
        return None
    centre = np.linalg.solve(a, b)
    if any(float(np.dot(centre - m[:3, 3], -m[:3, 2])) <= 0 for m in c2ws):
        return None
    return centre


def orbit_offset(c2w: np.ndarray, centre: np.ndarray, deg: float) -> np.ndarray:
    """The camera moved ``deg`` degrees towards its own up (negative: down) on the sphere around
    ``centre``, turned with it so that it keeps looking at the same point."""
    c2w = np.asarray(c2w, dtype=np.float64)
    axis = c2w[:3, 0] / np.linalg.norm(c2w[:3, 0])
    th = -math.radians(deg)  # a positive turn about +X carries the camera's +Z towards -Y (down)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(th) * k + (1 - math.cos(th)) * (k @ k)
    out = np.eye(4)
    out[:3, :3] = rot @ c2w[:3, :3]
    out[:3, 3] = centre + rot @ (c2w[:3, 3] - centre)
    return out
