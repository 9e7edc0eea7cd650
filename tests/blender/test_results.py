"""Image results where an artist uses them: multiview views and rig, multiview to 3D,
depth to image from an image or the camera, projection onto a blockout, the v3 turntable."""

from __future__ import annotations

import io
import json
import math

import bpy
import numpy as np
import pytest
import requests
from mathutils import Vector
from PIL import Image

PALETTE = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1)]


def _only_job(ml):
    (job,) = ml.runtime.get().jobs.values()
    return job


def _top_left_colour(image) -> tuple[float, ...]:
    width, height = image.size
    pixels = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(pixels)
    top_row = pixels.reshape(height, width, 4)[height - 3]  # Blender rows start at the bottom
    return tuple(round(float(c)) for c in top_row[2][:3])


def _angles_towards(empty, centre) -> tuple[float, float]:
    """Azimuth and elevation of the camera an empty stands opposite to."""
    to_camera = (centre - empty.location).normalized()
    azimuth = math.degrees(math.atan2(to_camera.x, -to_camera.y)) % 360
    elevation = math.degrees(math.asin(to_camera.z))
    return azimuth, elevation


def test_multiview_splits_six_views_and_builds_the_rig(ml, subject_image):
    ml.scene.cursor.location = (0.5, -1.0, 2.0)
    assert bpy.ops.modelslab.generate(endpoint="MULTIVIEW") == {"FINISHED"}
    views = [bpy.data.images[f"robot_view_{k}"] for k in range(1, 7)]
    assert [tuple(view.size) for view in views] == [(320, 320)] * 6
    assert [_top_left_colour(view) for view in views] == PALETTE, "views out of order"
    for view in views:
        assert view.filepath and bpy.path.abspath(view.filepath).endswith(".png")

    rig = bpy.data.collections["robot views"]
    assert rig.name in bpy.data.collections["ModelsLab"].children
    empties = sorted(rig.objects, key=lambda o: o.name)
    assert len(empties) == 6
    centre = ml.scene.cursor.location
    expected = zip((30, 90, 150, 210, 270, 330), (20, -10, 20, -10, 20, -10), strict=True)
    for empty, view, (azimuth, elevation) in zip(empties, views, expected, strict=True):
        assert empty.empty_display_type == "IMAGE" and empty.data == view
        assert (empty.location - centre).length == pytest.approx(1.5)
        got_azimuth, got_elevation = _angles_towards(empty, centre)
        assert got_azimuth == pytest.approx(azimuth, abs=1e-3)
        assert got_elevation == pytest.approx(elevation, abs=1e-3)
        facing = empty.matrix_world.to_3x3() @ Vector((0, 0, 1))
        assert facing.dot((centre - empty.location).normalized()) == pytest.approx(1.0)
        upright = empty.matrix_world.to_3x3() @ Vector((0, 1, 0))
        assert upright.z > 0, "reference image upside down"


def test_cell_size_follows_the_requested_size_and_angles_are_a_setting(ml, subject_image):
    ml.scene.modelslab.multiview.width = 512
    ml.scene.modelslab.multiview.height = 768
    ml.scene.modelslab.rig_azimuths = (0, 60, 120, 180, 240, 300)
    ml.scene.modelslab.rig_elevations = (0, 0, 0, 0, 0, 0)
    bpy.ops.modelslab.generate(endpoint="MULTIVIEW")
    assert tuple(bpy.data.images["robot_view_1"].size) == (256, 256)
    empties = sorted(bpy.data.collections["robot views"].objects, key=lambda o: o.name)
    centre = ml.scene.cursor.location
    assert [round(_angles_towards(e, centre)[0]) % 360 for e in empties] == [
        0,
        60,
        120,
        180,
        240,
        300,
    ]


def test_multiview_to_3d_sends_one_transparent_multi_image(ml, subject_image):
    bpy.ops.modelslab.generate(endpoint="MULTIVIEW")
    views_job = _only_job(ml)
    assert bpy.ops.modelslab.multiview_to_3d(job_id=views_job.id) == {"FINISHED"}
    model = bpy.context.view_layer.objects.active
    assert model.type == "MESH" and model.name == "robot"
    mesh_job = ml.runtime.get().jobs[model["modelslab_job_id"]]
    assert mesh_job.endpoint == "IMAGE_TO_3D" and mesh_job.params["multi_image"] is True
    assert json.loads(model["modelslab_parameters"])["multi_image"] is True
    sent = Image.open(io.BytesIO(requests.get(mesh_job.image_url, timeout=10).content))
    assert sent.mode == "RGBA" and sent.size == (640, 960)
    alpha = np.asarray(sent)[..., 3]
    assert (alpha == 0).mean() > 0.3, "the grey background was not keyed out"
    assert (alpha == 255).mean() > 0.05, "the subject was keyed out too"


def test_depth_to_image_from_the_image(ml, subject_image):
    ml.scene.modelslab.depth2img.prompt = "a bronze statue"
    assert bpy.ops.modelslab.generate(endpoint="DEPTH2IMG") == {"FINISHED"}
    result = bpy.data.images["robot_depth2img"]
    assert tuple(result.size) == (32, 64)
    submitted = [r for r in ml.emulator.requests if r.path.endswith("/depth2img")]
    assert submitted[0].json["prompt"] == "a bronze statue"


def _blockout_scene(ml):
    bpy.ops.mesh.primitive_cube_add(location=(0, 0, 0))
    cube = bpy.context.active_object
    camera = bpy.data.objects.new("Shot", bpy.data.cameras.new("Shot"))
    ml.scene.collection.objects.link(camera)
    camera.location = (0, -6, 0)
    camera.rotation_euler = (math.radians(90), 0, 0)
    ml.scene.camera = camera
    ml.scene.render.resolution_x, ml.scene.render.resolution_y = 1920, 1080
    return cube


def test_depth_to_image_from_the_camera_keeps_render_settings(ml):
    _blockout_scene(ml)
    ml.scene.render.engine = "CYCLES"
    ml.scene.render.filepath = "//renders/shot_"
    ml.scene.modelslab.depth_source = "CAMERA"
    ml.scene.modelslab.depth2img.prompt = "mossy stone ruins"
    assert bpy.ops.modelslab.generate(endpoint="DEPTH2IMG") == {"FINISHED"}
    job = _only_job(ml)
    sent = Image.open(io.BytesIO(requests.get(job.image_url, timeout=10).content))
    assert sent.size == (1024, 576), "the camera view keeps its aspect, scaled to the cap"
    render = ml.scene.render
    assert (render.engine, render.filepath) == ("CYCLES", "//renders/shot_")
    assert (render.resolution_x, render.resolution_y) == (1920, 1080)


def test_depth_from_camera_without_a_camera_says_what_to_do(ml):
    ml.scene.modelslab.depth_source = "CAMERA"
    ml.scene.modelslab.depth2img.prompt = "anything"
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.modelslab.generate(endpoint="DEPTH2IMG")
    assert ml.emulator.requests == []


def test_project_puts_the_result_on_the_selected_mesh_from_the_camera(ml):
    cube = _blockout_scene(ml)
    ml.scene.modelslab.depth_source = "CAMERA"
    ml.scene.modelslab.depth2img.prompt = "weathered wood"
    bpy.ops.modelslab.generate(endpoint="DEPTH2IMG")
    job = _only_job(ml)
    bpy.ops.object.select_all(action="DESELECT")
    cube.select_set(True)
    assert bpy.ops.modelslab.project_result(job_id=job.id) == {"FINISHED"}

    uv_layer = cube.data.uv_layers["ModelsLab Projection"]
    uvs = np.array([tuple(d.uv) for d in uv_layer.data])
    # The camera looks straight at the cube: its projection is centred and inside the frame.
    assert (uvs[:, 0].min() + uvs[:, 0].max()) / 2 == pytest.approx(0.5, abs=1e-4)
    assert (uvs[:, 1].min() + uvs[:, 1].max()) / 2 == pytest.approx(0.5, abs=1e-4)
    assert uvs.min() > 0.0 and uvs.max() < 1.0
    assert uvs[:, 0].max() - uvs[:, 0].min() > 0.3, "the cube fills a good part of the frame"
    material = cube.data.materials[-1]
    textures = [n for n in material.node_tree.nodes if n.type == "TEX_IMAGE"]
    assert textures[0].image.get("modelslab_job_id") == job.id
    uv_nodes = [n for n in material.node_tree.nodes if n.type == "UVMAP"]
    assert uv_nodes[0].uv_map == "ModelsLab Projection"
    assert {p.material_index for p in cube.data.polygons} == {len(cube.data.materials) - 1}


def test_project_needs_a_selected_mesh(ml):
    _blockout_scene(ml)
    ml.scene.modelslab.depth_source = "CAMERA"
    ml.scene.modelslab.depth2img.prompt = "weathered wood"
    bpy.ops.modelslab.generate(endpoint="DEPTH2IMG")
    bpy.ops.object.select_all(action="DESELECT")
    with pytest.raises(RuntimeError, match="Select the meshes"):
        bpy.ops.modelslab.project_result(job_id=_only_job(ml).id)


def test_turntable_loads_as_a_movie_with_its_frames(ml, subject_image):
    ml.scene.modelslab.img_to_3d.seconds = 3
    ml.scene.modelslab.img_to_3d.frame_size = 96
    assert bpy.ops.modelslab.generate(endpoint="IMG_TO_3D_V3") == {"FINISHED"}
    movie = bpy.data.images["robot_img_to_3d"]
    assert movie.source == "MOVIE"
    assert movie.frame_duration == 12
    assert tuple(movie.size) == (96, 96)


def test_turntable_answer_carrying_a_mesh_is_imported(ml, subject_image):
    ml.prefs.api_key = "mesh_answer"
    assert bpy.ops.modelslab.generate(endpoint="IMG_TO_3D_V3") == {"FINISHED"}
    model = bpy.context.view_layer.objects.active
    assert model.type == "MESH" and model.name == "robot"
    assert model.dimensions.z > model.dimensions.x, "the mesh stands upright"
    assert [c.name for c in model.users_collection] == ["ModelsLab"]
