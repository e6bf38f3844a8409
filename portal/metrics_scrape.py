"""The /metrics view and the gauges computed when Prometheus scrapes (see portal/metrics.py).

Every gauge is read fresh per scrape: RQ queue depths and registries from Redis, and from the
database the outbox, reminder and webhook lags and the payments by status, each one indexed
query under a 2-second statement timeout on PostgreSQL.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from flask import Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from portal.clock import utcnow
from portal.events import OutboxEvent
from portal.extensions import db
from portal.notifications.models import ReminderStatus, ScheduledNotification
from portal.payments.models import PaymentTransaction, WebhookEvent, WebhookStatus

log = logging.getLogger(__name__)

# ingress-nginx and Caddy always set X-Forwarded-For; Prometheus scraping a pod sends none.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
SCRAPE_STATEMENT_TIMEOUT_MS = 2000


# --- at scrape time ----------------------------------------------------------------------------


def _seconds_since(moment) -> float:
    return max(0.0, (utcnow() - moment).total_seconds()) if moment is not None else 0.0


class PortalCollector(Collector):
    """Reads Redis and PostgreSQL when Prometheus scrapes; never raises (a dependency that
    cannot be read is reported as dependency_up 0 and its gauges are left out)."""

    def __init__(self, redis: Redis, queues: list[str]) -> None:
        self.redis = redis
        self.queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("portal_dependency_up",
                               "Whether this scrape could read the dependency.",
                               labels=["dependency"])
        try:
            yield from self._redis_metrics()
            up.add_metric(["redis"], 1)
        except RedisError as exc:
            log.warning("metrics: Redis unreadable: %s", type(exc).__name__)
            up.add_metric(["redis"], 0)
        try:
            yield from self._database_metrics()
            up.add_metric(["postgres"], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreadable: %s", type(exc).__name__)
            up.add_metric(["postgres"], 0)
        yield up

    def _redis_metrics(self) -> list[GaugeMetricFamily]:
        depth = GaugeMetricFamily("portal_rq_queue_depth", "Jobs waiting in an RQ queue.",
                                  labels=["queue"])
        failed = GaugeMetricFamily("portal_rq_failed_jobs",
                                   "Jobs in an RQ queue's failed-job registry.", labels=["queue"])
        scheduled = GaugeMetricFamily("portal_rq_scheduled_jobs",
                                      "Jobs scheduled for later in an RQ queue.", labels=["queue"])
        for name in self.queues:
            queue = Queue(name, connection=self.redis)
            depth.add_metric([name], queue.count)
            failed.add_metric([name], FailedJobRegistry(queue=queue).get_job_count(cleanup=False))
            scheduled.add_metric([name],
                                 ScheduledJobRegistry(queue=queue).get_job_count(cleanup=False))
        workers = GaugeMetricFamily("portal_rq_workers", "RQ workers registered in Redis.",
                                    value=Worker.count(connection=self.redis))
        return [depth, failed, scheduled, workers]

    def _database_metrics(self) -> list[GaugeMetricFamily]:
        now = utcnow()
        with db.engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}"))
            oldest_event = conn.scalar(
                select(OutboxEvent.created_at).where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.published_at, OutboxEvent.seq).limit(1))
            oldest_due = conn.scalar(
                select(func.min(ScheduledNotification.due_at)).where(
                    ScheduledNotification.status == ReminderStatus.SCHEDULED.value,
                    ScheduledNotification.due_at <= now))
            oldest_webhook = conn.scalar(
                select(func.min(WebhookEvent.received_at)).where(
                    WebhookEvent.status == WebhookStatus.RECEIVED))
            by_status = conn.execute(
                select(PaymentTransaction.status, func.count())
                .group_by(PaymentTransaction.status)).all()
        payments = GaugeMetricFamily("portal_payment_transactions",
                                     "payment_transactions rows by status.", labels=["status"])
        for status, count in by_status:
            payments.add_metric([str(getattr(status, "value", status))], count)
        return [
            GaugeMetricFamily("portal_outbox_lag_seconds",
                              "Age of the oldest unpublished outbox event (0: none waiting).",
                              value=_seconds_since(oldest_event)),
            GaugeMetricFamily("portal_reminder_lag_seconds",
                              "How long the oldest due, unsent reminder is overdue (0: none).",
                              value=_seconds_since(oldest_due)),
            GaugeMetricFamily("portal_webhook_lag_seconds",
                              "Age of the oldest webhook event not yet processed (0: none).",
                              value=_seconds_since(oldest_webhook)),
            payments,
        ]


def render_metrics(redis: Redis, queues: list[str]) -> bytes:
    """The exposition text: this process's (or, in multiprocess mode, every gunicorn
    worker's) metrics, then the gauges read at scrape time."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(PortalCollector(redis, queues))
    return generate_latest(base) + generate_latest(scraped)


def metrics_allowed() -> bool:
    """Prometheus scrapes pods directly; anything that came through a proxy is refused."""
    if any(header in request.headers for header in PROXY_HEADERS):
        return False
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    return True


def metrics_view(redis_for) -> Response:
    """GET /metrics; `redis_for()` returns the Redis client to read the queues from."""
    if not metrics_allowed():
        abort(404)
    body = render_metrics(redis_for(), current_app.config["RQ_QUEUES"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Cache-Control": "no-store"})
