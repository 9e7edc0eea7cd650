"""The job runtime: worker threads run jobs, the main thread pumps their updates.

Workers never touch bpy. Each one runs `api.jobs.run_job` and hands copies of the job to a
queue; `pump()` (run by a persistent `bpy.app.timers` timer in the UI, and in a loop by the
blocking path of the operators, since timers never fire under `blender -b` or the bpy module)
drains the queue, starts queued jobs, redraws the panel, and imports finished models.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
from bpy.app.handlers import persistent

from .. import preferences
from ..api.client import Client
from ..api.errors import ModelsLabError
from ..api.jobs import FINAL_STATES, Job, JobState, JobStore, run_job
from ..api.settings import Settings
from .source_image import UploadSource

log = logging.getLogger(__name__)

BUSY_INTERVAL = 0.25
IDLE_INTERVAL = 1.0
SHUTDOWN_WAIT = 2.0


@dataclass
class _Pending:
    """A job waiting for a free worker slot, with what its worker will need."""

    job_id: str
    source: UploadSource | None
    auto_import: bool


@dataclass
class _Worker:
    thread: threading.Thread
    source: UploadSource | None
    cancel: threading.Event = field(default_factory=threading.Event)
    suspended: bool = False  # stopped by us (offline, shutdown), not by the user: resume it


def readiness(context: bpy.types.Context | None = None) -> str | None:
    """Why a job cannot be sent right now, or None when it can."""
    if not bpy.app.online_access:
        if bpy.app.online_access_override:
            return (
                "Online access was turned off on the command line (--offline-mode): "
                "restart Blender without it"
            )
        return (
            "Online access is off: enable Edit > Preferences > System > Network > "
            "Allow Online Access"
        )
    if not preferences.api_settings(context).api_key:
        return f"No ModelsLab API key: set it in {preferences.KEY_HINT}"
    return None


class Runtime:
    def __init__(self) -> None:
        self.store = JobStore(preferences.jobs_folder())
        self.jobs: dict[str, Job] = {}
        self._events: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._workers: dict[str, _Worker] = {}
        self._pending: list[_Pending] = []
        self._auto_import: dict[str, int] = {}
        self.file_generation = 0
        self._load_records()

    # -- records -----------------------------------------------------------------------------

    def _load_records(self) -> None:
        """Show every saved job; resume the ones ModelsLab has accepted but we never finished."""
        for job in self.store.all():
            if job.state in (JobState.PROCESSING, JobState.DOWNLOADING) and job.submitted:
                self._pending.append(_Pending(job.id, None, auto_import=False))
            elif job.state not in FINAL_STATES:
                self._mark_interrupted(job)
            self.jobs[job.id] = job

    def _mark_interrupted(self, job: Job) -> None:
        if job.state == JobState.SUBMITTING:
            job.error = (
                "Blender stopped while the request was being sent, so it may have been accepted "
                "and charged. Check your ModelsLab dashboard; it was not sent again to avoid "
                "paying twice."
            )
            job.may_have_charged = True
        else:
            job.error = "Blender stopped before the request was sent; nothing was charged."
        job.state = JobState.FAILED
        self.store.save(job)

    # -- submitting --------------------------------------------------------------------------

    def submit(self, job: Job, source: UploadSource | None, auto_import: bool = True) -> Job:
        """Record a new job and queue it; it starts at the next pump."""
        self.store.save(job)
        self.jobs[job.id] = job
        self._pending.append(_Pending(job.id, source, auto_import))
        return job

    def resume(self, job_id: str, auto_import: bool = True) -> None:
        """Poll or download again a job that ModelsLab accepted (after a failure or cancel)."""
        job = self.jobs[job_id]
        if self.is_running(job_id):
            return
        if not job.submitted:
            raise ModelsLabError(
                "This job never reached ModelsLab, so there is nothing to download; "
                "generate it again."
            )
        job.state = JobState.PROCESSING if not job.outputs else JobState.DOWNLOADING
        job.error = ""
        self.store.save(job)
        self._pending.append(_Pending(job_id, None, auto_import))

    def cancel(self, job_id: str) -> None:
        """Stop polling and downloading; the record keeps what is needed to resume later."""
        self._pending = [p for p in self._pending if p.job_id != job_id]
        worker = self._workers.get(job_id)
        if worker is not None:
            worker.cancel.set()
            return
        job = self.jobs[job_id]
        if job.state not in FINAL_STATES:
            job.state = JobState.CANCELLED
            self.store.save(job)

    def remove(self, job_id: str) -> None:
        """Forget a job that is not running and delete its folder."""
        if job_id in self._workers:
            raise ModelsLabError("The job is still running: cancel it first, then remove it.")
        self.cancel(job_id)
        self._auto_import.pop(job_id, None)
        job = self.jobs.pop(job_id)
        shutil.rmtree(self.store.folder_for(job), ignore_errors=True)

    def is_running(self, job_id: str) -> bool:
        return job_id in self._workers or self.is_waiting(job_id)

    def is_waiting(self, job_id: str) -> bool:
        """Queued here: for a free slot, or for online access and a key."""
        return any(p.job_id == job_id for p in self._pending)

    # -- the pump ----------------------------------------------------------------------------

    def pump(self) -> float:
        """Drain worker updates, start queued jobs, import finished ones. Main thread only."""
        if not bpy.app.online_access:
            self._suspend_workers()
        changed = self._drain()
        changed |= self._reap()
        changed |= self._start_pending()
        changed |= self._import_finished()
        if changed:
            _redraw_panels()
        busy = bool(self._workers or self._pending)
        return BUSY_INTERVAL if busy else IDLE_INTERVAL

    def _drain(self) -> bool:
        changed = False
        while True:
            try:
                job = self._events.get_nowait()
            except queue.Empty:
                return changed
            if job.id in self.jobs:
                self.jobs[job.id] = job
                changed = True

    def _reap(self) -> bool:
        finished = [jid for jid, w in self._workers.items() if not w.thread.is_alive()]
        if finished:
            self._drain()
        for job_id in finished:
            worker = self._workers.pop(job_id)
            if worker.suspended and self._restore_suspended(job_id):
                job = self.jobs[job_id]
                source = None if job.submitted else worker.source
                self._pending.append(_Pending(job_id, source, job_id in self._auto_import))
        return bool(finished)

    def _suspend_workers(self) -> None:
        """Stop every worker without giving up its job (online access went off, or shutdown)."""
        for worker in self._workers.values():
            if not worker.cancel.is_set():  # a job the user cancelled stays cancelled
                worker.suspended = True
                worker.cancel.set()

    def _restore_suspended(self, job_id: str) -> bool:
        """Put a job its worker left as cancelled back where it can go on; False if it ended."""
        job = self.jobs.get(job_id)
        if job is None or job.state != JobState.CANCELLED:
            return False
        if job.outputs:
            job.state = JobState.DOWNLOADING
        elif job.submitted:
            job.state = JobState.PROCESSING
        else:
            job.state = JobState.QUEUED
        job.error = ""
        self.store.save(job)
        return True

    def _start_pending(self) -> bool:
        if not self._pending or readiness() is not None:
            return False
        started = False
        slots = preferences.get().parallel_jobs - len(self._workers)
        while self._pending and slots > 0:
            pending = self._pending.pop(0)
            job = self.jobs.get(pending.job_id)
            if job is None:
                continue
            if pending.auto_import:
                self._auto_import.setdefault(job.id, self.file_generation)
            self._start_worker(job, pending.source, preferences.api_settings())
            slots -= 1
            started = True
        return started

    def _start_worker(self, job: Job, source: UploadSource | None, settings: Settings) -> None:
        cancel = threading.Event()
        thread = threading.Thread(
            target=_work,
            args=(job.copy(), source, settings, self.store, self._events.put, cancel),
            name=f"modelslab-job-{job.id}",
            daemon=True,
        )
        self._workers[job.id] = _Worker(thread, source, cancel)
        thread.start()

    def _import_finished(self) -> bool:
        if bpy.app.background and self._workers:
            # Without a window (blender -b, the bpy module), an undo push while another
            # thread runs Python crashes Blender 4.2 and 4.5; imports wait for idle workers.
            return False
        imported = False
        for job_id, generation in list(self._auto_import.items()):
            job = self.jobs.get(job_id)
            if job is not None and self.is_running(job_id):
                continue
            del self._auto_import[job_id]
            if (
                job is not None
                and job.state == JobState.DONE
                and job.imported_at is None
                and generation == self.file_generation
            ):
                _import_with_operator(job_id)
                imported = True
        return imported

    # -- waiting (the blocking path) ---------------------------------------------------------

    def wait(self, job_id: str, poll: float = 0.05) -> Job:
        """Pump until the job has ended and, if it was to be imported, is imported."""
        while True:
            self.pump()
            job = self.jobs[job_id]
            running = self.is_running(job_id) or job_id in self._auto_import
            if not running and job.state in FINAL_STATES:
                return job
            blocked = readiness() if self.is_waiting(job_id) else None
            if blocked is not None:
                raise ModelsLabError(f"{blocked}. The job is kept; it goes on once that is done.")
            time.sleep(poll)

    # -- shutdown ----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop workers without giving up their jobs: accepted jobs resume at the next start."""
        self._suspend_workers()
        deadline = time.monotonic() + SHUTDOWN_WAIT
        for worker in self._workers.values():
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        self._drain()
        for job_id, worker in self._workers.items():
            if not worker.thread.is_alive():
                self._restore_suspended(job_id)
        self._workers.clear()
        self._pending.clear()


def _work(
    job: Job,
    source: UploadSource | None,
    settings: Settings,
    store: JobStore,
    publish: Callable[[Job], None],
    cancel: threading.Event,
) -> None:
    """A worker thread's whole life: encode the image, then run the job. No bpy here."""
    try:
        upload, mime = source.encode(settings) if source is not None else (None, "")
    except ModelsLabError as error:
        job.state = JobState.FAILED
        job.error = error.message
        store.save(job)
        publish(job.copy())
        return
    run_job(
        job,
        Client(settings),
        store,
        upload=upload,
        upload_mime=mime or "image/png",
        on_update=publish,
        cancel=cancel,
    )


def _import_with_operator(job_id: str) -> None:
    """Import a finished job as one undo step.

    Operators called from Python push no undo step of their own (Blender leaves undo to the
    user's actions), so the step is pushed here once the whole import has succeeded.
    """
    with bpy.context.temp_override(**_window_override()):
        try:
            bpy.ops.modelslab.import_job(job_id=job_id)
        except RuntimeError as error:  # the operator recorded the message on the job
            log.warning("import of job %s failed: %s", job_id, error)
            return
        bpy.ops.ed.undo_push(message="ModelsLab Import")


def _window_override() -> dict:
    window_manager = bpy.context.window_manager
    if bpy.context.window is None and window_manager is not None and window_manager.windows:
        window = window_manager.windows[0]
        return {"window": window, "screen": window.screen}
    return {}


def _redraw_panels() -> None:
    window_manager = bpy.context.window_manager
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "IMAGE_EDITOR"}:
                area.tag_redraw()


_runtime: Runtime | None = None


def get() -> Runtime:
    if _runtime is None:
        raise RuntimeError("ModelsLab 3D is not enabled")
    return _runtime


def pump() -> float:
    """The timer's callback; tests and scripts call it too."""
    try:
        return get().pump()
    except Exception:
        log.exception("ModelsLab job pump failed")
        return IDLE_INTERVAL


@persistent
def _on_load_post(*_args: object) -> None:
    # Models started in another file are not dropped into this one: they wait for "Import".
    if _runtime is not None:
        _runtime.file_generation += 1


def start() -> None:
    global _runtime
    _runtime = Runtime()
    bpy.app.handlers.load_post.append(_on_load_post)
    bpy.app.timers.register(pump, first_interval=BUSY_INTERVAL, persistent=True)


def stop() -> None:
    global _runtime
    if bpy.app.timers.is_registered(pump):
        bpy.app.timers.unregister(pump)
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    if _runtime is not None:
        _runtime.shutdown()
    _runtime = None


def reload_jobs() -> None:
    """The download folder changed: show the jobs kept in the new one."""
    global _runtime
    if _runtime is not None:
        _runtime.shutdown()
        _runtime = Runtime()
