"""Import a result into the scene: points, meshes and dataset cameras as Blender objects.

``bpy.ops.ps4pro.import_result(filepath=...)`` takes

- a ``.ply``: a point cloud when it has no faces, else a mesh;
- a job's ``result.json`` (or the job folder holding one): its ``"points"`` and ``"mesh"``
  PLYs, and the cameras of its ``"dataset"`` when ``"import_cameras"`` is true;
- a dataset folder or a ``transforms*.json``: its cameras.

Other operators call :func:`import_path` directly. Everything is read and checked before
the first Blender datablock is made, so a missing file, a corrupt PLY or a foreign file
ends with a clear error and the scene as it was.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import bpy
from bpy.props import StringProperty

from ..errors import OperatorError
from ..ps4pro_blender import dataset, ply
from ..ps4pro_blender.protocol import JobError
from ..scene import geometry_import as geo
from ..settings.properties import IMPORT_OPTIONS

SUPPORTED = "a .ply file, a result.json, a transforms.json or a dataset folder"


@dataclass
class ImportItem:
    kind: str  # "points", "mesh" or "cameras"
    name: str
    source: str
    data: object  # PlyData, or (camera specs, dataset name)


# ----------------------------------------------------------------------------- reading


def _abspath(path) -> str:
    path = os.fspath(path)
    if path.startswith("//"):
        path = bpy.path.abspath(path)
    return os.path.abspath(os.path.expanduser(path))


def _read_ply(path, role="PLY file") -> ply.PlyData:
    if not os.path.exists(path):
        raise OperatorError(f"{role} not found: {path}")
    try:
        return ply.read_ply(path)
    except ply.PlyError as exc:
        raise OperatorError(f"Cannot read {os.path.basename(path)}: {exc}", "is it a complete PLY file?") from None
    except OSError as exc:
        raise OperatorError(f"Cannot read {path}: {exc.strerror or exc}") from None
    except MemoryError:
        raise OperatorError(f"{os.path.basename(path)} is too large to import") from None


def _read_cameras(path):
    try:
        specs, dataset_name = geo.read_cameras(path)
    except FileNotFoundError:
        raise OperatorError(f"Dataset not found: {path}") from None
    except geo.CameraError as exc:
        raise OperatorError(f"Cannot read cameras: {exc}") from None
    return specs, dataset_name


def _ply_item(path, role="PLY file") -> ImportItem:
    data = _read_ply(path, role)
    name = os.path.splitext(os.path.basename(path))[0] or "PLY"
    kind = "mesh" if data.face_count else "points"
    return ImportItem(kind, name, path, data)


def _cameras_item(path) -> ImportItem:
    specs, dataset_name = _read_cameras(path)
    return ImportItem("cameras", dataset_name, path, (specs, dataset_name))


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OperatorError(f"{os.path.basename(path)} is not valid JSON: {exc}", f"expected {SUPPORTED}") from None
    except OSError as exc:
        raise OperatorError(f"Cannot read {path}: {exc.strerror or exc}") from None


def _result_items(path, data, import_cameras=None) -> list:
    folder = os.path.dirname(path)

    def resolve(value):
        value = os.path.expanduser(str(value))
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(folder, value))

    items = []
    for key, role in (("points", "Point cloud"), ("mesh", "Mesh")):
        value = data.get(key)
        if value:
            item = _ply_item(resolve(value), f"{role} of {os.path.basename(path)}")
            items.append(item)
    want_cameras = data.get("import_cameras", False) if import_cameras is None else import_cameras
    if want_cameras and data.get("dataset"):
        items.append(_cameras_item(resolve(data["dataset"])))
    if not items:
        raise OperatorError(
            f"{os.path.basename(path)} names nothing to import",
            'expected "points", "mesh" or "dataset" with "import_cameras"',
        )
    return items


def plan_import(path, import_cameras=None) -> list:
    """Read and check everything ``path`` stands for; returns :class:`ImportItem` s.

    Raises :class:`OperatorError`; touches no Blender data.
    """
    if not path:
        raise OperatorError("No file to import", f"choose {SUPPORTED}")
    path = _abspath(path)
    if not os.path.exists(path):
        raise OperatorError(f"File not found: {path}")
    if os.path.isdir(path):
        result = os.path.join(path, "result.json")
        if os.path.isfile(result):
            return _result_items(result, _load_json(result), import_cameras)
        try:
            dataset.locate(path)
        except JobError:
            raise OperatorError(f"Nothing to import in folder {path}", f"expected {SUPPORTED}") from None
        return [_cameras_item(path)]
    lower = path.lower()
    if lower.endswith(".ply"):
        return [_ply_item(path)]
    if lower.endswith(".json"):
        data = _load_json(path)
        if isinstance(data, dict) and isinstance(data.get("frames"), list):
            return [_cameras_item(path)]
        if isinstance(data, dict) and any(k in data for k in ("points", "mesh", "dataset")):
            return _result_items(path, data, import_cameras)
        raise OperatorError(
            f"{os.path.basename(path)} is neither a result.json nor a transforms.json", f"expected {SUPPORTED}"
        )
    # No known extension: a PLY is recognised by its first bytes.
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise OperatorError(f"Cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(b"ply") and head[3:4] in (b"\n", b"\r"):
        return [_ply_item(path)]
    raise OperatorError(f"Unknown file type: {os.path.basename(path)}", f"expected {SUPPORTED}")


# ----------------------------------------------------------------------------- building


def build_items(context, items, point_radius=0.0, collection_name=geo.COLLECTION_NAME) -> list:
    """Make the objects for planned items. On an unexpected failure, removes what it made."""
    scene = context.scene
    before_collections = set(bpy.data.collections)
    before_objects = set(bpy.data.objects)
    objects = []
    try:
        collection = geo.ensure_collection(scene, collection_name)
        for item in items:
            if item.kind == "points":
                d = item.data
                objects.append(
                    geo.points_object(item.name, d.points, d.colors, d.extra, collection, radius=point_radius)
                )
            elif item.kind == "mesh":
                d = item.data
                objects.append(geo.mesh_object(item.name, d.points, d.face_arrays(), d.colors, d.extra, collection))
            elif item.kind == "cameras":
                specs, _name = item.data
                objects.extend(geo.camera_objects(item.source, collection, scene=scene, specs=specs))
    except Exception:
        for obj in set(bpy.data.objects) - before_objects:
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0:
                _remove_id(data)
        for coll in set(bpy.data.collections) - before_collections:
            bpy.data.collections.remove(coll)
        raise
    geo.select_only(context, objects)
    return objects


def _remove_id(data):
    for collection in (bpy.data.meshes, bpy.data.pointclouds, bpy.data.cameras):
        if data.name in collection and collection[data.name] == data:
            collection.remove(data)
            return


def import_path(
    context, path, *, point_radius=0.0, import_cameras=None, collection=geo.COLLECTION_NAME, remember=True
) -> list:
    """Import ``path`` (see the module docstring); returns the new objects, selected.

    Raises :class:`OperatorError` with the scene untouched when the input is missing,
    corrupt or of an unknown kind. ``import_cameras`` overrides a result.json's own flag.
    """
    items = plan_import(path, import_cameras)
    objects = build_items(context, items, point_radius, collection)
    if remember and hasattr(context.scene, "ps4pro"):
        context.scene.ps4pro.last_result = _abspath(path)
    return objects


def summary(objects) -> str:
    parts = []
    for obj in objects:
        if obj.type == "POINTCLOUD":
            parts.append(f"{len(obj.data.points):,} points")
        elif obj.type == "MESH" and len(obj.data.polygons) == 0:
            parts.append(f"{len(obj.data.vertices):,} points")
        elif obj.type == "MESH":
            parts.append(f"mesh ({len(obj.data.vertices):,} vertices, {len(obj.data.polygons):,} faces)")
    cameras = sum(1 for o in objects if o.type == "CAMERA")
    if cameras:
        parts.append(f"{cameras} cameras")
    return "Imported " + (", ".join(parts) if parts else "nothing")


# ----------------------------------------------------------------------------- operator


class PS4PRO_OT_import_result(bpy.types.Operator):
    """Import a PS4PRO result, a PLY point cloud or mesh, or a dataset's cameras"""

    bl_idname = "ps4pro.import_result"
    bl_label = "Import Result"
    bl_options = {"REGISTER", "UNDO"}

    __annotations__ = {
        **IMPORT_OPTIONS,
        "filter_glob": StringProperty(default="*.ply;*.json", options={"HIDDEN"}),
    }

    def _resolve_path(self, context) -> str:
        if self.properties.is_property_set("filepath") and self.filepath:
            return self.filepath
        settings = getattr(context.scene, "ps4pro", None)
        if settings is not None:
            return settings.filepath or settings.last_result
        return ""

    def _fill_options(self, context):
        settings = getattr(context.scene, "ps4pro", None)
        if settings is None:
            return
        for name in IMPORT_OPTIONS:
            if name != "filepath" and not self.properties.is_property_set(name):
                setattr(self, name, getattr(settings, name))

    def invoke(self, context, event):
        path = self._resolve_path(context)
        if path:
            self.filepath = path
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        self._fill_options(context)
        path = self._resolve_path(context)
        start = time.perf_counter()
        try:
            objects = import_path(context, path, point_radius=self.point_radius)
        except OperatorError as exc:
            self.report({"ERROR"}, exc.report_text())
            return {"CANCELLED"}
        self.report({"INFO"}, f"{summary(objects)} in {time.perf_counter() - start:.2f} s")
        return {"FINISHED"}


CLASSES = [PS4PRO_OT_import_result]
