"""The fake models: one output file per job, made from the uploaded picture."""

from __future__ import annotations

from typing import Any

from .images import (
    cell_grid,
    cutout,
    depth_to_image,
    multiview,
    open_image,
    png_bytes,
    sniff_format,
    turntable,
)
from .meshes import build_mesh, write_glb, write_obj, write_ply, write_stl

MAX_GRID = 64
MAX_FRAMES = 64

CONTENT_TYPES = {
    "glb": "model/gltf-binary",
    "obj": "model/obj",
    "ply": "application/octet-stream",
    "stl": "model/stl",
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
}


def generate(
    endpoint: str, source: bytes, params: dict[str, Any], *, mesh_answer: bool = False
) -> tuple[bytes, str]:
    """The output file and its extension. Raises images.ImageError for an unreadable picture.

    `mesh_answer` makes v3 answer a GLB mesh instead of its GIF turntable.
    """
    image = open_image(source)
    if endpoint == "depth2img":
        return depth_to_image(image, params["prompt"]), "png"
    cut = cutout(image)
    if endpoint == "multiview":
        return multiview(cut, params["width"], params["height"]), "png"
    if endpoint == "v3" and not mesh_answer:
        frames = min(4 * params["seconds"], MAX_FRAMES)
        return turntable(cut, params["frame_size"], frames, params["seconds"]), "gif"

    mask, colors = cell_grid(cut, min(params.get("resolution", MAX_GRID), MAX_GRID))
    mesh = build_mesh(mask, colors, image.width / image.height)
    if endpoint == "enterprise":
        return write_obj(mesh, zup=True), "obj"
    fmt = params.get("output_format", "glb")
    if fmt == "obj":
        return write_obj(mesh), "obj"
    if fmt == "ply":
        return write_ply(mesh), "ply"
    if fmt == "stl":
        return write_stl(mesh), "stl"
    texture = source if sniff_format(source) == "PNG" else png_bytes(image)
    return write_glb(mesh, texture), "glb"
