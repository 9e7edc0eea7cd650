"""Test images that make orientation and colour checkable."""

from __future__ import annotations

import bpy
import numpy as np


def make_subject_image(name: str = "robot", width: int = 32, height: int = 64) -> bpy.types.Image:
    """A tall subject on a transparent background: red top half, blue bottom half.

    Its shape and colours make orientation checkable: the model must stand taller than wide,
    with red at the top.
    """
    image = bpy.data.images.new(name, width, height, alpha=True)
    pixels = np.zeros((height, width, 4), dtype=np.float32)  # bottom row first, as Blender
    margin = width // 8
    pixels[2:-2, margin:-margin] = (0.0, 0.0, 1.0, 1.0)
    pixels[height // 2 : -2, margin:-margin] = (1.0, 0.0, 0.0, 1.0)
    image.pixels.foreach_set(pixels.ravel())
    image.pack()
    return image
