"""Liveness and readiness, for Kubernetes probes, compose health checks and load balancers.

/healthz   the process answers; it asks nothing else, so a database or Redis outage never
           makes Kubernetes restart every web pod at once (liveness).
/readyz    PostgreSQL answers `SELECT 1` and Redis answers PING, each within READINESS_TIMEOUT
           seconds; otherwise 503 naming the failed ones, and Kubernetes stops sending the pod
           traffic until it recovers (readiness). Nothing but the names is said: no hosts, no
           driver messages.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db

log = logging.getLogger(__name__)


def check_postgres(timeout: float) -> bool:
    """`SELECT 1` on a pooled connection, under a statement timeout on PostgreSQL (the
    engine's connect_timeout, set in create_app, bounds a connection attempt)."""
    try:
        with db.engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return False
    return True


def _readiness_redis(app: Flask, url: str, timeout: float) -> Redis:
    """A client with short timeouts, one per URL (the app's own waits up to 5 s per call)."""
    clients = app.extensions.setdefault("readiness_redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return clients[url]


def check_redis(timeout: float) -> bool:
    url = current_app.config["REDIS_URL"]
    if not url:
        return False
    try:
        _readiness_redis(current_app, url, timeout).ping()
    except (RedisError, OSError) as exc:
        log.warning("readiness: Redis check failed: %s", type(exc).__name__)
        return False
    return True


HEALTHY = b'{"status":"ok"}\n'


def healthz():
    """Liveness: the process is up and serving requests (a prebuilt body: no JSON encoding,
    probes come every few seconds)."""
    return current_app.response_class(HEALTHY, mimetype="application/json")


def readyz():
    """Readiness: 200 when PostgreSQL and Redis answer, else 503 saying which did not."""
    timeout = current_app.config["READINESS_TIMEOUT"]
    checks = {"postgres": check_postgres(timeout), "redis": check_redis(timeout)}
    failed = [name for name, ok in checks.items() if not ok]
    body = {"status": "unavailable" if failed else "ready",
            "checks": {name: "ok" if ok else "failed" for name, ok in checks.items()}}
    if failed:
        body["failed"] = failed
        return jsonify(body), 503
    return jsonify(body)
