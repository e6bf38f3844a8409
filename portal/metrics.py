"""Prometheus metrics: request latency per endpoint, RQ jobs, and gauges computed at scrape time.

Why prometheus-client and not prometheus-flask-exporter: most of what we export is computed
when Prometheus asks (queue depths in Redis, the age of the oldest waiting outbox row, the
payments by status), which is a custom collector either way; the per-request histogram is a
before/after-request pair; and prometheus-client's multiprocess mode is what gunicorn needs.
The exporter would add a dependency (last released in 2025) and its own /metrics route for
the one histogram we can write in twenty lines.

What is exported (all names start with `portal_`):
  http_request_duration_seconds{method,endpoint,status}  histogram; `endpoint` is the Flask
      endpoint ("appointments.detail"), never the raw path, so ids do not explode the series
  rq_job_duration_seconds{queue,function,outcome}        histogram, observed by the worker
  rq_jobs_failed_total{queue,function}                   counter, observed by the worker
  rq_queue_depth{queue}, rq_failed_jobs{queue},          gauges read from Redis at scrape time
      rq_scheduled_jobs{queue}, rq_workers
  outbox_lag_seconds         age of the oldest unpublished outbox_events row (0: none waiting)
  reminder_lag_seconds       how overdue the oldest due, unsent scheduled notification is
  webhook_lag_seconds        age of the oldest webhook_events row still RECEIVED
  payment_transactions{status}  payment_transactions rows by status
  dependency_up{dependency}  1 when the scrape could read PostgreSQL / Redis, else 0

The database gauges are single indexed queries (outbox: ix_outbox_events_unpublished;
reminders: ix_scheduled_notifications_status_due; payments: ix_payment_transactions_status_
updated), run with a 2-second statement timeout on PostgreSQL so a slow scrape cannot pile up.
webhook_events has no index on status yet (see docs/deployment.md).

Processes: gunicorn runs several worker processes per pod, so with PROMETHEUS_MULTIPROC_DIR set
(the web Deployment sets it to an emptyDir) the histograms live in files there and /metrics
merges them (MultiProcessCollector). RQ workers are one process each: `flask worker` serves its
job metrics on WORKER_METRICS_PORT (start_http_server) for Prometheus to scrape per pod.
The scrape-time gauges and the /metrics view are in portal/metrics_scrape.py (they read the
domain tables; this module is imported by portal.jobqueue, which the domains import).

/metrics is for Prometheus inside the cluster, not for the public: a request that came through
a proxy (it carries X-Forwarded-For, Forwarded or X-Real-IP, which ingress-nginx and Caddy
always set) gets 404, and with METRICS_TOKEN set a scrape must send `Authorization: Bearer`.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint.",
    ["method", "endpoint", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
JOB_DURATION = Histogram(
    "portal_rq_job_duration_seconds", "Time an RQ job ran, by queue, function and outcome.",
    ["queue", "function", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180))
JOB_FAILURES = Counter(
    "portal_rq_jobs_failed_total", "RQ jobs that raised, by queue and function.",
    ["queue", "function"])


# --- per request -------------------------------------------------------------------------------


def start_timer() -> None:
    g.metrics_started = time.perf_counter()


def observe_request(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
        REQUEST_LATENCY.labels(request.method, endpoint, str(response.status_code)).observe(
            time.perf_counter() - started)
    return response


def elapsed_ms() -> float | None:
    started = g.get("metrics_started")
    return None if started is None else round((time.perf_counter() - started) * 1000, 1)


# --- per job (called by portal.jobqueue.AppWorker) ------------------------------------------------


def observe_job(queue: str, function: str | None, seconds: float, succeeded: bool) -> None:
    function = function or "unknown"
    JOB_DURATION.labels(queue, function, "finished" if succeeded else "failed").observe(seconds)
    if not succeeded:
        JOB_FAILURES.labels(queue, function).inc()


def start_worker_metrics_server(port: int) -> None:
    """Serve this worker process's metrics (jobs, process) on 0.0.0.0:`port`/metrics."""
    start_http_server(port)
    log.info("worker metrics on :%d/metrics", port)


def init_request_metrics(app: Flask) -> None:
    app.before_request(start_timer)
    app.after_request(observe_request)
