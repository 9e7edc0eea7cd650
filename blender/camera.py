"""The active camera as a source and a projector: a quick render of what it sees, and
projecting a restyled picture back onto the meshes it sees.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view

from ..api.errors import ModelsLabError
from .importer import node_material

PROJECTION_UV = "ModelsLab Projection"
NO_CAMERA = (
    "The scene has no active camera: add one (Add > Camera) and make it active "
    "(Scene properties > Camera), or set the init image to Image"
)


def render_camera_view(context: bpy.types.Context, max_side: int, folder: Path) -> Path:
    """A Workbench render of the active camera as a PNG in `folder` (one file per camera,
    replaced by the next render); the scene's render settings are left as they were."""
    scene = context.scene
    if scene.camera is None:
        raise ModelsLabError(NO_CAMERA)
    render = scene.render
    saved = {
        "engine": render.engine,
        "resolution_x": render.resolution_x,
        "resolution_y": render.resolution_y,
        "resolution_percentage": render.resolution_percentage,
        "filepath": render.filepath,
    }
    saved_format = (render.image_settings.file_format, render.image_settings.color_mode)
    width, height = render.resolution_x, render.resolution_y
    scale = min(1.0, max_side / max(width, height))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bpy.path.clean_name(scene.camera.name)}.png"
    try:
        render.engine = "BLENDER_WORKBENCH"
        render.resolution_x, render.resolution_y = round(width * scale), round(height * scale)
        render.resolution_percentage = 100
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "RGB"
        render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
    finally:
        for name, value in saved.items():
            setattr(render, name, value)
        render.image_settings.file_format, render.image_settings.color_mode = saved_format
    if not path.is_file():
        raise ModelsLabError("Blender could not render the camera view; see the console.")
    return path


def project_from_camera(
    context: bpy.types.Context, image: bpy.types.Image, objects: list[bpy.types.Object]
) -> bpy.types.Material:
    """Give each mesh a UV map projected from the active camera and a material with the image.

    The picture lands on the meshes as the camera sees them: what a depth-to-image restyle
    of a blockout needs.
    """
    scene = context.scene
    camera = scene.camera
    if camera is None:
        raise ModelsLabError(NO_CAMERA)
    meshes = [obj for obj in objects if obj.type == "MESH"]
    if not meshes:
        raise ModelsLabError("Select the meshes to project onto (in Object Mode), then Project.")
    material = _projection_material(image)
    depsgraph = context.evaluated_depsgraph_get()
    for obj in meshes:
        mesh = obj.data
        uv_layer = mesh.uv_layers.get(PROJECTION_UV) or mesh.uv_layers.new(name=PROJECTION_UV)
        world = obj.evaluated_get(depsgraph).matrix_world
        frame = np.array(
            [
                tuple(world_to_camera_view(scene, camera, world @ vertex.co))[:2]
                for vertex in mesh.vertices
            ]
        ).reshape(-1, 2)
        loop_vertices = np.empty(len(mesh.loops), dtype=np.int64)
        mesh.loops.foreach_get("vertex_index", loop_vertices)
        uv_layer.data.foreach_set("uv", frame[loop_vertices].astype(np.float32).ravel())
        if material.name not in mesh.materials:
            mesh.materials.append(material)
        slot = list(mesh.materials).index(material)
        mesh.polygons.foreach_set("material_index", np.full(len(mesh.polygons), slot, np.int32))
        mesh.update()
    return material


def _projection_material(image: bpy.types.Image) -> bpy.types.Material:
    material, shader = node_material(f"{image.name} projection")
    nodes = material.node_tree.nodes
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = image
    texture.extension = "CLIP"
    texture.location = (shader.location.x - 320, shader.location.y)
    uv_map = nodes.new("ShaderNodeUVMap")
    uv_map.uv_map = PROJECTION_UV
    uv_map.location = (texture.location.x - 220, texture.location.y)
    links = material.node_tree.links
    links.new(uv_map.outputs["UV"], texture.inputs["Vector"])
    links.new(texture.outputs["Color"], shader.inputs["Base Color"])
    return material
