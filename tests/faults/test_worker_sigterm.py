"""SIGTERM to a worker in the middle of a job (what Kubernetes and compose send on a rollout):
RQ's warm shutdown lets the job finish, then the worker exits on its own, well inside the
grace period the manifests give it (terminationGracePeriodSeconds 210, stop_grace_period
210s). A real `flask --app portal worker` process, on a Redis of this test alone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from rq.job import JobStatus

from portal.jobqueue import get_queue
from tests.faults.conftest import wait_until

JOB_SECONDS = 4


def slow_job(marker: str, seconds: float) -> str:
    """A job that takes `seconds`, then leaves a file behind to prove it ran to the end."""
    Path(marker).write_text("started")
    time.sleep(seconds)
    Path(marker).write_text("finished")
    return "done"


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_sigterm_lets_the_job_in_hand_finish_then_the_worker_exits(app, app_ctx, private_redis,
                                                                   spawn_worker, tmp_path):
    marker = tmp_path / "marker"
    job = get_queue("default").enqueue(f"{__name__}.slow_job", str(marker), JOB_SECONDS)
    worker = spawn_worker(PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    assert wait_until(lambda: marker.exists(), 45), worker.log()

    os.kill(worker.process.pid, signal.SIGTERM)
    signalled_at = time.monotonic()
    code = worker.wait(timeout=60)
    took = time.monotonic() - signalled_at

    assert code == 0, worker.log()
    assert marker.read_text() == "finished"
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "done"
    assert took < 210 - 30, "the worker needed more than the manifests' grace period"
    assert "warm shut down requested" in worker.log()
