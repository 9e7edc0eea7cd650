"""The sidebar's draw() in each state a user meets, against a recording layout."""

from __future__ import annotations

import importlib
import time

import bpy
import pytest
from recording_layout import draw
from subjects import make_subject_image

PACKAGE = "bl_ext.user_default.modelslab_3d"


@pytest.fixture
def sidebar(ml):
    return importlib.import_module(PACKAGE + ".panels.sidebar")


def _generate_button(layout):
    return layout.operators()["modelslab.generate"]


def _pump_until(ml, job_id, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ml.runtime.pump()
        if condition(ml.runtime.get().jobs[job_id]):
            return ml.runtime.get().jobs[job_id]
        time.sleep(0.02)
    raise AssertionError(f"job never reached the expected state: {ml.runtime.get().jobs[job_id]}")


def test_ready_shows_the_image_that_will_be_sent(ml, sidebar, subject_image):
    layout = draw(sidebar.MODELSLAB_PT_main, bpy.context)
    assert _generate_button(layout).enabled
    assert _generate_button(layout).properties.endpoint == "IMAGE_TO_3D"
    assert "robot" in layout.texts()
    assert "chosen in the panel" in layout.texts()
    assert "32 x 64 px" in layout.texts()
    assert [i for i in layout.walk() if i.kind == "icon"], "no thumbnail"


def test_image_found_on_the_active_material(ml, sidebar):
    image = make_subject_image("from_material")
    bpy.ops.mesh.primitive_plane_add()
    material = bpy.data.materials.new("Textured")
    material.use_nodes = True
    node = material.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = image
    bpy.context.active_object.data.materials.append(material)
    layout = draw(sidebar.MODELSLAB_PT_main, bpy.context)
    assert "from_material" in layout.texts()
    assert any("material 'Textured'" in text for text in layout.texts())


def test_no_key_greys_out_generate_and_says_where_to_set_it(
    ml, sidebar, subject_image, monkeypatch
):
    monkeypatch.delenv("MODELSLAB_API_KEY", raising=False)
    ml.prefs.api_key = ""
    layout = draw(sidebar.MODELSLAB_PT_main, bpy.context)
    assert not _generate_button(layout).enabled
    message = " ".join(layout.texts())
    assert "No ModelsLab API key" in message
    assert "Preferences" in message


def test_offline_greys_out_generate(ml, sidebar, subject_image):
    bpy.context.preferences.system.use_online_access = False
    layout = draw(sidebar.MODELSLAB_PT_main, bpy.context)
    assert not _generate_button(layout).enabled
    assert "Allow Online Access" in " ".join(layout.texts())


def test_no_image_greys_out_generate(ml, sidebar):
    layout = draw(sidebar.MODELSLAB_PT_main, bpy.context)
    assert not _generate_button(layout).enabled
    assert "Choose an image to send" in layout.texts()


def test_depth_to_image_without_a_prompt_greys_out_generate(ml, sidebar, subject_image):
    ml.scene.modelslab.endpoint = "DEPTH2IMG"
    layout = draw(sidebar.MODELSLAB_PT_main, bpy.context)
    assert not _generate_button(layout).enabled
    assert "needs a prompt" in " ".join(layout.texts())
    ml.scene.modelslab.depth2img.prompt = "a bronze statue"
    assert _generate_button(draw(sidebar.MODELSLAB_PT_main, bpy.context)).enabled


def test_advanced_parameters_are_folded_away(ml, sidebar):
    main = draw(sidebar.MODELSLAB_PT_main, bpy.context).texts("prop")
    advanced = draw(sidebar.MODELSLAB_PT_advanced, bpy.context).texts("prop")
    assert "output_format" in main
    assert "chunk_size" in advanced and "chunk_size" not in main


def test_running_job_shows_progress_and_cancel(ml, sidebar, subject_image):
    ml.prefs.api_key = "processing?seconds=30"
    bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D", wait=False)
    (job_id,) = ml.runtime.get().jobs
    _pump_until(ml, job_id, lambda job: job.state.value == "PROCESSING")
    layout = draw(sidebar.MODELSLAB_PT_jobs, bpy.context)
    bars = [item for item in layout.walk() if item.kind == "progress"]
    assert len(bars) == 1 and bars[0].text.startswith("Generating")
    assert "ETA" in bars[0].text
    assert 0.0 < bars[0].args["factor"] < 1.0
    assert layout.operators()["modelslab.cancel_job"].properties.job_id == job_id


def test_failed_job_shows_its_whole_error(ml, sidebar, subject_image):
    ml.prefs.api_key = "no_credits"
    with pytest.raises(RuntimeError):
        bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    (job,) = ml.runtime.get().jobs.values()
    layout = draw(sidebar.MODELSLAB_PT_jobs, bpy.context)
    alert_lines = [item.text for item in layout.walk() if item.kind == "label" and item.alert]
    assert " ".join(alert_lines) == " ".join(job.error.split())
    assert "credits" in job.error.lower()
    assert "modelslab.remove_job" in layout.operators()
    assert "modelslab.import_job" not in layout.operators()


def test_done_job_offers_import_again(ml, sidebar, subject_image):
    bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D")
    layout = draw(sidebar.MODELSLAB_PT_jobs, bpy.context)
    assert layout.operators()["modelslab.import_job"].text == "Import Again"
    assert [item.args["factor"] for item in layout.walk() if item.kind == "progress"] == [1.0]
