"""RQ on Redis: the connection, enqueueing by dotted path, and the worker's app context."""

from __future__ import annotations

import logging

from flask import Flask, current_app
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from portal.extensions import db

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


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_connection())


class AppWorker(SimpleWorker):
    """Runs each job inside a fresh app context, so jobs use the app's config and database.

    SimpleWorker (no fork per job) keeps database connections valid and memory flat; a job
    that dies with the process is recovered by RQ's abandoned-job handling and our sweepers.
    """

    app: Flask

    def perform_job(self, job, queue, *args, **kwargs):
        with self.app.app_context():
            try:
                return super().perform_job(job, queue, *args, **kwargs)
            finally:

                db.session.remove()


def run_worker(app: Flask, burst: bool = False) -> None:
    connection = redis_connection(app.config["REDIS_URL"])
    queues = [Queue(name, connection=connection) for name in app.config["RQ_QUEUES"]]
    worker = AppWorker(queues, connection=connection)
    worker.app = app
    log.info("worker listening on %s", ", ".join(app.config["RQ_QUEUES"]))
    worker.work(with_scheduler=True, burst=burst)


def run_cron(app: Flask) -> None:
    """Run RQ's cron scheduler with the periodic jobs of `jobs.cron` (one per deployment)."""

    scheduler = CronScheduler(connection=redis_connection(app.config["REDIS_URL"]))
    scheduler.load_config_from_file("jobs.cron")
    scheduler.start()
