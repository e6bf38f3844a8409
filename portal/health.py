"""Liveness and readiness probes, for compose health checks and load balancers.

/healthz   the process answers; it asks nothing else (no database, no Redis, no session), so
           it costs a request's bare minimum and a database outage never makes an orchestrator
           restart every web process at once (liveness).
/readyz    PostgreSQL answers `SELECT 1` and Redis answers PING; otherwise 503 naming the failed
           ones (readiness: send this process no traffic until they are back). Nothing but the
           names is said: no hosts, no driver messages.
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.jobqueue import redis_connection

log = logging.getLogger(__name__)

HEALTHY = b'{"status":"ok"}\n'


def healthz():
    """Liveness: the process is up and serving requests."""
    return current_app.response_class(HEALTHY, mimetype="application/json")


def check_postgres() -> bool:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return False
    return True


def check_redis() -> bool:
    if not current_app.config["REDIS_URL"]:
        return False
    try:
        redis_connection().ping()
    except (RedisError, OSError) as exc:
        log.warning("readiness: Redis check failed: %s", type(exc).__name__)
        return False
    return True


def readyz():
    """Readiness: 200 when PostgreSQL and Redis answer, else 503 saying which did not."""
    checks = {"postgres": check_postgres(), "redis": check_redis()}
    failed = [name for name, ok in checks.items() if not ok]
    body = {"status": "unavailable" if failed else "ready",
            "checks": {name: "ok" if ok else "failed" for name, ok in checks.items()}}
    if failed:
        body["failed"] = failed
        return jsonify(body), 503
    return jsonify(body)
