"""One typed config per backend command: every option's name, type, default, limits and meaning.

Both sides import this module (standard library only): the backend builds each command's
argparse from its config (:func:`add_arguments`) and hands the command the parsed config; the
Blender side takes its operator arguments' and panel settings' defaults, limits and descriptions
from the same fields (``panels/properties.py``: ``config_property``), and a test holds the three
to agreement. To add an option: a field here (with a ``label`` if the panel shows it), read it in
the command, and draw it in ``panels/sidebar.py``. The scene setting, the operator argument and the
job's command line follow from the field.

A field's ``doc`` says what it is, its unit and why its default; ``prop`` names the Blender
property that carries it where that name differs (the scene settings hold every command's options
side by side, so they carry a prefix there: ``recon_steps``).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field


def option(default, doc: str, *, lo=None, hi=None, choices=None, positional: bool = False, required: bool = False,
           metavar: str | None = None, aliases: tuple = (), prop: str | None = None, label: str | None = None):
    """A config field with what argparse and Blender need to know about it. ``label``: the panel
    shows the option (as a scene setting and an operator argument) under this name."""
    meta = dict(doc=doc, lo=lo, hi=hi, choices=choices, positional=positional, required=required, metavar=metavar,
                aliases=aliases, prop=prop, label=label)
    return field(default=default, metadata=meta)


# ----------------------------------------------------------------------------- the configs


@dataclass
class CheckConfig:
    """``check``: no options."""


@dataclass
class FuseDepthConfig:
    dataset: str = option("", "dataset folder or transforms.json", positional=True)
    out: str | None = option(None, "output PLY (default: points.ply in the job folder or here)")
    voxel_size: float = option(0.0, "point spacing in scene units (0: 1/256 of the scene diagonal, fine enough for "
                                     "a mesh-like cloud and coarse enough to merge the views' samples)", lo=0.0, label="Voxel Size")


@dataclass
class AugmentConfig:
    dataset: str = option("", "captured dataset folder or transforms.json", positional=True)
    out: str = option("", "folder for the augmented dataset", required=True)
    k: int = option(0, "in-between views per pair of neighbouring views (0: as many as keep every gap under "
                       "the max gap)", lo=0, hi=64, prop="in_between", label="In-Between Views")
    max_gap_deg: float = option(6.0, "with --k 0, the largest angle in degrees left between neighbouring views "
                                     "(6: the interpolation network was trained on gaps up to about this)", lo=0.5, hi=90.0, label="Max Gap (°)")
    # A ring of cameras alone teaches the field only its own elevation. Benchmark scene, 8 views and
    # in-between views, 2900 steps, images only: 27.30 dB on the path alone, 27.90 with +-10 degrees.
    off_path_deg: float = option(10.0, "geometry mode: also make views this many degrees above and below the camera "
                                       "path (0: only on the path); +0.6 dB on the benchmark scene, whose test views "
                                       "are off the path", lo=0.0, hi=45.0, label="Off-Path (°)")
    mode: str = option("auto", "geometry: warp both neighbours with depth and poses; footage: 2-D flow between the "
                               "images only; auto: geometry where views have depth", choices=("auto", "geometry", "footage"),
                       prop="interp_mode", label="Mode")
    synthetic_weight: float = option(0.5, "loss weight of the synthetic views in reconstruction, real views weighing 1 "
                                          "(0.5: they help without outvoting the real views)", lo=0.0, hi=1.0,
                                     aliases=("--weight",), label="Synthetic Weight")
    weights: str | None = option(None, "interpolation weights file (default: the shipped ones)", metavar="FILE")


@dataclass
class ReconstructConfig:
    dataset: str = option("", "dataset folder or transforms.json (ours, instant-ngp, nerfstudio, NeRF-blender)",
                          positional=True)
    out: str | None = option(None, "output folder (default: the job folder)")
    steps: int = option(0, "training steps, counting resumed ones (0: train for the minutes instead)", lo=0,
                        prop="recon_steps", label="Steps")
    minutes: float = option(10.0, "training time in minutes, counting resumed time; ignored when steps are given "
                                  "(10: what a user waits for at the panel, and the benchmarks' budget)",
                            lo=0.1, hi=1440.0, prop="recon_minutes", label="Minutes")
    seed: int = option(0, "seed of the rays drawn each step: a CPU run is repeatable exactly", lo=0, prop="recon_seed", label="Seed")
    resume: str | None = option(None, "continue from this checkpoint.pt", metavar="CKPT")
    depth_loss: float = option(0.1, "weight of the depth loss where views have depth (0: off)", lo=0.0, hi=10.0, label="Depth Supervision")
    ignore_depth: bool = option(False, "train from the images alone: no depth loss and no depth priors even where "
                                       "views have depth")
    plane_res: int = option(128, "final tri-plane resolution in texels a side (starts at a quarter); 128 fills 10 CPU "
                                 "minutes", lo=16, hi=1024, label="Plane Resolution")
    channels: int = option(16, "features per plane texel", lo=1, hi=128)
    # Degree 4: on a train-family tuning capture it scored 31.05 dB against degree 2's 29.10 at
    # 5 minutes; held out: bench/results/recon_sh4_503.md (+0.41 dB at 10 minutes).
    sh_degree: int = option(4, "view-direction detail of the colour (4: sharper reflections on glossy surfaces; "
                               "2: a little faster)", choices=(2, 4))
    grid_res: int = option(128, "occupancy grid resolution (cells a side)", lo=8, hi=512)
    samples: int = option(32, "samples per ray in occupied space", lo=1, hi=1024)
    batch_rays: int = option(2048, "rays per training step (fewer: less memory, noisier steps)", lo=64, hi=1 << 20, label="Batch Rays")
    lr: float = option(3e-2, "Adam's learning rate (3e-2 learned fastest in 100-step tests)", lo=0.0, hi=10.0)
    # Without it, 48 in-between views would outvote 8 real ones six to one in every batch (25.62 dB,
    # below the 26.95 of the real views alone); 0.75 beat 0.5 (28.07 vs 27.35 dB) with depth.
    real_share: float = option(0.75, "share of each batch drawn from real views when the dataset has synthetic ones "
                                     "(0..1]", lo=1e-6, hi=1.0)
    combine: str = option("concat", "how the three planes' features combine", choices=("concat", "product"))
    background: str = option("auto", "alpha: transparent capture; env: learned environment (HDRI); auto: from the "
                                     "images", choices=("auto", "alpha", "env"))
    env_res: int = option(256, "height of the learned environment in texels (env background; its width is twice "
                               "that)", lo=8, hi=4096)
    mesh_res: int = option(256, "marching-cubes grid resolution of the exported mesh", lo=16, hi=1024)
    no_export: bool = option(False, "skip the point cloud and the mesh")
    keep_unseen: bool = option(False, "keep mesh surfaces no training camera saw (inside objects, under the table); "
                                      "by default they are removed, being guesses")
    render_path: str | None = option(None, "transforms.json of cameras to render novel views for", metavar="JSON")
    supersample: int = option(2, "N x N rays per pixel for test views and path renders, like Blender's "
                                 "anti-aliasing (1: pixel centres, fastest)", choices=(1, 2, 3, 4), metavar="N")


@dataclass
class SnapshotEncodeConfig:
    reconstruction: str = option("", "reconstruct's output folder (or its field.pt)", positional=True)
    cover: str | None = option(None, "cover image (default: the capture's first training view)")
    out: str | None = option(None, "the snapshot PNG (default: RECONSTRUCTION/snapshot.png)")
    method: str = option("auto", "inn: the invertible hiding network; lsb: the exact low-bit baseline; auto: inn "
                                 "when its weights are trained", choices=("auto", "inn", "lsb"),
                       prop="snapshot_method", label="Method")
    steps: int = option(1500, "distillation steps (more: closer to the field, slower; 1500 is about a minute on "
                              "the CPU)", lo=1, hi=100000, prop="snapshot_steps", label="Distillation Steps")
    seed: int = option(0, "seed of the distillation's samples", lo=0)
    dataset: str | None = option(None, "the capture the field was trained on (default: the one field.pt names)")
    weights: str | None = option(None, "snapshot weights file (default: the extension's)", metavar="FILE")


@dataclass
class SnapshotDecodeConfig:
    png: str = option("", "a snapshot PNG written by snapshot-encode", positional=True)
    out: str | None = option(None, "output folder (default: next to the PNG, NAME_decoded)")
    dataset: str | None = option(None, "evaluate on this capture's test views", prop="eval_dataset", label="Evaluate On")
    render_path: str | None = option(None, "transforms.json of cameras to render novel views for", metavar="JSON")
    mesh_res: int = option(192, "marching-cubes grid resolution (the snapshot's planes are 64 texels a side, so "
                                "192 loses nothing)", lo=16, hi=1024, prop="decode_mesh_res", label="Mesh Resolution")
    no_export: bool = option(False, "skip the point cloud and the mesh")
    keep_unseen: bool = option(False, "keep mesh surfaces that none of the export's cameras around the scene saw "
                                      "(inside objects, under the table); by default they are removed, being guesses",
                               prop="decode_keep_unseen", label="Keep Unseen Surfaces")
    weights: str | None = option(None, "snapshot weights file (default: the extension's)", metavar="FILE")


CONFIGS = {"check": CheckConfig, "fuse-depth": FuseDepthConfig, "augment": AugmentConfig,
           "reconstruct": ReconstructConfig, "snapshot-encode": SnapshotEncodeConfig,
           "snapshot-decode": SnapshotDecodeConfig}


# ----------------------------------------------------------------------------- argparse and checks


def fields(cls) -> list[tuple[dataclasses.Field, type]]:
    """(field, its plain type: str, int, float or bool) for each option of a config class."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        out.append((f, args[0] if args else kind))
    return out


def flag(f: dataclasses.Field) -> str:
    return "--" + f.name.replace("_", "-")


def _help(f, kind) -> str:
    m = f.metadata
    text = m["doc"]
    if kind is not bool and not m["positional"] and f.default is not None and f.default != "":
        text += f" [default: {f.default}]"
    return text


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """The command's options, generated from its config."""
    for f, kind in fields(cls):
        m = f.metadata
        if m["positional"]:
            parser.add_argument(f.name, help=m["doc"])
            continue
        names = (flag(f), *m["aliases"])
        kw = dict(dest=f.name, default=f.default, help=_help(f, kind))
        if kind is bool:
            parser.add_argument(*names, action="store_true", **kw)
            continue
        kw.update(type=kind, required=m["required"])
        if m["choices"]:
            kw["choices"] = m["choices"]
        if m["metavar"]:
            kw["metavar"] = m["metavar"]
        parser.add_argument(*names, **kw)


def from_namespace(cls, namespace: argparse.Namespace):
    """The config of a parsed command line."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)})


def problems(config) -> list[str]:
    """What is out of its limits in a config, one line each (empty: nothing)."""
    found = []
    for f, kind in fields(type(config)):
        value, m = getattr(config, f.name), f.metadata
        if value is None or kind in (bool, str):
            continue
        if m["lo"] is not None and value < m["lo"] or m["hi"] is not None and value > m["hi"]:
            bounds = " and ".join(f"{word} {v}" for word, v in (("at least", m["lo"]), ("at most", m["hi"])) if v is not None)
            found.append(f"{flag(f)} must be {bounds}, not {value}")
    return found


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def to_argv(config) -> list[str]:
    """The command line that parses back to ``config``: positionals, then every option that differs
    from its default (so a job's argv says what the user changed). How the Blender side starts jobs."""
    argv, options = [], []
    for f, kind in fields(type(config)):
        value = getattr(config, f.name)
        if f.metadata["positional"]:
            argv.append(str(value))
        elif value != f.default and value is not None:
            if kind is bool:
                options.append(flag(f))
            else:
                options += [flag(f), repr(value) if kind is float else str(value)]
    return argv + options


def panel_fields(cls) -> list[tuple[dataclasses.Field, type]]:
    """The options of a config that the panel shows (those with a ``label``)."""
    return [(f, kind) for f, kind in fields(cls) if f.metadata["label"]]


def prop_name(f: dataclasses.Field) -> str:
    """The Blender property (scene setting and operator argument) that carries an option."""
    return f.metadata["prop"] or f.name


def from_settings(cls, source, **values):
    """A config from an operator's (or the scene settings') properties for the options the panel
    shows (enum identifiers in lower case), and ``values`` for the rest. The Blender side builds
    every job's config this way, so a new panel option reaches the job with no code here."""
    taken = {}
    for f, _ in panel_fields(cls):
        value = getattr(source, prop_name(f))
        taken[f.name] = value.lower() if f.metadata["choices"] and isinstance(value, str) else value
    return cls(**{**taken, **values})
