"""Smooth random camera paths around a procedural scene, with a known angular step.

``animate_camera(scene, seed, n_frames, step_deg, kind="auto")`` makes (or reuses) the camera
``ps4pro_camera``, keyframes it on frames 1..n_frames and sets the scene's frame range. As seen
from the scene centre ``c``, consecutive camera positions are exactly ``step_deg`` apart:
``angle(p[k] - c, p[k+1] - c) == step_deg`` (found by bisection along the path). The camera
always looks at the scene (at ``c`` plus a small smooth drift) from a distance at which the
scene's bounding sphere about fills the frame, so objects fill the view.

Kinds:

- ``orbit``: an arc of a tilted great circle about the centre (mid elevation 15-45 deg,
  tilt +-30 deg), radius varying +-15%, a small wobble off its plane; the angle between any
  two frames is about their path distance.
- ``turntable``: a ring about the vertical axis at a slowly varying elevation (10-46 deg),
  radius +-15% and a small wobble; frames k apart are a little less than k steps apart.
- ``truck``: a straight line past the scene (sideways translation, a slight slope), seen
  within +-45 deg of the closest point, so distance changes little.
- ``dolly``: a straight line that starts (or ends) far off to one side (55 deg) and moves in
  towards (or out from) the closest point: translation with a large change of distance.

A line covers at most 90 (truck) or 110 (dolly) degrees and an orbit 120; a longer path is
made a turntable, which can go round as far as asked.

Gaps between any two frames: ``gap_deg(path, i, j)`` (the angle between their directions
from the centre). Along orbits and lines it is ``|j - i| * step_deg`` (up to the wobble); along
a turntable it is at most that, and within a few percent of it.
"""

from __future__ import annotations

import json
import math

import bpy
import numpy as np
from mathutils import Quaternion, Vector

PATH_KINDS = ("orbit", "turntable", "truck", "dolly")
CAMERA_NAME = "ps4pro_camera"
SENSOR_MM = 36.0


def _unit(v):
    return v / np.linalg.norm(v)


def _angle(a, b):
    a, b = _unit(a), _unit(b)
    return math.atan2(np.linalg.norm(np.cross(a, b)), float(np.dot(a, b)))


def gap_deg(path: dict, i: int, j: int) -> float:
    """The angle in degrees between frames ``i`` and ``j`` of ``path`` (0-based), about the centre."""
    d = np.asarray(path["directions"], float)
    return math.degrees(_angle(d[i], d[j]))


def _march(position, u0, n_frames, step, span_hi):
    """Parameters u_0 < u_1 < ... with consecutive positions ``step`` radians apart (about the
    origin; ``position(u)`` is relative to the centre)."""
    us = [u0]
    for _ in range(n_frames - 1):
        a = us[-1]
        pa = position(a)
        hi = a + span_hi
        while _angle(pa, position(hi)) < step:
            hi = a + (hi - a) * 2
            if hi - a > 100 * span_hi:
                raise RuntimeError("camera path does not turn enough")
        lo = a
        for _ in range(60):
            mid = (lo + hi) / 2
            if _angle(pa, position(mid)) < step:
                lo = mid
            else:
                hi = mid
        us.append((lo + hi) / 2)
    return us


def _orbit(rng, n_frames, step, dist):
    """An arc of a tilted great circle about the centre (so the angle between any two frames
    is their path distance), with a small wobble off its plane and a varying radius."""
    total = step * (n_frames - 1)
    for attempt in range(50):
        el = math.radians(rng.uniform(15, 45))
        az = rng.uniform(0, 2 * math.pi)
        tilt = math.radians(rng.uniform(-30, 30)) if attempt < 49 else 0.0
        m = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        h = np.array([-math.sin(az), math.cos(az), 0.0])
        t = math.cos(tilt) * h + math.sin(tilt) * np.cross(m, h)
        normal = np.cross(m, t)
        u0 = -total / 2 + rng.uniform(-0.2, 0.2) * total
        wob_amp = math.radians(rng.uniform(0, 1.5))
        wob_freq = rng.uniform(1, 3) * 2 * math.pi / max(total, 1e-3)
        wob_phase = rng.uniform(0, 2 * math.pi)
        r_amp = rng.uniform(0, 0.15)
        r_freq = rng.uniform(0.3, 1.2) * 2 * math.pi / max(total, 1e-3)
        r_phase = rng.uniform(0, 2 * math.pi)
        sign = 1.0 if rng.random() < 0.5 else -1.0

        def position(u, m=m, t=t, normal=normal, u0=u0, wob=(wob_amp, wob_freq, wob_phase), rad=(r_amp, r_freq, r_phase), sign=sign):
            a = u0 + u
            d = math.cos(a) * m + sign * math.sin(a) * t + wob[0] * math.sin(wob[1] * u + wob[2]) * normal
            r = dist * (1 + rad[0] * math.sin(rad[1] * u + rad[2]))
            return r * _unit(d)

        probes = [position(u) for u in np.linspace(0.0, total * 1.05, 9)]
        if all(math.radians(6) <= math.asin(p[2] / np.linalg.norm(p)) <= math.radians(70) for p in probes):
            break
    us = _march(position, 0.0, n_frames, step, step)
    params = {"elevation_deg": round(math.degrees(el), 2), "tilt_deg": round(math.degrees(tilt), 2), "radius_wave": round(r_amp, 3)}
    return [position(u) for u in us], params


def _turntable(rng, n_frames, step, dist):
    """A ring at a slowly varying elevation (10-45 deg): azimuth about the vertical axis. The
    angle between frames k apart is slightly less than k steps (a small circle)."""
    total = step * (n_frames - 1)
    el0 = math.radians(rng.uniform(10, 40))
    el_amp = math.radians(rng.uniform(0, 5))
    el_freq = rng.uniform(0.3, 1.0) * 2 * math.pi / max(total, 1e-3)
    el_phase = rng.uniform(0, 2 * math.pi)
    wob_amp = math.radians(rng.uniform(0, 1.0))
    wob_freq = rng.uniform(1, 2.5) * 2 * math.pi / max(total, 1e-3)
    wob_phase = rng.uniform(0, 2 * math.pi)
    r_amp = rng.uniform(0, 0.15)
    r_freq = rng.uniform(0.3, 1.2) * 2 * math.pi / max(total, 1e-3)
    r_phase = rng.uniform(0, 2 * math.pi)
    az0 = rng.uniform(0, 2 * math.pi)
    sign = 1.0 if rng.random() < 0.5 else -1.0

    def position(u):
        el = el0 + el_amp * math.sin(el_freq * u + el_phase) + wob_amp * math.sin(wob_freq * u + wob_phase)
        el = max(el, math.radians(6))
        az = az0 + sign * u
        r = dist * (1 + r_amp * math.sin(r_freq * u + r_phase))
        return r * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])

    us = _march(position, 0.0, n_frames, step, step)
    params = {"elevation_deg": round(math.degrees(el0), 2), "radius_wave": round(r_amp, 3), "direction": int(sign)}
    return [position(u) for u in us], params


def _line(rng, n_frames, step, dist, kind):
    """Straight line in a plane through the centre: p(a) = d0 * (n + tan(a) * t), t perpendicular
    to n, so that the angle about the centre is exactly a (a = 0 at the closest point)."""
    total = step * (n_frames - 1)
    limit = math.radians(45 if kind == "truck" else 55)
    if total > 2 * limit:
        return None
    # Closest approach: the fit distance for a truck; nearer for a dolly, whose far end is
    # up to 1/cos(55 deg) = 1.74 times as far.
    d0 = dist * (rng.uniform(0.85, 1.0) if kind == "truck" else rng.uniform(0.65, 0.85))
    if kind == "truck":  # about centred on the closest point
        slack = 2 * limit - total
        a0 = -total / 2 + rng.uniform(-0.5, 0.5) * min(slack, math.radians(30))
    else:  # from far off to one side in towards the closest point (reversed below: pull out)
        a0 = min(-limit * rng.uniform(0.9, 1.0), limit - total)
    angles = [a0 + k * step for k in range(n_frames)]
    for attempt in range(20):
        el = math.radians(rng.uniform(10, 40))
        az = rng.uniform(0, 2 * math.pi)
        beta = math.radians(rng.uniform(-15, 15)) if attempt < 19 else 0.0
        n = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        h = np.array([-math.sin(az), math.cos(az), 0.0])
        t = math.cos(beta) * h + math.sin(beta) * np.cross(n, h)
        positions = [d0 * (n + math.tan(a) * t) for a in angles]
        if min(math.asin(p[2] / np.linalg.norm(p)) for p in positions) >= math.radians(6):
            break
    if rng.random() < 0.5:
        positions = positions[::-1]
    params = {"elevation_deg": round(math.degrees(el), 2), "slope_deg": round(math.degrees(beta), 2), "closest": round(d0, 3)}
    return positions, params


def _fit_distance(radius, lens_mm, aspect):
    """Distance at which a sphere of ``radius`` fills the smaller field of view."""
    fov_h = 2 * math.atan(SENSOR_MM / 2 / lens_mm)
    fov_v = 2 * math.atan(math.tan(fov_h / 2) / aspect) if aspect >= 1 else fov_h
    fov = min(fov_h, fov_v)
    return radius / math.sin(fov / 2)


def _camera(scene):
    obj = bpy.data.objects.get(CAMERA_NAME)
    if obj is None or obj.type != "CAMERA":
        obj = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
    if obj.name not in scene.collection.objects:
        scene.collection.objects.link(obj)
    obj.animation_data_clear()
    scene.camera = obj
    return obj


def _look_quat(pos, target, roll):
    forward = Vector(target) - Vector(pos)
    quat = forward.to_track_quat("-Z", "Y")
    return quat @ Quaternion((0, 0, 1), roll)


def _centre_radius(scene):
    meta = scene.get("ps4pro_procedural")
    if meta:
        meta = json.loads(meta)
        return np.array(meta["center"], float), float(meta["radius"])
    from .scenes import scene_bounds

    return scene_bounds(scene)


def animate_camera(scene, seed: int, n_frames: int, step_deg: float, kind: str = "auto", lens_mm: float | None = None) -> dict:
    """Keyframe a random camera path on frames 1..n_frames; returns the path (JSON-able)."""
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")
    if step_deg <= 0:
        raise ValueError("step_deg must be > 0")
    rng = np.random.default_rng([7, int(seed), int(round(step_deg * 1000)), int(n_frames)])
    if kind == "auto":
        kind = str(rng.choice(PATH_KINDS, p=[0.35, 0.25, 0.2, 0.2]))
    if kind not in PATH_KINDS:
        raise ValueError(f"kind must be 'auto' or one of {PATH_KINDS}, not {kind!r}")
    centre, radius = _centre_radius(scene)
    lens = float(lens_mm) if lens_mm else float(rng.uniform(28, 50))
    aspect = scene.render.resolution_x * scene.render.pixel_aspect_x / (scene.render.resolution_y * scene.render.pixel_aspect_y)
    fill = rng.uniform(0.75, 1.05)  # <1: tighter than the bounding sphere, objects fill the frame
    dist = max(_fit_distance(radius, lens, aspect) * fill, radius * 1.3)
    step = math.radians(step_deg)
    made = None
    if kind == "orbit" and step * (n_frames - 1) > math.radians(120):
        kind = "turntable"  # a long great-circle arc would dip under the ground
    if kind in ("truck", "dolly"):
        made = _line(rng, n_frames, step, dist, kind)
        if made is None:
            kind = "turntable"  # too long a path for a line at this step
    if made is None:
        made = (_turntable if kind == "turntable" else _orbit)(rng, n_frames, step, dist)
    rel, params = made
    # The look-at target drifts smoothly a little around the centre; a little roll.
    drift_amp = rng.uniform(0, 0.08) * radius
    drift_phase = rng.uniform(0, 2 * math.pi, 3)
    drift_freq = rng.uniform(0.5, 2.0, 3) * 2 * math.pi / max(n_frames - 1, 1)
    roll_amp = math.radians(rng.uniform(0, 2.0))
    roll_phase = rng.uniform(0, 2 * math.pi)
    cam = _camera(scene)
    cam.data.lens = lens
    cam.data.sensor_width = SENSOR_MM
    cam.data.sensor_fit = "AUTO"
    far = float(max(np.linalg.norm(p) for p in rel)) + radius
    cam.data.clip_start = max(0.01, 0.01 * dist)
    cam.data.clip_end = max(100.0, 4 * far)
    cam.rotation_mode = "QUATERNION"
    positions, targets, directions = [], [], []
    for k, r in enumerate(rel):
        pos = centre + r
        target = centre + drift_amp * np.sin(drift_freq * k + drift_phase)
        roll = roll_amp * math.sin(2 * math.pi * k / max(n_frames - 1, 1) + roll_phase)
        cam.location = Vector(pos)
        cam.rotation_quaternion = _look_quat(pos, target, roll)
        cam.keyframe_insert("location", frame=k + 1)
        cam.keyframe_insert("rotation_quaternion", frame=k + 1)
        positions.append([round(float(x), 6) for x in pos])
        targets.append([round(float(x), 6) for x in target])
        directions.append([round(float(x), 6) for x in _unit(pos - centre)])
    scene.frame_start, scene.frame_end = 1, n_frames
    scene.frame_set(1)
    gaps = [math.degrees(_angle(np.array(directions[k]), np.array(directions[k + 1]))) for k in range(n_frames - 1)]
    return {
        "kind": kind,
        "seed": int(seed),
        "step_deg": float(step_deg),
        "n_frames": int(n_frames),
        "frames": list(range(1, n_frames + 1)),
        "lens_mm": round(lens, 3),
        "distance": round(dist, 4),
        "center": [round(float(x), 6) for x in centre],
        "radius": round(float(radius), 6),
        "positions": positions,
        "targets": targets,
        "directions": directions,
        "path_deg": [round(k * float(step_deg), 4) for k in range(n_frames)],
        "step_gaps_deg": [round(g, 4) for g in gaps],
        "params": params,
    }


def project(scene, camera, point) -> tuple[float, float, float]:
    """``world_to_camera_view`` of ``point``: (x, y) in 0..1 inside the frame, z the depth."""
    from bpy_extras.object_utils import world_to_camera_view

    v = world_to_camera_view(scene, camera, Vector(point))
    return float(v.x), float(v.y), float(v.z)


