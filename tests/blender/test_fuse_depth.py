"""Depth fusion of a real Cycles capture: the fused points lie on the scene's true surfaces."""

import json
import os

import bpy
import numpy as np
import pytest
from mathutils import Vector
from mathutils.bvhtree import BVHTree


def build_scene():
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=3.0)
    bpy.ops.mesh.primitive_cube_add(size=0.8, location=(-0.4, 0.2, 0.4))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.4, location=(0.5, -0.3, 0.4), segments=32, ring_count=16)
    bpy.ops.mesh.primitive_monkey_add(size=0.6, location=(0.3, 0.7, 0.35))
    light = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(light)
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    meshes = [o for o in scene.objects if o.type == "MESH"]
    for o in meshes:
        o.select_set(True)
    return meshes


def scene_bvh(meshes):
    """One BVH over every mesh, in world space, from the evaluated geometry."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    verts, polys = [], []
    for obj in meshes:
        ev = obj.evaluated_get(depsgraph)
        mesh = ev.to_mesh()
        offset = len(verts)
        verts += [obj.matrix_world @ v.co for v in mesh.vertices]
        polys += [[offset + i for i in p.vertices] for p in mesh.polygons]
        ev.to_mesh_clear()
    return BVHTree.FromPolygons(verts, polys)


@pytest.mark.parametrize("depth_format", ["EXR", "NPY"])
def test_fused_points_lie_on_the_true_surfaces(scene, tmp_path, depth_format):
    meshes = build_scene()
    dataset = tmp_path / "cap"
    assert bpy.ops.ps4pro.capture(
        source="ORBIT", orbit_count=12, orbit_layout="HEMISPHERE", resolution_x=96, resolution_y=72,
        depth_format=depth_format, output_dir=str(dataset),
    ) == {"FINISHED"}
    assert bpy.ops.ps4pro.fuse_depth(dataset=str(dataset), import_result=True) == {"FINISHED"}
    cloud = bpy.context.active_object
    if bpy.app.version >= (4, 5, 0):
        assert cloud.type == "POINTCLOUD"
        n = len(cloud.data.points)
    else:  # 4.2: Python can't make a point cloud; a mesh's vertices, made points by geometry nodes
        assert cloud.type == "MESH" and [m.type for m in cloud.modifiers] == ["NODES"]
        assert cloud.modifiers[0].node_group.name == "PS4PRO Mesh to Points"
        n = len(cloud.data.vertices)
    points = np.empty(n * 3, np.float32)
    cloud.data.attributes["position"].data.foreach_get("vector", points)
    points = points.reshape(-1, 3)
    assert n > 2000

    bvh = scene_bvh(meshes)
    distances = np.array([bvh.find_nearest(Vector(p))[3] for p in points])
    lo, hi = np.array(json.loads((dataset / "transforms.json").read_text())["aabb"])
    diagonal = float(np.linalg.norm(hi - lo))
    # The bar: 95% of points within 1% of the scene diagonal of a true surface.
    assert np.percentile(distances, 95) < 0.01 * diagonal, (np.percentile(distances, 95), diagonal)
    # And the colours came through: not all one value.
    col = np.empty(n * 4, np.float32)
    cloud.data.attributes["Col"].data.foreach_get("color", col)
    assert col.reshape(-1, 4)[:, :3].std() > 0.01
