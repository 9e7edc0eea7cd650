"""Bring a finished job's files into the scene, cleanly.

A model lands upright (Z up) with its bottom centred on the 3D cursor, in the "ModelsLab"
collection, named after the source image, selected and active, carrying its provenance; if
anything fails, every datablock the import created is removed again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy
from mathutils import Vector

from ..api.endpoints import ENDPOINTS, Endpoint
from ..api.errors import ModelsLabError
from ..api.imaging import sniff_file_kind
from ..api.jobs import Job

COLLECTION_NAME = "ModelsLab"
VERTEX_COLOR_MATERIAL = "ModelsLab Vertex Colour"
MESH_KINDS = {"obj", "glb", "ply", "stl"}

# Blender's datablock collections an importer may add to; emptied again when an import fails.
_TRACKED_DATA = (
    "objects",
    "meshes",
    "materials",
    "images",
    "textures",
    "collections",
    "actions",
    "node_groups",
    "cameras",
    "lights",
    "armatures",
    "worlds",
)


class ImportFailed(ModelsLabError):
    """The downloaded file could not be brought into the scene."""


def file_kind(path: str) -> str | None:
    with open(path, "rb") as handle:
        return sniff_file_kind(handle.read(512), os.path.getsize(path))


def import_mesh(context: bpy.types.Context, job: Job) -> list[bpy.types.Object]:
    """Import the job's model; returns the new objects, the main one first."""
    endpoint = ENDPOINTS[job.endpoint]
    mesh_files = [f for f in job.files if Path(f).is_file() and file_kind(f) in MESH_KINDS]
    if not mesh_files:
        raise ImportFailed(
            f"Job {job.id} has no downloaded model file. Use Retry to download it again."
        )
    path = mesh_files[0]
    if context.mode != "OBJECT" and context.active_object is not None:
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer = context.view_layer
    selection = {obj.name: obj.select_get() for obj in view_layer.objects}
    before = set(bpy.data.objects)
    _run_importer(path, file_kind(path) or "", endpoint)
    new_objects = [obj for obj in bpy.data.objects if obj not in before]
    if not any(obj.type == "MESH" for obj in new_objects):
        raise ImportFailed(f"{Path(path).name} holds no mesh. The download may be damaged.")
    new_objects.sort(key=_vertex_count, reverse=True)
    _move_to_collection(context.scene, new_objects)
    _name(new_objects, job.source_name or endpoint.group)
    _add_vertex_colour_material(new_objects)
    view_layer.update()
    _place_on_cursor(new_objects, context.scene.cursor.location)
    _tag_provenance(new_objects, job, endpoint)
    _select_only_new(view_layer, selection, new_objects)
    return new_objects


def _run_importer(path: str, kind: str, endpoint: Endpoint) -> None:
    # Y-up files (glTF convention, TRELLIS) and Z-up files (TripoSR's raw output) both land Z-up.
    if endpoint.mesh_up_axis == "Z":
        axes = {"forward_axis": "Y", "up_axis": "Z"}
    else:
        axes = {"forward_axis": "NEGATIVE_Z", "up_axis": "Y"}
    if kind == "obj":
        bpy.ops.wm.obj_import(filepath=path, **axes)
    elif kind == "glb":
        bpy.ops.import_scene.gltf(filepath=path)
    elif kind == "ply":
        bpy.ops.wm.ply_import(filepath=path, **axes)
    elif kind == "stl":
        bpy.ops.wm.stl_import(filepath=path, **axes)
    else:
        raise ImportFailed(f"{Path(path).name} is not a model file Blender can import.")


@contextmanager
def rollback_on_error(context: bpy.types.Context) -> Iterator[None]:
    """Whatever fails inside, remove every datablock it made and restore the selection."""
    view_layer = context.view_layer
    selection = {obj.name: obj.select_get() for obj in view_layer.objects}
    active = view_layer.objects.active
    before = {name: set(getattr(bpy.data, name)) for name in _TRACKED_DATA}
    try:
        yield
    except Exception as error:
        for name in _TRACKED_DATA:
            collection = getattr(bpy.data, name)
            for block in set(collection) - before[name]:
                collection.remove(block)
        for obj in view_layer.objects:
            obj.select_set(selection.get(obj.name, False))
        view_layer.objects.active = active
        if isinstance(error, ModelsLabError):
            raise
        raise ImportFailed(f"Blender could not bring the result into the scene: {error}") from error


def _vertex_count(obj: bpy.types.Object) -> int:
    return len(obj.data.vertices) if obj.type == "MESH" else -1


def modelslab_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    """The scene's ModelsLab collection, made and linked when missing."""
    collection = bpy.data.collections.get(COLLECTION_NAME)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION_NAME)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def _move_to_collection(scene: bpy.types.Scene, objects: list[bpy.types.Object]) -> None:
    target = modelslab_collection(scene)
    for obj in objects:
        for owner in list(obj.users_collection):
            owner.objects.unlink(obj)
        target.objects.link(obj)


def _name(objects: list[bpy.types.Object], base: str) -> None:
    for index, obj in enumerate(objects):
        obj.name = base if index == 0 else f"{base}_part"
        if obj.type == "MESH":
            obj.data.name = obj.name


def _add_vertex_colour_material(objects: list[bpy.types.Object]) -> None:
    """TripoSR-style OBJ/PLY colours live on the vertices: a material makes them render."""
    for obj in objects:
        if obj.type != "MESH" or obj.data.materials or not obj.data.color_attributes:
            continue
        attribute = obj.data.color_attributes[0]
        obj.data.color_attributes.active_color = attribute
        obj.data.color_attributes.render_color_index = 0
        obj.data.materials.append(_vertex_colour_material(attribute.name))


def node_material(name: str) -> tuple[bpy.types.Material, bpy.types.ShaderNode]:
    """A new node material and its Principled BSDF, on every supported Blender."""
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):  # from 5.0 every material uses nodes
        material.use_nodes = True
    shader = next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    return material, shader


def _vertex_colour_material(attribute_name: str) -> bpy.types.Material:
    material, shader = node_material(VERTEX_COLOR_MATERIAL)
    nodes = material.node_tree.nodes
    colour = nodes.new("ShaderNodeVertexColor")
    colour.layer_name = attribute_name
    colour.location = (shader.location.x - 300, shader.location.y)
    material.node_tree.links.new(colour.outputs["Color"], shader.inputs["Base Color"])
    return material


def world_bounds(objects: list[bpy.types.Object]) -> tuple[Vector, Vector]:
    corners = [
        obj.matrix_world @ Vector(corner)
        for obj in objects
        if obj.type == "MESH"
        for corner in obj.bound_box
    ]
    low = Vector(tuple(min(c[i] for c in corners) for i in range(3)))
    high = Vector(tuple(max(c[i] for c in corners) for i in range(3)))
    return low, high


def _place_on_cursor(objects: list[bpy.types.Object], cursor: Vector) -> None:
    low, high = world_bounds(objects)
    bottom_centre = Vector(((low.x + high.x) / 2, (low.y + high.y) / 2, low.z))
    offset = cursor - bottom_centre
    for obj in objects:
        if obj.parent is None or obj.parent not in objects:
            obj.location += offset


def _tag_provenance(objects: list[bpy.types.Object], job: Job, endpoint: Endpoint) -> None:
    for obj in objects:
        obj["modelslab_endpoint"] = endpoint.id
        obj["modelslab_job_id"] = job.id
        obj["modelslab_remote_id"] = str(job.remote_id or "")
        obj["modelslab_seed"] = _seed(job)
        obj["modelslab_parameters"] = json.dumps(job.params, sort_keys=True)
        obj["modelslab_source_image"] = job.source_name


def _seed(job: Job) -> int:
    """The seed ModelsLab used (its meta), else the one sent; -1 when neither is known."""
    seed = job.meta.get("seed", job.params.get("seed"))
    try:
        return int(seed)
    except (TypeError, ValueError):
        return -1


def _select_only_new(
    view_layer: bpy.types.ViewLayer,
    selection: dict[str, bool],
    new_objects: list[bpy.types.Object],
) -> None:
    """The new model is selected and active; every other object keeps its selection."""
    for obj in view_layer.objects:
        obj.select_set(obj in new_objects or selection.get(obj.name, False))
    view_layer.objects.active = new_objects[0]
