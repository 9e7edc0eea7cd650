"""How long after the server finishes does the model land on disk?

Runs the emulator in-process and, for jobs that take T seconds on the server
(`processing?seconds=T`), times run_job from its start (upload included) to the file on disk,
and prints that time minus T: the delay the client adds by polling, downloading and saving.

    python bench/bench_latency.py [--runs 5] [--short 5] [--long 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.client import Client  # noqa: E402
from api.endpoints import IMAGE_TO_3D, build_payload  # noqa: E402
from api.imaging import encode_png  # noqa: E402
from api.jobs import Job, JobState, JobStore, run_job  # noqa: E402
from api.settings import Settings  # noqa: E402
from emulator import Emulator  # noqa: E402


def subject_png() -> bytes:
    pixels = np.zeros((512, 512, 4), dtype=np.uint8)
    pixels[96:416, 128:384] = (200, 120, 40, 255)
    return encode_png(pixels)


def timed_job(
    emulator: Emulator, server_seconds: float, eta: float | None, store: JobStore
) -> tuple[float, int]:
    """(seconds from start to the file on disk minus the server time, number of polls).

    `eta` is what the server announces; None announces the true duration.
    """
    key = f"processing?seconds={server_seconds:g}" + (f"&eta={eta:g}" if eta is not None else "")
    settings = Settings(api_key=key, api_base=emulator.base_url)
    job = Job(endpoint=IMAGE_TO_3D.id, params=build_payload(IMAGE_TO_3D, {}, ""))
    started = time.monotonic()
    with Client(settings) as client:
        job = run_job(job, client, store, upload=subject_png(), cancel=threading.Event())
    elapsed = time.monotonic() - started
    if job.state != JobState.DONE:
        raise SystemExit(f"job ended {job.state.value}: {job.error}")
    polls = sum(request.path.endswith(f"/fetch/{job.remote_id}") for request in emulator.requests)
    return elapsed - server_seconds, polls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the short job")
    parser.add_argument("--short", type=float, default=5.0, help="server seconds, short job")
    parser.add_argument("--long", type=float, default=30.0, help="server seconds, long job (once)")
    options = parser.parse_args()

    # (server seconds, announced eta): the true eta, then an eta far too low, as a busy
    # server may announce; the second case is where polling cadence decides the delay.
    plan: list[tuple[float, float | None]] = [(options.short, None)] * options.runs
    plan += [(options.long, None)]
    plan += [(options.short, 1.0)] * options.runs + [(options.long, 5.0)]
    results: dict[tuple[float, float | None], list[tuple[float, int]]] = {}
    with Emulator(default_scenario="instant") as emulator, tempfile.TemporaryDirectory() as folder:
        store = JobStore(folder)
        for server_seconds, eta in plan:
            results.setdefault((server_seconds, eta), []).append(
                timed_job(emulator, server_seconds, eta, store)
            )

    print(
        f"{'server T (s)':>12} {'eta sent':>9} {'runs':>5} {'extra min':>10} {'median':>8} "
        f"{'max':>8} {'polls':>6}"
    )
    for (server_seconds, eta), runs in results.items():
        extras = [extra for extra, _ in runs]
        polls = statistics.median(polls for _, polls in runs)
        announced = "T" if eta is None else f"{eta:g}"
        print(
            f"{server_seconds:>12g} {announced:>9} {len(runs):>5} {min(extras):>10.3f} "
            f"{statistics.median(extras):>8.3f} {max(extras):>8.3f} {polls:>6g}"
        )


if __name__ == "__main__":
    main()
