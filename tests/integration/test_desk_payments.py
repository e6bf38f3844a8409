"""Desk payments: money at the counter, and Razorpay Payment Links through the stand-in driven by
the official razorpay client, over HTTP, with the webhooks going through the real pipeline."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatusHistory
from portal.auth.models import Role
from portal.events import OutboxEvent, relay_pending
from portal.exceptions import Forbidden
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.notifications import preferences as notifications
from portal.notifications.models import NotificationLog
from portal.payments import desk, gateway, service
from portal.payments.models import (
    PaymentLink,
    PaymentTransaction,
    Refund,
    WebhookEvent,
)
from tests.factories import MONDAY_MORNING
from tests.integration.support import page_text, problem_errors

FEE = 50_000


@pytest.fixture
def clinic(factory, frozen_clock, razorpay):
    """Video consultations at ₹500 (17:00-19:00 in Kolkata, today first) and free in-person
    ones; the front desk, an admin and a patient holding a video slot."""
    frozen_clock.freeze(MONDAY_MORNING)
    # The portal's clock is frozen, the sandbox's is not: links expire when the test says.
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True,
                                           "enforce_link_expiry": False})
    doctor = factory.create_doctor(fee_video_paise=FEE, fee_in_person_paise=0,
                                   booking_window_days=3)
    patient = factory.create_patient()
    return {
        "doctor": doctor, "patient": patient, "staff": factory.create_user(Role.STAFF),
        "admin": factory.create_admin(),
        "appointment": factory.book(patient, doctor=doctor, kind="VIDEO"),
    }


def run_jobs(app) -> None:
    """Work every queued job now, in this process, like `flask worker --burst`."""

    connection = redis_connection(app.config["REDIS_URL"])
    worker = AppWorker([Queue(n, connection=connection) for n in app.config["RQ_QUEUES"]],
                       connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


def settle(app) -> None:
    """What the relay and the workers do: events -> consumers -> deliveries."""
    for _ in range(3):
        relay_pending()
        run_jobs(app)


def event_types(aggregate_id) -> list[str]:
    return list(db.session.scalars(select(OutboxEvent.event_type).where(
        OutboxEvent.aggregate_id == aggregate_id).order_by(OutboxEvent.seq)))


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def bearer(client, user) -> dict:
    return {"Authorization": f"Bearer {client.api_token(user.email)}"}


# --- the payment link --------------------------------------------------------------------------


def test_a_payment_link_is_sent_paid_and_confirms_the_booking_once(app, clinic, razorpay,
                                                                    twilio, mailbox):
    appointment, patient = clinic["appointment"], clinic["patient"]

    link = desk.send_payment_link(clinic["staff"], appointment.id)

    # Created at Razorpay through the real client, for the fee, with our receipt as reference.
    assert link.gateway_link_id.startswith("plink_")
    remote = gateway.client().payment_link.fetch(link.gateway_link_id)
    payment = fresh(PaymentTransaction, link.payment_id)
    assert (remote["amount"], remote["reference_id"], remote["status"]) == (
        FEE, payment.receipt, "created")
    assert remote["customer"]["contact"] == patient.phone
    assert remote["short_url"] == link.short_url
    assert (payment.channel, payment.status, payment.amount_paise) == ("LINK", "CREATED", FEE)
    # The slot waits for the patient until the link expires.
    held = fresh(Appointment, appointment.id)
    assert link.expires_at == MONDAY_MORNING + timedelta(minutes=16)
    assert held.reserved_until == link.expires_at
    assert db.session.scalar(select(AppointmentStatusHistory.reason).where(
        AppointmentStatusHistory.appointment_id == appointment.id,
        AppointmentStatusHistory.reason.like("payment link sent%")))
    # A retry is the same link, at Razorpay too.
    assert desk.send_payment_link(clinic["staff"], appointment.id).id == link.id
    assert len(gateway.client().payment_link.all(
        {"reference_id": payment.receipt})["payment_links"]) == 1

    # Sent by SMS and email through our notifications.
    settle(app)
    emails = [m for m in mailbox.list() if patient.email in m.to and "Pay ₹500" in m.subject]
    assert len(emails) == 1
    assert link.short_url in emails[0].text
    texts = [m for m in mailbox.list(channel="sms") if patient.phone in m.to]
    assert len(texts) == 1
    assert link.short_url in texts[0].text

    # Paid on Razorpay's page; every webhook lost on the way, then delivered late, out of order
    # (the link's event first) and twice.
    razorpay.control("POST", "/webhooks/drop-next", {"count": 4})
    razorpay.control("POST", f"/payment_links/{link.gateway_link_id}/pay", {"method": "upi"})
    dropped = {d["event"]: d["event_id"] for d in razorpay.webhooks(status="dropped")}
    assert set(dropped) == {"payment.authorized", "payment.captured", "order.paid",
                            "payment_link.paid"}
    for event in ("payment_link.paid", "order.paid", "payment.captured", "payment.authorized",
                  "payment_link.paid", "payment.captured"):
        razorpay.control("POST", f"/webhooks/{dropped[event]}/redeliver")
    run_jobs(app)

    payment = fresh(PaymentTransaction, payment.id)
    assert (payment.status, payment.channel, payment.method) == ("CAPTURED", "LINK", "upi")
    assert payment.gateway_order_id == remote_order_id(link)
    assert fresh(Appointment, appointment.id).status == "CONFIRMED"
    assert fresh(PaymentLink, link.id).status == "paid"
    assert event_types(payment.id).count("PAYMENT_COMPLETED") == 1
    assert event_types(appointment.id).count("CONFIRMED") == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 4
    assert set(db.session.scalars(select(WebhookEvent.status))) == {"PROCESSED"}

    # Replayed once more after everything settled: still nothing new.
    razorpay.control("POST", f"/webhooks/{dropped['payment_link.paid']}/redeliver")
    run_jobs(app)
    assert event_types(payment.id).count("PAYMENT_COMPLETED") == 1


def remote_order_id(link) -> str:
    return gateway.client().payment_link.fetch(link.gateway_link_id)["order_id"]


def test_the_api_sends_a_link_for_staff_and_admins_only(clinic, razorpay, client):
    url = f"/api/v1/desk/appointments/{clinic['appointment'].id}/payment-link"
    assert client.post(url, headers=bearer(client, clinic["patient"])).status_code == 403
    assert client.post(url, headers=bearer(client, clinic["doctor"].user)).status_code == 403
    assert client.post(url).status_code == 401

    response = client.post(url, headers=bearer(client, clinic["staff"]))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["gateway_link_id"].startswith("plink_")
    assert body["short_url"].startswith(razorpay.url)
    assert body["status"] == "created"
    assert (body["payment"]["channel"], body["payment"]["amount"]["amount"]) == ("LINK", FEE)
    again = client.post(url, headers=bearer(client, clinic["admin"]))
    assert again.status_code == 201
    assert again.get_json()["id"] == body["id"]


def test_reconciliation_confirms_a_paid_link_whose_webhooks_were_lost(clinic, razorpay,
                                                                       frozen_clock):
    link = desk.send_payment_link(clinic["staff"], clinic["appointment"].id)
    razorpay.control("POST", "/webhooks/drop-next", {"count": 10})
    razorpay.control("POST", f"/payment_links/{link.gateway_link_id}/pay", {})
    assert service.reconcile()["links"] == 0  # too recent to chase

    frozen_clock.advance(timedelta(minutes=6))
    assert service.reconcile()["links"] == 1

    payment = fresh(PaymentTransaction, link.payment_id)
    assert (payment.status, payment.gateway_order_id) == ("CAPTURED", remote_order_id(link))
    assert fresh(Appointment, clinic["appointment"].id).status == "CONFIRMED"
    assert fresh(PaymentLink, link.id).status == "paid"
    assert service.reconcile()["links"] == 0  # a paid link is not asked about again


def test_an_expired_link_leaves_the_hold_to_lapse_and_cannot_be_sent_again(app, clinic,
                                                                          razorpay,
                                                                          frozen_clock):
    link = desk.send_payment_link(clinic["staff"], clinic["appointment"].id)
    razorpay.control("POST", f"/payment_links/{link.gateway_link_id}/expire")
    razorpay.deliver_webhooks()
    run_jobs(app)

    assert fresh(PaymentLink, link.id).status == "expired"
    assert fresh(PaymentTransaction, link.payment_id).status == "CREATED"
    with pytest.raises(desk.LinkClosed):
        desk.send_payment_link(clinic["staff"], clinic["appointment"].id)
    frozen_clock.advance(timedelta(minutes=17))
    appointment = fresh(Appointment, clinic["appointment"].id)
    assert appointments.effective_status(appointment) == "EXPIRED"


# --- money at the counter ----------------------------------------------------------------------


def test_cash_at_the_desk_confirms_the_booking_and_shows_on_the_dashboard_and_receipt(
        clinic, razorpay, client, new_client):
    appointment = clinic["appointment"]
    response = client.post(f"/api/v1/desk/appointments/{appointment.id}/offline-payment",
                           json={"method": "cash", "reference": " 4411 "},
                           headers=bearer(client, clinic["staff"]))

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["status"], body["channel"], body["method"], body["offline_reference"]) == (
        "CAPTURED", "OFFLINE", "cash", "4411")
    assert body["amount"] == {"amount": FEE, "currency": "INR"}
    payment = fresh(PaymentTransaction, body["id"])
    assert payment.recorded_by_id == clinic["staff"].id
    assert fresh(Appointment, appointment.id).status == "CONFIRMED"
    assert event_types(payment.id) == ["PAYMENT_COMPLETED"]
    assert db.session.scalar(select(AppointmentStatusHistory.changed_by_id).where(
        AppointmentStatusHistory.appointment_id == appointment.id,
        AppointmentStatusHistory.to_status == "CONFIRMED")) == clinic["staff"].id

    admin = new_client()
    admin.login(clinic["admin"].email)
    desk_rows = page_text(admin.get("/admin/payments?channel=OFFLINE"))
    assert "At the desk" in desk_rows
    assert "Receipt no. 4411" in desk_rows
    assert clinic["patient"].name in desk_rows
    assert clinic["patient"].name not in page_text(admin.get("/admin/payments?channel=LINK"))
    detail = page_text(admin.get(f"/admin/payments/{payment.id}"))
    assert clinic["staff"].name in detail
    assert 'data-testid="offline-reference">4411<' in detail
    rows = list(csv.DictReader(io.StringIO(
        admin.get("/admin/payments.csv?channel=OFFLINE").get_data(as_text=True))))
    assert [(r["payment_id"], r["channel"], r["offline_method"], r["offline_reference"])
            for r in rows] == [(str(payment.id), "OFFLINE", "cash", "4411")]

    patient = new_client()
    patient.login(clinic["patient"].email)
    receipt = page_text(patient.get(f"/payments/{payment.id}/receipt"))
    assert "Paid at the desk: cash, receipt no. 4411" in receipt


def test_desk_payments_refuse_what_cannot_be_paid(clinic, factory, client):
    staff = bearer(client, clinic["staff"])
    held = clinic["appointment"]
    url = f"/api/v1/desk/appointments/{held.id}/offline-payment"

    empty = client.post(url, json={"method": "cash", "reference": "   "}, headers=staff)
    assert empty.status_code == 422
    assert "reference" in problem_errors(empty)
    cheque = client.post(url, json={"method": "cheque", "reference": "1"}, headers=staff)
    assert cheque.status_code == 422
    assert "method" in problem_errors(cheque)
    for caller in (clinic["patient"], clinic["doctor"].user):
        refused = client.post(url, json={"method": "cash", "reference": "1"},
                              headers=bearer(client, caller))
        assert refused.status_code == 403
    assert client.post(url, json={"method": "cash", "reference": "1"}).status_code == 401
    with pytest.raises(Forbidden):
        desk.record_offline(clinic["patient"], held.id, "cash", "1")

    free = factory.book(clinic["patient"], doctor=clinic["doctor"], kind="IN_PERSON")
    nothing = client.post(f"/api/v1/desk/appointments/{free.id}/offline-payment",
                          json={"method": "upi", "reference": "2"}, headers=staff)
    assert nothing.status_code == 409
    assert "free" in nothing.get_json()["detail"]

    assert client.post(url, json={"method": "card", "reference": "3"},
                       headers=staff).status_code == 201
    again = client.post(url, json={"method": "cash", "reference": "4"}, headers=staff)
    assert again.status_code == 409
    assert "already paid" in again.get_json()["detail"]
    link = client.post(f"/api/v1/desk/appointments/{held.id}/payment-link", headers=staff)
    assert link.status_code == 409

    other = factory.book(factory.create_patient(), doctor=clinic["doctor"], kind="VIDEO")
    reused = client.post(f"/api/v1/desk/appointments/{other.id}/offline-payment",
                         json={"method": "cash", "reference": "3"}, headers=staff)
    assert reused.status_code == 409
    assert "reference" in problem_errors(reused)
    assert db.session.scalar(select(func.count()).select_from(PaymentTransaction)) == 1


def test_cash_after_a_link_cancels_the_link_at_razorpay(clinic, razorpay):
    link = desk.send_payment_link(clinic["staff"], clinic["appointment"].id)

    payment = desk.record_offline(clinic["staff"], clinic["appointment"].id, "cash", "77")

    assert (payment.channel, payment.status) == ("OFFLINE", "CAPTURED")
    assert gateway.fetch_payment_link(link.gateway_link_id)["status"] == "cancelled"
    assert fresh(PaymentLink, link.id).status == "cancelled"


def test_a_link_paid_before_the_cash_was_recorded_wins(app, clinic, razorpay):
    link = desk.send_payment_link(clinic["staff"], clinic["appointment"].id)
    razorpay.control("POST", "/webhooks/drop-next", {"count": 10})
    razorpay.control("POST", f"/payment_links/{link.gateway_link_id}/pay", {})

    with pytest.raises(desk.AlreadyPaid, match="by payment link"):
        desk.record_offline(clinic["staff"], clinic["appointment"].id, "cash", "78")

    payment = fresh(PaymentTransaction, link.payment_id)
    assert (payment.channel, payment.status, payment.offline_reference) == (
        "LINK", "CAPTURED", None)
    assert fresh(Appointment, clinic["appointment"].id).status == "CONFIRMED"


def test_cancelling_an_offline_paid_appointment_refunds_at_the_desk_not_at_razorpay(
        app, clinic, razorpay, monkeypatch):
    def no_gateway(*args, **kwargs):
        raise AssertionError("an offline payment was refunded at the gateway")

    monkeypatch.setattr(gateway, "refund", no_gateway)
    appointment = clinic["appointment"]
    payment = desk.record_offline(clinic["staff"], appointment.id, "upi", "5120")

    appointments.cancel(clinic["admin"], appointment.id, "Doctor unavailable")
    relay_pending()
    run_jobs(app)

    (refund,) = db.session.scalars(select(Refund).where(Refund.payment_id == payment.id))
    assert (refund.source, refund.amount_paise, refund.status) == ("CANCELLATION", FEE,
                                                                   "PROCESSED")
    assert refund.gateway_refund_id is None
    assert fresh(PaymentTransaction, payment.id).status == "REFUNDED"
    assert event_types(payment.id)[-2:] == ["REFUND_INITIATED", "REFUND_COMPLETED"]
    assert razorpay.webhooks(event="refund.created") == []
    assert service.reconcile()["refunds"] == 0


def test_an_admin_records_cash_handed_back_for_an_offline_payment(clinic, razorpay, client):
    payment = desk.record_offline(clinic["staff"], clinic["appointment"].id, "cash", "9")
    response = client.post(f"/api/v1/payments/{payment.id}/refund",
                           json={"amount": 20_000, "reason": "Partly refunded in cash"},
                           headers=bearer(client, clinic["admin"]))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "PROCESSED"
    assert fresh(PaymentTransaction, payment.id).status == "PARTIALLY_REFUNDED"


def test_reconciliation_leaves_a_paid_appointment_cancelled_late_alone(clinic, razorpay,
                                                                       frozen_clock):
    appointment = clinic["appointment"]
    payment = desk.record_offline(clinic["staff"], appointment.id, "cash", "31")
    frozen_clock.freeze(fresh(Appointment, appointment.id).start_at - timedelta(hours=1))
    appointments.cancel_by_patient(clinic["patient"], appointment.id)  # too late: no refund
    frozen_clock.advance(timedelta(minutes=10))

    service.reconcile()

    assert fresh(PaymentTransaction, payment.id).status == "CAPTURED"
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_the_patient_is_told_the_link_in_their_language(app, clinic, razorpay, mailbox):
    notifications.update_preferences(clinic["patient"], language="hi", channels_={
        "SMS": {"PAYMENT_LINK": False}})
    link = desk.send_payment_link(clinic["staff"], clinic["appointment"].id)
    settle(app)

    rows = db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == clinic["patient"].id,
        NotificationLog.type == "PAYMENT_LINK")).all()
    assert {r.channel for r in rows} == {"EMAIL", "IN_APP"}
    email = next(r for r in rows if r.channel == "EMAIL")
    assert "भुगतान" in email.subject
    assert link.short_url in email.body
