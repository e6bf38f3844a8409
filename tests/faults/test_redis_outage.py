"""Redis stopped for 30 seconds while patients book and pay: bookings succeed, and everything
that waited (events in the outbox, webhooks stored but not queued) is delivered once after.

Five patients, each with an HTTP client of their own against the live server, log in, hold a
slot and book it while the test's private Redis is down: three free consultations confirmed
at once, two paid ones through the Razorpay stand-in (order, Checkout, verify). Razorpay's
webhooks for those payments arrive during the outage too. When Redis is back, the relay, the
workers and reconciliation (the cron jobs, run now) deliver every notification exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from portal.appointments.models import Appointment
from portal.clock import utcnow
from portal.events import OutboxEvent, relay_pending
from portal.extensions import db
from portal.notifications.delivery import sweep_deliveries
from portal.notifications.inbox import inbox
from portal.notifications.models import NotificationLog
from portal.payments import service as payments
from portal.payments.models import PaymentTransaction, WebhookEvent
from tests.factories import PASSWORD, create_patient
from tests.faults.conftest import ROOT, doctor_with_slots, settle, worker_env

# The issue asks for 30 s; the whole test stays under a minute with it (about 40 s).
OUTAGE_SECONDS = 30
HTTP_TIMEOUT = 15
FREE, PAID = 3, 2
FEE = 50_000


class Patient:
    """One patient's browser-less client: logs in, holds a slot, books (and pays) it."""

    def __init__(self, base_url: str, email: str, slot_id, paid: bool, razorpay) -> None:
        self.base_url = base_url
        self.email = email
        self.slot_id = slot_id
        self.paid = paid
        self.razorpay = razorpay
        self.http = requests.Session()
        self.appointment_id: str | None = None

    def call(self, method: str, path: str, expected: int, **kwargs) -> dict:
        response = self.http.request(method, f"{self.base_url}{path}", timeout=HTTP_TIMEOUT,
                                     **kwargs)
        assert response.status_code == expected, (method, path, response.status_code,
                                                  response.text[:500])
        return response.json()

    def book(self) -> str:
        token = self.call("POST", "/api/v1/auth/token", 200,
                          json={"email": self.email, "password": PASSWORD})["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        held = self.call("POST", "/api/v1/appointments/reserve", 201,
                         json={"slot_id": str(self.slot_id)})
        self.appointment_id = held["id"]
        if not self.paid:
            return self.call("POST", f"/api/v1/appointments/{held['id']}/confirm", 200,
                             json={})["status"]
        checkout = self.call("POST", "/api/v1/payments/initiate", 201,
                             json={"appointment_id": held["id"]})
        assert checkout["amount"]["amount"] == FEE
        fields = self.razorpay.pay(checkout["order_id"])  # the patient pays in Checkout
        settled = self.call("POST", "/api/v1/payments/verify", 200, json={
            "payment_id": checkout["payment_id"], **fields})
        assert settled["status"] == "CAPTURED"
        return self.call("GET", f"/api/v1/appointments/{held['id']}", 200)["status"]


def unpublished() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.published_at.is_(None)))


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_patients_book_and_pay_while_redis_is_down_and_everything_is_delivered_after(
        app, app_ctx, live_server, private_redis, razorpay, mailbox):
    razorpay.control("POST", "/settings", {"auto_capture": True})
    free_doctor, free_slots = doctor_with_slots(0)
    paid_doctor, paid_slots = doctor_with_slots(FEE)
    people = [create_patient(sms=False) for _ in range(FREE + PAID)]
    clients = [Patient(live_server.url, p.email, (free_slots if i < FREE else paid_slots)[i].id,
                       paid=i >= FREE, razorpay=razorpay) for i, p in enumerate(people)]

    private_redis.stop()
    down_at = time.monotonic()
    try:
        barrier = threading.Barrier(len(clients))

        def book(client: Patient) -> str:
            barrier.wait(timeout=HTTP_TIMEOUT)
            return client.book()

        with ThreadPoolExecutor(len(clients)) as pool:
            statuses = list(pool.map(book, clients, timeout=OUTAGE_SECONDS))
        assert statuses == ["CONFIRMED"] * len(clients)

        # Razorpay's webhooks arrive meanwhile: answered 2xx, stored, not queued.
        deliveries = razorpay.deliver_webhooks()
        assert len(deliveries) == 3 * PAID  # authorized, captured, order.paid
        assert {d["status"] for d in deliveries} == {"delivered"}, deliveries

        assert relay_pending() == 0  # the events wait in the outbox
        waiting = unpublished()
        assert waiting >= 2 * len(clients)  # RESERVED and CONFIRMED each, payments' too
        booked_in = time.monotonic() - down_at
        assert booked_in < OUTAGE_SECONDS, f"booking took {booked_in:.1f}s, longer than the outage"
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    finally:
        private_redis.start()  # same port; an empty dataset, as after a crash

    # The cron jobs' work, now: relay, workers, reconciliation of the stored webhooks.
    settle(app)
    later = utcnow() + timedelta(minutes=2)
    done = payments.reconcile(now=later)
    assert done["webhooks"] == len(deliveries)
    settle(app)
    assert sweep_deliveries(now=later) == 0  # nothing left for the sweeper
    settle(app)  # another pass adds nothing

    assert unpublished() == 0
    db.session.expire_all()
    assert Counter(db.session.scalars(select(WebhookEvent.status))) == {
        "PROCESSED": len(deliveries)}
    appointments = db.session.scalars(select(Appointment)).all()
    assert sorted(a.status for a in appointments) == ["CONFIRMED"] * len(clients)
    assert [p.status for p in db.session.scalars(select(PaymentTransaction))] == \
        ["CAPTURED"] * PAID
    completed = db.session.scalars(select(OutboxEvent.aggregate_id).where(
        OutboxEvent.event_type == "PAYMENT_COMPLETED")).all()
    assert len(completed) == len(set(completed)) == PAID

    for patient, client in zip(people, clients, strict=True):
        mail = [m.subject for m in mailbox.list() if patient.email in m.to]
        expected = ["is confirmed"] + (["Receipt for your payment"] if client.paid else [])
        assert sorted(_kind(subject) for subject in mail) == sorted(expected), mail
        in_app = Counter(n.type for n in inbox(patient.id))
        assert in_app == Counter(["APPOINTMENT_RESERVED", "APPOINTMENT_CONFIRMED"]
                                 + (["PAYMENT_RECEIPT"] if client.paid else [])), in_app
    for doctor, count in ((free_doctor, FREE), (paid_doctor, PAID)):
        mail = [m.subject for m in mailbox.list() if doctor.user.email in m.to]
        assert [s.split(":")[0] for s in mail] == ["New booking"] * count

    # Every notification recorded was sent, and each exactly once.
    logs = db.session.scalars(select(NotificationLog)).all()
    assert {row.status for row in logs} == {"SENT"}
    emails = [row for row in logs if row.channel == "EMAIL"]
    assert len(mailbox.list(channel="email")) == len(emails)
    assert all(row.attempts == 1 for row in emails)


def _kind(subject: str) -> str:
    if "is confirmed" in subject:
        return "is confirmed"
    if subject.startswith("Receipt for your payment"):
        return "Receipt for your payment"
    return subject


# Logs a patient in through the API and the form, in a process of its own: create_app binds
# the one Limiter of portal.extensions to the storage of the last app made, so an app with
# production settings in this process would move the suite's rate limits to a dead Redis.
LOGIN_SCRIPT = """
import json, sys
from portal import create_app
from tests.conftest import PortalClient
app = create_app({"TESTING": False})
app.test_client_class = PortalClient
client = app.test_client()
token = client.post("/api/v1/auth/token", json={"email": sys.argv[1], "password": sys.argv[2]})
form = client.post_form("/account/login", {"email": sys.argv[1], "password": sys.argv[2]})
print(json.dumps({"token": token.status_code, "form": form.status_code,
                  "storage": app.config["RATELIMIT_STORAGE_URI"]}))
"""


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_patients_can_log_in_while_redis_is_down_with_the_production_rate_limit_storage(
        app, factory, private_redis):
    """The suite's app keeps rate limits in memory; production keeps them in REDIS_URL's Redis.

    The portal here is configured from the environment alone, as in production.
    """
    patient = factory.create_patient()
    env = worker_env(app)
    env.pop("RATELIMIT_STORAGE_URI")  # production leaves it to default to REDIS_URL
    private_redis.stop()
    result = subprocess.run([sys.executable, "-c", LOGIN_SCRIPT, patient.email, PASSWORD],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["storage"] == private_redis.url
    assert (answers["token"], answers["form"]) == (200, 302), answers
