"""A closed, puffed mesh from a silhouette grid, and writers for OBJ, PLY, STL and GLB.

The mesh is built in a Y-up frame with the picture's front facing +Z (glTF's convention);
`z_up` turns it into TripoSR's raw frame (up +Z, front -Y) with a proper rotation.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

RIM = 0.01  # half-thickness at the silhouette edge, in model units (the long side is 1.0)
BACK_RATIO = 0.7  # the back bulges less than the front, so front and back can be told apart


@dataclass(frozen=True)
class Mesh:
    positions: np.ndarray  # (n, 3) float32, Y-up, front towards +Z
    colors: np.ndarray  # (n, 3) float32, sRGB 0..1
    uvs: np.ndarray  # (n, 2) float32, planar front projection, origin at the image's top-left
    triangles: np.ndarray  # (m, 3) uint32, counter-clockwise seen from outside


def _close_diagonals(mask: np.ndarray) -> np.ndarray:
    """Fill cells so no two inside cells touch only at a corner (that would pinch the surface)."""
    mask = mask.copy()
    while True:
        tl, tr, bl, br = mask[:-1, :-1], mask[:-1, 1:], mask[1:, :-1], mask[1:, 1:]
        main = tl & br & ~tr & ~bl
        anti = tr & bl & ~tl & ~br
        if not (main.any() or anti.any()):
            return mask
        mask[:-1, 1:] |= main
        mask[1:, :-1] |= main
        mask[:-1, :-1] |= anti
        mask[1:, 1:] |= anti


def _distance_from_rim(interior: np.ndarray) -> np.ndarray:
    """Chamfer distance (steps 1 and sqrt 2) from each corner to the nearest rim corner."""
    dist = np.where(interior, np.inf, 0.0)
    steps = [(dy, dx, float(np.hypot(dy, dx))) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    while True:
        padded = np.pad(dist, 1, constant_values=0.0)
        best = dist
        for dy, dx, cost in steps:
            if dy or dx:
                shifted = padded[1 + dy : 1 + dy + dist.shape[0], 1 + dx : 1 + dx + dist.shape[1]]
                best = np.minimum(best, shifted + cost)
        if np.array_equal(best, dist):
            return dist
        dist = best


def build_mesh(mask: np.ndarray, cell_colors: np.ndarray, aspect: float) -> Mesh:
    """Puff the silhouette into a closed solid.

    `mask` and `cell_colors` are the (rows, cols) grid, rows from the top of the picture;
    `aspect` is the picture's width / height. The picture's long side spans 1.0 model unit,
    centred on the origin. Front and back surfaces sit on the grid corners; side walls join them
    along the silhouette edge.
    """
    mask = _close_diagonals(mask)
    ny, nx = mask.shape
    width, height = (1.0, 1.0 / aspect) if aspect >= 1 else (aspect, 1.0)

    # Corner (r, c) touches cells (r-1, c-1), (r-1, c), (r, c-1), (r, c); off-grid is outside.
    cells = np.pad(mask, 1)
    touching = [cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]]
    used = touching[0] | touching[1] | touching[2] | touching[3]
    interior = touching[0] & touching[1] & touching[2] & touching[3]

    colors = np.pad(cell_colors * mask[..., None], ((1, 1), (1, 1), (0, 0)))
    color_sum = colors[:-1, :-1] + colors[:-1, 1:] + colors[1:, :-1] + colors[1:, 1:]
    count = sum(t.astype(np.float32) for t in touching)
    corner_colors = color_sum / np.maximum(count, 1)[..., None]

    dist = _distance_from_rim(interior)
    peak = float(dist.max())
    cell_size = max(width / nx, height / ny)
    t = dist / peak if peak > 0 else dist
    bulge = 0.8 * peak * cell_size * np.sqrt(np.clip(t * (2 - t), 0, 1))

    rows, cols = np.nonzero(used)
    index = np.full(used.shape, -1, dtype=np.int64)
    index[rows, cols] = np.arange(len(rows))
    n = len(rows)
    x = (cols / nx - 0.5) * width
    y = (0.5 - rows / ny) * height
    front = RIM + bulge[rows, cols]
    back = -(RIM + BACK_RATIO * bulge[rows, cols])
    positions = np.concatenate(
        [np.stack([x, y, front], axis=1), np.stack([x, y, back], axis=1)]
    ).astype(np.float32)
    uv = np.stack([cols / nx, rows / ny], axis=1)
    uvs = np.concatenate([uv, uv]).astype(np.float32)
    vertex_colors = np.concatenate([corner_colors[rows, cols]] * 2).astype(np.float32)

    # Per inside cell: corners a (top-left), b (top-right), c (bottom-right), d (bottom-left);
    # seen from the front, d -> c -> b -> a runs counter-clockwise.
    r, c = np.nonzero(mask)
    a, b, cc, d = index[r, c], index[r, c + 1], index[r + 1, c + 1], index[r + 1, c]
    front_tris = np.concatenate([np.stack([d, cc, b], 1), np.stack([d, b, a], 1)])
    back_tris = front_tris[:, ::-1] + n

    # Side walls along each front edge p -> q whose neighbouring cell is outside.
    outside = ~cells
    walls = []
    for neighbour_out, p, q in (
        (outside[r, c + 1], b, a),  # top
        (outside[r + 1, c + 2], cc, b),  # right
        (outside[r + 2, c + 1], d, cc),  # bottom
        (outside[r + 1, c], a, d),  # left
    ):
        p, q = p[neighbour_out], q[neighbour_out]
        walls += [np.stack([q, p, p + n], 1), np.stack([q, p + n, q + n], 1)]
    triangles = np.concatenate([front_tris, back_tris, *walls]).astype(np.uint32)
    return Mesh(positions, vertex_colors, uvs, triangles)


def z_up(positions: np.ndarray) -> np.ndarray:
    """Rotate +90 degrees about X: up +Y -> +Z, front +Z -> -Y."""
    return np.stack([positions[:, 0], -positions[:, 2], positions[:, 1]], axis=1)


def write_obj(mesh: Mesh, zup: bool = False) -> bytes:
    """`v x y z r g b` (colours as 0..1 floats) and 1-based `f` lines."""
    positions = z_up(mesh.positions) if zup else mesh.positions
    vertices = np.hstack([positions, mesh.colors]).tolist()
    lines = ["# ModelsLab emulator"]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f} {r:.4f} {g:.4f} {b:.4f}" for x, y, z, r, g, b in vertices]
    lines += [f"f {i} {j} {k}" for i, j, k in (mesh.triangles.astype(np.int64) + 1).tolist()]
    return ("\n".join(lines) + "\n").encode()


def write_ply(mesh: Mesh) -> bytes:
    """binary_little_endian PLY: float x, y, z and uchar red, green, blue per vertex."""
    n, m = len(mesh.positions), len(mesh.triangles)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment ModelsLab emulator\n"
        f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {m}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    vertices = np.zeros(n, dtype=[("p", "<f4", 3), ("c", "u1", 3)])
    vertices["p"] = mesh.positions
    vertices["c"] = np.clip(np.round(mesh.colors * 255), 0, 255)
    faces = np.zeros(m, dtype=[("n", "u1"), ("i", "<i4", 3)])
    faces["n"] = 3
    faces["i"] = mesh.triangles
    return header.encode() + vertices.tobytes() + faces.tobytes()


def _face_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    corners = positions[triangles]
    return np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])


def _unit(vectors: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(length, 1e-12)).astype(np.float32)


def write_stl(mesh: Mesh) -> bytes:
    """Binary STL: 80-byte header, triangle count, then normal, 3 vertices and a spare uint16."""
    records = np.zeros(
        len(mesh.triangles), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")]
    )
    records["n"] = _unit(_face_normals(mesh.positions, mesh.triangles))
    records["v"] = mesh.positions[mesh.triangles]
    header = b"binary STL from the ModelsLab emulator".ljust(80, b" ")
    return header + struct.pack("<I", len(records)) + records.tobytes()


def _vertex_normals(mesh: Mesh) -> np.ndarray:
    normals = np.zeros_like(mesh.positions)
    face = _face_normals(mesh.positions, mesh.triangles)
    for corner in range(3):
        np.add.at(normals, mesh.triangles[:, corner], face)
    return _unit(normals)


def _pad4(data: bytes, fill: bytes = b"\0") -> bytes:
    return data + fill * (-len(data) % 4)


def write_glb(mesh: Mesh, texture_png: bytes) -> bytes:
    """glTF 2.0 binary: one textured primitive; the texture is `texture_png`, embedded."""
    blobs = [
        (mesh.positions.astype("<f4").tobytes(), 34962),
        (_vertex_normals(mesh).astype("<f4").tobytes(), 34962),
        (mesh.uvs.astype("<f4").tobytes(), 34962),
        (mesh.triangles.astype("<u4").tobytes(), 34963),
        (texture_png, None),
    ]
    binary = b""
    views = []
    for data, target in blobs:
        view = {"buffer": 0, "byteOffset": len(binary), "byteLength": len(data)}
        if target:
            view["target"] = target
        views.append(view)
        binary += _pad4(data)
    n = len(mesh.positions)
    gltf = {
        "asset": {"version": "2.0", "generator": "ModelsLab emulator"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "model"}],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                        "indices": 3,
                        "material": 0,
                        "mode": 4,
                    }
                ]
            }
        ],
        "materials": [
            {
                "name": "texture",
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": 0},
                    "metallicFactor": 0.0,
                    "roughnessFactor": 1.0,
                },
            }
        ],
        "textures": [{"source": 0, "sampler": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}],
        "images": [{"bufferView": 4, "mimeType": "image/png"}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": n,
                "type": "VEC3",
                "min": mesh.positions.min(axis=0).tolist(),
                "max": mesh.positions.max(axis=0).tolist(),
            },
            {"bufferView": 1, "componentType": 5126, "count": n, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": n, "type": "VEC2"},
            {
                "bufferView": 3,
                "componentType": 5125,
                "count": mesh.triangles.size,
                "type": "SCALAR",
            },
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}],
    }
    chunk_json = _pad4(json.dumps(gltf, separators=(",", ":")).encode(), b" ")
    total = 12 + 8 + len(chunk_json) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(chunk_json), b"JSON"),
            chunk_json,
            struct.pack("<I4s", len(binary), b"BIN\0"),
            binary,
        ]
    )
