"""Running at scale: liveness and readiness, Prometheus metrics, request ids in logs and jobs.

Redis outages use a private redis-server on a free port (portal.localredis.PrivateRedis) that
the suite's app is pointed at for the test, so nobody else's queues are touched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from rq import Queue

from portal.clock import utcnow
from portal.events import OutboxEvent
from portal.extensions import db
from portal.jobqueue import AppWorker, get_queue, redis_connection
from portal.localredis import PrivateRedis
from portal.logging_setup import ContextFilter, JsonFormatter, request_id_var
from portal.payments import service as payments

REQUEST_ID = "req-2f6c1e0d9a7b4c55"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def own_redis(app) -> Iterator[PrivateRedis]:
    """A redis-server of this test alone, with the suite's app pointed at it."""
    server = PrivateRedis().start()
    previous = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = server.url
    try:
        yield server
    finally:
        app.config["REDIS_URL"] = previous
        for name in ("redis_clients", "readiness_redis"):
            client = app.extensions.get(name, {}).pop(server.url, None)
            if client is not None:
                client.close()
        server.stop()


def metric(body: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus' text format, or None when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if found == wanted:
            return float(match.group(3))
    return None


def run_jobs(app, queues: list[str]) -> None:
    """Work the queued jobs now, in this process (what `flask worker --burst` does)."""
    with app.app_context():
        connection = redis_connection(app.config["REDIS_URL"])
    worker = AppWorker([Queue(name, connection=connection) for name in queues],
                       connection=connection)
    worker.app = app
    worker.work(burst=True)


def echo_request_id() -> str | None:
    """A job: what the worker says the current request id is while running it."""
    logging.getLogger("tests.jobs").info("echo job running")
    return request_id_var.get()


def explode(appointment_id: str) -> None:
    """A job that fails."""
    raise RuntimeError(f"gateway said no for {appointment_id}")


# --- health ----------------------------------------------------------------------------------


def test_healthz_says_ok_without_asking_postgres_or_redis(app, client, own_redis):
    own_redis.stop()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_fails_while_redis_is_down_and_recovers_when_it_is_back(app, client, own_redis):
    assert client.get("/readyz").status_code == 200

    own_redis.stop()
    down = client.get("/readyz")
    own_redis.start()  # the same port, an empty dataset
    back = client.get("/readyz")

    assert down.status_code == 503
    assert down.get_json() == {"status": "unavailable", "failed": ["redis"],
                               "checks": {"postgres": "ok", "redis": "failed"}}
    assert back.status_code == 200
    assert back.get_json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


def test_readyz_names_no_host_or_driver_message(app, client, own_redis):
    own_redis.stop()

    body = client.get("/readyz").get_data(as_text=True)

    assert str(own_redis.port) not in body
    assert "Error" not in body


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_report_the_depth_of_a_queue_with_jobs_in_it(app, client):
    with app.test_request_context():
        queue = get_queue("notifications")
        for n in range(3):
            queue.enqueue("jobs.notifications.deliver", f"log-{n}")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert metric(body, "portal_rq_queue_depth", queue="notifications") == 3
    assert metric(body, "portal_rq_queue_depth", queue="payment-events") == 0
    assert metric(body, "portal_dependency_up", dependency="redis") == 1
    assert metric(body, "portal_dependency_up", dependency="postgres") == 1


def test_metrics_time_requests_by_endpoint_not_by_path(app, client, factory):
    doctor = factory.create_doctor(hours=())
    client.get(f"/doctors/{doctor.id}")

    body = client.get("/metrics").get_data(as_text=True)

    assert str(doctor.id) not in body
    assert metric(body, "portal_http_request_duration_seconds_count", method="GET",
                  endpoint="booking.doctor", status="200") >= 1


def test_metrics_report_outbox_lag_and_payments_by_status(app, client, factory, frozen_clock,
                                                          razorpay):
    frozen_clock.freeze(utcnow().replace(microsecond=0))
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO",
                                                              days=factory.EVERY_DAY))
    patient = factory.create_patient()
    appointment = factory.book(patient, doctor=doctor)
    payments.initiate(patient, appointment.id)  # a CREATED payment, and events in the outbox
    frozen_clock.advance(timedelta(seconds=90))
    db.session.commit()

    body = client.get("/metrics").get_data(as_text=True)

    assert metric(body, "portal_outbox_lag_seconds") >= 90
    assert metric(body, "portal_payment_transactions", status="CREATED") == 1
    assert metric(body, "portal_reminder_lag_seconds") == 0
    assert metric(body, "portal_webhook_lag_seconds") == 0


def test_an_empty_outbox_has_no_lag(app, client):
    with app.app_context():
        assert db.session.query(OutboxEvent).count() == 0

    body = client.get("/metrics").get_data(as_text=True)

    assert metric(body, "portal_outbox_lag_seconds") == 0


def test_metrics_are_refused_through_a_proxy_and_can_require_a_token(app, client,
                                                                     monkeypatch):
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404

    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-token-1")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-1"})
    assert ok.status_code == 200


def test_metrics_still_answer_when_redis_is_down(app, client, own_redis):
    own_redis.stop()

    response = client.get("/metrics")

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert metric(body, "portal_dependency_up", dependency="redis") == 0
    assert metric(body, "portal_rq_queue_depth", queue="default") is None


def test_the_worker_times_jobs_and_counts_failures(app):
    labels = {"queue": "default", "function": f"{__name__}.explode"}
    before = REGISTRY.get_sample_value("portal_rq_jobs_failed_total", labels) or 0
    with app.app_context():
        get_queue("default").enqueue(f"{__name__}.explode", "a-1")
        get_queue("default").enqueue(f"{__name__}.echo_request_id")

    run_jobs(app, ["default"])

    assert REGISTRY.get_sample_value("portal_rq_jobs_failed_total", labels) == before + 1
    finished = REGISTRY.get_sample_value(
        "portal_rq_job_duration_seconds_count",
        {"queue": "default", "function": f"{__name__}.echo_request_id", "outcome": "finished"})
    assert finished >= 1


# --- request ids -----------------------------------------------------------------------------


def test_a_request_id_from_the_proxy_is_kept_and_returned(client):
    response = client.get("/doctors/", headers={"X-Request-ID": REQUEST_ID})

    assert response.headers["X-Request-ID"] == REQUEST_ID


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_an_unusable_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": 'x" level="ERROR'})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_a_job_enqueued_by_a_request_carries_its_id_and_the_worker_runs_with_it(app, caplog):
    with app.test_request_context(headers={"X-Request-ID": REQUEST_ID}):
        app.preprocess_request()  # the before-request hooks: the request id is set
        job = get_queue("default").enqueue(f"{__name__}.echo_request_id")
        app.do_teardown_request()
    assert job.meta["request_id"] == REQUEST_ID

    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(ContextFilter())
    run_jobs(app, ["default"])

    job.refresh()
    assert job.return_value() == REQUEST_ID
    running = [r for r in caplog.records if r.getMessage() == "echo job running"]
    assert [(r.request_id, r.job_id) for r in running] == [(REQUEST_ID, job.id)]
    assert request_id_var.get() is None  # nothing leaks past the job


def test_a_job_enqueued_outside_a_request_has_no_request_id(app):
    with app.app_context():
        job = get_queue("default").enqueue(f"{__name__}.echo_request_id")

    assert "request_id" not in job.meta


def test_json_log_lines_carry_the_request_id_and_still_redact_reset_tokens():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '"GET /account/reset/SeCrEtToKeN.abc HTTP/1.1" 200', (), None)
    record.path = "/account/reset/SeCrEtToKeN.abc"
    token = request_id_var.set(REQUEST_ID)
    try:
        ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)

    line = JsonFormatter().format(record)

    assert "SeCrEtToKeN" not in line
    assert "/account/reset/[redacted]" in line
    assert f'"request_id": "{REQUEST_ID}"' in line
    assert line.startswith("{")
    assert "\n" not in line
