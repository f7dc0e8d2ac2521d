"""Procedural scenes and camera paths: the training and evaluation data of the interpolation
network (and the held-out scenes of the benchmarks), rendered by Blender itself.

Blender side only (``bpy``, ``numpy``, stdlib). Everything is a pure function of its seed
(``numpy.random.default_rng`` streams; no global random state), so a scene or a camera path
can be rebuilt exactly from the numbers stored next to the data.

- ``build_scene(seed, textures_dir=None, family="train")``: clears the current file and
  builds a random tabletop scene (ground, 3-8 objects, image / HDRI-crop / procedural
  materials, an HDRI world, maybe a sun, fast Cycles settings); returns a JSON-able ``info``.
- ``animate_camera(scene, seed, n_frames, step_deg, kind="auto")``: keyframes a smooth
  camera path (orbit arcs, truck or dolly lines, always looking at the scene) whose
  consecutive frames are exactly ``step_deg`` apart as seen from the scene centre; returns
  per-frame positions, directions and angles.

Train / eval separation (see ``scenes``): the two families draw from different random
streams (``family`` is part of the seed) and from disjoint HDRIs and texture images
(``EVAL_HDRIS``; the image split is fixed in ``textures.json`` by
``scripts/export_textures.py``). Nothing built with ``family="eval"`` is used for training.
"""

from .camera_paths import PATH_KINDS, animate_camera, gap_deg
from .scenes import EVAL_HDRIS, FAMILIES, HDRIS, TRAIN_HDRIS, build_scene, hdri_dir, load_textures

__all__ = [
    "EVAL_HDRIS",
    "FAMILIES",
    "HDRIS",
    "PATH_KINDS",
    "TRAIN_HDRIS",
    "animate_camera",
    "build_scene",
    "gap_deg",
    "hdri_dir",
    "load_textures",
]
