"""Jobs: a saved record per generation, and the worker loop that drives one to its files.

Every state change is written to `<folder>/<job id>/job.json` before anyone is told, so after a
crash or a restart a job with a remote id goes back to polling and a finished job whose download
failed can be fetched again: credits already spent are never lost.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .client import Answer, Client, mirror_groups
from .endpoints import ENDPOINTS, Endpoint
from .errors import (
    DASHBOARD_HINT,
    Cancelled,
    ModelsLabError,
    ProtocolError,
    RequestTimeout,
    ValidationError,
)

log = logging.getLogger(__name__)

FIRST_POLL_MIN = 0.25  # seconds; the first poll waits the answer's eta, within these bounds
FIRST_POLL_MAX = 120.0
POLL_MIN_WAIT = 0.5  # seconds between polls at the least
POLL_LATENESS = 0.1  # ...and at most this share of the job's running time
UPDATE_INTERVAL = 0.1  # between saves, on_update reports progress at most this often
JOB_FILE = "job.json"


class JobState(StrEnum):
    QUEUED = "QUEUED"
    UPLOADING = "UPLOADING"
    SUBMITTING = "SUBMITTING"
    PROCESSING = "PROCESSING"
    DOWNLOADING = "DOWNLOADING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(kw_only=True)
class Job:
    """One generation as saved on disk. `params` is the payload sent, never with the key.

    `progress` (0..1) is the progress of the current state; `imported_at` is set by Blender.
    """

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    endpoint: str
    params: dict[str, Any] = field(default_factory=dict)
    source_name: str = ""
    image_url: str = ""
    state: JobState = JobState.QUEUED
    remote_id: str = ""
    fetch_url: str = ""
    eta: float | None = None
    outputs: list[str] = field(default_factory=list)
    proxy_links: list[str] = field(default_factory=list)
    future_links: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    error: str = ""
    may_have_charged: bool = False
    progress: float = 0.0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    imported_at: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """A job from a saved record; unknown keys (from a newer version) are ignored."""
        known = {item.name for item in dataclasses.fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        values["state"] = JobState(values.get("state", JobState.QUEUED))
        return cls(**copy.deepcopy(values))

    def copy(self) -> Job:
        return copy.deepcopy(self)

    @property
    def submitted(self) -> bool:
        """ModelsLab knows this job: it can be polled or downloaded without a new request."""
        return bool(self.remote_id or self.fetch_url or self.outputs)


class JobStore:
    """Job records on disk, one folder per job holding job.json and the job's outputs."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def folder_for(self, job: Job) -> Path:
        return self.folder / _checked_id(job.id)

    def save(self, job: Job) -> None:
        """Write the record atomically, so a crash never leaves half a file."""
        folder = self.folder_for(job)
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".job-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(job.to_dict(), stream, indent=1)
            os.replace(temporary, folder / JOB_FILE)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, job_id: str) -> Job:
        path = self.folder / _checked_id(job_id) / JOB_FILE
        return Job.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def all(self) -> list[Job]:
        """Every readable job, oldest first; unreadable records are skipped with a warning."""
        jobs = []
        for path in sorted(self.folder.glob(f"*/{JOB_FILE}")):
            try:
                jobs.append(self.load(path.parent.name))
            except (OSError, ValueError, TypeError) as error:
                log.warning("skipping unreadable job record %s: %s", path, error)
        return sorted(jobs, key=lambda job: job.created_at)


def run_job(
    job: Job,
    client: Client,
    store: JobStore,
    *,
    upload: bytes | None = None,
    upload_mime: str = "image/png",
    on_update: Callable[[Job], None] = lambda job: None,
    cancel: threading.Event,
) -> Job:
    """Drive a job through upload, submit, polling and download; return it in a final state.

    Resumable: a job ModelsLab already knows goes straight to polling, one with outputs to
    downloading, and a DONE job is returned at once. Failures are recorded, not raised.
    Call it from a worker thread; `on_update` receives copies and must be thread-safe.
    """
    if job.state == JobState.DONE:
        return job
    runner = _Runner(job, client, store, on_update, cancel)
    try:
        runner.run(upload, upload_mime)
    except Cancelled:
        runner.finish(JobState.CANCELLED, "Cancelled.")
    except ModelsLabError as error:
        job.may_have_charged = job.may_have_charged or error.may_have_charged
        runner.finish(JobState.FAILED, error.message)
    except Exception:
        log.exception("job %s failed unexpectedly", job.id)
        runner.finish(
            JobState.FAILED,
            "Something unexpected went wrong in the add-on; the system console has details.",
        )
    return job


class _Runner:
    """The steps of run_job, sharing the job, its saving and its reporting."""

    def __init__(
        self,
        job: Job,
        client: Client,
        store: JobStore,
        on_update: Callable[[Job], None],
        cancel: threading.Event,
    ) -> None:
        self.job = job
        self.client = client
        self.store = store
        self.on_update = on_update
        self.cancel = cancel
        self.last_update = 0.0

    @property
    def endpoint(self) -> Endpoint:
        return ENDPOINTS[self.job.endpoint]

    def run(self, upload: bytes | None, upload_mime: str) -> None:
        job = self.job
        job.error = ""
        if job.endpoint not in ENDPOINTS:
            raise ValidationError("endpoint", job.endpoint, "one of " + ", ".join(ENDPOINTS))
        first_wait = 0.0  # a resumed job is polled at once: it may be finished already
        if not job.submitted:
            if job.may_have_charged:
                raise ModelsLabError(
                    "An earlier attempt to send this job may have reached ModelsLab, so it is "
                    f"not sent again. {DASHBOARD_HINT}, then start a new generation if needed.",
                    may_have_charged=True,
                )
            if not job.image_url:
                self.upload(upload, upload_mime)
            self.submit()
            first_wait = min(max(job.eta or 0.0, FIRST_POLL_MIN), FIRST_POLL_MAX)
        if not job.outputs:
            self.poll(first_wait)
        self.download()
        self.finish(JobState.DONE, "")

    def upload(self, data: bytes | None, mime: str) -> None:
        if data is None:
            raise ValidationError("image", None, "an image", "No image was given to upload.")
        self.change(JobState.UPLOADING)
        self.job.image_url = self.client.upload(
            data, mime, cancel=self.cancel, on_retry=self.note_retry
        )
        self.job.error = ""  # the upload went through: any retry note is over
        self.job.params[self.endpoint.image_field] = self.job.image_url

    def submit(self) -> None:
        job = self.job
        self.check_cancel()
        job.may_have_charged = True  # from here on the request may reach ModelsLab
        self.change(JobState.SUBMITTING)
        payload = {**job.params, self.endpoint.image_field: job.image_url}
        try:
            answer = self.client.submit(
                self.endpoint, payload, cancel=self.cancel, on_retry=self.note_retry
            )
        except ModelsLabError as error:
            job.may_have_charged = error.may_have_charged
            raise
        self.take(answer)
        if answer.status == "processing" and not job.fetch_url:
            if not job.remote_id:
                raise ProtocolError("ModelsLab accepted the job without an id to follow it")
            job.fetch_url = self.endpoint.fetch_url_template.format(id=job.remote_id)
        self.save()

    def poll(self, first_wait: float) -> None:
        """Fetch the job's state until it succeeds: first at its eta, then in proportion."""
        job = self.job
        settings = self.client.settings
        self.change(JobState.PROCESSING)
        started = time.monotonic()
        wait = min(first_wait, settings.job_timeout)
        while True:
            if self.cancel.wait(wait):
                raise Cancelled(may_have_charged=True)
            answer = self.client.fetch(job.fetch_url, cancel=self.cancel, on_retry=self.note_retry)
            self.take(answer)
            if job.outputs:
                self.save()
                return
            elapsed = time.monotonic() - started
            remaining = settings.job_timeout - elapsed
            if remaining <= 0:
                raise RequestTimeout(
                    f"ModelsLab has not finished the job after {_duration(elapsed)}. "
                    "It may still finish: resume the job later to check again.",
                    may_have_charged=True,
                )
            if job.eta:
                job.progress = min(0.95, elapsed / job.eta)
            self.report()
            # Past the eta, wait a tenth of the time the job has taken so far: a finished job
            # is seen at most ~10% late, and long jobs are not polled needlessly often.
            wait = min(
                max(POLL_MIN_WAIT, POLL_LATENESS * elapsed), settings.poll_ceiling, remaining
            )

    def download(self) -> None:
        job = self.job
        self.change(JobState.DOWNLOADING)
        groups = mirror_groups(job.outputs, job.proxy_links, job.future_links)
        kinds = self.endpoint.expected_kinds(job.params)
        folder = self.store.folder_for(job)
        files = []
        for index, urls in enumerate(groups):
            stem = self.endpoint.output if index == 0 else f"{self.endpoint.output}_{index + 1}"
            path = _existing(job.files, stem)
            if path is None:

                def progress(done: int, total: int | None, index: int = index) -> None:
                    share = min(done / total, 1.0) if total else 0.0
                    job.progress = (index + share) / len(groups)
                    self.report()

                path = self.client.download(
                    urls, folder, stem, kinds, on_progress=progress, cancel=self.cancel
                )
                job.files.append(str(path))
                self.save()  # a resumed job will not fetch this file again
            files.append(str(path))
        job.files = files

    def take(self, answer: Answer) -> None:
        """Copy what an answer says into the job, keeping what it leaves out.

        Outputs count only once ModelsLab says success; future links stand in when it lists none.
        """
        self.job.error = ""  # ModelsLab answered: any retry note is over
        job = self.job
        job.remote_id = answer.remote_id or job.remote_id
        job.fetch_url = answer.fetch_url or job.fetch_url
        job.eta = answer.eta if answer.eta is not None else job.eta
        job.proxy_links = answer.proxy_links or job.proxy_links
        job.future_links = answer.future_links or job.future_links
        job.meta = answer.meta or job.meta
        if answer.status == "success":
            job.outputs = answer.outputs or job.future_links
            if not job.outputs:
                raise ProtocolError("the finished job lists no files")

    def change(self, state: JobState) -> None:
        log.info("job %s: %s -> %s", self.job.id, self.job.state.value, state.value)
        self.job.state = state
        self.job.progress = 1.0 if state == JobState.DONE else 0.0
        self.save()

    def finish(self, state: JobState, error: str) -> None:
        self.job.error = error
        self.job.finished_at = time.time()
        try:
            self.change(state)
        except ModelsLabError as problem:  # the record cannot be written: still tell the UI
            log.error("job %s: %s", self.job.id, problem.message)
            self.on_update(self.job.copy())

    def save(self) -> None:
        self.job.updated_at = time.time()
        try:
            self.store.save(self.job)
        except OSError as error:
            raise ModelsLabError(
                f"Could not save the job record ({error.strerror or error}). Check that the "
                "add-on's jobs folder is writable and that the disk is not full.",
                may_have_charged=self.job.may_have_charged,
            ) from None
        self.last_update = time.monotonic()
        self.on_update(self.job.copy())

    def note_retry(self, message: str) -> None:
        """Show on the job's row why it is waiting (a rate limit, a server hiccup)."""
        self.job.error = message
        self.on_update(self.job.copy())

    def report(self) -> None:
        """Tell the interface about progress, at most every UPDATE_INTERVAL, without saving."""
        now = time.monotonic()
        if now - self.last_update >= UPDATE_INTERVAL:
            self.last_update = now
            self.on_update(self.job.copy())

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled(may_have_charged=self.job.may_have_charged)


def _existing(files: list[str], stem: str) -> Path | None:
    """A file of this output already downloaded by an earlier run, if it is still there."""
    for name in files:
        path = Path(name)
        if path.stem == stem and path.is_file():
            return path
    return None


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def _checked_id(job_id: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{6,32}", job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    return job_id
