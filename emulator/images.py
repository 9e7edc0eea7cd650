"""Image side of the fake models: reading uploads, cutting out the subject, drawing 2D outputs.

Everything is derived from the uploaded picture so a client's tests see its own input come back.
"""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageOps

# The real models work at about 512 px; nothing here needs more detail than that.
WORK_SIDE = 512
GREY = (128, 128, 128)
MARKERS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255))
MARKER_SIZE = 8


class ImageError(ValueError):
    """The bytes are not an image that can be read."""


def sniff_format(data: bytes) -> str | None:
    """ "PNG" or "JPEG" from the file's signature, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    return None


def open_image(data: bytes) -> Image.Image:
    """Decode fully (so a truncated file fails here, not later) and return RGBA."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(str(exc)) from exc
    return image.convert("RGBA")


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def cutout(image: Image.Image) -> Image.Image:
    """The subject as RGBA (long side at most WORK_SIDE) with alpha 255 inside the silhouette.

    The silhouette is alpha > 0.5 when at least 1% of the picture is transparent, otherwise the
    pixels that differ from the background colour (the median of the four corners). An image
    with no detectable subject is taken whole.
    """
    small = image.copy()
    small.thumbnail((WORK_SIDE, WORK_SIDE))
    arr = np.asarray(small, dtype=np.float32) / 255.0
    alpha = arr[..., 3]
    if (alpha < 0.5).mean() >= 0.01:
        mask = alpha > 0.5
    else:
        rgb = arr[..., :3]
        background = np.median(rgb[[0, 0, -1, -1], [0, -1, 0, -1]], axis=0)
        mask = np.abs(rgb - background).max(axis=2) > 0.1
    if not mask.any():
        mask[:] = True
    out = np.asarray(small).copy()
    out[..., 3] = np.where(mask, 255, 0)
    return Image.fromarray(out)


def cell_grid(cut: Image.Image, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Downsample the cutout to at most `cells` on its long side.

    Returns the inside mask (rows top to bottom) and the mean sRGB colour (0..1) of each cell.
    """
    width, height = cut.size
    long_side = max(width, height)
    nx = max(1, round(cells * width / long_side))
    ny = max(1, round(cells * height / long_side))
    # Premultiplied resampling keeps the colours of transparent pixels out of the average.
    small = cut.convert("RGBa").resize((nx, ny), Image.Resampling.BOX).convert("RGBA")
    arr = np.asarray(small, dtype=np.float32) / 255.0
    coverage = arr[..., 3]
    mask = coverage > 0.5
    if not mask.any():
        mask = coverage >= coverage.max()
    return mask, arr[..., :3]


def _sprite(cut: Image.Image) -> Image.Image:
    return cut.crop(cut.getchannel("A").getbbox())


def _view(
    sprite: Image.Image, box: tuple[int, int], azimuth: float, elevation: float
) -> Image.Image:
    """The subject as seen from another angle, faked: squashed by |cos| and mirrored from behind."""
    turn = math.cos(math.radians(azimuth))
    fit = 0.8 * min(box[0] / sprite.width, box[1] / sprite.height)
    width = max(1, round(sprite.width * fit * max(abs(turn), 0.12)))
    height = max(1, round(sprite.height * fit * math.cos(math.radians(elevation))))
    view = sprite.resize((width, height), Image.Resampling.BILINEAR)
    return ImageOps.mirror(view) if turn < 0 else view


def _paste_centred(
    canvas: Image.Image, view: Image.Image, origin: tuple[int, int], box: tuple[int, int]
) -> None:
    x = origin[0] + (box[0] - view.width) // 2
    y = origin[1] + (box[1] - view.height) // 2
    canvas.paste(view, (x, y), view)


def multiview(cut: Image.Image, width: int, height: int) -> bytes:
    """Zero123++ layout: 2 columns x 3 rows; cell k is azimuth 30+60k, elevation 20 or -10."""
    canvas = Image.new("RGB", (width, height), GREY)
    draw = ImageDraw.Draw(canvas)
    sprite = _sprite(cut)
    cell = (width // 2, height // 3)
    for k in range(6):
        origin = ((k % 2) * cell[0], (k // 2) * cell[1])
        view = _view(sprite, cell, 30 + 60 * k, 20 if k % 2 == 0 else -10)
        _paste_centred(canvas, view, origin, cell)
        corner = (origin[0] + MARKER_SIZE - 1, origin[1] + MARKER_SIZE - 1)
        draw.rectangle((origin, corner), fill=MARKERS[k])
    return png_bytes(canvas)


def turntable(cut: Image.Image, size: int, frames: int, seconds: float) -> bytes:
    """An animated GIF of the subject spinning once.

    A dot along the bottom, moving and changing colour, keeps every frame distinct (even when
    the frame is narrower than the frame count), so the GIF encoder cannot merge any.
    """
    sprite = _sprite(cut)
    images = []
    for i in range(frames):
        frame = Image.new("RGB", (size, size), (235, 235, 235))
        view = _view(sprite, (size, size), 360 * i / frames, 0)
        _paste_centred(frame, view, (0, 0), (size, size))
        x = i * size // frames
        ImageDraw.Draw(frame).rectangle((x, size - 2, x + 1, size - 1), fill=(255, 4 * i % 256, 0))
        images.append(frame)
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        loop=0,
        duration=max(20, round(1000 * seconds / frames)),
    )
    return out.getvalue()


def prompt_tint(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def depth_to_image(image: Image.Image, prompt: str, max_side: int = 768) -> bytes:
    """Luminance taken as depth, tinted by a colour hashed from the prompt."""
    small = image.copy()
    small.thumbnail((max_side, max_side))
    arr = np.asarray(small, dtype=np.float32) / 255.0
    luminance = (arr[..., :3] @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)) * arr[..., 3]
    tint = np.array(prompt_tint(prompt), dtype=np.float32)
    out = (0.2 + 0.8 * luminance)[..., None] * tint
    return png_bytes(Image.fromarray(out.round().astype(np.uint8)))
