"""One typed config per backend command: every option's name, type, default, limits and meaning.

Both sides import this module (standard library only): the backend builds each command's
argparse from its config (:func:`add_arguments`) and hands the command the parsed config; the
Blender side takes its operator arguments' and panel settings' defaults, limits and descriptions
from the same fields (``settings/properties.py``: ``config_property``), and a test holds the three
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
           metavar: str | None = None, aliases: tuple = (), prop: str | None = None, label: str | None = None,
           kept: bool = False, many: str | None = None):
    """A config field with what argparse and Blender need to know about it. ``label``: the panel
    shows the option (as a scene setting and an operator argument) under this name. ``kept``: a
    resumed job keeps the value it started with unless the command line gives it again (what the
    model is made of, how it learns; not the budget or the outputs). ``many``: a list option,
    ``append`` (the flag repeated) or an argparse ``nargs`` ("+", "*")."""
    meta = dict(doc=doc, lo=lo, hi=hi, choices=choices, positional=positional, required=required, metavar=metavar,
                aliases=aliases, prop=prop, label=label, kept=kept, many=many)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def default_of(cls, name: str):
    """An option's default, for code that needs it outside the command (one place for each number)."""
    return _default(cls.__dataclass_fields__[name])


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
                            lo=0.01, hi=1440.0, prop="recon_minutes", label="Minutes")
    seed: int = option(0, "seed of the rays drawn each step: a CPU run is repeatable exactly", lo=0, prop="recon_seed", label="Seed", kept=True)
    resume: str | None = option(None, "continue from this checkpoint.pt", metavar="CKPT")
    depth_loss: float = option(0.1, "weight of the depth loss where views have depth (0: off)", lo=0.0, hi=10.0, label="Depth Supervision", kept=True)
    ignore_depth: bool = option(False, "train from the images alone: no depth loss and no depth priors even where "
                                       "views have depth", kept=True)
    plane_res: int = option(128, "final tri-plane resolution in texels a side (starts at a quarter); 128 fills 10 CPU "
                                 "minutes", lo=16, hi=1024, label="Plane Resolution", kept=True)
    channels: int = option(16, "features per plane texel", lo=1, hi=128, kept=True)
    plane_levels: int = option(1, "tri-plane levels: the finest at --plane-res and each further one at half the "
                                  "resolution before it, their features side by side (K-Planes' multiscale)",
                               lo=1, hi=4, kept=True)
    # Auto (field.config.auto_sh_degree): degree 4 helps dense captures (held out, 100 views:
    # bench/results/recon_sh4_503.md, +0.41 dB at 10 minutes) but overfits sparse ones (8 views on a
    # ring, images only, 3,422 steps: 25.88 dB against degree 2's 27.07 on b502; a tie, 27.44 / 27.46,
    # on b503: bench/results/sh_degree*.md).
    sh_degree: int = option(0, "view-direction detail of the colour (4: sharper reflections on glossy surfaces, "
                               "for captures with many views; 2: smoother, for sparse captures; 0: chosen from "
                               "the number of real training views)", choices=(0, 2, 4), kept=True)
    grid_res: int = option(128, "occupancy grid resolution (cells a side)", lo=8, hi=512, kept=True)
    samples: int = option(32, "samples per ray in the occupied space it can see", lo=1, hi=1024, kept=True)
    # Off by default: at 10 CPU minutes it gave +0.13 dB on one held-out capture and -0.17 dB on
    # another (bench/results/recon_time_cpu_probe32.md against recon_time_cpu_probe0.md); not yet measured on a GPU.
    probe: int = option(0, "density-only samples per ray that find where it stops seeing, so that the trained "
                           "samples go only in front of that point (0: off; every sample then spreads over all "
                           "occupied space, about half of it hidden behind surfaces)", lo=0, hi=1024, kept=True)
    # A GPU takes the same ~10 ms for a step of 2,048 rays as for 16,384 (launch overhead, not work):
    # 65,536 rays gave 42.2 dB against 40.0 in 30 s on an H200 (issue 16). The CPU's cost grows with
    # the batch, and 2,048 learned fastest per CPU-minute.
    batch_rays: int = option(0, "rays per training step; 0: chosen for the device (2048 on the CPU, 65536 on a "
                                "GPU); fewer: less memory, noisier steps", lo=0, hi=1 << 20, label="Batch Rays",
                             kept=True)
    lr: float = option(3e-2, "Adam's learning rate (3e-2 learned fastest in 100-step tests)", lo=0.0, hi=10.0, kept=True)
    # Without it, 48 in-between views would outvote 8 real ones six to one in every batch (25.62 dB,
    # below the 26.95 of the real views alone); 0.75 beat 0.5 (28.07 vs 27.35 dB) with depth.
    real_share: float = option(0.75, "share of each batch drawn from real views when the dataset has synthetic ones "
                                     "(0..1]", lo=1e-6, hi=1.0, kept=True)
    combine: str = option("concat", "how the three planes' features combine", choices=("concat", "product"), kept=True)
    background: str = option("auto", "alpha: transparent capture; env: learned environment (HDRI); auto: from the "
                                     "images", choices=("auto", "alpha", "env"), kept=True)
    env_res: int = option(256, "height of the learned environment in texels (env background; its width is twice "
                               "that)", lo=8, hi=4096, kept=True)
    mesh_res: int = option(256, "marching-cubes grid resolution of the exported mesh", lo=16, hi=1024)
    no_export: bool = option(False, "skip the point cloud, the mesh and the 3D Gaussians")
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


@dataclass
class TrainInterpConfig:
    data: list[str] = option([], "folder of training clips (index.json or clip_* subfolders), or one clip; repeatable",
                             required=True, metavar="DIR", many="append")
    eval: list[str] = option([], "folder of held-out clips for PSNR; repeatable", metavar="DIR", many="append")
    max_clips: int = option(0, "use only the first N clips of each --data folder (0: all)", lo=0)
    out: str = option("", "weights file to write", required=True)
    steps: int = option(2000, "training steps, counting resumed ones", lo=1)
    seed: int = option(0, "seed of the crops, clips and initial weights: a CPU run is repeatable exactly", lo=0, kept=True)
    batch: int = option(8, "crops per step", lo=1, hi=4096, kept=True)
    crop: int = option(96, "square crop side in pixels (clamped to the frame)", lo=16, hi=4096, kept=True)
    mode: str = option("geometry", "what to train: the geometry-aware mode, the footage (flow) mode, or both",
                       choices=("geometry", "footage", "both"), kept=True)
    lr: float = option(5e-4, "AdamW's learning rate (cosine decay after a warm-up)", lo=0.0, hi=1.0, kept=True)
    resume: str | None = option(None, "checkpoint to continue from", metavar="CKPT")
    init: str | None = option(None, "start from these weights (fine-tuning; a new optimizer)", metavar="WEIGHTS")
    footage_share: float = option(1 / 3, "with --mode both: the share of steps that train footage mode", lo=0.0, hi=1.0,
                                  kept=True)
    ckpt_dir: str | None = option(None, "checkpoint folder (default: next to --out)")
    ckpt_every: int = option(250, "steps between checkpoints (0: none)", lo=0)
    eval_every: int = option(250, "steps between evaluations (0: only at the end)", lo=0)
    log_every: int = option(10, "steps between progress messages", lo=1)
    threads: int = option(0, "CPU threads for torch (0: torch's default)", lo=0)


@dataclass
class TrainSnapshotConfig:
    fields: list[str] = option([], "reconstruct output folders (or folders holding them)", positional=True, many="+")
    covers: list[str] = option([], "extra folders of cover images (PNG/JPEG)", many="*")
    # Required, with no default: a default of the shipped file would let a forgotten --out replace
    # the extension's decoder, after which no existing snapshot decodes.
    out: str = option("", "weights file to write (to replace the extension's, name "
                          "ps4pro_blender/weights/snapshot.pt)", required=True)
    work: str | None = option(None, "folder for the distilled planes (default: next to --out, snapshot_work)")
    decoder_steps: int = option(4000, "steps of stage 1, the shared decoder", lo=1)
    decoder_hidden: int = option(64, "width of the shared decoder's layers", lo=8, hi=1024)
    decoder_sh_degree: int = option(2, "view-direction detail of the decoder's colour", choices=(2, 4))
    hiding_steps: int = option(6000, "steps of stage 2, the hiding network", lo=1)
    blocks: int = option(3, "affine-coupling blocks", lo=1, hi=32)
    hidden: int = option(24, "channels inside the coupling sub-networks", lo=4, hi=512)
    cover_weight: float = option(1.0, "weight of the cover's change against the payload's error (higher: a "
                                      "cleaner-looking PNG)", lo=0.0)
    secret_tolerance: float = option(0.0, "payload error, in codes, that costs nothing (the decoder tolerates about "
                                          "one)", lo=0.0)
    hiding_lr: float = option(1e-3, "hiding network's learning rate (decays 10x)", lo=0.0, hi=1.0)
    hiding_init: str | None = option(None, "start the hiding network from this weights file's", metavar="WEIGHTS")
    reuse_decoder: bool = option(False, "skip stage 1 when --work holds its results")
    seed: int = option(0, "seed of both stages", lo=0)


CONFIGS = {"check": CheckConfig, "fuse-depth": FuseDepthConfig, "augment": AugmentConfig,
           "reconstruct": ReconstructConfig, "snapshot-encode": SnapshotEncodeConfig,
           "snapshot-decode": SnapshotDecodeConfig, "train-interp": TrainInterpConfig,
           "train-snapshot": TrainSnapshotConfig}


# ----------------------------------------------------------------------------- argparse and checks


def fields(cls) -> list[tuple[dataclasses.Field, type]]:
    """(field, its plain type: str, int, float, bool, or the item type of a list option) for each
    option of a config class."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        out.append((f, args[0] if args else kind))
    return out


def flag(f: dataclasses.Field) -> str:
    return "--" + f.name.replace("_", "-")


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _help(f, kind) -> str:
    m = f.metadata
    text = m["doc"]
    default = _default(f)
    if kind is not bool and not m["positional"] and default not in (None, "", []):
        text += f" [default: {default}]"
    return text


def add_arguments(parser: argparse.ArgumentParser, cls, *, only_given: bool = False) -> None:
    """The command's options, generated from its config. ``only_given``: no defaults, so that the
    parsed namespace holds only what the command line gave (see :func:`given`)."""
    for f, kind in fields(cls):
        m = f.metadata
        default = argparse.SUPPRESS if only_given else (None if m["many"] else f.default)
        if m["positional"]:
            kw = dict(nargs=m["many"]) if m["many"] else {}
            parser.add_argument(f.name, help=m["doc"], **kw)
            continue
        names = (flag(f), *m["aliases"])
        kw = dict(dest=f.name, default=default, help=_help(f, kind))
        if kind is bool:
            parser.add_argument(*names, action="store_true", **kw)
            continue
        kw.update(type=kind, required=m["required"] and not only_given)
        if m["many"] == "append":
            kw["action"] = "append"
        elif m["many"]:
            kw["nargs"] = m["many"]
        if m["choices"]:
            kw["choices"] = m["choices"]
        if m["metavar"]:
            kw["metavar"] = m["metavar"]
        parser.add_argument(*names, **kw)


def given(cls, argv: list[str]) -> set[str]:
    """The options a command line gives explicitly (field names), positionals included."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser, cls, only_given=True)
    namespace, _ = parser.parse_known_args(argv)
    return set(vars(namespace))


def from_namespace(cls, namespace: argparse.Namespace):
    """The config of a parsed command line (a list option not given is an empty list)."""
    values = {}
    for f, _ in fields(cls):
        value = getattr(namespace, f.name)
        values[f.name] = list(value or []) if f.metadata["many"] else value
    return cls(**values)


def resumed(config, recorded: dict, given_names: set[str]):
    """``config`` with every ``kept`` option it did not give explicitly taken from ``recorded``
    (the config a job started with): a resumed job goes on as it began. Returns (the config,
    the flags taken from the record)."""
    taken, notes = {}, []
    for f, _ in fields(type(config)):
        if f.metadata["kept"] and f.name not in given_names and f.name in recorded:
            if recorded[f.name] != getattr(config, f.name):
                notes.append(f"{flag(f)} {recorded[f.name]}")
            taken[f.name] = recorded[f.name]
    return dataclasses.replace(config, **taken), notes


def problems(config) -> list[str]:
    """What is out of its limits in a config, one line each (empty: nothing)."""
    found = []
    for f, kind in fields(type(config)):
        value, m = getattr(config, f.name), f.metadata
        if value is None or kind in (bool, str) or m["many"]:
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
        value, m = getattr(config, f.name), f.metadata
        text = (lambda v: repr(v) if kind is float else str(v))
        if m["positional"]:
            argv += [text(v) for v in value] if m["many"] else [text(value)]
        elif m["many"] == "append":
            for v in value:
                options += [flag(f), text(v)]
        elif m["many"]:
            if value:
                options += [flag(f), *(text(v) for v in value)]
        elif value != f.default and value is not None:
            options += [flag(f)] if kind is bool else [flag(f), text(value)]
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
