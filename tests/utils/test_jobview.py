"""How a job reads in the job list, without Blender."""

from __future__ import annotations

import pytest

from modelslab_3d.api.jobs import Job, JobState
from modelslab_3d.utils.jobview import progress_fraction, status_line, wrap

START = 1_000_000.0


def _job(state: JobState, **fields) -> Job:
    return Job(endpoint="IMAGE_TO_3D", state=state, created_at=START, **fields)


def test_progress_moves_through_the_phases():
    assert progress_fraction(_job(JobState.QUEUED), START) == 0.0
    uploading = progress_fraction(_job(JobState.UPLOADING), START + 1)
    halfway = progress_fraction(_job(JobState.PROCESSING, eta=20.0), START + 10)
    late = progress_fraction(_job(JobState.PROCESSING, eta=20.0), START + 500)
    downloading = progress_fraction(_job(JobState.DOWNLOADING, progress=0.5), START + 30)
    assert 0 < uploading < halfway < late <= downloading < 1.0
    assert late == pytest.approx(0.8), "past its ETA a job waits at the end of the generation phase"
    assert progress_fraction(_job(JobState.DONE), START + 40) == 1.0


def test_status_line_shows_elapsed_and_eta():
    assert status_line(_job(JobState.PROCESSING, eta=90.0), START + 15) == (
        "Generating · 0:15 · ETA 1:15"
    )
    assert status_line(_job(JobState.PROCESSING, eta=10.0), START + 15).endswith("any moment")
    done = _job(JobState.DONE, finished_at=START + 75)
    assert status_line(done, START + 500) == "Done · 1:15 · not imported"
    done.imported_at = START + 76
    assert status_line(done, START + 500) == "Done · 1:15"


def test_wrap_keeps_every_word():
    message = "Insufficient credits. Please add more credits on modelslab.com to continue."
    lines = wrap(message, 30)
    assert all(len(line) <= 30 for line in lines)
    assert " ".join(lines) == message
    assert wrap("") == [""]
