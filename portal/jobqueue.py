"""RQ on Redis: the connection, enqueueing by dotted path, and the worker's app context.

Jobs enqueued during a request carry its id in their meta (`AppQueue`); the worker logs with
that id and the job's while it runs the job, and times every job for Prometheus (`AppWorker`).

Stopping a worker: on SIGTERM RQ's worker does a *warm shutdown*: it stops taking jobs,
finishes the one in hand, deregisters and exits; a second SIGTERM (or SIGINT) is a cold
shutdown that abandons the job. A job may run RQ_JOB_TIMEOUT seconds (180 by default), so
orchestrators wait that plus 30 s before SIGKILL (terminationGracePeriodSeconds: 210 in
deploy/k8s, stop_grace_period: 210s in docker-compose.yml). A job lost to SIGKILL anyway is
recovered by RQ's abandoned-job handling and our sweepers (consumers are idempotent).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from portal.extensions import db
from portal.logging_setup import job_id_var, request_id_var
from portal.metrics import observe_job, start_worker_metrics_server

log = logging.getLogger(__name__)


def redis_connection(url: str | None = None) -> Redis:
    """One client per URL and app: redis-py pools connections inside it (thread-safe)."""
    url = url or current_app.config["REDIS_URL"]
    if not url:
        raise RuntimeError("REDIS_URL is not set; `make run` starts a private Redis for you.")
    clients = current_app.extensions.setdefault("redis_clients", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return clients[url]


class AppQueue(Queue):
    """A queue whose jobs remember the request that enqueued them (meta["request_id"])."""

    def create_job(self, *args, **kwargs):
        request_id = request_id_var.get()
        if request_id:
            kwargs["meta"] = {"request_id": request_id, **(kwargs.get("meta") or {})}
        return super().create_job(*args, **kwargs)


def get_queue(name: str = "default") -> Queue:
    return AppQueue(name, connection=redis_connection(),
                    default_timeout=current_app.config["RQ_JOB_TIMEOUT"])


class AppWorker(SimpleWorker):
    """Runs each job inside a fresh app context, so jobs use the app's config and database.

    SimpleWorker (no fork per job) keeps database connections valid and memory flat; a job
    that dies with the process is recovered by RQ's abandoned-job handling and our sweepers.
    While a job runs, log records carry its id and the id of the request that enqueued it;
    its duration and outcome go to the portal_rq_job_* metrics.
    """

    app: Flask

    def perform_job(self, job, queue, *args, **kwargs):
        request_token = request_id_var.set(job.meta.get("request_id"))
        job_token = job_id_var.set(job.id)
        started = time.perf_counter()
        succeeded = False
        log.info("job started: %s", job.func_name, extra={"queue": queue.name})
        try:
            with self.app.app_context():
                try:
                    succeeded = super().perform_job(job, queue, *args, **kwargs)
                    return succeeded
                finally:
                    db.session.remove()
        finally:
            seconds = time.perf_counter() - started
            observe_job(queue.name, job.func_name, seconds, bool(succeeded))
            log.info("job %s: %s in %.3f s", "finished" if succeeded else "failed",
                     job.func_name, seconds,
                     extra={"queue": queue.name, "duration_ms": round(seconds * 1000, 1)})
            job_id_var.reset(job_token)
            request_id_var.reset(request_token)


def run_worker(app: Flask, burst: bool = False) -> None:
    connection = redis_connection(app.config["REDIS_URL"])
    queues = [AppQueue(name, connection=connection, default_timeout=app.config["RQ_JOB_TIMEOUT"])
              for name in app.config["RQ_QUEUES"]]
    worker = AppWorker(queues, connection=connection)
    worker.app = app
    if app.config["WORKER_METRICS_PORT"]:
        start_worker_metrics_server(app.config["WORKER_METRICS_PORT"])
    log.info("worker listening on %s", ", ".join(app.config["RQ_QUEUES"]))
    worker.work(with_scheduler=True, burst=burst)


def run_cron(app: Flask) -> None:
    """Run RQ's cron scheduler with the periodic jobs of `jobs.cron` (one per deployment)."""

    scheduler = CronScheduler(connection=redis_connection(app.config["REDIS_URL"]))
    scheduler.load_config_from_file("jobs.cron")
    scheduler.start()
