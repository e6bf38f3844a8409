"""A webhook storm: 1,000 deliveries of 200 distinct Razorpay events, every one sent 5 times,
shuffled and concurrent, to the live server. Each event is stored once and applied once.

Sixty appointments are paid through the Razorpay stand-in (orders made by the portal's own
`initiate`, payments made as Checkout would; a third of them fail once before succeeding), and
the patients never come back from Checkout: only the webhooks can settle the payments. The
stand-in records each event's envelope (payment.authorized, payment.captured, order.paid, and
payment.failed for the failed attempts) without sending it; the test signs those bodies with
the webhook secret as Razorpay does and sends them itself: 20 events as five copies released
at the same instant, the other 180 events' copies shuffled over 12 keep-alive connections.
Every answer is 2xx, exactly one copy of each event is "accepted", `webhook_events` has one row
per event id, and after four worker processes (and then one more pass in this process) have
processed the queue, every payment was captured once and every appointment confirmed once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatusHistory
from portal.events import OutboxEvent
from portal.extensions import db
from portal.jobqueue import get_queue
from portal.payments import service as payments
from portal.payments.models import PaymentTransaction, Refund, WebhookEvent
from tests import factories
from tests.faults.conftest import doctor_with_slots, run_jobs

PAYMENTS = 60
FAILED_FIRST = 20  # payments whose first attempt fails (one payment.failed event each)
EVENTS = 3 * PAYMENTS + FAILED_FIRST  # 200
COPIES = 5  # 1,000 deliveries
TOGETHER = 20  # events whose copies are all released at once
CONNECTIONS = 12
WORKERS = 4
HTTP_TIMEOUT = 30
FEE = 50_000


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event: str
    body: bytes
    signature: str


def signed_events(razorpay, secret: str) -> list[Delivery]:
    """The stand-in's recorded (unsent) events, signed as Razorpay signs them."""
    events = []
    for item in razorpay.webhooks():
        assert item["status"] == "pending", item  # never sent by the stand-in itself
        body = item["body"].encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        events.append(Delivery(item["event_id"], item["event"], body, signature))
    return events


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_a_storm_of_duplicate_webhooks_applies_each_event_once(
        app, app_ctx, live_server, private_redis, razorpay, spawn_worker):
    started = time.monotonic()
    razorpay.control("POST", "/settings", {"auto_capture": True})
    _doctor, slots = doctor_with_slots(FEE, days=5)
    assert len(slots) >= PAYMENTS
    patients = [factories.create_patient() for _ in range(PAYMENTS // 2)]  # two holds each at most
    orders: dict[str, PaymentTransaction] = {}
    for n, slot in enumerate(slots[:PAYMENTS]):
        patient = patients[n // 2]
        held = appointments.reserve(patient, slot.id)
        payment = payments.initiate(patient, held.id)
        if n < FAILED_FIRST:
            failure = razorpay.pay(payment.gateway_order_id, "failure")
            assert "error" in failure or "razorpay_payment_id" in failure
        razorpay.pay(payment.gateway_order_id)  # the browser never comes back to verify
        orders[payment.gateway_order_id] = payment

    events = signed_events(razorpay, app.config["RAZORPAY_WEBHOOK_SECRET"])
    assert len(events) == EVENTS
    assert Counter(e.event for e in events) == {
        "payment.authorized": PAYMENTS, "payment.captured": PAYMENTS, "order.paid": PAYMENTS,
        "payment.failed": FAILED_FIRST}
    rng = random.Random(20261124)
    rng.shuffle(events)
    together, spread = events[:TOGETHER], events[TOGETHER:]
    scattered = [e for e in spread for _ in range(COPIES)]
    rng.shuffle(scattered)

    local = threading.local()
    url = f"{live_server.url}/api/v1/payments/webhook"

    def post(delivery: Delivery, barrier: threading.Barrier | None = None) -> tuple[str, int,
                                                                                    str]:
        if not hasattr(local, "http"):
            local.http = requests.Session()  # one keep-alive connection per thread
        if barrier is not None:
            barrier.wait(timeout=HTTP_TIMEOUT)
        response = local.http.post(url, data=delivery.body, timeout=HTTP_TIMEOUT, headers={
            "Content-Type": "application/json", "X-Razorpay-Signature": delivery.signature,
            "x-razorpay-event-id": delivery.event_id,
            "User-Agent": "Razorpay-Webhook/v1 (fault test)"})
        status = response.json().get("status") if response.ok else response.text[:300]
        return delivery.event_id, response.status_code, status

    storm_started = time.monotonic()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        futures = []
        for delivery in together:  # five copies of one event at the same instant
            barrier = threading.Barrier(COPIES)
            futures += [pool.submit(post, delivery, barrier) for _ in range(COPIES)]
        futures += [pool.submit(post, delivery) for delivery in scattered]
        answers = [f.result(timeout=HTTP_TIMEOUT * 2) for f in futures]
    storm_seconds = time.monotonic() - storm_started

    assert len(answers) == EVENTS * COPIES == 1000
    assert [a for a in answers if not 200 <= a[1] < 300] == []
    assert Counter(a[2] for a in answers) == {"accepted": EVENTS,
                                              "duplicate": EVENTS * (COPIES - 1)}
    accepted = Counter(event_id for event_id, _, status in answers if status == "accepted")
    assert set(accepted.values()) == {1}
    db.session.commit()
    stored = db.session.scalars(select(WebhookEvent)).all()
    assert sorted(row.id for row in stored) == sorted(e.event_id for e in events)
    assert {row.status for row in stored} == {"RECEIVED"}
    assert get_queue("payment-events").count == EVENTS  # one job per event, not per copy

    # Real worker processes take the queue together, then one more pass here (none left).
    workers = [spawn_worker(burst=True) for _ in range(WORKERS)]
    for worker in workers:
        assert worker.wait(timeout=60) == 0, worker.log()
    run_jobs(app)
    assert FailedJobRegistry(queue=get_queue("payment-events")).count == 0

    db.session.expire_all()
    assert Counter(db.session.scalars(select(WebhookEvent.status))) == {"PROCESSED": EVENTS}
    for order_id, payment in orders.items():
        row = db.session.get(PaymentTransaction, payment.id)
        assert (row.status, row.gateway_order_id) == ("CAPTURED", order_id)
        kinds = Counter(db.session.scalars(select(OutboxEvent.event_type).where(
            OutboxEvent.aggregate_id == payment.id)))
        assert kinds["PAYMENT_INITIATED"] == kinds["PAYMENT_COMPLETED"] == 1, kinds
        assert kinds["PAYMENT_FAILED"] <= 1, kinds
        appointment = db.session.get(Appointment, payment.appointment_id)
        assert appointment.status == "CONFIRMED"
        confirmed = db.session.scalars(select(OutboxEvent.id).where(
            OutboxEvent.aggregate_id == appointment.id,
            OutboxEvent.event_type == "CONFIRMED")).all()
        assert len(confirmed) == 1
        history = db.session.scalars(select(AppointmentStatusHistory.to_status).where(
            AppointmentStatusHistory.appointment_id == appointment.id)).all()
        assert history.count("CONFIRMED") == 1, history
    assert db.session.scalars(select(Refund)).all() == []  # no slot was lost, nothing refunded
    assert time.monotonic() - started < 100, f"storm {storm_seconds:.1f}s"
