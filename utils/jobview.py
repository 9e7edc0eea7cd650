"""How a job reads in the job list: progress, timing and wrapped messages. No bpy."""

from __future__ import annotations

import textwrap

from ..api.jobs import Job, JobState

_STATE_WORDS = {
    JobState.QUEUED: "Waiting",
    JobState.UPLOADING: "Uploading image",
    JobState.SUBMITTING: "Sending",
    JobState.PROCESSING: "Generating",
    JobState.DOWNLOADING: "Downloading",
    JobState.DONE: "Done",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


def progress_fraction(job: Job, now: float) -> float:
    """One bar for the whole job: upload, generation (paced by the ETA), download."""
    if job.state in (JobState.DONE,):
        return 1.0
    if job.state == JobState.DOWNLOADING:
        return 0.8 + 0.2 * max(0.0, min(1.0, job.progress))
    if job.state == JobState.PROCESSING:
        eta = job.eta or 30.0
        return 0.1 + 0.7 * min(1.0, max(0.0, now - job.created_at) / eta)
    if job.state in (JobState.UPLOADING, JobState.SUBMITTING):
        return 0.05
    return 0.0


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_line(job: Job, now: float) -> str:
    """State, elapsed time and, while generating, the time ModelsLab estimated."""
    end = job.finished_at or now
    text = f"{_STATE_WORDS[job.state]} · {_clock(end - job.created_at)}"
    if job.state == JobState.PROCESSING and job.eta:
        remaining = job.created_at + job.eta - now
        text += f" · ETA {_clock(remaining)}" if remaining > 0 else " · any moment"
    if job.state == JobState.DONE and job.imported_at is None:
        text += " · not imported"
    return text


def wrap(text: str, width: int = 48) -> list[str]:
    """A long error shown in full, as lines that fit the sidebar."""
    return textwrap.wrap(text, width) or [""]
