"""The emulator over real HTTP: protocol shapes, scenarios, and output files that really parse."""

from __future__ import annotations

import base64
import io
import json
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import GifImagePlugin, Image, ImageDraw

from emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
RED, GREEN, BLUE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)
V6 = "/api/v6/3d/image_to_3d"
ENTERPRISE = "/api/v1/enterprise/3d/image_to_3d"
V3 = "/api/v3/img_to_3d"
MULTIVIEW = "/api/v5/multiview"
DEPTH = "/api/v5/depth2img"


# --- inputs --------------------------------------------------------------------------------


def subject_png(size: tuple[int, int] = (80, 60)) -> bytes:
    """Transparent background; an opaque block: top-left red, top-right green, bottom half blue.

    The block covers x 12.5%..87.5% and y 10%..90% of the picture.
    """
    w, h = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((w // 8, h // 10, w // 2 - 1, h // 2 - 1), fill=RED)
    draw.rectangle((w // 2, h // 10, w * 7 // 8 - 1, h // 2 - 1), fill=GREEN)
    draw.rectangle((w // 8, h // 2, w * 7 // 8 - 1, h * 9 // 10 - 1), fill=BLUE)
    return encode(image, "PNG")


def disk_jpeg() -> bytes:
    """An opaque JPEG: a dark disk of radius 30 px on a white 100 x 100 background."""
    image = Image.new("RGB", (100, 100), "white")
    ImageDraw.Draw(image).ellipse((20, 20, 79, 79), fill=(40, 60, 90))
    return encode(image, "JPEG")


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# --- protocol helpers ----------------------------------------------------------------------


def post(emu: Emulator, path: str, **body: Any) -> requests.Response:
    body.setdefault("key", "test-account")
    return requests.post(emu.base_url + path, json=body, timeout=10)


def upload(emu: Emulator, data: bytes | None = None, mime: str = "image/png") -> str:
    answer = post(emu, "/api/v6/base64_to_url", base64_string=data_url(data or subject_png(), mime))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["output"][0])


def generate(emu: Emulator, path: str = V6, key: str = "test-account", **params: Any) -> dict:
    field = "init_image" if path in (ENTERPRISE, DEPTH) else "image"
    params.setdefault(field, upload(emu))
    answer = post(emu, path, key=key, **params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def output_file(body: dict) -> bytes:
    url = body["output"] if isinstance(body["output"], str) else body["output"][0]
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    return answer.content


# --- mesh readers --------------------------------------------------------------------------


def read_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, total = struct.unpack_from("<4sII", data)
    assert (magic, version, total) == (b"glTF", 2, len(data))
    json_length, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON"
    gltf = json.loads(data[20 : 20 + json_length])
    bin_length, bin_type = struct.unpack_from("<I4s", data, 20 + json_length)
    assert bin_type == b"BIN\0"
    binary = data[28 + json_length : 28 + json_length + bin_length]
    assert gltf["buffers"][0]["byteLength"] == len(binary)
    return gltf, binary


def accessor(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = {5126: "<f4", 5125: "<u4"}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    values = np.frombuffer(binary, dtype, acc["count"] * width, view["byteOffset"])
    assert values.nbytes <= view["byteLength"]
    return values.reshape(acc["count"], width) if width > 1 else values


def read_obj(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = [], []
    for line in data.decode().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            vertices.append([float(p) for p in parts[1:]])
        elif parts and parts[0] == "f":
            faces.append([int(p) - 1 for p in parts[1:]])
    return np.array(vertices), np.array(faces)


def assert_closed(positions: np.ndarray, triangles: np.ndarray) -> None:
    """Every edge used once in each direction (watertight, consistent) and outward winding."""
    assert triangles.min() >= 0 and triangles.max() < len(positions)
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    assert len(directed) == len(edges), "an edge is used twice in the same direction"
    assert all((b, a) in directed for a, b in directed), "the surface has an open edge"
    corners = positions[triangles].astype(np.float64)
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum()
    assert volume / 6 > 0.001, "faces point inwards"


def colour_groups(vertices: np.ndarray) -> dict[str, np.ndarray]:
    """Positions of the vertices coloured red, green and blue (the subject's three parts)."""
    rgb = vertices[:, 3:6]
    pure = {"red": [1, 0, 0], "green": [0, 1, 0], "blue": [0, 0, 1]}
    return {
        name: vertices[np.abs(rgb - colour).max(axis=1) < 0.05, :3] for name, colour in pure.items()
    }


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mime", "data", "ext"),
    [
        ("image/png", subject_png(), ".png"),
        ("image/jpeg", disk_jpeg(), ".jpg"),
    ],
)
def test_base64_to_url_serves_the_image_back(
    emulator: Emulator, mime: str, data: bytes, ext: str
) -> None:
    answer = post(emulator, "/api/v6/base64_to_url", base64_string=data_url(data, mime))
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success"
    assert isinstance(body["id"], int)
    url = body["output"][0]
    assert url.startswith(emulator.base_url + "/temp/") and url.endswith(ext)
    served = requests.get(url, timeout=5)
    assert served.content == data
    assert served.headers["Content-Type"] == mime


def test_base64_crop_answers_the_older_shape(emulator: Emulator) -> None:
    body = post(emulator, "/api/v3/base64_crop", image=data_url(subject_png()), crop="true").json()
    assert body["status"] == "success" and body["messege"] == "image uploaded"
    assert isinstance(body["request_id"], int)
    assert requests.get(body["link"], timeout=5).content == subject_png()


@pytest.mark.parametrize(
    "value",
    [
        data_url(b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024)),  # over 5 MB
        data_url(subject_png()[:100]),  # truncated PNG
        data_url(b"GIF89a" + bytes(100), "image/gif"),  # not PNG or JPEG
        "data:image/png;base64,@@@not base64@@@",
        "https://example.com/cat.png",
        "",
    ],
)
def test_upload_rejects_bad_images(emulator: Emulator, value: str) -> None:
    answer = post(emulator, "/api/v6/base64_to_url", base64_string=value)
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "error"
    assert isinstance(body["message"]["base64_string"][0], str)


# --- 3D outputs ----------------------------------------------------------------------------


def test_v6_glb_is_a_textured_closed_mesh_facing_plus_z(emulator: Emulator) -> None:
    png = subject_png()
    body = generate(emulator, image=upload(emulator, png))
    assert body["status"] == "success" and isinstance(body["id"], int)
    assert body["output"][0].startswith(emulator.base_url + "/cdn/")
    assert body["output"][0].endswith(".glb")
    assert body["proxy_links"][0].startswith(emulator.base_url + "/proxy/")
    assert body["meta"]["output_format"] == "glb" and body["meta"]["seed"] > 0
    assert body["nsfw_content_detected"] is False
    glb = output_file(body)
    assert requests.get(body["proxy_links"][0], timeout=5).content == glb

    gltf, binary = read_glb(glb)
    primitive = gltf["meshes"][0]["primitives"][0]
    positions = accessor(gltf, binary, primitive["attributes"]["POSITION"])
    uvs = accessor(gltf, binary, primitive["attributes"]["TEXCOORD_0"])
    triangles = accessor(gltf, binary, primitive["indices"]).reshape(-1, 3).astype(np.int64)
    pos_accessor = gltf["accessors"][primitive["attributes"]["POSITION"]]
    assert np.allclose(pos_accessor["min"], positions.min(axis=0))
    assert np.allclose(pos_accessor["max"], positions.max(axis=0))
    assert_closed(positions, triangles)

    # The texture is the uploaded picture itself.
    material = gltf["materials"][primitive["material"]]
    texture = gltf["textures"][material["pbrMetallicRoughness"]["baseColorTexture"]["index"]]
    image = gltf["images"][texture["source"]]
    view = gltf["bufferViews"][image["bufferView"]]
    assert image["mimeType"] == "image/png"
    assert binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]] == png

    # The block spans 60 x 48 px of an 80 x 60 picture whose long side is 1.0.
    assert np.allclose(positions[:, 0].min(), -0.375, atol=0.03)
    assert np.allclose(positions[:, 0].max(), 0.375, atol=0.03)
    assert np.allclose(positions[:, 1].min(), -0.3, atol=0.03)
    assert np.allclose(positions[:, 1].max(), 0.3, atol=0.03)
    # Planar front projection: image right is +X, image up is +Y, UV origin top-left.
    assert np.allclose(uvs[:, 0], positions[:, 0] + 0.5, atol=1e-5)
    assert np.allclose(uvs[:, 1], 0.5 - positions[:, 1] / 0.75, atol=1e-5)
    # The front (+Z) bulges more than the back.
    assert positions[:, 2].max() > -positions[:, 2].min() > 0


def test_v6_obj_has_vertex_colours_in_the_picture_layout(emulator: Emulator) -> None:
    body = generate(emulator, output_format="obj")
    assert body["output"][0].endswith(".obj")
    vertices, faces = read_obj(output_file(body))
    assert vertices.shape[1] == 6 and vertices[:, 3:].min() >= 0 and vertices[:, 3:].max() <= 1
    assert_closed(vertices[:, :3], faces)
    parts = colour_groups(vertices)
    assert all(len(p) > 10 for p in parts.values())
    assert parts["red"][:, 0].mean() < 0 < parts["red"][:, 1].mean()  # top-left
    assert parts["green"][:, 0].mean() > 0 and parts["green"][:, 1].mean() > 0  # top-right
    assert parts["blue"][:, 1].mean() < 0  # bottom
    assert vertices[:, 2].max() > -vertices[:, 2].min()  # front towards +Z


def test_enterprise_obj_is_z_up_facing_minus_y(emulator: Emulator) -> None:
    body = generate(emulator, ENTERPRISE, foreground_ratio=0.85, remove_bg=False)
    assert body["warning"] == "" and body["meta"]["foreground_ratio"] == 0.85
    vertices, faces = read_obj(output_file(body))
    assert_closed(vertices[:, :3], faces)
    parts = colour_groups(vertices)
    assert parts["red"][:, 0].mean() < 0 < parts["red"][:, 2].mean()
    assert parts["green"][:, 0].mean() > 0 and parts["green"][:, 2].mean() > 0
    assert parts["blue"][:, 2].mean() < 0
    assert np.allclose(vertices[:, 2].max(), 0.3, atol=0.03)  # the picture's height is along Z
    assert -vertices[:, 1].min() > vertices[:, 1].max() > 0  # the front bulges towards -Y


def test_v6_ply_is_binary_with_colours(emulator: Emulator) -> None:
    data = output_file(generate(emulator, output_format="ply"))
    header, _, payload = data.partition(b"end_header\n")
    lines = header.decode().splitlines()
    assert lines[1] == "format binary_little_endian 1.0"
    n = int(next(line for line in lines if line.startswith("element vertex")).split()[-1])
    m = int(next(line for line in lines if line.startswith("element face")).split()[-1])
    assert [line.split()[-1] for line in lines if line.startswith("property")] == [
        "x",
        "y",
        "z",
        "red",
        "green",
        "blue",
        "vertex_indices",
    ]
    vertex = np.dtype([("p", "<f4", 3), ("c", "u1", 3)])
    face = np.dtype([("n", "u1"), ("i", "<i4", 3)])
    assert len(payload) == n * vertex.itemsize + m * face.itemsize
    vertices = np.frombuffer(payload, vertex, n)
    faces = np.frombuffer(payload, face, m, n * vertex.itemsize)
    assert (faces["n"] == 3).all()
    assert_closed(vertices["p"], faces["i"].astype(np.int64))
    assert {tuple(c) for c in vertices["c"].tolist()} >= {(255, 0, 0), (0, 255, 0), (0, 0, 255)}


def test_v6_stl_is_binary(emulator: Emulator) -> None:
    data = output_file(generate(emulator, output_format="stl"))
    (count,) = struct.unpack_from("<I", data, 80)
    assert len(data) == 84 + 50 * count and not data.startswith(b"solid")
    records = np.frombuffer(data, [("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")], count, 84)
    assert np.allclose(np.linalg.norm(records["n"], axis=1), 1, atol=1e-4)
    corners, welded = np.unique(records["v"].reshape(-1, 3), axis=0, return_inverse=True)
    assert_closed(corners, welded.reshape(-1, 3))


def test_resolution_bounds_the_grid(emulator: Emulator) -> None:
    coarse, _ = read_obj(output_file(generate(emulator, output_format="obj", resolution=8)))
    fine, _ = read_obj(output_file(generate(emulator, output_format="obj", resolution=512)))
    assert len(coarse) <= 2 * 9 * 7 < len(fine) <= 2 * 65 * 49


def test_opaque_picture_uses_the_background_colour(emulator: Emulator) -> None:
    url = upload(emulator, disk_jpeg(), "image/jpeg")
    vertices, faces = read_obj(output_file(generate(emulator, image=url, output_format="obj")))
    assert_closed(vertices[:, :3], faces)
    assert np.allclose(np.abs(vertices[:, :2]).max(axis=0), 0.3, atol=0.03)
    assert np.abs(vertices[:, 3:6] - [40 / 255, 60 / 255, 90 / 255]).max(axis=1).min() < 0.05
    gltf, binary = read_glb(output_file(generate(emulator, image=url)))
    image = gltf["images"][0]
    view = gltf["bufferViews"][image["bufferView"]]
    texture = binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    assert Image.open(io.BytesIO(texture)).format == "PNG"  # the JPEG upload, re-encoded


def test_v6_accepts_init_image(emulator: Emulator) -> None:
    body = generate(emulator, init_image=upload(emulator), output_format="stl")
    assert body["output"][0].endswith(".stl")


# --- 2D outputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "params"), [((640, 960), {}), ((300, 450), {"width": 300, "height": 450})]
)
def test_multiview_grid_layout(emulator: Emulator, size: tuple[int, int], params: dict) -> None:
    body = generate(emulator, MULTIVIEW, prompt="views", **params)
    assert body["meta"]["width"] == size[0]
    image = Image.open(io.BytesIO(output_file(body))).convert("RGB")
    assert image.size == size
    cell_w, cell_h = size[0] // 2, size[1] // 3
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]
    pixels = np.asarray(image).astype(int)
    cells = []
    for k, colour in enumerate(palette):
        x, y = (k % 2) * cell_w, (k // 2) * cell_h
        assert (pixels[y : y + 8, x : x + 8] == colour).all()
        cells.append(pixels[y + 8 : y + cell_h, x : x + cell_w])  # below the marker

    def width(cell: np.ndarray) -> int:
        """How wide the subject is across the cell's middle row."""
        return int((np.abs(cell[len(cell) // 2] - 128).sum(axis=1) > 30).sum())

    def red_right_of_green(cell: np.ndarray) -> bool:
        red = np.nonzero((cell[..., 0] > 200) & (cell[..., 1] < 60) & (cell[..., 2] < 60))[1]
        green = np.nonzero((cell[..., 1] > 200) & (cell[..., 0] < 60) & (cell[..., 2] < 60))[1]
        return bool(red.mean() > green.mean())

    assert all(width(cell) > 0 for cell in cells)  # the subject is drawn in every cell
    # Azimuths 30 and 330 face the camera; 90 and 270 are side views; 150 and 210 from behind.
    assert width(cells[0]) > 2 * width(cells[1]) and width(cells[5]) > 2 * width(cells[4])
    assert not red_right_of_green(cells[0]) and not red_right_of_green(cells[5])
    assert red_right_of_green(cells[2]) and red_right_of_green(cells[3])


def test_v3_gif_turntable(emulator: Emulator) -> None:
    body = generate(emulator, V3, frame_size=48, seconds=2, steps=64)
    assert body["meta"]["output_type"] == "gif" and body["meta"]["steps"] == 64
    gif = Image.open(io.BytesIO(output_file(body)))
    assert isinstance(gif, GifImagePlugin.GifImageFile)
    assert gif.size == (48, 48) and gif.n_frames == 8
    widths = []
    for index in (0, 2):  # 0 and 90 degrees
        gif.seek(index)
        middle = np.asarray(gif.convert("RGB")).astype(int)[24]
        widths.append(int((np.abs(middle - 235).sum(axis=1) > 30).sum()))
    assert widths[0] > 3 * widths[1] > 0  # the subject turns side-on
    long = Image.open(io.BytesIO(output_file(generate(emulator, V3, frame_size=16, seconds=30))))
    assert isinstance(long, GifImagePlugin.GifImageFile) and long.n_frames == 64


def test_depth2img_follows_the_picture_and_the_prompt(emulator: Emulator) -> None:
    big = Image.new("RGB", (1000, 400), "black")
    ImageDraw.Draw(big).rectangle((0, 0, 499, 399), fill="white")
    url = upload(emulator, encode(big, "PNG"))
    first = generate(emulator, DEPTH, init_image=url, prompt="give him glasses")
    second = generate(emulator, DEPTH, init_image=url, prompt="make it snowy")
    assert isinstance(first["output"], str) and "proxy_links" not in first
    a = np.asarray(Image.open(io.BytesIO(output_file(first))).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(output_file(second))).convert("RGB")).astype(int)
    assert a.shape == (307, 768, 3)
    assert np.abs(a - b).max() > 20
    assert a[:, :300].sum() > 2 * a[:, -300:].sum()  # bright where the picture is bright


# --- asynchronous flow ---------------------------------------------------------------------


def test_processing_polls_then_success(emulator: Emulator) -> None:
    body = generate(emulator, key="processing?polls=2&eta=2", output_format="ply")
    assert body["status"] == "processing" and body["eta"] == 2 and body["output"] == []
    assert body["message"] and body["tip"] and body["meta"]["output_format"] == "ply"
    assert body["fetch_result"] == f"{emulator.base_url}/api/v6/3d/fetch/{body['id']}"
    future = body["future_links"][0]
    assert requests.get(future, timeout=5).status_code == 404

    for _ in range(2):
        answer = requests.post(body["fetch_result"], json={"key": "processing"}, timeout=5).json()
        assert answer == {"status": "processing", "message": "try again later.", "output": ""}
    done = requests.post(body["fetch_result"], json={"key": "processing"}, timeout=5).json()
    assert done["status"] == "success" and done["id"] == body["id"]
    assert done["output"] == [future] and done["meta"] == body["meta"]
    assert requests.get(future, timeout=5).content.startswith(b"ply\n")


@pytest.mark.parametrize("path", [V3, MULTIVIEW, DEPTH])
def test_older_endpoints_use_messege_and_the_v3_fetch(emulator: Emulator, path: str) -> None:
    extra = {"prompt": "a cat"} if path == DEPTH else {}
    body = generate(emulator, path, key="processing?polls=1", **extra)
    assert body["status"] == "processing" and body["output"] == "" and "messege" in body
    assert body["fetch_result"] == f"{emulator.base_url}/api/v3/fetch/{body['id']}"
    first = requests.post(body["fetch_result"], json={"key": "k"}, timeout=5).json()
    assert first == {
        "status": "processing",
        "id": "",
        "messege": "Request processing",
        "output": "",
    }
    done = requests.post(body["fetch_result"], json={"key": "k"}, timeout=5).json()
    assert done["status"] == "success"


def test_processing_for_a_number_of_seconds(emulator: Emulator) -> None:
    body = generate(emulator, ENTERPRISE, key="processing?seconds=0.3")
    assert body["eta"] == 0.3
    assert (
        requests.post(body["fetch_result"], json={"key": "x"}, timeout=5).json()["status"]
        == "processing"
    )
    time.sleep(0.35)
    assert requests.get(body["future_links"][0], timeout=5).status_code == 200
    done = requests.post(body["fetch_result"], json={"key": "x"}, timeout=5).json()
    assert done["status"] == "success" and done["output"] == body["future_links"]


def test_failed_later(emulator: Emulator) -> None:
    body = generate(emulator, key="failed_later?polls=1")
    assert body["status"] == "processing"
    fetch = body["fetch_result"]
    assert requests.post(fetch, json={"key": "k"}, timeout=5).json()["status"] == "processing"
    assert requests.post(fetch, json={"key": "k"}, timeout=5).json() == {
        "status": "failed",
        "id": "",
        "message": "Failed, Try Again",
        "output": "",
    }
    assert requests.get(body["future_links"][0], timeout=5).status_code == 404


def test_fetch_of_an_unknown_or_foreign_job(emulator: Emulator) -> None:
    body = generate(emulator, V3)
    for path in (f"/api/v3/fetch/{body['id'] + 1000}", f"/api/v6/3d/fetch/{body['id']}"):
        answer = post(emulator, path)
        assert answer.status_code == 404 and answer.json()["status"] == "error"
    assert post(emulator, f"/api/v3/fetch/{body['id']}").json()["status"] == "success"


def test_default_scenario_applies_to_plain_keys() -> None:
    with Emulator(port=0, default_scenario="processing?polls=0&eta=3") as emu:
        body = generate(emu, key="my-real-looking-key")
        assert body["status"] == "processing" and body["eta"] == 3
        assert requests.get(body["future_links"][0], timeout=5).status_code == 200
        assert generate(emu, key="instant")["status"] == "success"
    with pytest.raises(ValueError):
        Emulator(default_scenario="no_such_scenario")


# --- error scenarios -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "status", "expected"),
    [
        ("invalid_key", 401, {"status": "error", "message": "Invalid Api Key"}),
        ("invalid_key_200", 200, {"status": "error", "message": "Invalid Api Key"}),
        ("no_credits", 402, {"status": "error"}),
        ("no_credits_200", 200, {"status": "error"}),
        ("plan", 403, {"status": "error"}),
        ("rate_limited_200", 200, {"status": "error", "message": "Rate limit exceeded"}),
        (
            "failed",
            200,
            {"status": "failed", "id": "", "message": "Failed, Try Again", "output": ""},
        ),
        ("messege_error", 200, {"status": "error"}),
        ("error_field", 200, {"status": "error"}),
    ],
)
def test_json_error_scenarios(emulator: Emulator, key: str, status: int, expected: dict) -> None:
    answer = post(emulator, V6, key=key, image=upload(emulator))
    assert answer.status_code == status
    body = answer.json()
    assert body.items() >= expected.items()
    text = body.get("message", body.get("messege", body.get("error")))
    assert isinstance(text, str) and text


def test_field_errors_and_rate_limit_shapes(emulator: Emulator) -> None:
    url = upload(emulator)
    body = post(emulator, V6, key="field_errors", image=url).json()
    assert body["status"] == "error" and isinstance(body["message"]["prompt"], list)
    assert "30 seconds" in post(emulator, V6, key="rate_limited_200", image=url).json()["tips"]
    limited = post(emulator, V6, key="rate_limited?retry_after=7", image=url)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["retry_after"] == 7


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("html_500", 500),
        ("html_502", 502),
        ("html_504", 504),
        ("http_503", 503),
        ("not_json", 200),
    ],
)
def test_non_json_scenarios(emulator: Emulator, key: str, status: int) -> None:
    answer = post(emulator, V6, key=key, image=upload(emulator))
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()


def test_fault_at_fetch_for_a_number_of_times(emulator: Emulator) -> None:
    key = "html_502?at=fetch&times=2"
    body = generate(emulator, key=key)
    assert body["status"] == "processing"
    answers = [requests.post(body["fetch_result"], json={"key": key}, timeout=5) for _ in range(5)]
    assert [a.status_code for a in answers] == [502, 502, 200, 200, 200]
    assert [a.json()["status"] for a in answers[2:]] == ["processing", "processing", "success"]


def test_fault_at_upload(emulator: Emulator) -> None:
    key = "no_credits?at=upload&times=1"
    data = data_url(subject_png())
    first = post(emulator, "/api/v6/base64_to_url", key=key, base64_string=data)
    assert first.status_code == 402
    second = post(emulator, "/api/v6/base64_to_url", key=key, base64_string=data)
    assert second.status_code == 200
    assert generate(emulator, key=key, image=second.json()["output"][0])["status"] == "success"


def test_slow_answers_late(emulator: Emulator) -> None:
    url = upload(emulator)
    started = time.monotonic()
    assert post(emulator, V6, key="slow?seconds=0.3", image=url).json()["status"] == "success"
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        requests.post(
            emulator.base_url + V6, json={"key": "slow?seconds=1", "image": url}, timeout=0.2
        )


def test_download_drop(emulator: Emulator) -> None:
    body = generate(emulator, key="download_drop?times=1")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(body["output"][0], timeout=5)
    read_glb(requests.get(body["output"][0], timeout=5).content)


def test_download_truncated(emulator: Emulator) -> None:
    url = upload(emulator)
    whole = output_file(generate(emulator, image=url))
    body = generate(emulator, key="download_truncated", image=url)
    for link in (body["output"][0], body["proxy_links"][0]):
        answer = requests.get(link, timeout=5)
        assert int(answer.headers["Content-Length"]) == len(answer.content) == len(whole) // 2
        assert answer.content == whole[: len(whole) // 2]
    with pytest.raises(AssertionError):
        read_glb(answer.content)


@pytest.mark.parametrize(("key", "status"), [("proxy_only", 404), ("proxy_only?code=503", 503)])
def test_proxy_only(emulator: Emulator, key: str, status: int) -> None:
    body = generate(emulator, key=key)
    assert requests.get(body["output"][0], timeout=5).status_code == status
    read_glb(requests.get(body["proxy_links"][0], timeout=5).content)


def test_output_string(emulator: Emulator) -> None:
    body = generate(emulator, key="output_string", output_format="obj")
    assert isinstance(body["output"], str) and body["output"].endswith(".obj")
    assert read_obj(output_file(body))[0].shape[1] == 6


def test_bad_scenario_options_are_reported(emulator: Emulator) -> None:
    for key in (
        "processing?polls=x",
        "html_502?at=somewhere",
        "instant?times=2",
        "download_drop?at=submit",
    ):
        answer = post(emulator, V6, key=key, image="http://example.com/a.png")
        assert answer.status_code == 400 and answer.json()["message"].startswith("emulator:")


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (V6, {"output_format": "fbx"}, "output_format"),
        (V6, {"resolution": 513}, "resolution"),
        (V6, {"resolution": 256.5}, "resolution"),
        (V6, {"render": "yes"}, "render"),
        (V6, {"ss_guidance_strength": -1}, "ss_guidance_strength"),
        (V6, {"ss_sampling_steps": 0}, "ss_sampling_steps"),
        (V6, {"slat_guidance_strength": 10.5}, "slat_guidance_strength"),
        (V6, {"slat_sampling_steps": 51}, "slat_sampling_steps"),
        (V6, {"mesh_simplify": 0.99}, "mesh_simplify"),
        (V6, {"chunk_size": 12001}, "chunk_size"),
        (V6, {"seed": -1}, "seed"),
        (V6, {"temp": True}, "temp"),
        (V6, {"webhook": 5}, "webhook"),
        (ENTERPRISE, {"foreground_ratio": 1.5}, "foreground_ratio"),
        (ENTERPRISE, {"remove_bg": "false"}, "remove_bg"),
        (ENTERPRISE, {"resolution": 0}, "resolution"),
        (ENTERPRISE, {"chunk_size": 12001}, "chunk_size"),
        (V3, {"guidance_scale": 21}, "guidance_scale"),
        (V3, {"steps": 65}, "steps"),
        (V3, {"frame_size": 0}, "frame_size"),
        (V3, {"batch_size": 0}, "batch_size"),
        (V3, {"seconds": 0}, "seconds"),
        (V3, {"seed": "1"}, "seed"),
        (V3, {"safety_checker": "maybe"}, "safety_checker"),
        (MULTIVIEW, {"width": 1025}, "width"),
        (MULTIVIEW, {"height": 63}, "height"),
        (MULTIVIEW, {"num_inference_steps": 51}, "num_inference_steps"),
        (MULTIVIEW, {"guidance_scale": 0.5}, "guidance_scale"),
        (MULTIVIEW, {"prompt": 3}, "prompt"),
        (MULTIVIEW, {"track_id": []}, "track_id"),
    ],
)
def test_validation_errors(emulator: Emulator, path: str, params: dict, field: str) -> None:
    image = {"init_image" if path == ENTERPRISE else "image": "http://example.com/a.png"}
    answer = post(emulator, path, **image, **params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "error" and list(body["message"]) == [field]
    assert isinstance(body["message"][field][0], str)


def test_valid_edges_and_nulls_are_accepted(emulator: Emulator) -> None:
    url = upload(emulator)
    cases: list[tuple[str, dict[str, Any]]] = [
        (
            V6,
            {
                "resolution": 512,
                "mesh_simplify": 0.98,
                "seed": None,
                "webhook": None,
                "track_id": "t-1",
                "temp": "yes",
                "chunk_size": 12000,
                "unknown": [1],
            },
        ),
        (ENTERPRISE, {"foreground_ratio": 1, "remove_bg": True, "resolution": 1}),
        (V3, {"steps": 64, "seed": None, "frame_size": 8, "seconds": 1}),
        (MULTIVIEW, {"width": 64, "height": 1024, "seed": 12345, "negative_prompt": "blur"}),
    ]
    for path, params in cases:
        field = "init_image" if path == ENTERPRISE else "image"
        assert generate(emulator, path, **{field: url}, **params)["status"] == "success"


def test_missing_image_and_key(emulator: Emulator) -> None:
    missing_image = post(emulator, V6)
    assert missing_image.status_code == 400
    assert list(missing_image.json()["message"]) == ["image"]
    no_key = requests.post(emulator.base_url + V6, json={"image": upload(emulator)}, timeout=5)
    assert no_key.status_code == 400 and "key" in no_key.json()["message"]
    not_json = requests.post(emulator.base_url + V6, data=b"key=abc", timeout=5)
    assert not_json.status_code == 400 and not_json.json()["status"] == "error"


def test_depth2img_prompt_errors_use_the_legacy_shape(emulator: Emulator) -> None:
    url = upload(emulator)
    for params in ({}, {"prompt": ""}, {"prompt": None}):
        answer = post(emulator, DEPTH, init_image=url, **params)
        assert answer.status_code == 200
        assert answer.json() == {
            "status": "error",
            "message": {"prompt": ["The prompt field is required."]},
        }


def test_images_from_elsewhere_cannot_be_downloaded(emulator: Emulator) -> None:
    for url in (
        "https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/x.png",
        emulator.base_url + "/temp/404.png",
    ):
        answer = post(emulator, ENTERPRISE, init_image=url)
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("Could not download the image")


def test_outputs_can_be_inputs(emulator: Emulator) -> None:
    views = generate(emulator, MULTIVIEW)
    assert generate(emulator, V6, image=views["output"][0])["status"] == "success"


# --- recording and reset -------------------------------------------------------------------


def test_requests_are_recorded_with_short_base64_and_reset(emulator: Emulator) -> None:
    body = generate(emulator, key="processing?polls=0")
    requests.post(body["fetch_result"], json={"key": "k"}, timeout=5)
    recorded = emulator.requests
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", "/api/v6/base64_to_url"),
        ("POST", V6),
        ("POST", f"/api/v6/3d/fetch/{body['id']}"),
    ]
    assert recorded[0].json is not None and len(recorded[0].json["base64_string"]) < 120
    assert recorded[1].json == {"key": "processing?polls=0", "image": body["meta"]["image"]}
    recorded.clear()
    assert len(emulator.requests) == 3  # a copy
    emulator.reset()
    assert emulator.requests == []
    assert requests.get(body["future_links"][0], timeout=5).status_code == 404


def test_unknown_routes(emulator: Emulator) -> None:
    assert post(emulator, "/api/v6/unknown").status_code == 404
    assert requests.get(emulator.base_url + "/cdn/nothing.glb", timeout=5).status_code == 404


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--default-scenario",
            "processing",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        url = requests.post(
            base_url + "/api/v6/base64_to_url",
            timeout=5,
            json={"key": "any-key", "base64_string": data_url(subject_png())},
        ).json()["output"][0]
        body = requests.post(base_url + V6, json={"key": "any-key", "image": url}, timeout=5)
        assert body.json()["status"] == "processing"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_mesh_answer_makes_v3_return_a_glb(emulator):
    upload = requests.post(
        f"{emulator.base_url}/api/v6/base64_to_url",
        json={"key": "mesh_answer", "base64_string": data_url(subject_png())},
        timeout=10,
    ).json()
    answer = requests.post(
        f"{emulator.base_url}/api/v3/img_to_3d",
        json={"key": "mesh_answer", "image": upload["output"][0]},
        timeout=10,
    ).json()
    assert answer["status"] == "success"
    body = requests.get(answer["output"][0], timeout=10).content
    assert body[:4] == b"glTF"
