"""Random tabletop scenes for the interpolation network's training and evaluation data.

``build_scene(seed, textures_dir=None, family="train")`` clears the current file and builds:

- a ground: a large plane (the HDRI's horizon shows behind it) or a table-sized slab;
- 3-8 objects: bevelled boxes, boxes, UV and ico spheres, cylinders, cones, tori, Suzanne and
  randomly displaced blobs, 0.3-1 m across, scattered close together (some stacked, some
  floating) so that views have real occlusions and disocclusions;
- materials mixing real photographs (the images of ``textures_dir``; UV or box projection),
  crops of the bundled HDRIs (real photographs too), procedural textures (noise, voronoi,
  brick, checker, wave, magic) and plain colours; some glossy, metallic or clear-coated, so
  that shading depends on the view;
- one of the HDRIs shipped in the bpy wheel as the world (visible background, random
  rotation and strength), and sometimes a sun;
- fast Cycles settings (``fast_cycles``): CPU, few samples, OpenImageDenoise when the build
  has it, short light paths.

Determinism: every random choice comes from ``numpy.random.default_rng([family id, seed,
stream])``; file lists are sorted; so the same (seed, family, textures) gives the same
object names, transforms and materials in any process.

Train / eval separation (the benchmarks evaluate on scenes no training clip has seen):

- the family id is part of every seed, so ``build_scene(3, family="eval")`` and
  ``build_scene(3, family="train")`` are unrelated scenes;
- HDRIs: ``EVAL_HDRIS`` (courtyard, sunset) are used, as world and as texture crops, only by
  the eval family; ``TRAIN_HDRIS`` (city, forest, interior, night, studio, sunrise) only by train;
- texture images: ``textures.json`` in ``textures_dir`` (written by
  ``scripts/export_textures.py``, where the split is fixed) marks each image train or eval;
  a family only ever loads its own images.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import warnings

import bpy
import numpy as np

HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
EVAL_HDRIS = ("courtyard", "sunset")
TRAIN_HDRIS = tuple(h for h in HDRIS if h not in EVAL_HDRIS)
FAMILIES = {"train": 1, "eval": 2}  # mixed into every seed
SHAPES = ("bevel_box", "box", "uv_sphere", "ico_sphere", "cylinder", "cone", "torus", "suzanne", "blob")
PROCEDURAL = ("noise", "voronoi", "brick", "checker", "wave", "magic")

DEFAULT_SAMPLES = 16


def rng_for(seed: int, family: str, *stream: int) -> np.random.Generator:
    """The random stream ``stream`` of scene ``seed`` in ``family`` (independent streams)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, not {family!r}")
    if int(seed) < 0:
        raise ValueError("seed must be >= 0")
    return np.random.default_rng([FAMILIES[family], int(seed), *stream])


def family_hdris(family: str) -> tuple[str, ...]:
    return EVAL_HDRIS if family == "eval" else TRAIN_HDRIS


def hdri_dir() -> str:
    return os.path.join(bpy.utils.system_resource("DATAFILES"), "studiolights", "world")


def load_textures(textures_dir, family: str) -> list[dict]:
    """The images of ``family`` listed in ``textures_dir/textures.json``, sorted by file name;
    each entry gains ``path`` (absolute). ``[]`` when ``textures_dir`` is None."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, not {family!r}")
    if not textures_dir:
        return []
    listing = os.path.join(textures_dir, "textures.json")
    if not os.path.isfile(listing):
        raise FileNotFoundError(f"{listing} is missing: run scripts/export_textures.py {textures_dir} (backend Python)")
    with open(listing, encoding="utf-8") as f:
        images = json.load(f)["images"]
    out = []
    for entry in sorted(images, key=lambda e: e["file"]):
        if entry["split"] != family:
            continue
        path = os.path.join(textures_dir, entry["file"])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is listed in {listing} but missing")
        out.append({**entry, "path": os.path.abspath(path)})
    return out


# --- small helpers ------------------------------------------------------------------------


def _f(x, nd=4):
    return round(float(x), nd)


def _color(rng, sat=(0.15, 0.9), val=(0.15, 0.9)):
    """A random colour as linear RGBA (drawn in HSV, then roughly sRGB -> linear)."""
    h, s, v = rng.random(), rng.uniform(*sat), rng.uniform(*val)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (r**2.2, g**2.2, b**2.2, 1.0)


def _new_material(name):
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None or "Principled BSDF" not in mat.node_tree.nodes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            mat.use_nodes = True  # Blender < 5.0
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    return mat, nodes, links, nodes["Principled BSDF"]


def _mapping(nodes, links, coord_output, scale=(1, 1, 1), location=(0, 0, 0), rotation=(0, 0, 0)):
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = scale
    mapping.inputs["Location"].default_value = location
    mapping.inputs["Rotation"].default_value = rotation
    links.new(coords.outputs[coord_output], mapping.inputs["Vector"])
    return mapping.outputs["Vector"]


def _multiply(nodes, links, color_socket, factor_color, clamp=True):
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.blend_type = "MULTIPLY"
    mix.clamp_result = clamp
    mix.inputs[0].default_value = 1.0
    links.new(color_socket, mix.inputs[6])
    mix.inputs[7].default_value = factor_color
    return mix.outputs[2]


def _ramp(nodes, links, fac_socket, colors, positions):
    ramp = nodes.new("ShaderNodeValToRGB")
    elements = ramp.color_ramp.elements
    while len(elements) < len(colors):
        elements.new(0.5)
    for el, c, p in zip(elements, colors, positions):
        el.position = p
        el.color = c
    links.new(fac_socket, ramp.inputs["Fac"])
    return ramp.outputs["Color"]


class _Hdri:
    """One bundled HDRI: the image datablock and its pixels (for crop statistics)."""

    def __init__(self, name):
        self.name = name
        self.image = bpy.data.images.load(os.path.join(hdri_dir(), f"{name}.exr"), check_existing=True)
        w, h = self.image.size
        px = np.empty(w * h * 4, np.float32)
        self.image.pixels.foreach_get(px)
        # Row 0 is the bottom of the image; the upper hemisphere is the top half.
        self.lum = (px.reshape(h, w, 4)[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32)
        lat = (np.arange(h) + 0.5) / h * math.pi - math.pi / 2
        weight = np.cos(lat)[h // 2 :, None] * np.ones((1, w))
        self.upper_mean = float((self.lum[h // 2 :] * weight).sum() / weight.sum())

    def crop_median(self, u0, v0, su, sv):
        h, w = self.lum.shape
        ys = slice(int(v0 * h), max(int(v0 * h) + 1, int((v0 + sv) * h)))
        cols = (np.arange(int(u0 * w), max(int(u0 * w) + 1, int((u0 + su) * w))) % w)
        return float(np.median(self.lum[ys][:, cols]))


# --- materials ----------------------------------------------------------------------------


def _surface(rng, bsdf, info, allow_metal=True):
    """Roughness / metal / coat: a third of the surfaces are glossy (view-dependent shading)."""
    glossy = rng.random() < 0.35
    roughness = rng.uniform(0.03, 0.2) if glossy else rng.uniform(0.3, 0.85)
    metallic = 1.0 if allow_metal and rng.random() < 0.12 else 0.0
    coat = rng.uniform(0.5, 1.0) if rng.random() < 0.2 else 0.0
    specular = rng.uniform(0.3, 0.8)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Specular IOR Level"].default_value = specular
    if coat:
        bsdf.inputs["Coat Weight"].default_value = coat
        bsdf.inputs["Coat Roughness"].default_value = rng.uniform(0.02, 0.12)
    info.update(roughness=_f(roughness), metallic=_f(metallic), coat=_f(coat), specular=_f(specular))


def _procedural_color(rng, nodes, links, vector, kind, info):
    """Colour (and a bump height) of a procedural texture at ``vector``."""
    c1, c2, c3 = _color(rng), _color(rng), _color(rng)
    scale = rng.uniform(2.0, 10.0)
    if kind == "noise":
        tex = nodes.new("ShaderNodeTexNoise")
        if hasattr(tex, "noise_type"):
            tex.noise_type = str(rng.choice(["FBM", "MULTIFRACTAL", "RIDGED_MULTIFRACTAL", "HYBRID_MULTIFRACTAL"]))
        tex.inputs["Scale"].default_value = scale
        tex.inputs["Detail"].default_value = rng.uniform(2, 8)
        tex.inputs["Distortion"].default_value = rng.uniform(0, 2)
        links.new(vector, tex.inputs["Vector"])
        height = tex.outputs["Fac"]
        color = _ramp(nodes, links, height, [c1, c2, c3], sorted(rng.uniform(0.25, 0.75, 3)))
    elif kind == "voronoi":
        tex = nodes.new("ShaderNodeTexVoronoi")
        tex.feature = str(rng.choice(["F1", "F2", "SMOOTH_F1", "DISTANCE_TO_EDGE"]))
        tex.inputs["Scale"].default_value = scale
        links.new(vector, tex.inputs["Vector"])
        height = tex.outputs["Distance"]
        if tex.feature != "DISTANCE_TO_EDGE" and rng.random() < 0.5:
            color = tex.outputs["Color"]
        else:
            color = _ramp(nodes, links, height, [c1, c2], sorted(rng.uniform(0.0, 0.6, 2)))
    elif kind == "brick":
        tex = nodes.new("ShaderNodeTexBrick")
        tex.inputs["Color1"].default_value = c1
        tex.inputs["Color2"].default_value = c2
        tex.inputs["Mortar"].default_value = c3
        tex.inputs["Scale"].default_value = scale * 0.6
        tex.inputs["Mortar Size"].default_value = rng.uniform(0.005, 0.03)
        links.new(vector, tex.inputs["Vector"])
        color, height = tex.outputs["Color"], tex.outputs["Fac"]
    elif kind == "checker":
        tex = nodes.new("ShaderNodeTexChecker")
        tex.inputs["Color1"].default_value = c1
        tex.inputs["Color2"].default_value = c2
        tex.inputs["Scale"].default_value = scale
        links.new(vector, tex.inputs["Vector"])
        color, height = tex.outputs["Color"], tex.outputs["Fac"]
    elif kind == "wave":
        tex = nodes.new("ShaderNodeTexWave")
        tex.wave_type = str(rng.choice(["BANDS", "RINGS"]))
        tex.inputs["Scale"].default_value = scale * 0.5
        tex.inputs["Distortion"].default_value = rng.uniform(0, 8)
        tex.inputs["Detail"].default_value = rng.uniform(0, 4)
        links.new(vector, tex.inputs["Vector"])
        height = tex.outputs["Fac"]
        color = _ramp(nodes, links, height, [c1, c2], [0.2, 0.8])
    elif kind == "magic":
        tex = nodes.new("ShaderNodeTexMagic")
        tex.turbulence_depth = int(rng.integers(2, 5))
        tex.inputs["Scale"].default_value = scale * 0.5
        tex.inputs["Distortion"].default_value = rng.uniform(0.5, 2.0)
        links.new(vector, tex.inputs["Vector"])
        color, height = _multiply(nodes, links, tex.outputs["Color"], c1[:3] + (1.0,)), tex.outputs["Fac"]
    else:
        raise ValueError(kind)
    info.update(texture=kind, scale=_f(scale))
    return color, height


def _bump(rng, nodes, links, height, bsdf, info):
    if rng.random() < 0.3:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = rng.uniform(0.1, 0.5)
        bump.inputs["Distance"].default_value = 0.02
        links.new(height, bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
        info["bump"] = True


def _image_color(rng, nodes, links, image_entry, mapping_kind, info, ground=False):
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = bpy.data.images.load(image_entry["path"], check_existing=True)
    tex.interpolation = "Linear"
    tex.extension = "MIRROR" if rng.random() < 0.5 else "REPEAT"
    if ground:
        tile = rng.uniform(0.6, 2.5)  # metres per image
        vector = _mapping(nodes, links, "Object", scale=(1 / tile,) * 3, rotation=(0, 0, rng.uniform(0, 2 * math.pi)))
        info.update(projection="flat", tile_m=_f(tile))
    elif mapping_kind == "box":
        tex.projection = "BOX"
        tex.projection_blend = 0.2
        s = rng.uniform(0.4, 1.0)
        vector = _mapping(nodes, links, "Object", scale=(s, s, s), location=tuple(rng.uniform(0, 1, 3)))
        info.update(projection="box", scale=_f(s))
    else:
        s = float(rng.choice([1.0, 1.0, 2.0, 3.0]))
        vector = _mapping(nodes, links, "UV", scale=(s, s, 1), location=(rng.uniform(0, 1), rng.uniform(0, 1), 0))
        info.update(projection="uv", scale=_f(s))
    links.new(vector, tex.inputs["Vector"])
    color = tex.outputs["Color"]
    if image_entry.get("gray") or rng.random() < 0.25:
        tint = _color(rng, sat=(0.1, 0.7), val=(0.6, 1.0))
        color = _multiply(nodes, links, color, tint)
        info["tint"] = [_f(c, 3) for c in tint[:3]]
    info.update(texture=image_entry["file"])
    return color, tex.outputs["Color"]


def _hdri_crop_color(rng, nodes, links, hdri, mapping_kind, info, ground=False):
    """A crop of an equirectangular HDRI (near the horizon, where the photo has content)."""
    su, sv = rng.uniform(0.08, 0.3), rng.uniform(0.08, 0.25)
    u0, v0 = rng.uniform(0, 1), rng.uniform(0.42, 0.72 - sv)
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = hdri.image
    tex.interpolation = "Linear"
    tex.extension = "MIRROR"
    if ground:
        tile = rng.uniform(1.0, 3.0)
        scale, loc, coord = (su / tile, sv / tile, 1), (u0, v0, 0), "Object"
        info.update(projection="flat", tile_m=_f(tile))
    elif mapping_kind == "box":
        tex.projection = "BOX"
        tex.projection_blend = 0.2
        scale, loc, coord = (su / 2, sv / 2, 1), (u0 + su / 2, v0 + sv / 2, 0), "Object"
        info.update(projection="box")
    else:
        scale, loc, coord = (su, sv, 1), (u0, v0, 0), "UV"
        info.update(projection="uv")
    links.new(_mapping(nodes, links, coord, scale=scale, location=loc), tex.inputs["Vector"])
    # Bring the crop to a plausible albedo: median luminance -> 0.25..0.6, highlights clamped.
    gain = rng.uniform(0.25, 0.6) / max(hdri.crop_median(u0 % 1.0, v0, su, sv), 1e-3)
    gain = min(gain, 50.0)
    color = _multiply(nodes, links, tex.outputs["Color"], (gain, gain, gain, 1.0))
    info.update(texture=f"hdri:{hdri.name}", crop=[_f(u0), _f(v0), _f(su), _f(sv)], gain=_f(gain))
    return color, tex.outputs["Color"]


def _material(rng, name, images, hdris, ground=False):
    """A random material; returns (material, info)."""
    mat, nodes, links, bsdf = _new_material(name)
    kinds, weights = ["procedural", "hdri_crop", "plain"], [0.35, 0.2, 0.1]
    if images:
        kinds.append("image")
        weights.append(0.35)
    if ground:
        kinds, weights = kinds[:2] + kinds[3:], weights[:2] + weights[3:]  # no plain ground
    weights = np.array(weights) / sum(weights)
    kind = str(rng.choice(kinds, p=weights))
    info = {"name": name, "kind": kind}
    mapping_kind = "box" if rng.random() < 0.4 else "uv"
    height = None
    if kind == "plain":
        bsdf.inputs["Base Color"].default_value = _color(rng)
    elif kind == "procedural":
        ptype = str(rng.choice(PROCEDURAL))
        vector = _mapping(nodes, links, "Object", rotation=tuple(rng.uniform(0, 2 * math.pi, 3)))
        color, height = _procedural_color(rng, nodes, links, vector, ptype, info)
        links.new(color, bsdf.inputs["Base Color"])
    elif kind == "image":
        entry = images[int(rng.integers(len(images)))]
        color, _ = _image_color(rng, nodes, links, entry, mapping_kind, info, ground)
        links.new(color, bsdf.inputs["Base Color"])
    else:
        hdri = hdris[int(rng.integers(len(hdris)))]
        color, _ = _hdri_crop_color(rng, nodes, links, hdri, mapping_kind, info, ground)
        links.new(color, bsdf.inputs["Base Color"])
    _surface(rng, bsdf, info, allow_metal=not ground)
    if height is not None:
        _bump(rng, nodes, links, height, bsdf, info)
    return mat, info


# --- geometry -------------------------------------------------------------------------------


def _smooth(obj, by_angle=True):
    with bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj], selected_editable_objects=[obj]):
        if by_angle and hasattr(bpy.ops.object, "shade_smooth_by_angle"):
            bpy.ops.object.shade_smooth_by_angle(angle=math.radians(40))
        else:
            bpy.ops.object.shade_smooth()


def _displace_blob(rng, obj):
    """Push an ico sphere's vertices along their directions by a few random low-frequency waves."""
    mesh = obj.data
    n = len(mesh.vertices)
    co = np.empty(n * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    p = co.reshape(n, 3).astype(np.float64)
    d = p / np.linalg.norm(p, axis=1, keepdims=True)
    disp = np.zeros(n)
    for _ in range(int(rng.integers(3, 6))):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        disp += rng.uniform(0.04, 0.12) * np.sin(rng.uniform(1.5, 5.0) * (d @ axis) + rng.uniform(0, 2 * math.pi))
    p = d * (1.0 + disp)[:, None]
    mesh.vertices.foreach_set("co", p.astype(np.float32).ravel())
    mesh.update()


def _add_shape(rng, shape, name):
    """A unit-ish primitive (about 2 units across, centred) with UVs; returns (object, info)."""
    ops = bpy.ops.mesh
    info = {}
    if shape in ("box", "bevel_box"):
        ops.primitive_cube_add(size=2.0, calc_uvs=True)
    elif shape == "uv_sphere":
        ops.primitive_uv_sphere_add(radius=1.0, segments=32, ring_count=16, calc_uvs=True)
    elif shape == "ico_sphere":
        ops.primitive_ico_sphere_add(radius=1.0, subdivisions=int(rng.integers(1, 4)), calc_uvs=True)
    elif shape == "cylinder":
        ops.primitive_cylinder_add(radius=1.0, depth=2.0, vertices=int(rng.choice([6, 8, 32, 32])), calc_uvs=True)
    elif shape == "cone":
        ops.primitive_cone_add(radius1=1.0, radius2=float(rng.choice([0.0, rng.uniform(0.2, 0.7)])), depth=2.0, vertices=32, calc_uvs=True)
    elif shape == "torus":
        minor = rng.uniform(0.2, 0.45)
        ops.primitive_torus_add(major_radius=1.0 - minor, minor_radius=minor, major_segments=40, minor_segments=16, generate_uvs=True)
        info["minor"] = _f(minor)
    elif shape == "suzanne":
        ops.primitive_monkey_add(size=2.0, calc_uvs=True)
    elif shape == "blob":
        ops.primitive_ico_sphere_add(radius=1.0, subdivisions=4, calc_uvs=True)
    else:
        raise ValueError(shape)
    obj = bpy.context.active_object
    obj.name = name
    obj.data.name = name
    if shape == "bevel_box":
        mod = obj.modifiers.new("Bevel", "BEVEL")
        mod.width = rng.uniform(0.05, 0.25)
        mod.segments = 3
        mod.limit_method = "ANGLE"
        info["bevel"] = _f(mod.width)
    if shape == "blob":
        _displace_blob(rng, obj)
    if shape == "suzanne":
        mod = obj.modifiers.new("Subdivision", "SUBSURF")
        mod.levels = mod.render_levels = 1
    if shape in ("uv_sphere", "torus", "suzanne", "blob", "bevel_box") or (shape == "ico_sphere" and rng.random() < 0.5):
        _smooth(obj, by_angle=shape == "bevel_box")
    elif shape in ("cylinder", "cone"):
        _smooth(obj, by_angle=True)
    return obj, info


def _world_box(obj):
    """World-space (lo, hi) of an object's evaluated bounding box."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    m = np.array(ev.matrix_world)
    corners = np.array([tuple(c) for c in ev.bound_box])
    world = corners @ m[:3, :3].T + m[:3, 3]
    return world.min(axis=0), world.max(axis=0)


def _ground(rng, scene, images, hdris):
    kind = "plane" if rng.random() < 0.6 else "table"
    if kind == "plane":
        bpy.ops.mesh.primitive_plane_add(size=40.0, calc_uvs=True)
        obj = bpy.context.active_object
        info = {"kind": "plane", "size": 40.0}
    else:
        w, d = rng.uniform(2.6, 4.0), rng.uniform(2.6, 4.0)
        thick = 0.08
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, -thick / 2), calc_uvs=True)
        obj = bpy.context.active_object
        obj.scale = (w, d, thick)
        info = {"kind": "table", "size": [_f(w), _f(d), thick]}
    obj.name = obj.data.name = "ground"
    obj["ps4pro_role"] = "ground"
    mat, minfo = _material(rng, "ground", images, hdris, ground=True)
    obj.data.materials.append(mat)
    info["material"] = minfo
    return obj, info


def _place(rng, placed, r_h, spread):
    """An (x, y) in a disc of radius ``spread`` keeping some distance from ``placed``
    ((x, y, r) triples); partial overlaps are allowed (depth complexity), piles are not."""
    best, best_gap = None, -1e9
    for _ in range(40):
        x, y = rng.uniform(-spread, spread, 2)
        if x * x + y * y > spread * spread:
            continue
        gap = min((math.hypot(x - px, y - py) - 0.7 * (r_h + pr) for px, py, pr in placed), default=1.0)
        if gap > 0:
            return x, y
        if gap > best_gap:
            best, best_gap = (x, y), gap
    return best if best is not None else (0.0, 0.0)


def _objects(rng, images, hdris):
    count = int(rng.integers(3, 9))
    spread = rng.uniform(0.6, 1.1) * (0.8 + 0.05 * count)
    placed, infos = [], []
    for i in range(count):
        shape = str(rng.choice(SHAPES))
        name = f"obj{i:02d}_{shape}"
        obj, extra = _add_shape(rng, shape, name)
        size = rng.uniform(0.3, 1.0)  # metres across, before the per-axis stretch
        stretch = rng.uniform(0.6, 1.5, 3) if shape in ("box", "bevel_box", "cylinder", "blob", "ico_sphere") else np.ones(3)
        if shape in ("cylinder", "cone"):
            stretch[1] = stretch[0]
        obj.scale = tuple(size / 2 * stretch)
        tilt = rng.random() < 0.25
        rot = (rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), 0.0) if tilt else (0.0, 0.0, 0.0)
        rot = (rot[0], rot[1], rng.uniform(0, 2 * math.pi))
        if shape == "torus" and rng.random() < 0.4:
            rot = (math.pi / 2, 0.0, rot[2])  # standing ring
        obj.rotation_euler = rot
        mat, minfo = _material(rng, f"mat{i:02d}", images, hdris)
        obj.data.materials.append(mat)
        bpy.context.view_layer.update()
        lo, hi = _world_box(obj)
        r_h = 0.5 * max(hi[0] - lo[0], hi[1] - lo[1])
        mode = rng.random()
        if placed and mode < 0.15:  # stacked on an earlier object
            j = int(rng.integers(len(placed)))
            base = placed[j]
            x, y = base[0] + rng.uniform(-0.3, 0.3) * base[2], base[1] + rng.uniform(-0.3, 0.3) * base[2]
            bottom = base[3]
            how = "stacked"
        else:
            x, y = _place(rng, [(p[0], p[1], p[2]) for p in placed], r_h, spread)
            floating = mode > 0.88
            bottom = rng.uniform(0.1, 0.5) if floating else -rng.uniform(0.0, 0.02)
            how = "floating" if floating else "ground"
        centre = (lo + hi) / 2
        obj.location = (obj.location[0] + x - centre[0], obj.location[1] + y - centre[1], obj.location[2] + bottom - lo[2])
        bpy.context.view_layer.update()
        lo, hi = _world_box(obj)
        placed.append((x, y, r_h, float(hi[2])))
        obj["ps4pro_role"] = "object"
        infos.append(
            {
                "name": name,
                "shape": shape,
                "placement": how,
                "location": [_f(v) for v in obj.location],
                "rotation": [_f(v) for v in obj.rotation_euler],
                "scale": [_f(v) for v in obj.scale],
                "material": minfo,
                **extra,
            }
        )
    return infos


# --- world, light, render -------------------------------------------------------------------


def _world(rng, scene, hdri):
    world = bpy.data.worlds.new(f"world_{hdri.name}")
    if world.node_tree is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = nodes.get("Background") or nodes.new("ShaderNodeBackground")
    output = nodes.get("World Output") or nodes.new("ShaderNodeOutputWorld")
    links.new(background.outputs["Background"], output.inputs["Surface"])
    env = nodes.new("ShaderNodeTexEnvironment")
    env.image = hdri.image
    rotation = rng.uniform(0, 2 * math.pi)
    links.new(_mapping(nodes, links, "Generated", rotation=(0, 0, rotation)), env.inputs["Vector"])
    links.new(env.outputs["Color"], background.inputs["Color"])
    # Normalise the sky's mean brightness, then vary it.
    strength = rng.uniform(0.6, 1.4) * 1.2 / max(hdri.upper_mean, 0.25)
    background.inputs["Strength"].default_value = strength
    scene.world = world
    return {"name": hdri.name, "rotation_deg": _f(math.degrees(rotation), 2), "strength": _f(strength)}


def _sun(rng, scene):
    if rng.random() >= 0.45:
        return None
    light = bpy.data.lights.new("sun", "SUN")
    light.energy = rng.uniform(1.0, 3.5)
    light.angle = math.radians(rng.uniform(0.5, 6.0))
    light.color = colorsys.hsv_to_rgb(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.25), 1.0)
    obj = bpy.data.objects.new("sun", light)
    scene.collection.objects.link(obj)
    elevation, azimuth = rng.uniform(25, 70), rng.uniform(0, 360)
    obj.rotation_euler = (math.radians(90 - elevation), 0.0, math.radians(azimuth))
    return {"energy": _f(light.energy), "elevation_deg": _f(elevation, 2), "azimuth_deg": _f(azimuth, 2)}


def oidn_available() -> bool:
    try:
        import _cycles

        return bool(getattr(_cycles, "with_openimagedenoise", False))
    except ImportError:
        return False


def fast_cycles(scene, samples: int = DEFAULT_SAMPLES, denoise: bool = True) -> dict:
    """Cycles on the CPU tuned for small, fast frames; returns what was set."""
    scene.render.engine = "CYCLES"
    c = scene.cycles
    c.device = "CPU"
    c.samples = samples
    c.use_adaptive_sampling = True
    c.adaptive_threshold = 0.05
    c.max_bounces = 4
    c.diffuse_bounces = 2
    c.glossy_bounces = 2
    c.transmission_bounces = 2
    c.volume_bounces = 0
    c.transparent_max_bounces = 4
    c.caustics_reflective = False
    c.caustics_refractive = False
    c.blur_glossy = 1.0
    c.sample_clamp_indirect = 10.0
    c.seed = 0
    c.use_animated_seed = False
    denoise = bool(denoise and oidn_available())
    c.use_denoising = denoise
    if denoise:
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        if hasattr(c, "denoising_prefilter"):
            c.denoising_prefilter = "FAST"
        if hasattr(c, "denoising_quality"):
            c.denoising_quality = "BALANCED"
    scene.render.film_transparent = False
    return {"engine": "CYCLES", "device": "CPU", "samples": samples, "denoise": "OPENIMAGEDENOISE" if denoise else None}


# --- the scene --------------------------------------------------------------------------------


def scene_bounds(scene=None):
    """Centre and bounding-sphere radius of the scene's objects (``ps4pro_role == "object"``;
    every mesh but the ground when none is tagged)."""
    scene = scene or bpy.context.scene
    objs = [o for o in scene.objects if o.get("ps4pro_role") == "object"]
    if not objs:
        objs = [o for o in scene.objects if o.type == "MESH" and o.get("ps4pro_role") != "ground"]
    if not objs:
        return np.zeros(3), 1.0
    boxes = [_world_box(o) for o in objs]
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    centre = (lo + hi) / 2
    return centre, float(np.linalg.norm(hi - lo) / 2)


def build_scene(seed: int, textures_dir=None, family: str = "train", samples: int = DEFAULT_SAMPLES, denoise: bool = True) -> dict:
    """Clear the current file and build random scene ``seed`` of ``family``; returns its info
    (JSON-able: objects, materials, textures and HDRIs used, centre and radius, render settings)."""
    rng = rng_for(seed, family, 0)
    images = load_textures(textures_dir, family)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.name = f"ps4pro_{family}_{seed}"
    names = family_hdris(family)
    hdris = [_Hdri(n) for n in names]
    pick = int(rng.integers(len(hdris)))
    if family == "eval":
        pick = int(seed) % len(hdris)  # consecutive eval seeds cycle through the held-out HDRIs
    world_hdri = hdris[pick]
    ground_obj, ground = _ground(rng, scene, images, hdris)
    objects = _objects(rng, images, hdris)
    world = _world(rng, scene, world_hdri)
    sun = _sun(rng, scene)
    render = fast_cycles(scene, samples, denoise)
    bpy.context.view_layer.update()
    centre, radius = scene_bounds(scene)
    mats = [ground["material"]] + [o["material"] for o in objects]
    textures = sorted({m["texture"] for m in mats if m["kind"] == "image"})
    crops = sorted({m["texture"].split(":", 1)[1] for m in mats if m["kind"] == "hdri_crop"})
    for obj in scene.objects:
        obj.select_set(False)
    info = {
        "seed": int(seed),
        "family": family,
        "hdri": world,
        "hdri_crops": crops,
        "textures": textures,
        "sun": sun,
        "ground": ground,
        "objects": objects,
        "center": [_f(v) for v in centre],
        "radius": _f(radius),
        "render": render,
    }
    scene["ps4pro_procedural"] = json.dumps({"seed": int(seed), "family": family, "center": info["center"], "radius": info["radius"]})
    return info
