"""The shared decoder and the snapshot weights file.

Every snapshot stores only its scene's planes; the MLPs that turn plane features into density and
colour are one shared decoder, trained across many scenes (``train-snapshot``) and shipped with
the extension together with the hiding network, in ``weights/snapshot.pt``::

    {"format": "ps4pro-snapshot-weights", "version": 1, "decoder_id": str,
     "decoder": state_dict, "hiding": state_dict | None, "hiding_config": dict, "meta": dict}

A snapshot field is a ``FieldModel`` of the fixed layout (``payload.SHAPE``) whose MLPs are the
shared decoder's, so rendering, evaluation and export are the reconstruction's own code.
"""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import torch
import torch.nn.functional as F

from ..protocol import JobError
from ..field.model import FieldModel
from . import payload

FORMAT = "ps4pro-snapshot-weights"
VERSION = 1
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "snapshot.pt")

# The environment a snapshot keeps (in its header) for opaque captures: 128 x 256 as a JPEG of
# about 8 KB. On the HDRI benchmark scene the teacher scores 30.97 dB with its own 256 x 512
# environment and 27.69 with this one (bench/snapshot_ablation.py --case dense_hdri). A one-off
# check, not in the repository, gave 21.26 dB at 16 x 32 (the first format), 25.49 at 64 x 128,
# and 27.99 for 128 x 256 as a PNG (34 KB instead of 7.5).
ENV_SHAPE = (3, 128, 256)
ENV_QUALITY = 90
# The field settings of every snapshot (fixed: the decoder was trained for exactly these), but for
# the decoder's width and SH degree, which come from its weights (decoder_shape).
FIELD = dict(res=payload.RES, channels=payload.CHANNELS, hidden=64, geo_feat=15, combine="concat",
             density_bias=1.0, grid_res=128, env_res=ENV_SHAPE[1], samples=32, bins=256, sh_degree=2)


def decoder_state(field) -> dict:
    """The shared part of a TriPlane: its MLPs."""
    return {k: v.detach().cpu().clone() for k, v in field.state_dict().items() if k.startswith(("density_net", "color_net"))}


def decoder_id(state: dict) -> str:
    buf = io.BytesIO()
    for k in sorted(state):
        buf.write(k.encode())
        buf.write(state[k].numpy().astype(np.float32).tobytes())
    return "ps4pro-snapdec-1-" + hashlib.sha256(buf.getvalue()).hexdigest()[:12]


def decoder_shape(decoder: dict) -> dict:
    """The decoder's width and direction encoding, read off its weights (a weights file may hold a
    wider decoder than ``FIELD``'s)."""
    from ..field.triplane import SH_DEGREES, sh_size

    try:
        hidden = int(decoder["density_net.0.weight"].shape[0])
        sh = int(decoder["color_net.0.weight"].shape[1]) - FIELD["geo_feat"]
        degree = next(d for d in SH_DEGREES if sh_size(d) == sh)
    except (KeyError, IndexError, StopIteration):
        raise JobError("The shared decoder does not fit the snapshot layout", hint="Reinstall the extension's weights")
    return {"hidden": hidden, "sh_degree": degree}


def make_field(planes, aabb, decoder: dict, background: str = "alpha", env=None, device="cpu") -> FieldModel:
    """A snapshot FieldModel: these planes, the shared decoder, an occupancy grid with every cell
    unknown (call :func:`refresh_grid` once the planes are final)."""
    cfg = dict(FIELD, aabb=np.asarray(aabb, dtype=np.float64).reshape(2, 3).tolist(), background=background,
               **decoder_shape(decoder))
    model = FieldModel(cfg)
    missing = model.field.load_state_dict(decoder, strict=False)
    if missing.unexpected_keys or any(k.startswith(("density_net", "color_net")) for k in missing.missing_keys):
        raise JobError("The shared decoder does not fit the snapshot layout", hint="Reinstall the extension's weights")
    with torch.no_grad():
        if planes is not None:
            model.field.planes.copy_(torch.as_tensor(np.asarray(planes), dtype=torch.float32).reshape(payload.SHAPE))
    if env is not None:
        set_env(model, env)
    return model.to(device)


@torch.no_grad()
def set_env(model: FieldModel, env) -> None:
    """Give a field's environment these colours (3, H, W in 0..1), scaled to its texture's size."""
    if model.background.env is None:
        return
    tex = model.background.env.texture
    e = torch.as_tensor(np.asarray(env), dtype=torch.float32, device=tex.device)[None]
    if e.shape != tex.shape:  # an older snapshot's smaller environment, or a teacher's larger one
        e = F.interpolate(e, size=tex.shape[2:], mode="bilinear", align_corners=False)
    e = e.clamp(1e-3, 1 - 1e-3)
    tex.copy_(torch.log(e / (1 - e)))


OCCUPANCY_RES = 32  # the coarse occupancy a snapshot's header keeps (32^3 bits, about 1 KB zlib'd)


def pack_occupancy(mask: torch.Tensor, res: int = OCCUPANCY_RES) -> dict:
    """The teacher's occupancy grid, max-pooled to res^3, as zlib'd bits in base64 (header-sized)."""
    import base64
    import zlib

    coarse = F.adaptive_max_pool3d(mask.float()[None, None].cpu(), res)[0, 0] > 0
    bits = np.packbits(coarse.numpy().ravel())
    return {"res": int(res), "bits": base64.b64encode(zlib.compress(bits.tobytes(), 9)).decode("ascii")}


def unpack_occupancy(obj) -> torch.Tensor | None:
    """The coarse occupancy from a header (None when absent); a clear error when damaged."""
    import base64
    import zlib

    if obj is None:
        return None
    try:
        res = int(obj["res"])
        if not 4 <= res <= 128:
            raise ValueError(res)
        n = res ** 3 // 8
        # Bounded decompression: a damaged or hostile header cannot expand beyond the grid's size.
        raw = zlib.decompressobj().decompress(base64.b64decode(obj["bits"], validate=True), n + 1)
        if len(raw) != n:
            raise ValueError("size")
        bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    except (KeyError, TypeError, ValueError, OverflowError, zlib.error):
        raise JobError("The snapshot header's occupancy is damaged", hint="Use the original PNG that Snapshot Encode wrote")
    return torch.from_numpy(bits.astype(bool).reshape(res, res, res))


@torch.no_grad()
def refresh_grid(model: FieldModel, dilate: int = 1, coarse: torch.Tensor | None = None) -> None:
    """Occupancy from the field's own density (a decoded snapshot has no capture to carve with),
    grown by ``dilate`` cells so that thin surfaces at a cell's edge are kept, and limited to the
    teacher's ``coarse`` occupancy when the snapshot carries it (which removes the student's
    floaters in space the teacher knew to be empty)."""
    model.grid.allowed.fill_(True)
    model.grid.full_update(model.occupancy_density)
    mask = model.grid.mask
    if dilate:
        mask = F.max_pool3d(mask.float()[None, None], 2 * dilate + 1, stride=1, padding=dilate)[0, 0] > 0
    if coarse is not None:
        up = F.interpolate(coarse.float()[None, None].to(mask.device), size=mask.shape, mode="nearest")
        mask = mask & (F.max_pool3d(up, 3, stride=1, padding=1)[0, 0] > 0)
    model.grid.mask = mask


def env_texture(model: FieldModel) -> np.ndarray | None:
    """The teacher's environment at the snapshot's size: ENV_SHAPE colours in 0..1."""
    env = model.background.env
    if env is None:
        return None
    tex = torch.sigmoid(env.texture.detach().float().cpu())
    if tex.shape[2:] != ENV_SHAPE[1:]:
        tex = F.interpolate(tex, size=ENV_SHAPE[1:], mode="area" if tex.shape[2] > ENV_SHAPE[1] else "bilinear")
    return tex[0].numpy()


def pack_env(env: np.ndarray) -> dict:
    """An environment (3, H, W in 0..1) for the header: a JPEG in base64."""
    import base64
    import io

    from PIL import Image

    u8 = np.clip(np.round(np.asarray(env).transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8, "RGB").save(buf, "JPEG", quality=ENV_QUALITY)
    return {"shape": list(env.shape), "encoding": "jpeg", "env": base64.b64encode(buf.getvalue()).decode("ascii")}


def unpack_env(background: dict) -> np.ndarray:
    """The header's environment (3, H, W in 0..1): a JPEG, or raw bytes in the first format; a
    clear error when damaged. The image's size is checked before it is decoded."""
    import base64
    import io

    from PIL import Image

    damaged = JobError("The snapshot header's environment is damaged", hint="Use the original PNG that Snapshot Encode wrote")
    try:
        shape = tuple(int(v) for v in background["shape"])
        if len(shape) != 3 or shape[0] != 3 or not (1 <= shape[1] <= 1024 and 1 <= shape[2] <= 2048):
            raise ValueError(shape)
        raw = base64.b64decode(background["env"], validate=True)
        if background.get("encoding", "raw") == "raw":
            return np.frombuffer(raw, dtype=np.uint8).reshape(shape).astype(np.float32) / 255.0
        if background["encoding"] != "jpeg":
            raise ValueError(background["encoding"])
        with Image.open(io.BytesIO(raw), formats=["JPEG"]) as im:
            if im.size != (shape[2], shape[1]):
                raise ValueError(im.size)
            u8 = np.asarray(im.convert("RGB"))
    except (KeyError, TypeError, ValueError, OSError, SyntaxError, Image.DecompressionBombError):
        # DecompressionBombError: a JPEG that declares a vast size, refused by Pillow on open
        raise damaged from None
    return u8.transpose(2, 0, 1).astype(np.float32) / 255.0


def save(path: str, decoder: dict, hiding=None, meta: dict | None = None) -> str:
    from ..torch_io import save_atomic

    obj = {"format": FORMAT, "version": VERSION, "decoder_id": decoder_id(decoder), "decoder": decoder,
           "hiding": hiding.state_dict() if hiding is not None else None,
           "hiding_config": dict(hiding.config) if hiding is not None else {}, "meta": dict(meta or {})}
    save_atomic(obj, path)
    return obj["decoder_id"]


def load(path: str | None = None, device="cpu") -> dict:
    """The weights file, checked: a clear error for a missing, damaged or foreign file."""
    path = path or DEFAULT_PATH
    if not os.path.isfile(path):
        raise JobError(f"No snapshot weights at {path}",
                       hint="Train them with `python -m ps4pro_blender train-snapshot`, or reinstall the extension")
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise JobError(f"Cannot read the snapshot weights {path}: {type(exc).__name__}: {exc}",
                       hint="The file is damaged; reinstall the extension or train again with train-snapshot")
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or not isinstance(obj.get("decoder"), dict):
        raise JobError(f"{path} is not a PS4PRO snapshot weights file", hint="Reinstall the extension")
    if obj.get("version") != VERSION:
        raise JobError(f"{path} has snapshot weights version {obj.get('version')}, this backend reads {VERSION}",
                       hint="Reinstall the extension")
    return obj


def hiding_net(weights: dict, device="cpu"):
    from .hiding import HidingNet

    if not weights.get("hiding"):
        raise JobError("These snapshot weights have no trained hiding network",
                       hint="Use --method lsb, or train it with `python -m ps4pro_blender train-snapshot`")
    net = HidingNet(**weights["hiding_config"])
    net.load_state_dict(weights["hiding"])
    return net.to(device).eval()
