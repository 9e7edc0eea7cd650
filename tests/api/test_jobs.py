"""run_job and JobStore against the emulator: whole jobs, failures, resume, cancel, secrecy."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.client import Client
from api.endpoints import ENDPOINTS, build_payload
from api.imaging import encode_png, sniff_file_kind
from api.jobs import Job, JobState, JobStore, run_job
from api.settings import Settings
from emulator import Emulator

SECRET = "SECRET-MARKER-8d2e61b4c07a"
UPLOAD = "/api/v6/base64_to_url"
MAGIC = {"glb": b"glTF", "png": b"\x89PNG", "gif": b"GIF8"}


def subject_png() -> bytes:
    pixels = np.zeros((48, 64, 4), dtype=np.uint8)
    pixels[8:40, 16:48] = (40, 160, 220, 255)
    return encode_png(pixels)


def make_job(endpoint_id: str = "IMAGE_TO_3D", **values: object) -> Job:
    endpoint = ENDPOINTS[endpoint_id]
    if endpoint_id == "DEPTH2IMG":
        values.setdefault("prompt", "a blue box")
    return Job(endpoint=endpoint_id, params=build_payload(endpoint, values, ""), source_name="box")


class Runner:
    """Runs jobs against one emulator with one key, collecting the updates."""

    def __init__(self, emulator: Emulator, key: str, folder: Path, **settings: float) -> None:
        self.emulator = emulator
        self.store = JobStore(folder)
        self.client = Client(Settings(api_key=key, api_base=emulator.base_url, **settings))
        self.cancel = threading.Event()
        self.updates: list[Job] = []

    def run(self, job: Job, on_update: Callable[[Job], None] | None = None) -> Job:
        def record(update: Job) -> None:
            self.updates.append(update)
            if on_update is not None:
                on_update(update)

        return run_job(
            job, self.client, self.store, upload=subject_png(), on_update=record, cancel=self.cancel
        )

    def states(self) -> list[JobState]:
        seen: list[JobState] = []
        for update in self.updates:
            if not seen or seen[-1] != update.state:
                seen.append(update.state)
        return seen

    def count(self, fragment: str, method: str = "POST") -> int:
        return sum(
            request.method == method and fragment in request.path
            for request in self.emulator.requests
        )

    def submits(self) -> int:
        return sum(
            request.method == "POST"
            and "fetch" not in request.path
            and "base64" not in request.path
            for request in self.emulator.requests
        )

    def saved(self, job: Job) -> dict:
        return json.loads((self.store.folder_for(job) / "job.json").read_text())

    def cancel_when(self, state: JobState, delay: float) -> Callable[[Job], None]:
        """An on_update that cancels `delay` seconds after the job first reaches `state`."""
        armed: list[float] = []

        def watch(update: Job) -> None:
            if update.state == state and not armed:
                armed.append(time.monotonic())
                threading.Timer(delay, self.cancel.set).start()

        return watch


# --- whole jobs ---------------------------------------------------------------------------

EXPECTED_KIND = {
    "IMAGE_TO_3D": "glb",
    "ENTERPRISE_IMAGE_TO_3D": "obj",
    "IMG_TO_3D_V3": "gif",
    "MULTIVIEW": "png",
    "DEPTH2IMG": "png",
}


@pytest.mark.parametrize("key", ["instant", "processing?polls=1&eta=0.1"])
@pytest.mark.parametrize("endpoint_id", list(ENDPOINTS))
def test_every_endpoint_end_to_end(
    emulator: Emulator, tmp_path: Path, endpoint_id: str, key: str
) -> None:
    runner = Runner(emulator, key, tmp_path)
    job = runner.run(make_job(endpoint_id))
    assert job.state == JobState.DONE, job.error
    [file_name] = job.files
    path = Path(file_name)
    kind = EXPECTED_KIND[endpoint_id]
    assert path.parent == runner.store.folder_for(job)
    data = path.read_bytes()
    assert sniff_file_kind(data[:512], len(data)) == kind
    assert data.startswith(MAGIC.get(kind, b"")) and path.suffix == f".{kind}"
    if endpoint_id == "MULTIVIEW":
        assert Image.open(io.BytesIO(data)).size == (640, 960)

    record = runner.saved(job)
    assert record["state"] == "DONE"
    assert record["files"] == [str(path)]
    assert record["remote_id"].isdigit()
    assert record["image_url"].startswith(f"{emulator.base_url}/temp/")
    assert record["params"][ENDPOINTS[endpoint_id].image_field] == record["image_url"]
    assert "key" not in record["params"]
    assert record["may_have_charged"] is True
    assert record["error"] == ""
    assert record["finished_at"] >= record["created_at"]
    assert record["progress"] == 1.0
    assert record["outputs"] and record["meta"]["file_prefix"]
    assert runner.count(UPLOAD) == 1 and runner.submits() == 1
    expected = [JobState.UPLOADING, JobState.SUBMITTING]
    if key != "instant":
        expected.append(JobState.PROCESSING)
    assert runner.states() == [*expected, JobState.DOWNLOADING, JobState.DONE]


@pytest.mark.parametrize("output_format", ["obj", "ply", "stl"])
def test_v6_output_formats(emulator: Emulator, tmp_path: Path, output_format: str) -> None:
    job = Runner(emulator, "instant", tmp_path).run(make_job(output_format=output_format))
    assert job.state == JobState.DONE, job.error
    data = Path(job.files[0]).read_bytes()
    assert sniff_file_kind(data[:512], len(data)) == output_format


def test_polls_until_done(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "processing?polls=3&eta=0.1", tmp_path)
    job = runner.run(make_job())
    assert job.state == JobState.DONE
    assert runner.count("/fetch/") == 4
    assert runner.submits() == 1


def test_an_image_url_skips_the_upload(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "instant", tmp_path)
    image_url = runner.client.upload(subject_png(), "image/png")
    job = make_job("MULTIVIEW")
    job.image_url = image_url
    assert runner.run(job).state == JobState.DONE
    assert runner.count(UPLOAD) == 1  # the one above


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "words", "charged", "submits"),
    [
        ("invalid_key", "Edit > Preferences > Add-ons > ModelsLab 3D", False, 1),
        ("invalid_key?at=upload", "MODELSLAB_API_KEY", False, 0),
        ("invalid_key?at=fetch", "Invalid Api Key", True, 1),
        ("no_credits_200", "out of credits", False, 1),
        ("plan", "plan does not include", False, 1),
        ("failed", "Failed, Try Again", False, 1),
        ("failed_later?polls=1&eta=0.1", "Failed, Try Again", True, 1),
        ("field_errors", "prompt: The prompt field is required.", False, 1),
        ("html_504", "not sent again", True, 1),
        ("not_json", "dashboard", True, 1),
    ],
)
def test_failures_are_recorded(
    emulator: Emulator, tmp_path: Path, key: str, words: str, charged: bool, submits: int
) -> None:
    runner = Runner(emulator, key, tmp_path)
    job = runner.run(make_job())
    assert job.state == JobState.FAILED
    assert words in job.error
    assert job.may_have_charged is charged
    assert runner.submits() == submits
    record = runner.saved(job)
    assert (record["state"], record["error"], record["may_have_charged"]) == (
        "FAILED",
        job.error,
        charged,
    )
    assert runner.updates[-1].state == JobState.FAILED


@pytest.mark.parametrize(
    "key",
    [
        "output_string",
        "proxy_only",
        "proxy_only?code=503",
        "rate_limited?retry_after=0&times=2",
        "http_503?at=upload&times=1",
        "html_502?at=fetch&times=2&polls=0&eta=0",
        "download_drop?times=1",
        "download_truncated?times=1",
    ],
)
def test_recoverable_scenarios_finish(emulator: Emulator, tmp_path: Path, key: str) -> None:
    runner = Runner(emulator, key, tmp_path)
    job = runner.run(make_job())
    assert job.state == JobState.DONE, job.error
    assert Path(job.files[0]).read_bytes().startswith(b"glTF")


def test_an_uncertain_submit_is_never_sent_again(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "slow?seconds=2", tmp_path, read_timeout=0.3)
    job = runner.run(make_job())
    assert job.state == JobState.FAILED and job.may_have_charged
    again = runner.run(runner.store.load(job.id))
    assert again.state == JobState.FAILED
    assert "not sent again" in again.error and "dashboard" in again.error
    assert runner.submits() == 1


def test_a_failed_download_can_be_retried_later(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "download_drop?times=8", tmp_path)
    job = runner.run(make_job())
    assert job.state == JobState.FAILED
    assert "could not be downloaded" in job.error and job.may_have_charged
    assert job.outputs and job.files == []
    again = runner.run(runner.store.load(job.id))
    assert again.state == JobState.DONE, again.error
    assert runner.submits() == 1


# --- resume and cancel --------------------------------------------------------------------


def test_resume_after_restart_polls_without_resubmitting(
    emulator: Emulator, tmp_path: Path
) -> None:
    key = "processing?seconds=1.5&eta=30"
    first = Runner(emulator, key, tmp_path)
    job = first.run(make_job(), on_update=first.cancel_when(JobState.PROCESSING, 0.0))
    assert job.state == JobState.CANCELLED
    assert job.remote_id and job.fetch_url and job.may_have_charged

    restarted = Runner(emulator, key, tmp_path)  # a new store over the same folder
    [saved] = restarted.store.all()
    assert saved.state == JobState.CANCELLED and saved.remote_id == job.remote_id
    done = restarted.run(saved)
    assert done.state == JobState.DONE, done.error
    assert restarted.submits() == 1 and restarted.count(UPLOAD) == 1
    assert restarted.states()[0] == JobState.PROCESSING


def test_job_timeout(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "processing?seconds=30", tmp_path, job_timeout=0.6)
    job = runner.run(make_job())
    assert job.state == JobState.FAILED
    assert "has not finished the job after 1 s" in job.error
    assert "resume the job later" in job.error
    assert job.may_have_charged and job.remote_id


def test_done_jobs_return_at_once(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "instant", tmp_path)
    job = runner.run(make_job())
    requests_before = len(emulator.requests)
    assert runner.run(job).state == JobState.DONE
    assert len(emulator.requests) == requests_before


@pytest.mark.parametrize(
    ("key", "state", "delay"),
    [
        ("processing?seconds=30&eta=0.2", JobState.PROCESSING, 1.0),  # between polls
        ("slow?at=fetch&seconds=5", JobState.PROCESSING, 0.3),  # during a fetch
        ("slow?at=download&seconds=5&times=1", JobState.DOWNLOADING, 0.3),  # during a download
    ],
)
def test_cancel_stops_within_a_second(
    emulator: Emulator, tmp_path: Path, key: str, state: JobState, delay: float
) -> None:
    runner = Runner(emulator, key, tmp_path)
    result: list[Job] = []
    worker = threading.Thread(
        target=lambda: result.append(runner.run(make_job(), runner.cancel_when(state, delay)))
    )
    worker.start()
    assert runner.cancel.wait(10)
    cancelled_at = time.monotonic()
    worker.join(5)
    assert time.monotonic() - cancelled_at < 1.0
    [job] = result
    assert job.state == JobState.CANCELLED and job.error == "Cancelled."
    assert job.may_have_charged and job.remote_id
    assert runner.saved(job)["state"] == "CANCELLED"
    if state == JobState.DOWNLOADING:
        assert job.outputs  # kept, so the download can be resumed
        runner.cancel.clear()
        assert runner.run(runner.store.load(job.id)).state == JobState.DONE
        assert runner.submits() == 1


# --- the key stays secret -----------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    ["instant", "processing?polls=1&eta=0.1", "invalid_key", "failed_later?polls=0", "html_500"],
)
def test_the_key_never_leaks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, scenario: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with Emulator(default_scenario=scenario) as emulator:
        runner = Runner(emulator, SECRET, tmp_path)
        job = runner.run(make_job())
        assert any(
            request.json and request.json.get("key") == SECRET for request in emulator.requests
        )
    assert job.state in (JobState.DONE, JobState.FAILED)
    texts = [caplog.text, job.error, repr(job), repr(runner.client.settings)]
    texts += [json.dumps(update.to_dict()) for update in runner.updates]
    texts += [path.read_text() for path in tmp_path.rglob("*.json")]
    assert caplog.records
    for text in texts:
        assert SECRET not in text


# --- the store ----------------------------------------------------------------------------


def test_store_round_trip_and_listing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = JobStore(tmp_path)
    older, newer = make_job(), make_job("MULTIVIEW")
    older.created_at, newer.created_at = 100.0, 200.0
    older.meta = {"seed": 7}
    store.save(newer)
    store.save(older)
    assert store.load(older.id) == older
    broken = tmp_path / "0123456789ab"
    broken.mkdir()
    (broken / "job.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert [job.id for job in store.all()] == [older.id, newer.id]
    assert "unreadable job record" in caplog.text
    assert sorted(p.name for p in store.folder_for(older).iterdir()) == ["job.json"]


def test_records_from_other_versions_load(tmp_path: Path) -> None:
    data = make_job().to_dict()
    data["added_by_a_newer_version"] = 1
    del data["meta"]
    job = Job.from_dict(data)
    assert job.meta == {} and job.state == JobState.QUEUED


def test_job_ids_cannot_escape_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        JobStore(tmp_path).load("../elsewhere")


def test_updates_are_copies(emulator: Emulator, tmp_path: Path) -> None:
    runner = Runner(emulator, "instant", tmp_path)
    job = runner.run(make_job(), on_update=lambda update: update.files.append("changed"))
    assert "changed" not in job.files
    assert all(update is not job for update in runner.updates)


def test_an_unknown_endpoint_is_recorded_as_a_failure(emulator: Emulator, tmp_path: Path) -> None:
    job = make_job()
    job.endpoint = "NO_SUCH_ENDPOINT"
    runner = Runner(emulator, "instant", tmp_path)
    assert runner.run(job).state == JobState.FAILED
    assert "endpoint: 'NO_SUCH_ENDPOINT'" in job.error
    assert emulator.requests == []


def test_an_unwritable_store_fails_the_job_without_raising(
    emulator: Emulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    runner = Runner(emulator, "instant", blocker)
    job = runner.run(make_job())
    assert job.state == JobState.FAILED
    assert "Could not save the job record" in job.error
    assert runner.updates[-1].state == JobState.FAILED
    assert emulator.requests == []


def test_a_rate_limited_submit_tells_the_user_when_it_retries(emulator, tmp_path):
    updates: list[Job] = []
    settings = Settings(api_key="rate_limited?retry_after=1&times=1", api_base=emulator.base_url)
    job = Job(endpoint="ENTERPRISE_IMAGE_TO_3D", params={"init_image": ""})
    with Client(settings) as client:
        job = run_job(
            job,
            client,
            JobStore(tmp_path),
            upload=encode_png(np.full((8, 8, 4), 255, np.uint8)),
            on_update=updates.append,
            cancel=threading.Event(),
        )
    notes = [update.error for update in updates if update.error]
    assert any("Retrying in 1 s" in note and "rate" in note.lower() for note in notes), notes
    assert job.state == JobState.DONE and job.error == ""
