"""The scripted (blocking) path: `bpy.ops.modelslab.generate` runs the job and imports."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path

import bpy
import numpy as np
import pytest
import requests
from mathutils import Vector
from PIL import Image
from subjects import make_subject_image

CURSOR = Vector((1.0, 2.0, 3.0))


def _scene_snapshot() -> dict:
    """Everything a failed generation must leave exactly as it was."""
    return {
        "objects": sorted((o.name, tuple(o.location), o.select_get()) for o in bpy.data.objects),
        "meshes": sorted(m.name for m in bpy.data.meshes),
        "materials": sorted(m.name for m in bpy.data.materials),
        "images": sorted(i.name for i in bpy.data.images),
        "collections": sorted(c.name for c in bpy.data.collections),
        "active": getattr(bpy.context.view_layer.objects.active, "name", None),
    }


def _bystander():
    """An object the user had selected before generating; the import must not disturb it."""
    bpy.ops.mesh.primitive_cube_add(location=(-5.0, 0.0, 0.0))
    cube = bpy.context.active_object
    cube.select_set(True)
    return cube


def _world_bounds(obj):
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    low = Vector([min(c[i] for c in corners) for i in range(3)])
    high = Vector([max(c[i] for c in corners) for i in range(3)])
    return low, high


def _colour_at_height(obj, top: bool) -> np.ndarray:
    """Mean vertex colour of the top (or bottom) fifth of the model."""
    mesh = obj.data
    attribute = mesh.color_attributes[0]
    z = np.array([(obj.matrix_world @ v.co).z for v in mesh.vertices])
    low, high = z.min(), z.max()
    band = z > high - (high - low) / 5 if top else z < low + (high - low) / 5
    if attribute.domain == "POINT":
        colours = np.array([tuple(d.color) for d in attribute.data])
        return colours[band].mean(axis=0)
    per_corner = np.array([tuple(d.color) for d in attribute.data])
    corner_vertex = np.array([loop.vertex_index for loop in mesh.loops])
    return per_corner[band[corner_vertex]].mean(axis=0)


@pytest.mark.parametrize(
    ("endpoint", "output_format"),
    [
        ("IMAGE_TO_3D", "glb"),
        ("IMAGE_TO_3D", "obj"),
        ("IMAGE_TO_3D", "ply"),
        ("IMAGE_TO_3D", "stl"),
        ("ENTERPRISE_IMAGE_TO_3D", None),
    ],
)
def test_model_lands_upright_on_the_cursor(ml, subject_image, endpoint, output_format):
    if output_format:
        ml.scene.modelslab.image_to_3d.output_format = output_format
    ml.scene.cursor.location = CURSOR
    cube = _bystander()

    assert bpy.ops.modelslab.generate(endpoint=endpoint) == {"FINISHED"}

    model = bpy.context.view_layer.objects.active
    assert model.name == "robot"
    assert model.type == "MESH"
    assert [c.name for c in model.users_collection] == ["ModelsLab"]
    assert model.select_get()
    assert cube.select_get() and tuple(cube.location) == (-5.0, 0.0, 0.0)

    low, high = _world_bounds(model)
    assert low.z == pytest.approx(CURSOR.z, abs=1e-4)
    assert (low.x + high.x) / 2 == pytest.approx(CURSOR.x, abs=1e-4)
    assert (low.y + high.y) / 2 == pytest.approx(CURSOR.y, abs=1e-4)
    size = high - low
    assert size.z > 1.5 * size.x, f"the tall subject is not standing up: {tuple(size)}"
    assert size.z > 1.5 * size.y, f"the subject lies on its back: {tuple(size)}"

    if output_format in ("obj", "ply", None):
        top, bottom = _colour_at_height(model, True), _colour_at_height(model, False)
        assert top[0] > top[2] and bottom[2] > bottom[0], "upside down: red must be on top"
        material = model.data.materials[0]
        nodes = {node.type for node in material.node_tree.nodes}
        assert "VERTEX_COLOR" in nodes, "vertex colours would not render"
    if output_format == "glb":
        textures = [
            node.image
            for slot in model.material_slots
            for node in slot.material.node_tree.nodes
            if node.type == "TEX_IMAGE"
        ]
        assert textures and textures[0] is not None

    job_id = model["modelslab_job_id"]
    assert model["modelslab_endpoint"] == endpoint
    assert model["modelslab_source_image"] == "robot"
    assert isinstance(model["modelslab_seed"], int) and model["modelslab_seed"] > 0
    parameters = json.loads(model["modelslab_parameters"])
    assert "key" not in parameters
    if output_format:
        assert parameters["output_format"] == output_format
    job = ml.runtime.get().jobs[job_id]
    assert job.state.value == "DONE" and job.imported_at is not None


def test_one_undo_step_removes_the_whole_import(ml, subject_image):
    cube_name = _bystander().name
    bpy.ops.ed.undo_push(message="before generating")
    before = {o.name for o in bpy.data.objects}
    bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    assert "robot" in bpy.data.objects
    bpy.ops.ed.undo()
    assert {o.name for o in bpy.data.objects} == before
    assert cube_name in bpy.data.objects


def test_import_in_edit_mode_switches_to_object_mode(ml, subject_image):
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.object.mode_set(mode="EDIT")
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    assert bpy.context.mode == "OBJECT"
    assert bpy.context.view_layer.objects.active.name == "robot"


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("invalid_key", "API key"),
        ("invalid_key_200", "API key"),
        ("no_credits", "credits"),
        ("plan", "plan"),
        ("rate_limited_200", "rate"),
        ("failed", "failed"),
        ("failed_later", "failed"),
        ("messege_error", "please try again later"),
        ("error_field", "Something went wrong"),
        ("html_500", "ModelsLab"),
        ("html_502", "ModelsLab"),
        ("html_504", "ModelsLab"),
        ("http_503", "ModelsLab"),
        ("rate_limited?retry_after=1", "rate"),
        ("field_errors", "prompt"),
        ("html_502?at=fetch", "ModelsLab"),
        ("not_json", "dashboard"),
        ("invalid_key?at=upload", "API key"),
        ("download_truncated", "download"),
    ],
)
def test_failures_leave_the_scene_unchanged_with_a_clear_message(ml, subject_image, key, words):
    ml.prefs.api_key = key
    _bystander()
    before = _scene_snapshot()
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    message = str(raised.value)
    assert words.lower() in message.lower()
    assert "Traceback" not in message
    assert _scene_snapshot() == before
    (job,) = ml.runtime.get().jobs.values()
    assert job.state.value == "FAILED" and job.error in message


def test_a_submit_that_times_out_is_not_sent_twice(ml, subject_image):
    ml.prefs.read_timeout = 5.0
    ml.prefs.api_key = "slow?seconds=7"
    with pytest.raises(RuntimeError, match=r"(?i)dashboard"):
        bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    (job,) = ml.runtime.get().jobs.values()
    assert job.may_have_charged
    submits = [r for r in ml.emulator.requests if r.path.endswith("/image_to_3d")]
    assert len(submits) == 1


@pytest.mark.parametrize("key", ["output_string", "proxy_only", "processing?polls=1&eta=0.2"])
def test_every_answer_shape_imports(ml, subject_image, key):
    ml.prefs.api_key = key
    assert bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D") == {"FINISHED"}
    assert bpy.context.view_layer.objects.active.name == "robot"


def test_paid_job_whose_download_failed_can_be_downloaded_later(ml, subject_image):
    # Every attempt of the first run drops (each round tries the output and its proxy link);
    # the retry later finds the file whole.
    rounds = importlib.import_module(ml.package.__name__ + ".api.client").DOWNLOAD_ROUNDS
    ml.prefs.api_key = f"download_drop?times={rounds * 2}"
    before = _scene_snapshot()
    with pytest.raises(RuntimeError, match=r"(?i)download"):
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    assert _scene_snapshot() == before
    (job,) = ml.runtime.get().jobs.values()
    assert job.remote_id and job.outputs
    assert job.may_have_charged
    assert bpy.ops.modelslab.resume_job(job_id=job.id) == {"FINISHED"}
    assert bpy.context.view_layer.objects.active.name == "robot"
    submits = [r for r in ml.emulator.requests if r.path.endswith("/image_to_3d")]
    assert len(submits) == 1, "a paid job must never be submitted twice"


def test_validation_error_names_the_field_and_sends_nothing(ml, subject_image):
    ml.scene.modelslab.depth2img.prompt = ""
    with pytest.raises(RuntimeError, match="prompt"):
        bpy.ops.modelslab.generate(endpoint="DEPTH2IMG")
    assert ml.emulator.requests == []
    assert ml.runtime.get().jobs == {}


def test_no_key_and_offline_are_refused_before_sending(ml, subject_image, monkeypatch):
    monkeypatch.delenv("MODELSLAB_API_KEY", raising=False)
    ml.prefs.api_key = ""
    with pytest.raises(RuntimeError, match=r"No ModelsLab API key.*Preferences"):
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    ml.prefs.api_key = "instant"
    bpy.context.preferences.system.use_online_access = False
    with pytest.raises(RuntimeError, match="Allow Online Access"):
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    assert ml.emulator.requests == []


def test_environment_key_is_used_when_the_field_is_empty(ml, subject_image, monkeypatch):
    monkeypatch.setenv("MODELSLAB_API_KEY", "instant")
    ml.prefs.api_key = ""
    assert bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D") == {"FINISHED"}


def test_no_image_is_a_clear_error(ml):
    with pytest.raises(RuntimeError, match="No image to send"):
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")


def test_image_path_overrides_and_missing_file_is_named(ml, tmp_path):
    path = tmp_path / "lamp.png"
    make_subject_image("lamp_source").save_render(str(path))
    images_before = len(bpy.data.images)
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D", image_path=str(path))
    assert bpy.context.view_layer.objects.active.name == "lamp"
    assert len(bpy.data.images) == images_before, "loading image_path must not add an image"
    missing = tmp_path / "nowhere.png"
    with pytest.raises(RuntimeError, match=r"nowhere\.png"):
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D", image_path=str(missing))


def _uploaded(ml, job) -> Image.Image:
    return Image.open(io.BytesIO(requests.get(job.image_url, timeout=10).content))


def test_float_image_is_sent_as_8bit_srgb_png_with_alpha(ml):
    image = bpy.data.images.new("hdr_subject", 16, 16, alpha=True, float_buffer=True)
    pixels = np.zeros((16, 16, 4), dtype=np.float32)
    pixels[4:12, 4:12] = (0.2140, 0.2140, 0.2140, 1.0)  # linear 0.214 is sRGB 0.5
    image.pixels.foreach_set(pixels.ravel())
    ml.scene.modelslab.image = image
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    (job,) = ml.runtime.get().jobs.values()
    sent = _uploaded(ml, job)
    assert sent.format == "PNG" and sent.mode == "RGBA" and sent.size == (16, 16)
    assert sent.getpixel((8, 8)) == pytest.approx((128, 128, 128, 255), abs=2)
    assert sent.getpixel((0, 0))[3] == 0


def test_16_bit_png_is_sent_as_8_bit(ml, tmp_path):
    source = make_subject_image("deep_colour", 16, 32)
    settings = ml.scene.render.image_settings
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGBA", "16"
    ml.scene.view_settings.view_transform = "Standard"  # write the colours as they are
    path = tmp_path / "deep_colour.png"
    source.save_render(str(path), scene=ml.scene)
    assert path.read_bytes()[24] == 16, "the source file is a 16-bit PNG"  # IHDR bit depth
    deep = bpy.data.images.load(str(path))
    assert deep.is_float, "Blender loads 16-bit PNGs as float"
    ml.scene.modelslab.image = deep
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    (job,) = ml.runtime.get().jobs.values()
    raw = requests.get(job.image_url, timeout=10).content
    assert raw[24] == 8, "the upload must be an 8-bit PNG"
    sent = Image.open(io.BytesIO(raw))
    assert sent.mode == "RGBA" and sent.size == (16, 32)
    assert sent.getpixel((8, 4))[:3] == pytest.approx((255, 0, 0), abs=2), "red top half"


def test_large_texture_is_downscaled_before_upload(ml):
    ml.prefs.max_upload_side = 256
    image = make_subject_image("big_texture", 300, 600)
    ml.scene.modelslab.image = image
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    (job,) = ml.runtime.get().jobs.values()
    assert _uploaded(ml, job).size == (128, 256)


def test_key_is_never_saved_in_the_blend_file(ml, subject_image, tmp_path):
    marker = "K3Y-MARKER-93172"  # not a scenario name: an ordinary account
    ml.prefs.api_key = marker
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=False)
    assert b"K3Y-MARKER-93172" not in blend.read_bytes()
    for record in Path(ml.folder).rglob("*.json"):
        assert "K3Y-MARKER-93172" not in record.read_text()
