"""Which image is sent, and turning it into something a worker can upload without bpy.

The main thread only copies pixels (or notes a file path); encoding, downscaling and reading
files happen on the worker, so Blender stays responsive with large textures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import bpy
import numpy as np

from ..api.errors import ModelsLabError
from ..api.imaging import prepare_upload, prepare_upload_file
from ..api.settings import Settings

_PASSTHROUGH_FORMATS = {"PNG", "JPEG"}
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".webp", ".bmp", ".tga"}


class SourceImageError(ModelsLabError):
    """The image to send is missing or unreadable."""


@dataclass
class UploadSource:
    """What a worker needs to produce the upload: a remote URL, a file, or pixels."""

    name: str
    url: str = ""
    file_path: str = ""
    pixels: np.ndarray | None = None

    def encode(self, settings: Settings) -> tuple[bytes | None, str]:
        """The bytes and MIME type to upload; (None, "") when the URL is sent as it is."""
        if self.url:
            return None, ""
        if self.file_path:
            try:
                data = Path(self.file_path).read_bytes()
            except OSError as error:
                raise SourceImageError(
                    f"Could not read the image file {self.file_path}: {error.strerror}"
                ) from error
            prepared = prepare_upload_file(
                data, settings.max_upload_bytes, settings.max_upload_side
            )
            if prepared is None:
                raise SourceImageError(
                    f"{self.file_path} changed since it was chosen and can no longer be sent "
                    "as it is; generate again."
                )
            return prepared
        assert self.pixels is not None
        return prepare_upload(self.pixels, settings.max_upload_side, settings.max_upload_bytes)


def find_source_image(context: bpy.types.Context) -> tuple[bpy.types.Image | None, str]:
    """The image Generate will send and where it was found, in the documented order."""
    chosen = context.scene.modelslab.image
    if chosen is not None:
        return chosen, "chosen in the panel"
    found = _material_image(context.active_object)
    if found is not None:
        return found
    screen = context.screen
    for area in screen.areas if screen is not None else ():
        if area.type == "IMAGE_EDITOR":
            image = area.spaces.active.image
            if image is not None:
                return image, "open in the Image Editor"
    return None, ""


def _material_image(obj: bpy.types.Object | None) -> tuple[bpy.types.Image, str] | None:
    material = obj.active_material if obj is not None else None
    if material is None or material.node_tree is None:
        return None
    if bpy.app.version < (5, 0, 0) and not material.use_nodes:  # from 5.0 nodes are always on
        return None
    nodes = material.node_tree.nodes
    active = nodes.active
    if active is not None and active.type == "TEX_IMAGE" and active.image is not None:
        return active.image, f"active node of material '{material.name}'"
    for node in nodes:
        if node.type == "TEX_IMAGE" and node.image is not None:
            return node.image, f"image texture of material '{material.name}'"
    return None


def upload_source_for_image(image: bpy.types.Image, settings: Settings) -> UploadSource:
    """An untouched PNG/JPEG file small enough goes as it is; anything else as pixels."""
    name = display_name(image)
    if (
        image.source == "FILE"
        and image.packed_file is None
        and not image.is_dirty
        and image.file_format in _PASSTHROUGH_FORMATS
        and not image.is_float  # 16-bit PNGs load as float: they are re-encoded as 8-bit
        and max(image.size) <= settings.max_upload_side
    ):
        path = bpy.path.abspath(image.filepath, library=image.library)
        if os.path.isfile(path) and os.path.getsize(path) <= settings.max_upload_bytes:
            return UploadSource(name, file_path=path)
    return UploadSource(name, pixels=_pixels_at_most(image, settings.max_upload_side))


def _pixels_at_most(image: bpy.types.Image, max_side: int) -> np.ndarray:
    """Pixels no larger than the upload: Blender scales a temporary copy in C first, so a 4K
    texture costs the main thread a fraction of reading all its pixels."""
    width, height = image.size
    if max(width, height) <= max_side:
        return read_pixels(image)
    scale = max_side / max(width, height)
    small = image.copy()
    try:
        small.scale(max(1, round(width * scale)), max(1, round(height * scale)))
        return read_pixels(small)
    finally:
        bpy.data.images.remove(small)


def upload_source_for_path(path: str, settings: Settings) -> UploadSource:
    """`image_path` of the operator: a URL is passed through, a file is read."""
    if path.startswith(("http://", "https://")):
        return UploadSource(Path(urlparse(path).path).stem or "image", url=path)
    absolute = bpy.path.abspath(path)
    if not os.path.isfile(absolute):
        raise SourceImageError(f"Image file not found: {absolute}. Check image_path.")
    try:
        image = bpy.data.images.load(absolute, check_existing=False)
    except RuntimeError as error:
        raise SourceImageError(
            f"Blender cannot read {absolute} as an image ({error}). Use a PNG, JPEG, "
            "EXR or another format Blender opens."
        ) from error
    try:
        source = upload_source_for_image(image, settings)
    finally:
        bpy.data.images.remove(image)
    source.name = Path(absolute).stem
    return source


def display_name(image: bpy.types.Image) -> str:
    """The image's name without a file extension, for naming the model."""
    stem, ext = os.path.splitext(image.name)
    return (
        stem
        if ext.lower() in {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".webp"}
        else image.name
    )


def read_pixels(image: bpy.types.Image) -> np.ndarray:
    """The image as a top-row-first float array in display (sRGB) values, alpha kept."""
    width, height = image.size  # reading the size loads the image
    channels = image.channels
    if width == 0 or height == 0:
        where = bpy.path.abspath(image.filepath) if image.filepath else "no file"
        raise SourceImageError(
            f"Image '{image.name}' has no pixels (its file is missing: {where}). "
            "Re-link or pack the image, or choose another one."
        )
    buffer = np.empty(width * height * channels, dtype=np.float32)
    image.pixels.foreach_get(buffer)
    pixels = buffer.reshape(height, width, channels)[::-1]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 2:
        pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
    if image.is_float and not image.colorspace_settings.is_data:
        pixels = pixels.copy()
        pixels[..., :3] = linear_to_srgb(pixels[..., :3])
    return pixels


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Float buffers hold linear light; uploads are 8-bit sRGB."""
    clipped = np.clip(linear, 0.0, 1.0)
    return np.where(
        clipped <= 0.0031308, clipped * 12.92, 1.055 * np.power(clipped, 1 / 2.4) - 0.055
    )
