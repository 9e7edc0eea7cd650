"""The six-view sheet's geometry and background keying, without Blender."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelslab_3d.utils import multiview


def test_cells_follow_the_sheet_size_row_by_row():
    assert multiview.cells(640, 960) == [
        (0, 0, 320, 320),
        (320, 0, 640, 320),
        (0, 320, 320, 640),
        (320, 320, 640, 640),
        (0, 640, 320, 960),
        (320, 640, 640, 960),
    ]
    assert multiview.cells(512, 768)[5] == (256, 512, 512, 768)


def test_split_returns_each_cell():
    sheet = np.zeros((960, 640, 4), np.float32)
    for index, (left, top, right, bottom) in enumerate(multiview.cells(640, 960)):
        sheet[top:bottom, left:right] = index
    views = multiview.split(sheet)
    assert [view.shape for view in views] == [(320, 320, 4)] * 6
    assert [float(view.mean()) for view in views] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("azimuth", "elevation", "expected"),
    [
        (0, 0, (0, -1, 0)),  # the front camera stands at -Y, like Blender's Front view
        (90, 0, (1, 0, 0)),  # counter-clockwise seen from above
        (180, 0, (0, 1, 0)),
        (0, 90, (0, 0, 1)),
    ],
)
def test_view_direction(azimuth, elevation, expected):
    assert multiview.view_direction(azimuth, elevation) == pytest.approx(expected, abs=1e-9)


def test_view_direction_is_a_unit_vector():
    x, y, z = multiview.view_direction(30, 20)
    assert math.hypot(x, y, z) == pytest.approx(1.0)
    assert z == pytest.approx(math.sin(math.radians(20)))


def test_background_keyed_out_per_view_subject_kept():
    sheet = np.full((960, 640, 3), 0.5, np.float32)  # grey background
    for left, top, right, bottom in multiview.cells(640, 960):
        sheet[top + 100 : bottom - 100, left + 100 : right - 100] = (0.9, 0.2, 0.1)
    keyed = multiview.key_out_background(sheet)
    assert keyed.shape == (960, 640, 4)
    assert keyed[10, 10, 3] == 0.0 and keyed[160, 160, 3] == 1.0
    assert keyed[800, 480, 3] == 1.0 and keyed[950, 630, 3] == 0.0
    assert np.array_equal(keyed[..., :3], sheet)
