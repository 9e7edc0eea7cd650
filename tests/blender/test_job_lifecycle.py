"""The UI path, driven by the same pump the timer runs: progress, cancel, restart, file change."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import bpy
import pytest
from recording_layout import draw

PACKAGE = "bl_ext.user_default.modelslab_3d"


def _runtime():
    return importlib.import_module(PACKAGE + ".blender.runtime")


def _job(job_id):
    return _runtime().get().jobs[job_id]


def _pump_until(job_id, condition, timeout=30.0) -> list[str]:
    """Pump like the timer does until the condition holds; returns the states seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _runtime().pump()
        job = _job(job_id)
        if not seen or seen[-1] != job.state.value:
            seen.append(job.state.value)
        if condition(job):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting; states seen: {seen}, job: {_job(job_id)}")


def _invoke(endpoint="IMAGE_TO_3D") -> str:
    before = set(_runtime().get().jobs)
    assert bpy.ops.modelslab.generate(endpoint=endpoint, wait=False) == {"FINISHED"}
    (job_id,) = set(_runtime().get().jobs) - before
    assert _job(job_id).state.value == "QUEUED", "the UI path must return before the job runs"
    return job_id


def test_invoke_returns_at_once_and_the_pump_imports(ml, subject_image):
    ml.prefs.api_key = "processing?polls=2&eta=0.3"
    job_id = _invoke()
    assert "robot" not in bpy.data.objects
    seen = _pump_until(job_id, lambda job: job.imported_at is not None)
    assert "PROCESSING" in seen and seen[-1] == "DONE"
    model = bpy.data.objects["robot"]
    assert model["modelslab_job_id"] == job_id
    assert bpy.context.view_layer.objects.active == model


def test_cancel_stops_within_a_second_and_the_job_can_be_resumed(ml, subject_image):
    ml.prefs.api_key = "processing?seconds=3"
    job_id = _invoke()
    _pump_until(job_id, lambda job: job.state.value == "PROCESSING")
    bpy.ops.modelslab.cancel_job(job_id=job_id)
    cancelled_at = time.monotonic()
    _pump_until(job_id, lambda job: job.state.value == "CANCELLED", timeout=5)
    assert time.monotonic() - cancelled_at < 1.0
    assert not _runtime().get().is_running(job_id)
    job = _job(job_id)
    assert job.remote_id and "robot" not in bpy.data.objects

    assert bpy.ops.modelslab.resume_job(job_id=job_id) == {"FINISHED"}
    assert "robot" in bpy.data.objects
    submits = [r for r in ml.emulator.requests if r.path.endswith("/image_to_3d")]
    assert len(submits) == 1


def test_disable_mid_job_then_enable_resumes_polling(ml, subject_image):
    """What a restart of Blender does to a job: the record survives and polling resumes."""
    ml.prefs.api_key = "processing?seconds=2"
    job_id = _invoke()
    _pump_until(job_id, lambda job: job.state.value == "PROCESSING")
    bpy.ops.preferences.addon_disable(module=PACKAGE)
    assert (ml.folder / job_id / "job.json").exists()
    bpy.ops.preferences.addon_enable(module=PACKAGE)
    # Blender forgets an add-on's preferences when it is disabled; after a restart they come
    # back from the saved user preferences, as they are put back here.
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    prefs.api_base, prefs.api_key = ml.emulator.base_url, "processing?seconds=2"
    prefs.download_folder = str(ml.folder)
    assert _job(job_id).state.value == "PROCESSING"
    _pump_until(job_id, lambda job: job.state.value == "DONE")
    job = _job(job_id)
    assert job.imported_at is None, "a resumed job waits for the user to import it"
    assert "robot" not in bpy.data.objects
    assert bpy.ops.modelslab.import_job(job_id=job_id) == {"FINISHED"}
    assert bpy.data.objects["robot"]["modelslab_job_id"] == job_id
    submits = [r for r in ml.emulator.requests if r.path.endswith("/image_to_3d")]
    assert len(submits) == 1


def test_opening_another_file_mid_job_keeps_the_job_for_import(ml, subject_image):
    ml.prefs.api_key = "processing?seconds=1"
    job_id = _invoke()
    _pump_until(job_id, lambda job: job.state.value == "PROCESSING")
    bpy.ops.wm.read_homefile(use_empty=True)
    _pump_until(job_id, lambda job: job.state.value == "DONE")
    for _ in range(5):
        _runtime().pump()
    assert "robot" not in bpy.data.objects, "imported into a file it was not started from"
    assert bpy.ops.modelslab.import_job(job_id=job_id) == {"FINISHED"}
    assert "robot" in bpy.data.objects


def test_remove_deletes_the_record(ml, subject_image):
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    (job_id,) = _runtime().get().jobs
    assert (ml.folder / job_id / "job.json").exists()
    bpy.ops.modelslab.remove_job(job_id=job_id)
    assert job_id not in _runtime().get().jobs
    assert not (ml.folder / job_id).exists()
    assert "robot" in bpy.data.objects, "removing a job keeps the imported model"


def test_parallel_jobs_wait_for_a_free_slot(ml, subject_image):
    ml.prefs.parallel_jobs = 1
    ml.prefs.api_key = "processing?seconds=1"
    first, second = _invoke(), _invoke()
    _runtime().pump()
    assert _runtime().get().is_running(first) and _job(second).state.value == "QUEUED"
    _pump_until(second, lambda job: job.imported_at is not None, timeout=30)
    assert _job(first).imported_at is not None
    assert len([o for o in bpy.data.objects if o.name.startswith("robot")]) == 2


def test_online_access_off_pauses_jobs_until_it_is_back(ml, subject_image):
    ml.prefs.api_key = "processing?seconds=2"
    job_id = _invoke()
    _pump_until(job_id, lambda job: job.state.value == "PROCESSING")
    bpy.context.preferences.system.use_online_access = False
    _pump_until(job_id, lambda job: _runtime().get().is_waiting(job_id), timeout=5)
    assert _job(job_id).state.value == "PROCESSING", "a paused job is not given up"
    sent = len(ml.emulator.requests)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        _runtime().pump()
        time.sleep(0.02)
    assert len(ml.emulator.requests) == sent, "no network while online access is off"
    sidebar = importlib.import_module(PACKAGE + ".panels.sidebar")
    waiting = " ".join(draw(sidebar.MODELSLAB_PT_jobs, bpy.context).texts())
    assert "Waiting: Online access is off" in waiting

    bpy.context.preferences.system.use_online_access = True
    _pump_until(job_id, lambda job: job.imported_at is not None)
    assert "robot" in bpy.data.objects
    submits = [r for r in ml.emulator.requests if r.path.endswith("/image_to_3d")]
    assert len(submits) == 1


def test_scripted_resume_offline_fails_at_once_instead_of_hanging(ml, subject_image):
    ml.prefs.api_key = "processing?seconds=3"
    job_id = _invoke()
    _pump_until(job_id, lambda job: job.state.value == "PROCESSING")
    bpy.ops.modelslab.cancel_job(job_id=job_id)
    _pump_until(job_id, lambda job: job.state.value == "CANCELLED", timeout=5)
    bpy.context.preferences.system.use_online_access = False
    with pytest.raises(RuntimeError, match=r"Online access is off.*kept"):
        bpy.ops.modelslab.resume_job(job_id=job_id)
    bpy.context.preferences.system.use_online_access = True
    _pump_until(job_id, lambda job: job.imported_at is not None)


def test_restart_resumes_a_paid_job_known_only_by_its_outputs(ml, subject_image):
    """The enterprise answer may carry "id": null: its output URLs are what was paid for."""
    bpy.ops.modelslab.generate(endpoint="ENTERPRISE_IMAGE_TO_3D")
    (job,) = _runtime().get().jobs.values()
    for path in job.files:
        Path(path).unlink()
    job_state = importlib.import_module(PACKAGE + ".api.jobs").JobState
    interrupted = job.copy()
    interrupted.state, interrupted.remote_id, interrupted.fetch_url = job_state.DOWNLOADING, "", ""
    interrupted.files, interrupted.imported_at = [], None
    _runtime().get().store.save(interrupted)
    _runtime().reload_jobs()  # what the next start of Blender does
    _pump_until(job.id, lambda j: j.state.value == "DONE" and not _runtime().get().is_running(j.id))
    assert _job(job.id).files and Path(_job(job.id).files[0]).is_file()


def test_remove_keeps_the_views_in_the_file(ml, subject_image):
    bpy.ops.modelslab.generate(endpoint="MULTIVIEW")
    (job_id,) = _runtime().get().jobs
    bpy.ops.modelslab.remove_job(job_id=job_id)
    assert not (ml.folder / job_id).exists()
    view = bpy.data.images["robot_view_1"]
    assert view.packed_file is not None
    assert tuple(view.size) == (320, 320) and view.has_data
