"""Images in and files out, with numpy only: Blender ships numpy but not Pillow.

Pixels are numpy arrays H x W x 3 (RGB) or 4 (RGBA), top row first, either uint8 or float in
0..1 (clipped). Blender hands over float pixels bottom row first: flip them before calling.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from .errors import ValidationError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
FILE_EXTENSIONS = {
    "glb": ".glb",
    "obj": ".obj",
    "ply": ".ply",
    "stl": ".stl",
    "png": ".png",
    "gif": ".gif",
    "jpeg": ".jpg",
    "mp4": ".mp4",
}
SNIFF_BYTES = 512  # how much of a file's start sniff_file_kind looks at
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC

_OBJ_KEYWORDS = {b"v", b"vn", b"vt", b"vp", b"f", b"l", b"p", b"o", b"g", b"s"}
_OBJ_KEYWORDS |= {b"mtllib", b"usemtl"}
_BLOCK_ELEMENTS = 1 << 22  # bounds the temporary arrays of the block-wise loops


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Pixels as uint8, converting float 0..1 (clipped, NaN as 0) in blocks to bound memory."""
    array = np.asarray(pixels)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or 0 in array.shape:
        raise ValueError(f"expected H x W x 3 or H x W x 4 pixels, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected uint8 or float pixels, got {array.dtype}")
    out = np.empty(array.shape, dtype=np.uint8)
    for rows in _row_blocks(array):
        block = np.nan_to_num(array[rows], nan=0.0, posinf=1.0, neginf=0.0)
        out[rows] = np.clip(block, 0.0, 1.0) * 255.0 + 0.5
    return out


def encode_png(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG: RGBA when any pixel is not opaque, else RGB."""
    data = to_uint8(pixels)
    if data.shape[2] == 4 and bool((data[..., 3] == 255).all()):
        data = data[..., :3]
    height, width, channels = data.shape
    rows = np.ascontiguousarray(data).reshape(height, width * channels)
    compressor = zlib.compressobj(6)
    compressed = []
    for block in _row_blocks(rows):
        above = rows[block.start - 1] if block.start else np.zeros_like(rows[0])
        compressed.append(compressor.compress(_filter_rows(rows[block], above, channels)))
    compressed.append(compressor.flush())
    color_type = 6 if channels == 4 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(compressed))
        + _png_chunk(b"IEND", b"")
    )


def downscale(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """uint8 pixels whose longer side is at most `max_side`, averaged by area (box filter).

    Colours are averaged weighted by alpha, so transparent pixels do not darken the edges.
    The aspect ratio is kept; images already small enough come back unchanged.
    """
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    data = to_uint8(pixels)
    height, width, channels = data.shape
    if max(height, width) <= max_side:
        return data
    scale = max_side / max(height, width)
    new_height = max(1, round(height * scale))
    new_width = max(1, round(width * scale))
    tall = np.empty((new_height, width, channels), dtype=np.float32)
    columns_per_block = max(1, _BLOCK_ELEMENTS // (height * channels))
    for start in range(0, width, columns_per_block):
        columns = slice(start, start + columns_per_block)
        tall[:, columns] = _box_resample(_premultiplied(data[:, columns]), new_height)
    small = np.empty((new_height, new_width, channels), dtype=np.float64)
    for rows in _row_blocks(tall):
        block = tall[rows].astype(np.float64).swapaxes(0, 1)
        small[rows] = _box_resample(block, new_width).swapaxes(0, 1)
    if channels == 4:
        alpha = small[..., 3:4]
        small[..., :3] = np.divide(
            small[..., :3] * 255.0, alpha, out=np.zeros_like(small[..., :3]), where=alpha > 0
        )
    return (np.clip(small, 0.0, 255.0) + 0.5).astype(np.uint8)


def prepare_upload(pixels: np.ndarray, max_side: int, max_bytes: int) -> tuple[bytes, str]:
    """A PNG for upload: at most `max_side` pixels wide or high, shrunk until under `max_bytes`."""
    data = downscale(pixels, max_side)
    while True:
        png = encode_png(data)
        if len(png) <= max_bytes:
            return png, MIME_TYPES["png"]
        side = max(data.shape[:2])
        smaller = min(side - 1, int(side * math.sqrt(max_bytes / len(png)) * 0.95))
        if smaller < 1:
            raise ValidationError(
                "max_upload_bytes",
                max_bytes,
                "a limit that a small PNG fits in",
                f"The image cannot be made smaller than {max_bytes} bytes.",
            )
        data = downscale(data, smaller)


def prepare_upload_file(
    data: bytes, max_bytes: int, max_side: int | None = None
) -> tuple[bytes, str] | None:
    """An encoded PNG or JPEG as it is, when under the size caps; else None (decode it instead).

    With `max_side`, an image whose size cannot be read or is larger is not passed through.
    """
    kind = sniff_file_kind(data[:SNIFF_BYTES])
    if kind not in MIME_TYPES or len(data) > max_bytes:
        return None
    if max_side is not None:
        size = image_size(data)
        if size is None or max(size) > max_side:
            return None
    return data, MIME_TYPES[kind]


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG from its header, or None."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if not data.startswith(b"\xff\xd8"):
        return None
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def sniff_file_kind(head: bytes, size: int | None = None) -> str | None:
    """The kind of a file from its first bytes: glb, obj, ply, stl, png, gif, jpeg, mp4, or None.

    A binary STL has no magic number: pass the file's `size` to recognise it by its length.
    """
    if head.startswith(b"glTF"):
        return "glb"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith((b"ply\n", b"ply\r\n")):
        return "ply"
    if head.startswith(b"solid") or _is_binary_stl(head, size):
        return "stl"
    if _looks_like_obj(head):
        return "obj"
    return None


def looks_complete(kind: str, head: bytes, tail: bytes, size: int) -> bool:
    """Whether a file ends where its format says it does (catches a cut-off download whose
    server announced the cut length). Formats without such a mark (OBJ, PLY) always pass.

    `head` and `tail` are the file's first and last bytes (SNIFF_BYTES of each is plenty).
    """
    if kind == "glb":
        return len(head) >= 12 and struct.unpack("<I", head[8:12])[0] == size
    if kind == "png":
        return tail.endswith(_PNG_END)
    if kind == "gif":
        return tail.endswith(b";")
    if kind == "jpeg":
        return b"\xff\xd9" in tail
    if kind == "stl":
        return _is_binary_stl(head, size) or b"endsolid" in tail
    return True


def _is_binary_stl(head: bytes, size: int | None) -> bool:
    if size is None or len(head) < 84:
        return False
    (triangles,) = struct.unpack("<I", head[80:84])
    return triangles > 0 and size == 84 + 50 * triangles


def _looks_like_obj(head: bytes) -> bool:
    """Text whose first statement is an OBJ keyword; a head of only comments counts too."""
    if b"\0" in head:
        return False
    lines = head.splitlines()
    if len(head) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    saw_comment = False
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0].startswith(b"#"):
            saw_comment = True
            continue
        return words[0] in _OBJ_KEYWORDS
    return saw_comment


def _row_blocks(array: np.ndarray) -> list[slice]:
    per_row = max(1, array[0].size)
    step = max(1, _BLOCK_ELEMENTS // per_row)
    return [slice(start, start + step) for start in range(0, len(array), step)]


def _filter_rows(rows: np.ndarray, above: np.ndarray, channels: int) -> bytes:
    """PNG-filtered scanlines: per row, the filter whose output has the smallest magnitude."""
    current = rows.astype(np.int16)
    previous = np.vstack([above[np.newaxis], rows[:-1]]).astype(np.int16)
    left = np.zeros_like(current)
    left[:, channels:] = current[:, :-channels]
    upper_left = np.zeros_like(previous)
    upper_left[:, channels:] = previous[:, :-channels]
    distance_left = np.abs(previous - upper_left)
    distance_up = np.abs(left - upper_left)
    distance_diagonal = np.abs(left + previous - 2 * upper_left)
    paeth = np.where(
        (distance_left <= distance_up) & (distance_left <= distance_diagonal),
        left,
        np.where(distance_up <= distance_diagonal, previous, upper_left),
    )
    predictions = (0, left, previous, (left + previous) >> 1, paeth)
    candidates = np.stack([(current - prediction) & 0xFF for prediction in predictions])
    magnitude = np.minimum(candidates, 256 - candidates).sum(axis=2, dtype=np.int64)
    best = magnitude.argmin(axis=0)
    chosen = candidates[best, np.arange(len(rows))].astype(np.uint8)
    return np.hstack([best.astype(np.uint8)[:, np.newaxis], chosen]).tobytes()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    checksum = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def _premultiplied(pixels: np.ndarray) -> np.ndarray:
    values = pixels.astype(np.float64)
    if values.shape[-1] == 4:
        values[..., :3] *= values[..., 3:4] / 255.0
    return values


def _box_resample(values: np.ndarray, new_length: int) -> np.ndarray:
    """Area-average along axis 0: each output cell is the mean of the input span it covers.

    Uses a running sum, so the cost is linear whatever the ratio.
    """
    length = len(values)
    edges = np.linspace(0.0, length, new_length + 1)
    index = np.minimum(edges.astype(np.int64), length - 1)
    fraction = (edges - index).reshape((-1,) + (1,) * (values.ndim - 1))
    running = np.concatenate([np.zeros_like(values[:1]), np.cumsum(values, axis=0)])
    at_edges = running[index] + fraction * values[index]
    return np.diff(at_edges, axis=0) * (new_length / length)
