"""The embedded default under ordinary concurrency (issue 10).

`make run` on SQLite once answered a registration with HTTP 500 ("database is locked") while
the worker was applying webhook events: a deferred transaction that reads and then writes
cannot wait its way out of SQLITE_BUSY. Every write now goes through
`portal.transactions.write()`, which begins with BEGIN IMMEDIATE on SQLite, so writers queue.

Here an app on a SQLite file of its own is served over HTTP; a worker thread stores and applies
a stream of signed webhook events (as the RQ job does) while 50 registrations and 50
reservations arrive at once. Every request must be answered, none with a 5xx.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta

import pytest
import requests
from flask_migrate import upgrade

from portal import create_app
from portal.availability import service as availability
from portal.extensions import db
from portal.payments import service as payments
from portal.sandbox.razorpay.signing import webhook_signature
from tests import factories
from tests.conftest import LiveServer

CLIENTS = 50
HTTP_TIMEOUT = 60
SETTINGS = ("TESTING", "SECRET_KEY", "REDIS_URL", "RATELIMIT_STORAGE_URI", "MAIL_SERVER",
            "MAIL_PORT", "MAIL_SUPPRESS_SEND", "MAILBOX_DIR", "PASSWORD_HASH_PROFILE",
            "SERVER_NAME", "RAZORPAY_WEBHOOK_SECRET")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sqlite_portal(app, tmp_path):
    """A portal on a SQLite file of its own, served on a free loopback port."""
    other = create_app({**{key: app.config[key] for key in SETTINGS},
                        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portal.db'}",
                        "LOGIN_RATE_LIMIT": "100000 per minute"})
    with other.app_context():
        upgrade()
    server = LiveServer(other).start()
    yield other, server.url
    server.stop()
    with other.app_context():
        db.engine.dispose()


def _doctor_with_slots(count: int) -> list[str]:
    """A doctor open every day from tomorrow, with at least `count` bookable slots."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    doctor = factories.create_doctor(
        timezone="UTC", fee_video_paise=None, fee_in_person_paise=0, slot_minutes=15,
        hours=factories.weekly_hours("06:00", "20:00", minutes=15, days=factories.EVERY_DAY),
        effective_from=tomorrow)
    slots = availability.free_slots(doctor, datetime.combine(tomorrow, time(0), tzinfo=UTC),
                                    datetime.combine(tomorrow + timedelta(days=2), time(0),
                                                     tzinfo=UTC))
    assert len(slots) >= count
    return [str(slot.id) for slot in slots[:count]]


def _webhook(n: int) -> tuple[bytes, str]:
    """A signed payment.failed event for an order that is not ours: stored, applied, closed."""
    body = json.dumps({
        "entity": "event", "account_id": "acc_Sandbox0000001", "event": "payment.failed",
        "contains": ["payment"], "created_at": 1765000000 + n,
        "payload": {"payment": {"entity": {
            "id": f"pay_Storm{n:09d}", "entity": "payment", "amount": 50000, "currency": "INR",
            "status": "failed", "order_id": f"order_Storm{n:08d}", "method": "upi"}}},
    }).encode()
    return body, f"evt_Storm{n:09d}"


def test_a_worker_applying_webhooks_does_not_make_sqlite_requests_fail(sqlite_portal):
    other, url = sqlite_portal
    with other.app_context():
        slot_ids = _doctor_with_slots(CLIENTS)
        accounts = [p.email for p in (factories.create_patient() for _ in range(CLIENTS))]
        secret = other.config["RAZORPAY_WEBHOOK_SECRET"]
        db.session.remove()

    sessions = [requests.Session() for _ in range(2 * CLIENTS)]
    for http, email in zip(sessions[CLIENTS:], accounts, strict=True):
        token = http.post(f"{url}/api/v1/auth/token", timeout=HTTP_TIMEOUT,
                          json={"email": email, "password": factories.PASSWORD})
        assert token.status_code == 200, token.text[:300]
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    stop = threading.Event()
    applied: list[str] = []
    worker_errors: list[str] = []

    def worker() -> None:
        """What the RQ worker does with each webhook: store it, then apply it."""
        n = 0
        with other.app_context():
            while not stop.is_set() or n < 20:
                body, event_id = _webhook(n)
                try:
                    event, new = payments.receive_webhook(
                        body, webhook_signature(body, secret), event_id)
                    if new:
                        applied.append(payments.process_webhook(event.id))
                except Exception as exc:  # noqa: BLE001 - recorded and asserted on
                    worker_errors.append(f"{type(exc).__name__}: {exc}")
                finally:
                    db.session.remove()
                n += 1

    barrier = threading.Barrier(2 * CLIENTS, timeout=HTTP_TIMEOUT)

    def register(i: int) -> requests.Response:
        barrier.wait()
        return sessions[i].post(f"{url}/api/v1/auth/register", timeout=HTTP_TIMEOUT, json={
            "name": f"Newcomer {i}", "email": f"newcomer-{i}-{uuid.uuid4().hex[:6]}@example.com",
            "phone": f"+9199{i:08d}", "timezone": "Asia/Kolkata",
            "password": "a-long-enough-passphrase-7", "accept_terms": True})

    def reserve(i: int) -> requests.Response:
        barrier.wait()
        return sessions[CLIENTS + i].post(f"{url}/api/v1/appointments/reserve",
                                          json={"slot_id": slot_ids[i]}, timeout=HTTP_TIMEOUT)

    background = threading.Thread(target=worker, daemon=True)
    background.start()
    try:
        with ThreadPoolExecutor(max_workers=2 * CLIENTS) as pool:
            registrations = [pool.submit(register, i) for i in range(CLIENTS)]
            reservations = [pool.submit(reserve, i) for i in range(CLIENTS)]
            registered = [f.result() for f in registrations]
            reserved = [f.result() for f in reservations]
    finally:
        stop.set()
        background.join(timeout=HTTP_TIMEOUT)
        for http in sessions:
            http.close()

    assert [r.status_code for r in registered] == [201] * CLIENTS, \
        [r.text[:200] for r in registered if r.status_code != 201][:3]
    assert [r.status_code for r in reserved] == [201] * CLIENTS, \
        [r.text[:200] for r in reserved if r.status_code != 201][:3]
    assert not worker_errors, worker_errors[:3]
    assert len(applied) >= 20
    assert set(applied) == {"PROCESSED"}
