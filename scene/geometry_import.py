"""Build Blender objects from arrays, fast: point clouds, meshes and dataset cameras.

Only bulk attribute paths are used (``foreach_set`` with contiguous float32/int32 arrays),
never ``from_pydata``: a million points go in within tens of milliseconds.

Point clouds, by what the running Blender offers:

- ``POINTCLOUD`` (5.1+, ``PointCloud.resize``): a real point cloud built directly.
- ``CONVERT`` (4.5+): a vertex-only mesh converted with ``object.convert(target='POINTCLOUD')``.
- ``GEOMETRY_NODES`` (4.2): a vertex-only mesh with a "Mesh to Points" geometry-nodes modifier.

Colours become a ``FLOAT_COLOR`` POINT attribute named ``Col`` (linear, converted from the
file's sRGB bytes), extra per-point values named float attributes, and the point radius
the ``radius`` attribute. One shared material ("PS4PRO Point Colour") reads ``Col`` so the
colours show in Material Preview, Rendered and Cycles renders.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix
from mathutils.kdtree import KDTree

from ..ps4pro_blender import ply
from . import camera_model

COLLECTION_NAME = "PS4PRO"
MATERIAL_NAME = "PS4PRO Point Colour"
NODE_GROUP_NAME = "PS4PRO Mesh to Points"
COLOR_ATTRIBUTE = "Col"
RADIUS_ATTRIBUTE = "radius"

# Attribute names Blender owns; extra PLY values with these names get a prefix.
_RESERVED = {
    "position", "radius", "id", "material_index", "sharp_face", "sharp_edge", "crease_vert",
    "crease_edge", "UVMap", "normal", COLOR_ATTRIBUTE,
}

_SRGB_TO_LINEAR = None


def srgb_to_linear_lut() -> np.ndarray:
    """256-entry float32 table: sRGB byte -> linear value (the exact sRGB curve)."""
    global _SRGB_TO_LINEAR
    if _SRGB_TO_LINEAR is None:
        c = np.arange(256, dtype=np.float64) / 255.0
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        _SRGB_TO_LINEAR = lin.astype(np.float32)
    return _SRGB_TO_LINEAR


def linear_rgba(colors: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """uint8 sRGB (N, 3) -> float32 linear RGBA (N, 4), C-contiguous."""
    n = colors.shape[0]
    out = np.empty((n, 4), np.float32)
    out[:, :3] = srgb_to_linear_lut()[colors]
    out[:, 3] = 1.0 if alpha is None else alpha
    return out


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


# ----------------------------------------------------------------------------- helpers


def point_cloud_method() -> str:
    """The point-cloud path this Blender uses: POINTCLOUD, CONVERT or GEOMETRY_NODES."""
    if "resize" in bpy.types.PointCloud.bl_rna.functions:  # 5.1+
        return "POINTCLOUD"
    if bpy.app.version >= (4, 5, 0):
        return "CONVERT"
    return "GEOMETRY_NODES"


def ensure_collection(scene, name: str = COLLECTION_NAME):
    """The collection ``name`` linked under the scene collection (created or re-linked)."""
    for coll in scene.collection.children_recursive:
        if coll.name == name:
            return coll
    coll = bpy.data.collections.get(name)
    if coll is None or coll.library is not None:
        coll = bpy.data.collections.new(name)
    scene.collection.children.link(coll)
    return coll


def child_collection(parent, name: str):
    """A new child collection of ``parent`` (always new: one per imported dataset)."""
    coll = bpy.data.collections.new(name)
    parent.children.link(coll)
    return coll


def select_only(context, objects) -> None:
    """Select exactly ``objects`` in the view layer and make the first one active."""
    view_layer = context.view_layer
    for obj in context.selected_objects if hasattr(context, "selected_objects") else view_layer.objects:
        obj.select_set(False, view_layer=view_layer)
    first = None
    for obj in objects:
        try:  # an object in a collection excluded from this view layer cannot be selected
            obj.select_set(True, view_layer=view_layer)
        except RuntimeError:
            continue
        first = first or obj
    if first is not None:
        view_layer.objects.active = first


def _median_nn(sample: np.ndarray, queries: int) -> float:
    """Median distance from the first ``queries`` points of ``sample`` to their nearest other point."""
    tree = KDTree(len(sample))
    for i, co in enumerate(sample.tolist()):
        tree.insert(co, i)
    tree.balance()
    found = []
    for i, co in enumerate(sample[:queries].tolist()):
        # Nearest points other than itself; coincident points say nothing about spacing.
        for _co, index, dist in tree.find_n(co, 4):
            if index != i and dist > 1e-12:
                found.append(dist)
                break
    return float(np.median(found)) if found else 0.0


def estimate_spacing(points: np.ndarray, seed: int = 0) -> float:
    """Typical distance from a point to its nearest neighbour, in milliseconds for millions.

    Nearest-neighbour distances of the same 512 points are measured within two random
    subsets (2048 and 8192 points, KD-trees); their ratio gives the cloud's dimension (1
    for a line, 2 for a surface, 3 for a volume), which scales the spacing to the full count.
    """
    n = int(points.shape[0])
    if n < 2:
        return 0.0
    big, small, queries = 8192, 2048, 512
    if n <= big:
        sample = np.asarray(points, np.float32)
    else:
        rng = np.random.default_rng(seed)
        sample = np.asarray(points[np.sort(rng.choice(n, big, replace=False))], np.float32)
    sample = sample[np.isfinite(sample).all(axis=1)]
    if len(sample) < 2:
        return 0.0
    if n <= big:
        return _median_nn(sample, min(len(sample), 2048))
    rng = np.random.default_rng(seed + 1)
    sample = sample[rng.permutation(len(sample))]  # the first `queries` are in both subsets
    d_big = _median_nn(sample, queries)
    d_small = _median_nn(sample[:small], queries)
    if d_big <= 0.0 or d_small <= 0.0:
        return d_big
    ratio = d_small / d_big
    # ratio = (big / small) ** (1 / dim)
    dim = math.log(big / small) / math.log(ratio) if ratio > 1.0 + 1e-6 else 3.0
    dim = min(max(dim, 1.0), 3.0)
    return d_big * (big / n) ** (1.0 / dim)


def default_radius(points: np.ndarray) -> float:
    """0.7 of the typical point spacing: on a surface sampled at that spacing, discs of this
    radius also cover the diagonal gaps (sqrt(2)/2), so the surface looks closed."""
    spacing = estimate_spacing(points)
    if spacing <= 0.0 or not math.isfinite(spacing):
        if points.shape[0]:
            ext = np.ptp(points[np.isfinite(points).all(1)], axis=0) if np.isfinite(points).any() else np.zeros(3)
            size = float(np.max(ext)) if ext.size else 0.0
            return max(size * 0.005, 1e-4) if size > 0 else 0.01
        return 0.01
    return 0.7 * spacing


def _attribute_name(name: str, existing) -> str:
    clean = name if name and not name.startswith(".") else f"ply{name or '_value'}"
    if clean in _RESERVED or clean in existing:
        clean = f"ply_{clean.lstrip('.')}"
    return clean[:63]


def _set_attributes(geometry, n: int, colors, extra, radius=None, skip_radius_extra=False) -> None:
    """Colour, radius and extra POINT attributes on a mesh or point cloud."""
    attrs = geometry.attributes
    alpha = None
    if colors is not None:
        if extra and "alpha" in extra:
            a = np.asarray(extra["alpha"], np.float32)
            alpha = a / 255.0 if a.size and float(a.max()) > 1.0 else a
        col = attrs.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
        col.data.foreach_set("color", linear_rgba(colors, alpha).ravel())
    if radius is not None:
        rad = attrs.get(RADIUS_ATTRIBUTE) or attrs.new(RADIUS_ATTRIBUTE, "FLOAT", "POINT")
        rad.data.foreach_set("value", _f32(radius))
    for name, values in (extra or {}).items():
        if name == "alpha" and alpha is not None:
            continue
        if name == RADIUS_ATTRIBUTE and skip_radius_extra:
            continue
        values = _f32(values)
        if values.shape != (n,):
            continue
        attr = attrs.new(_attribute_name(name, attrs.keys()), "FLOAT", "POINT")
        attr.data.foreach_set("value", values)


def _radius_values(n, radius, extra):
    """Per-point radius: the file's own ``radius`` values if any, else one value for all."""
    if extra and RADIUS_ATTRIBUTE in extra and np.asarray(extra[RADIUS_ATTRIBUTE]).shape == (n,):
        return _f32(extra[RADIUS_ATTRIBUTE]), True
    return np.full(n, radius, np.float32), False


# ----------------------------------------------------------------------------- material


def point_colour_material():
    """The shared material that shows the ``Col`` attribute (created once, then reused).

    Attribute "Col" -> Emission (unlit, the colours as captured) and Principled BSDF
    (lit), mixed by the "Lit" value (0: unlit). Set "Lit" to 1 for shaded points.
    """
    mat = bpy.data.materials.get(MATERIAL_NAME)
    if mat is not None and mat.library is None and mat.node_tree is not None and "PS4PRO Colour" in mat.node_tree.nodes:
        return mat
    if mat is None or mat.library is not None:
        mat = bpy.data.materials.new(MATERIAL_NAME)
    if mat.node_tree is None:
        mat.use_nodes = True  # Blender before 5.0; 5.x materials always have a node tree
    nt = mat.node_tree
    nt.nodes.clear()
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.name = attr.label = "PS4PRO Colour"
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = COLOR_ATTRIBUTE
    attr.location = (-600, 0)
    emission = nt.nodes.new("ShaderNodeEmission")
    emission.location = (-300, 150)
    emission.inputs["Strength"].default_value = 1.0
    principled = nt.nodes.new("ShaderNodeBsdfPrincipled")
    principled.location = (-300, -150)
    lit = nt.nodes.new("ShaderNodeValue")
    lit.name = lit.label = "Lit"
    lit.outputs[0].default_value = 0.0
    lit.location = (-300, 350)
    mix = nt.nodes.new("ShaderNodeMixShader")
    mix.location = (100, 0)
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    out.location = (350, 0)
    nt.links.new(attr.outputs["Color"], emission.inputs["Color"])
    nt.links.new(attr.outputs["Color"], principled.inputs["Base Color"])
    nt.links.new(lit.outputs[0], mix.inputs["Fac"])
    nt.links.new(emission.outputs["Emission"], mix.inputs[1])
    nt.links.new(principled.outputs["BSDF"], mix.inputs[2])
    nt.links.new(mix.outputs["Shader"], out.inputs["Surface"])
    mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    return mat


def _mesh_to_points_group(material):
    """Geometry-nodes group: Mesh to Points (radius from the ``radius`` attribute), material set."""
    ng = bpy.data.node_groups.get(NODE_GROUP_NAME)
    if ng is not None and ng.bl_idname == "GeometryNodeTree" and ng.library is None:
        return ng
    ng = bpy.data.node_groups.new(NODE_GROUP_NAME, "GeometryNodeTree")
    if hasattr(ng, "is_modifier"):
        ng.is_modifier = True
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = ng.nodes, ng.links
    gin = nodes.new("NodeGroupInput")
    gin.location = (-600, 0)
    radius = nodes.new("GeometryNodeInputNamedAttribute")
    radius.data_type = "FLOAT"
    radius.inputs["Name"].default_value = RADIUS_ATTRIBUTE
    radius.location = (-600, -200)
    to_points = nodes.new("GeometryNodeMeshToPoints")
    to_points.mode = "VERTICES"
    to_points.location = (-300, 0)
    set_mat = nodes.new("GeometryNodeSetMaterial")
    set_mat.inputs["Material"].default_value = material
    set_mat.location = (0, 0)
    gout = nodes.new("NodeGroupOutput")
    gout.location = (250, 0)
    links.new(gin.outputs[0], to_points.inputs["Mesh"])
    links.new(radius.outputs["Attribute"], to_points.inputs["Radius"])
    links.new(to_points.outputs["Points"], set_mat.inputs["Geometry"])
    links.new(set_mat.outputs["Geometry"], gout.inputs[0])
    return ng


# ----------------------------------------------------------------------------- points


def _vertex_mesh(name, points):
    mesh = bpy.data.meshes.new(name)
    n = int(points.shape[0])
    if n:
        mesh.vertices.add(n)
        mesh.attributes["position"].data.foreach_set("vector", _f32(points).ravel())
    return mesh


def _geometry_inputs(points, colors, collection):
    """Contiguous float32 (N, 3) points, N, uint8 (N, 3) colours or None, and the target collection."""
    points = _f32(points).reshape(-1, 3)
    n = int(points.shape[0])
    if colors is not None:
        colors = np.ascontiguousarray(colors, np.uint8).reshape(n, 3)
    if collection is None:
        collection = ensure_collection(bpy.context.scene)
    return points, n, colors, collection


def points_object(name, points, colors=None, extra=None, collection=None, radius: float = 0.0, method="AUTO"):
    """A point-cloud object from float32 (N, 3) points, uint8 (N, 3) colours and extra values.

    ``radius`` <= 0 picks one from the typical point spacing (``default_radius``). ``method`` forces a path
    (``POINTCLOUD``, ``CONVERT``, ``GEOMETRY_NODES``); ``AUTO`` takes the best this Blender has.
    """
    points, n, colors, collection = _geometry_inputs(points, colors, collection)
    if method == "AUTO":
        method = point_cloud_method()
    if radius is None or radius <= 0.0:
        radius = default_radius(points)
    radii, from_file = _radius_values(n, radius, extra)
    material = point_colour_material()

    if method == "POINTCLOUD":
        pc = bpy.data.pointclouds.new(name)
        pc.resize(n)
        if n:
            pc.attributes["position"].data.foreach_set("vector", points.ravel())
        _set_attributes(pc, n, colors, extra, radii, skip_radius_extra=from_file)
        pc.materials.append(material)
        obj = bpy.data.objects.new(name, pc)
        collection.objects.link(obj)
    elif method in ("CONVERT", "GEOMETRY_NODES"):
        mesh = _vertex_mesh(name, points)
        _set_attributes(mesh, n, colors, extra, radii, skip_radius_extra=from_file)
        mesh.materials.append(material)
        obj = bpy.data.objects.new(name, mesh)
        collection.objects.link(obj)
        if method == "CONVERT":
            obj = _convert_to_pointcloud(obj, collection)
        else:
            mod = obj.modifiers.new("PS4PRO Mesh to Points", "NODES")
            mod.node_group = _mesh_to_points_group(material)
    else:
        raise ValueError(f"unknown point-cloud method {method!r}")
    obj["ps4pro_point_radius"] = float(radius)
    if colors is not None and n:
        # Solid mode draws point clouds with one colour per object: show the mean colour
        # (Viewport Shading > Color > Object); the per-point colours show in Material
        # Preview, Rendered and renders.
        step = max(1, n // 65536)
        mean = srgb_to_linear_lut()[colors[::step]].mean(axis=0)
        obj.color = (float(mean[0]), float(mean[1]), float(mean[2]), 1.0)
    return obj


def _in_view_layer(obj, view_layer) -> bool:
    view_layer.objects.active  # reading it syncs the view layer with its collections
    return view_layer.objects.get(obj.name) == obj


def _convert_to_pointcloud(obj, collection):
    """Blender 4.5+: convert a vertex-only mesh object into a point-cloud object in place."""
    context = bpy.context
    view_layer = context.view_layer
    if not _in_view_layer(obj, view_layer):
        # The target collection is excluded from this view layer: convert in a temporary one.
        temp = bpy.data.collections.new("PS4PRO convert")
        context.scene.collection.children.link(temp)
        temp.objects.link(obj)
        collection.objects.unlink(obj)
    else:
        temp = None
    mesh = obj.data
    previous_active = view_layer.objects.active
    previous_selected = [o for o in view_layer.objects if o.select_get()]
    try:
        for o in previous_selected:
            o.select_set(False)
        obj.select_set(True)
        view_layer.objects.active = obj
        with context.temp_override(
            active_object=obj, object=obj, selected_objects=[obj], selected_editable_objects=[obj]
        ):
            result = bpy.ops.object.convert(target="POINTCLOUD", keep_original=False)
        if result != {"FINISHED"} or obj.type != "POINTCLOUD":
            raise RuntimeError("Blender could not convert the points into a point cloud")
    finally:
        obj.select_set(False)
        for o in previous_selected:
            if _in_view_layer(o, view_layer):
                o.select_set(True)
        if previous_active is not None and _in_view_layer(previous_active, view_layer):
            view_layer.objects.active = previous_active
        if temp is not None:
            collection.objects.link(obj)
            temp.objects.unlink(obj)
            bpy.data.collections.remove(temp)
    if mesh.users == 0:
        bpy.data.meshes.remove(mesh)
    if not obj.data.materials:
        obj.data.materials.append(point_colour_material())
    return obj


# ----------------------------------------------------------------------------- meshes


def mesh_object(name, points, faces, colors=None, extra=None, collection=None):
    """A mesh object from float32 (N, 3) vertices and faces (int (M, k) or ragged).

    ``faces`` may be an (M, k) array, a list of index sequences, or a
    ``(corner_vertices, corner_counts)`` pair. Degenerate faces (a vertex repeated) are
    dropped. Vertex colours become the active and render colour attribute ``Col``.
    """
    points, n, colors, collection = _geometry_inputs(points, colors, collection)
    flat, counts = _corner_arrays(faces)
    if flat.size and (flat.min() < 0 or flat.max() >= n):
        raise ValueError(f"a face refers to a vertex outside 0..{n - 1}")
    flat, counts = _drop_degenerate(flat, counts)
    m = int(counts.size)

    mesh = bpy.data.meshes.new(name)
    if n:
        mesh.vertices.add(n)
        mesh.attributes["position"].data.foreach_set("vector", points.ravel())
    if m:
        mesh.loops.add(int(flat.size))
        mesh.polygons.add(m)
        corner_vert = mesh.attributes.get(".corner_vert")
        if corner_vert is not None and corner_vert.domain == "CORNER":
            corner_vert.data.foreach_set("value", flat)
        else:
            mesh.loops.foreach_set("vertex_index", flat)
        starts = np.zeros(m, np.int32)
        if m > 1:
            np.cumsum(counts[:-1], out=starts[1:])
        mesh.polygons.foreach_set("loop_start", starts)
        if bpy.app.version < (4, 0, 0):  # pragma: no cover - offsets imply totals since 4.0
            mesh.polygons.foreach_set("loop_total", counts)
    mesh.update(calc_edges=True)
    _set_attributes(mesh, n, colors, extra)
    if colors is not None:
        col = mesh.color_attributes.get(COLOR_ATTRIBUTE)
        if col is not None:
            index = list(mesh.color_attributes).index(col)
            mesh.color_attributes.active_color_index = index
            mesh.color_attributes.render_color_index = index
    mesh.materials.append(point_colour_material())
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj


def _corner_arrays(faces):
    arrays = ply.face_arrays(faces)
    return arrays if arrays is not None else (np.zeros(0, np.int32), np.zeros(0, np.int32))


def _drop_degenerate(flat, counts):
    """Remove faces with fewer than 3 corners or a repeated vertex (as marching cubes makes)."""
    if counts.size == 0:
        return flat, counts
    k = int(counts[0])
    if np.all(counts == k):
        f = flat.reshape(-1, k)
        s = np.sort(f, axis=1)
        bad = (s[:, 1:] == s[:, :-1]).any(axis=1) if k > 1 else np.zeros(len(f), bool)
        if k < 3:
            bad[:] = True
        if bad.any():
            f = f[~bad]
            return np.ascontiguousarray(f.reshape(-1)), np.full(len(f), k, np.int32)
        return flat, counts
    keep = counts >= 3
    face_of = np.repeat(np.arange(counts.size), counts)
    # A repeated vertex within one face: sort corners by (face, vertex) and look for equal pairs.
    order = np.lexsort((flat, face_of))
    sf, sv = face_of[order], flat[order]
    dup = (sf[1:] == sf[:-1]) & (sv[1:] == sv[:-1])
    keep[np.unique(sf[1:][dup])] = False
    if keep.all():
        return flat, counts
    corner_keep = np.repeat(keep, counts)
    return np.ascontiguousarray(flat[corner_keep]), np.ascontiguousarray(counts[keep])


# ----------------------------------------------------------------------------- cameras


class CameraError(ValueError):
    """A transforms.json we cannot read cameras from."""


@dataclass
class CameraSpec:
    name: str
    matrix: np.ndarray  # 4x4 camera-to-world, Blender camera axes
    fx: float | None  # pixels; None with only an angle and no image size
    fy: float | None
    cx: float | None
    cy: float | None
    w: int | None
    h: int | None
    angle_x: float | None = None
    split: str = ""
    file_path: str = ""
    extra: dict = field(default_factory=dict)


def read_cameras(source) -> tuple[list, str]:
    """Camera specs from a dataset folder or transforms*.json; (specs, dataset name).

    The backend's own reader (``ps4pro_blender/dataset.py``) reads the file, so the cameras
    imported are exactly the ones a reconstruction trains on, under the same rules. Pure
    reading, no Blender data is touched: errors leave the scene as it was.
    """
    from ..ps4pro_blender import dataset
    from ..ps4pro_blender.protocol import JobError

    source = os.fspath(source)
    if not os.path.exists(source):
        raise FileNotFoundError(f"'{source}' does not exist")
    try:
        data = dataset.load(dataset.locate(source))
    except JobError as exc:
        raise CameraError(f"{exc.message}. {exc.hint}" if exc.hint else exc.message) from None
    dataset_name = os.path.basename(os.path.normpath(data.root)) or "dataset"
    used_names = set()
    specs = [_camera_spec(frame, data.root, i, used_names) for i, frame in enumerate(data.frames)]
    return specs, dataset_name


def _camera_spec(frame, root, i, used_names):
    file_path = os.path.relpath(frame.image_path, root).replace(os.sep, "/")
    stem = os.path.splitext(os.path.basename(file_path))[0] or f"{i:04d}"
    split = frame.split if frame.split_given else ""
    name = f"{split}/{stem}" if split else stem
    base, k = name, 1
    while name in used_names:
        k += 1
        name = f"{base}.{k}"
    used_names.add(name)
    return CameraSpec(name=name, matrix=frame.c2w, fx=frame.fx, fy=frame.fy, cx=frame.cx, cy=frame.cy, w=frame.w,
                      h=frame.h, angle_x=2.0 * math.atan(frame.w / (2.0 * frame.fx)), split=split, file_path=file_path)


def camera_objects(source, collection=None, scene=None, set_resolution: bool = True, specs=None):
    """Camera objects for every frame of a dataset (folder or transforms*.json).

    They go into a new child collection "<dataset> cameras" of ``collection``. With
    ``set_resolution`` the scene's resolution and pixel aspect become the dataset's (when
    all frames share one), so that the cameras project exactly like the dataset says.
    """
    scene = scene or bpy.context.scene
    if specs is None:
        specs, dataset_name = read_cameras(source)
    else:
        dataset_name = os.path.basename(os.path.normpath(os.fspath(source))) or "dataset"
    if collection is None:
        collection = ensure_collection(scene)
    cams = child_collection(collection, f"{dataset_name} cameras")
    positions = np.array([s.matrix[:3, 3] for s in specs])
    centre = positions.mean(0)
    radius = float(np.median(np.linalg.norm(positions - centre, axis=1))) if len(specs) > 1 else 0.0
    display_size = min(max(0.1 * radius, 0.01), 10.0) if radius > 0 else 0.5
    objects = []
    for spec in specs:
        intr = camera_model.blender_camera(spec.fx, spec.fy, spec.cx, spec.cy, spec.w, spec.h)
        cam = bpy.data.cameras.new(spec.name)
        cam.type = "PERSP"
        cam.sensor_fit = intr["sensor_fit"]
        cam.sensor_width = intr["sensor_width"]
        cam.lens = intr["lens"]
        cam.shift_x = intr["shift_x"]
        cam.shift_y = intr["shift_y"]
        cam.display_size = display_size
        obj = bpy.data.objects.new(spec.name, cam)
        obj.matrix_world = Matrix([list(row) for row in spec.matrix])  # rows; a bare list is column-major
        if spec.w and spec.h:
            obj["ps4pro_resolution"] = [spec.w, spec.h]
        if spec.fx is not None:
            obj["ps4pro_intrinsics"] = [spec.fx, spec.fy, spec.cx, spec.cy]
        if spec.file_path:
            obj["ps4pro_image"] = spec.file_path
        if spec.split:
            obj["ps4pro_split"] = spec.split
        cams.objects.link(obj)
        objects.append(obj)
    if set_resolution:
        sizes = {(s.w, s.h) for s in specs if s.w and s.h}
        aspects = {tuple(round(a, 6) for a in camera_model.blender_camera(s.fx, s.fy, s.cx, s.cy, s.w, s.h)["pixel_aspect"]) for s in specs}
        if len(sizes) == 1:
            w, h = sizes.pop()
            scene.render.resolution_x = w
            scene.render.resolution_y = h
            scene.render.resolution_percentage = 100
        if len(aspects) == 1:
            ax, ay = aspects.pop()
            scene.render.pixel_aspect_x = ax
            scene.render.pixel_aspect_y = ay
    if scene.camera is None and objects:
        scene.camera = objects[0]
    return objects
