"""PNG encoding (checked with Pillow), downscaling, upload preparation and file sniffing."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from api.errors import ValidationError
from api.imaging import (
    SNIFF_BYTES,
    downscale,
    encode_png,
    image_size,
    looks_complete,
    prepare_upload,
    prepare_upload_file,
    sniff_file_kind,
)

RNG = np.random.default_rng(7)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def pillow_bytes(array: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (64, 48, 4), (130, 257, 4)])
def test_png_round_trip_is_exact(shape: tuple[int, int, int]) -> None:
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    if shape[2] == 4:
        pixels[0, 0, 3] = 10  # at least one pixel not opaque: alpha is kept
    image = decode(encode_png(pixels))
    assert image.mode == ("RGBA" if shape[2] == 4 else "RGB")
    assert np.array_equal(np.asarray(image), pixels)


def test_smooth_image_compresses_well() -> None:
    y, x = np.mgrid[0:256, 0:256]
    gradient = np.dstack([x, y, (x + y) // 2]).astype(np.uint8)
    png = encode_png(gradient)
    assert len(png) < gradient.nbytes / 20
    assert np.array_equal(np.asarray(decode(png)), gradient)


def test_opaque_rgba_becomes_rgb() -> None:
    pixels = np.full((4, 4, 4), 255, dtype=np.uint8)
    assert decode(encode_png(pixels)).mode == "RGB"


def test_float_pixels_are_clipped_and_keep_alpha() -> None:
    pixels = np.array([[[-0.5, 0.5, 2.0, 0.25], [1.0, 0.0, np.nan, 1.0]]], dtype=np.float32)
    image = np.asarray(decode(encode_png(pixels)))
    assert image.tolist() == [[[0, 128, 255, 64], [255, 0, 0, 255]]]


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 2), dtype=np.uint8))


@pytest.mark.parametrize(
    ("shape", "max_side", "expected"),
    [
        ((2000, 1000, 3), 1024, (1024, 512)),
        ((1000, 2000, 4), 1024, (512, 1024)),
        ((333, 517, 3), 100, (64, 100)),
        ((5000, 3, 3), 100, (100, 1)),
        ((300, 200, 3), 1024, (300, 200)),
    ],
)
def test_downscale_keeps_aspect(
    shape: tuple[int, int, int], max_side: int, expected: tuple[int, int]
) -> None:
    small = downscale(np.zeros(shape, dtype=np.uint8), max_side)
    assert small.shape == (*expected, shape[2])
    assert small.dtype == np.uint8


def test_downscale_averages_areas() -> None:
    pixels = RNG.integers(0, 256, (40, 20, 3), dtype=np.uint8)
    expected = pixels.reshape(10, 4, 5, 4, 3).mean(axis=(1, 3))
    assert np.abs(downscale(pixels, 10).astype(float) - expected).max() <= 0.5 + 1e-9


def test_downscale_ignores_colour_of_transparent_pixels() -> None:
    pixels = np.zeros((4, 4, 4), dtype=np.uint8)
    pixels[:, :2] = (255, 0, 0, 0)  # invisible red
    pixels[:, 2:] = (0, 0, 255, 255)
    small = downscale(pixels, 1)
    assert small[0, 0].tolist() == [0, 0, 255, 128]


def test_prepare_upload_honours_side_and_bytes() -> None:
    noise = RNG.integers(0, 256, (1500, 1200, 3), dtype=np.uint8)
    data, mime = prepare_upload(noise, 1024, 5_000_000)
    assert mime == "image/png"
    assert decode(data).size == (819, 1024)
    data, _ = prepare_upload(noise, 1024, 300_000)
    assert len(data) <= 300_000
    assert max(decode(data).size) < 1024


def test_prepare_upload_gives_up_on_an_impossible_cap() -> None:
    with pytest.raises(ValidationError):
        prepare_upload(np.zeros((8, 8, 3), dtype=np.uint8), 8, 10)


def test_prepare_upload_file_passes_small_png_and_jpeg() -> None:
    pixels = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    png, jpeg = pillow_bytes(pixels, "PNG"), pillow_bytes(pixels, "JPEG")
    assert prepare_upload_file(png, 1_000_000) == (png, "image/png")
    assert prepare_upload_file(jpeg, 1_000_000, max_side=40) == (jpeg, "image/jpeg")
    assert prepare_upload_file(png, 100) is None
    assert prepare_upload_file(jpeg, 1_000_000, max_side=39) is None
    assert prepare_upload_file(pillow_bytes(pixels, "BMP"), 1_000_000) is None
    assert image_size(png) == image_size(jpeg) == (40, 30)


def glb(size: int) -> bytes:
    return b"glTF" + struct.pack("<II", 2, size) + b"\0" * (size - 12)


def binary_stl(triangles: int) -> bytes:
    return b"made by a test".ljust(80, b" ") + struct.pack("<I", triangles) + b"\0" * 50 * triangles


def gif() -> bytes:
    return pillow_bytes(np.zeros((4, 4, 3), dtype=np.uint8), "GIF")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (glb(100), "glb"),
        (b"# made by a test\nmtllib a.mtl\nv 0 0 0\n", "obj"),
        (b"v 0 0 0 1 0 0\nv 1 0 0 0 1 0\n", "obj"),
        (b"ply\nformat binary_little_endian 1.0\n", "ply"),
        (b"solid cube\nfacet normal 0 0 1\n", "stl"),
        (binary_stl(3), "stl"),
        (encode_png(np.zeros((2, 2, 3), dtype=np.uint8)), "png"),
        (gif(), "gif"),
        (pillow_bytes(np.zeros((2, 2, 3), dtype=np.uint8), "JPEG"), "jpeg"),
        (b"\0\0\0\x18ftypmp42", "mp4"),
        (b"<html><body>404</body></html>", None),
        (b'{"status":"error"}', None),
        (b"", None),
    ],
)
def test_sniff_file_kind(data: bytes, kind: str | None) -> None:
    assert sniff_file_kind(data[:SNIFF_BYTES], len(data)) == kind


def test_binary_stl_needs_its_size() -> None:
    data = binary_stl(3)
    assert sniff_file_kind(data[:SNIFF_BYTES]) is None
    assert sniff_file_kind(data[:SNIFF_BYTES], len(data) - 1) is None


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("glb", glb(4096)),
        ("png", encode_png(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))),
        ("gif", gif()),
        ("stl", binary_stl(40)),
    ],
)
def test_looks_complete_catches_a_cut_file(kind: str, data: bytes) -> None:
    def complete(blob: bytes) -> bool:
        return looks_complete(kind, blob[:SNIFF_BYTES], blob[-SNIFF_BYTES:], len(blob))

    assert complete(data)
    assert not complete(data[: len(data) // 2])
