"""The six-view sheet: where each view sits, where its camera was, and keying its background.

Pure math and numpy, no bpy. The layout is Zero123++'s: 2 columns x 3 rows, read row by row,
views at azimuths 30, 90, ..., 330 degrees with elevations alternating +20 and -10.
"""

from __future__ import annotations

import math

import numpy as np

COLUMNS, ROWS = 2, 3
DEFAULT_AZIMUTHS = (30.0, 90.0, 150.0, 210.0, 270.0, 330.0)
DEFAULT_ELEVATIONS = (20.0, -10.0, 20.0, -10.0, 20.0, -10.0)


def cells(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) pixel boxes of the six views, row by row from the top."""
    cell_width, cell_height = width // COLUMNS, height // ROWS
    return [
        (column * cell_width, row * cell_height, (column + 1) * cell_width, (row + 1) * cell_height)
        for row in range(ROWS)
        for column in range(COLUMNS)
    ]


def split(sheet: np.ndarray) -> list[np.ndarray]:
    """The six views of a sheet (top-row-first H x W x C array)."""
    height, width = sheet.shape[:2]
    return [sheet[top:bottom, left:right] for left, top, right, bottom in cells(width, height)]


def view_direction(azimuth: float, elevation: float) -> tuple[float, float, float]:
    """Unit vector from the subject towards a view's camera (Blender axes: Z up).

    Azimuth 0 is the front (the camera at -Y, as in Blender's Front view); it turns
    counter-clockwise seen from above. Elevation lifts the camera above the horizon.
    """
    azimuth_rad, elevation_rad = math.radians(azimuth), math.radians(elevation)
    flat = math.cos(elevation_rad)
    return (
        flat * math.sin(azimuth_rad),
        -flat * math.cos(azimuth_rad),
        math.sin(elevation_rad),
    )


def key_out_background(pixels: np.ndarray, tolerance: float = 0.06) -> np.ndarray:
    """RGBA copy whose pixels close to each view's corner colour are transparent.

    The multiview model draws its views on a flat grey; the v6 endpoint's multi-image mode
    wants the subject on transparency.
    """
    rgba = np.array(pixels, dtype=np.float32)
    if rgba.shape[2] == 3:
        rgba = np.concatenate([rgba, np.ones((*rgba.shape[:2], 1), np.float32)], axis=2)
    for left, top, right, bottom in cells(rgba.shape[1], rgba.shape[0]):
        view = rgba[top:bottom, left:right]
        background = np.median(
            np.stack([view[1, -2, :3], view[-2, 1, :3], view[-2, -2, :3]]), axis=0
        )
        distance = np.abs(view[..., :3] - background).max(axis=2)
        view[distance <= tolerance, 3] = 0.0
    return rgba
