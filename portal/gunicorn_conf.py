"""gunicorn settings of the image's web command: `gunicorn --config python:portal.gunicorn_conf`.

- Logs: gunicorn's own loggers in the app's format (LOG_FORMAT: JSON lines in production).
  In JSON mode gunicorn's access log is off: the app writes one line per request itself,
  with the request id, endpoint and duration (portal.access). In text mode gunicorn's access
  log goes to stderr as before.
- Metrics: with PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker process writes its
  counters and histograms to files there and /metrics merges them. The directory is emptied
  when the master starts (stale files from a previous run would be counted again) and a dead
  worker's files are marked (prometheus_client's mark_process_dead).

Command-line flags (the Dockerfile's --bind, WEB_CONCURRENCY for --workers) still apply.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import multiprocess

from portal.logging_setup import gunicorn_logconfig

_log_format = (os.environ.get("LOG_FORMAT")
               or ("json" if os.environ.get("PORTAL_ENV") == "production" else "text")).lower()
logconfig_dict = gunicorn_logconfig(_log_format)
# Let the orchestrator's SIGTERM finish requests in flight (k8s waits 40 s in all).
graceful_timeout = 25


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
