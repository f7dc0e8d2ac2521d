"""Rendering one view, and keeping the user's scene as it was.

How the passes get out of Blender: the bpy module has no OpenImageIO, and an image
loaded from a multilayer EXR exposes no pixels for its passes. So each view is rendered
once, the Render Result is saved twice with ``Image.save_render`` (an RGBA PNG through
the scene's view transform, and an uncompressed single-part multilayer EXR holding the
float passes), and that EXR is parsed here with numpy (``read_exr``). The same code
path works in background mode, in the UI and in every Blender version we support.

Depth is the render engine's own Z pass (planar). Cycles renders depth, normals and
object index; EEVEE renders depth and normals; Workbench renders depth only. A pass
the engine can't render is refused before anything is rendered (``check_engine``), and
an unknown engine that rendered no depth ends the capture with a clear error.
"""

import contextlib
import os
import struct
import zlib

import bpy
import numpy as np

from ..errors import OperatorError
from . import compat

# Passes each built-in engine renders (third-party engines are checked after rendering).
ENGINE_PASSES = {
    "CYCLES": {"depth", "normals", "masks"},
    "BLENDER_EEVEE": {"depth", "normals"},
    "BLENDER_EEVEE_NEXT": {"depth", "normals"},
    "BLENDER_WORKBENCH": {"depth"},
}
PASS_LABELS = {"depth": "depth", "normals": "normals", "masks": "object masks"}
PASS_PROPS = {"depth": "use_pass_z", "normals": "use_pass_normal", "masks": "use_pass_object_index"}
# Object types whose geometry renders (bounds, object masks).
GEOMETRY_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME", "GREASEPENCIL"}


def check_engine(engine: str, passes: set) -> None:
    known = ENGINE_PASSES.get(engine)
    if known is None:
        return
    missing = sorted(passes - known)
    if missing:
        what = " and ".join(PASS_LABELS[p] for p in missing)
        raise OperatorError(
            f"The {engine.replace('BLENDER_', '').title()} engine can't render {what}",
            "Switch the render engine to Cycles, or turn that output off",
        )


# --- the scene's state ----------------------------------------------------------------


def _render_attrs(scene, view_layer):
    """(owner, attribute) pairs a capture may change, in the order they are restored."""
    render = scene.render
    pairs = [
        (render, a)
        for a in (
            "engine", "filepath", "resolution_x", "resolution_y", "resolution_percentage",
            "pixel_aspect_x", "pixel_aspect_y", "film_transparent", "use_single_layer",
            "use_compositing", "use_sequencer", "use_border", "use_crop_to_border",
            "use_multiview", "use_persistent_data",
        )
    ]
    # Image settings: media type before format before the format's own options.
    im = render.image_settings
    pairs += [
        (im, a)
        for a in ("media_type", "file_format", "color_mode", "color_depth", "compression", "quality",
                  "exr_codec", "use_exr_interleave")
        if hasattr(im, a)
    ]
    if hasattr(scene, "cycles"):
        pairs.append((scene.cycles, "samples"))
    if hasattr(scene, "eevee"):
        pairs.append((scene.eevee, "taa_render_samples"))
    pairs += [(view_layer, p) for p in PASS_PROPS.values()]
    return pairs


@contextlib.contextmanager
def preserved_scene(context, pass_index_objects=()):
    """Restore everything a capture touches on every way out (success, error, cancel).

    Covers render settings, image settings, samples, view-layer passes, the active
    camera, the current frame and subframe, objects' pass indices, and the Render
    Result image when the capture created it.
    """
    scene = context.scene
    view_layer = context.view_layer
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in _render_attrs(scene, view_layer)]
    saved += [(ob, "pass_index", ob.pass_index) for ob in pass_index_objects]
    camera = scene.camera
    frame, subframe = scene.frame_current, scene.frame_subframe
    had_render_result = any(im.type == "RENDER_RESULT" for im in bpy.data.images)
    try:
        yield
    finally:
        for owner, attr, value in saved:
            try:
                if getattr(owner, attr) != value:
                    setattr(owner, attr, value)
            except (AttributeError, ReferenceError, TypeError, ValueError):
                pass  # deleted meanwhile, or a value this Blender no longer accepts
        scene.frame_set(frame, subframe=subframe)
        try:
            scene.camera = camera
        except ReferenceError:
            scene.camera = None
        if not had_render_result:
            for im in [im for im in bpy.data.images if im.type == "RENDER_RESULT"]:
                bpy.data.images.remove(im)


def apply_settings(context, options, passes: set, resolution: tuple[int, int] | None) -> None:
    """Set up the render for a capture (inside ``preserved_scene``)."""
    scene = context.scene
    render = scene.render
    if resolution:
        render.resolution_x, render.resolution_y = resolution
        render.resolution_percentage = 100
    if options.samples > 0:
        if render.engine == "CYCLES":
            scene.cycles.samples = options.samples
        elif render.engine.startswith("BLENDER_EEVEE"):
            scene.eevee.taa_render_samples = options.samples
    render.film_transparent = options.transparent
    # Only the plain render of the active view layer matches the camera model: no
    # compositor or sequencer (they may crop, distort or replace it), no border, no stereo.
    render.use_single_layer = True
    render.use_compositing = False
    render.use_sequencer = False
    render.use_border = False
    render.use_multiview = False
    # Views differ only in the camera (or frame): keep the synced scene between renders.
    render.use_persistent_data = True
    for name in passes:
        setattr(context.view_layer, PASS_PROPS[name], True)


def assign_pass_indices(objects) -> dict:
    """Give each object its own index for the object-index pass; returns index -> name."""
    mapping = {}
    for i, ob in enumerate(objects, start=1):
        ob.pass_index = i
        mapping[str(i)] = ob.name
    return mapping


def mask_objects(context) -> list:
    """Renderable geometry in the view layer, sorted by name (stable mask indices).

    Linked (library) objects can't be edited, so they keep their own pass index."""
    return sorted(
        (ob for ob in context.view_layer.objects if ob.type in GEOMETRY_TYPES and not ob.hide_render and ob.library is None),
        key=lambda ob: ob.name,
    )


# --- rendering --------------------------------------------------------------------------


def _render_result():
    for im in bpy.data.images:
        if im.type == "RENDER_RESULT":
            return im
    return None


def _set_format(settings, media_type: str, file_format: str, **values) -> None:
    if compat.HAS_MEDIA_TYPE:
        settings.media_type = media_type
    settings.file_format = file_format
    for key, value in values.items():
        if hasattr(settings, key):
            setattr(settings, key, value)


def render_view(context, png_path: str, exr_path: str, passes: set) -> dict:
    """Render the scene's camera; write the PNG; return the requested passes as arrays.

    Returned arrays have row 0 at the top: ``depth`` (H, W), ``normals`` (H, W, 3),
    ``masks`` (H, W) float object indices.
    """
    scene = context.scene
    try:
        bpy.ops.render.render(write_still=False, scene=scene.name, layer=context.view_layer.name)
    except RuntimeError as exc:
        raise OperatorError(f"Rendering failed: {str(exc).strip()}", "Check that the scene renders with F12") from exc
    result = _render_result()
    if result is None:
        raise OperatorError("Rendering produced no image", "Check that the scene renders with F12")
    settings = scene.render.image_settings
    _set_format(settings, "IMAGE", "PNG", color_mode="RGBA", color_depth="8", compression=15)
    result.save_render(png_path, scene=scene)
    if not passes:
        return {}
    _set_format(
        settings, "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER",
        color_depth="32", exr_codec="NONE", use_exr_interleave=True,
    )
    result.save_render(exr_path, scene=scene)
    try:
        channels = read_exr(exr_path)
    finally:
        os.remove(exr_path)
    return extract_passes(channels, passes, context.view_layer.name, scene.render.engine)


def _find(channels: dict, layer: str, pass_name: str, component: str):
    exact = f"{layer}.{pass_name}.{component}"
    if exact in channels:
        return channels[exact]
    for name, values in channels.items():  # older naming without the layer prefix
        if name == f"{pass_name}.{component}" or name.endswith(f".{pass_name}.{component}"):
            return values
    return None


def extract_passes(channels: dict, passes: set, layer: str, engine: str) -> dict:
    out = {}
    if "depth" in passes:
        out["depth"] = _find(channels, layer, "Depth", "Z")
    if "normals" in passes:
        parts = [_find(channels, layer, "Normal", c) for c in "XYZ"]
        out["normals"] = None if any(p is None for p in parts) else np.stack(parts, axis=-1)
    if "masks" in passes:
        out["masks"] = _find(channels, layer, compat.OBJECT_INDEX_PASS, "X")
    missing = [PASS_LABELS[k] for k, v in out.items() if v is None]
    if missing:
        raise OperatorError(
            f"The {engine} engine rendered no {' or '.join(missing)}",
            "Switch the render engine to Cycles, or turn that output off",
        )
    return out


# --- reading OpenEXR ---------------------------------------------------------------------

_LINES_PER_BLOCK = {0: 1, 2: 1, 3: 16}  # NONE, ZIPS, ZIP
_PIXEL_TYPES = {0: "<u4", 1: "<f2", 2: "<f4"}


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def _read_header(data: bytes, pos: int) -> tuple[dict, int]:
    header = {}
    while data[pos] != 0:
        name, pos = _cstring(data, pos)
        kind, pos = _cstring(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        header[name] = (kind, data[pos : pos + size])
        pos += size
    return header, pos + 1


def _channels(value: bytes) -> list[tuple[str, int]]:
    out, pos = [], 0
    while value[pos] != 0:
        name, pos = _cstring(value, pos)
        pixel_type, _linear, xs, ys = struct.unpack_from("<iB3xii", value, pos)
        if (xs, ys) != (1, 1):
            raise ValueError(f"subsampled EXR channel {name} is not supported")
        out.append((name, pixel_type))
        pos += 16
    return out


def _unzip(packed: bytes, size: int) -> bytes:
    """Undo OpenEXR ZIP(S): inflate, undo the byte delta, re-interleave the two halves."""
    d = np.frombuffer(zlib.decompress(packed), np.uint8).astype(np.int64)
    d[1:] -= 128
    t = (np.cumsum(d) & 0xFF).astype(np.uint8)
    out = np.empty(size, np.uint8)
    half = (size + 1) // 2
    out[0::2], out[1::2] = t[:half], t[half:]
    return out.tobytes()


def read_exr(path: str) -> dict:
    """Channels of a scanline EXR (single- or multi-part; NONE, ZIPS or ZIP) as float32
    arrays (H, W) with row 0 at the top, keyed by their full channel name."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x76\x2f\x31\x01":
        raise ValueError(f"{path} is not an OpenEXR file")
    (flags,) = struct.unpack_from("<i", data, 4)
    if flags & 0x200 or flags & 0x800:
        raise ValueError(f"{path}: tiled or deep EXR files are not supported")
    multipart = bool(flags & 0x1000)
    pos, headers = 8, []
    while True:
        header, pos = _read_header(data, pos)
        headers.append(header)
        if not multipart or data[pos] == 0:
            pos += 1 if multipart else 0
            break
    parts = []
    for header in headers:
        xmin, ymin, xmax, ymax = struct.unpack("<iiii", header["dataWindow"][1])
        compression = header["compression"][1][0]
        if compression not in _LINES_PER_BLOCK:
            raise ValueError(f"{path}: EXR compression {compression} is not supported")
        lines = _LINES_PER_BLOCK[compression]
        height, width = ymax - ymin + 1, xmax - xmin + 1
        count = (
            struct.unpack("<i", header["chunkCount"][1])[0] if "chunkCount" in header else -(-height // lines)
        )
        offsets = struct.unpack_from(f"<{count}Q", data, pos)
        pos += 8 * count
        parts.append((header, offsets, compression, lines, width, height, ymin))
    out = {}
    for header, offsets, compression, lines, width, height, ymin in parts:
        channels = _channels(header["channels"][1])
        dtypes = [np.dtype(_PIXEL_TYPES[t]) for _, t in channels]
        arrays = [np.empty((height, width), np.float32) for _ in channels]
        row_bytes = sum(width * dt.itemsize for dt in dtypes)
        for offset in offsets:
            at = offset + (4 if multipart else 0)
            y, size = struct.unpack_from("<ii", data, at)
            n = min(lines, ymin + height - y)
            raw_size = n * row_bytes
            block = data[at + 8 : at + 8 + size]
            if size < raw_size:
                block = _unzip(block, raw_size)
            at = 0
            for row in range(y - ymin, y - ymin + n):
                for array, dt in zip(arrays, dtypes):
                    array[row] = np.frombuffer(block, dt, width, at)
                    at += width * dt.itemsize
        out.update({name: array for (name, _), array in zip(channels, arrays)})
    return out
