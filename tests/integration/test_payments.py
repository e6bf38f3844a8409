"""Payments end to end through the official razorpay client against the stand-in, over HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.events import OutboxEvent, relay_pending
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.payments import gateway, payouts, service
from portal.payments.models import PaymentTransaction, Refund, WebhookEvent
from tests.factories import MONDAY_MORNING

FEE = 50_000


@pytest.fixture
def booking(factory, frozen_clock, razorpay):
    """A held video consultation (fee ₹500) of a patient, ready to pay."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=FEE, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"),
                                   booking_window_days=3)
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    patient = factory.create_patient()
    slots = factory.free_slots(doctor)
    appointment = factory.book(patient, slots[0])
    return {"doctor": doctor, "patient": patient, "appointment": appointment, "slots": slots}


def run_jobs(app, redis_url) -> None:
    """Work every queued job now, in this process, like `flask worker --burst`."""

    connection = redis_connection(redis_url)
    queues = [Queue(name, connection=connection) for name in app.config["RQ_QUEUES"]]
    worker = AppWorker(queues, connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


def event_types(aggregate_id) -> list[str]:
    return list(db.session.scalars(select(OutboxEvent.event_type).where(
        OutboxEvent.aggregate_id == aggregate_id).order_by(OutboxEvent.seq)))


def pay(booking, razorpay, outcome="success"):
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    return payment, razorpay.pay(payment.gateway_order_id, outcome)


def test_the_whole_flow_books_the_appointment(booking, razorpay):
    payment, fields = pay(booking, razorpay)
    assert payment.amount_paise == FEE
    assert payment.status == "CREATED"
    assert payment.receipt == f"appt_{booking['appointment'].id.hex}"

    settled = service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                      fields["razorpay_signature"], user=booking["patient"])

    assert settled.status == "CAPTURED"
    assert settled.gateway_payment_id == fields["razorpay_payment_id"]
    appointment = db.session.get(Appointment, booking["appointment"].id)
    assert appointment.status == "CONFIRMED"
    assert event_types(payment.id) == ["PAYMENT_INITIATED", "PAYMENT_COMPLETED"]


def test_a_retried_initiate_returns_the_same_order(booking, razorpay):
    first = service.initiate(booking["patient"], booking["appointment"].id)
    again = service.initiate(booking["patient"], booking["appointment"].id)
    assert again.gateway_order_id == first.gateway_order_id

    orders = gateway.client().order.all({"receipt": first.receipt})
    assert [o["id"] for o in orders["items"]] == [first.gateway_order_id]


def test_an_order_made_by_a_call_whose_answer_was_lost_is_found_by_receipt(booking, razorpay):
    appointment = booking["appointment"]
    lost = gateway.create_order(FEE, "INR", f"appt_{appointment.id.hex}", {})
    db.session.add(PaymentTransaction(
        appointment_id=appointment.id, patient_id=appointment.patient_id,
        doctor_id=appointment.doctor_id, amount_paise=FEE, receipt=f"appt_{appointment.id.hex}",
        status="PENDING"))
    db.session.commit()

    payment = service.initiate(booking["patient"], appointment.id)

    assert payment.gateway_order_id == lost["id"]


def test_the_signature_is_checked_against_the_stored_order(booking, razorpay):
    payment, fields = pay(booking, razorpay)
    with pytest.raises(service.InvalidSignature):
        service.verify_checkout(payment.id, fields["razorpay_payment_id"], "0" * 64)
    # A genuine signature of another order does not settle this one.
    other = booking["slots"][1]
    second_patient_payment = service.initiate(
        booking["patient"], appointments.reserve(booking["patient"], other.id).id)
    other_fields = razorpay.pay(second_patient_payment.gateway_order_id)
    with pytest.raises(service.InvalidSignature):
        service.verify_checkout(payment.id, other_fields["razorpay_payment_id"],
                                other_fields["razorpay_signature"])
    assert db.session.get(PaymentTransaction, payment.id).status == "CREATED"


def test_an_authorized_payment_is_captured_when_the_account_does_not_auto_capture(
        booking, razorpay):
    razorpay.control("POST", "/settings", {"auto_capture": False})
    payment, fields = pay(booking, razorpay)
    settled = service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                      fields["razorpay_signature"])
    assert settled.status == "CAPTURED"

    assert gateway.fetch_payment(fields["razorpay_payment_id"])["status"] == "captured"


def test_the_webhook_alone_confirms_when_the_browser_never_came_back(app, booking, razorpay,
                                                                     redis_url):
    payment, _fields = pay(booking, razorpay)
    deliveries = razorpay.deliver_webhooks()
    assert {d["event"] for d in deliveries} >= {"payment.captured", "order.paid"}
    assert all(d["status"] == "delivered" for d in deliveries), deliveries

    run_jobs(app, redis_url)

    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"
    assert db.session.get(Appointment, booking["appointment"].id).status == "CONFIRMED"
    assert event_types(payment.id).count("PAYMENT_COMPLETED") == 1


def test_duplicate_replayed_and_forged_webhooks_change_nothing(app, booking, razorpay,
                                                               redis_url, client):
    payment, _fields = pay(booking, razorpay)
    razorpay.deliver_webhooks()
    run_jobs(app, redis_url)
    captured = razorpay.webhooks(event="payment.captured")[0]

    again = razorpay.control("POST", f"/webhooks/{captured['event_id']}/redeliver")
    razorpay.deliver_webhooks()
    run_jobs(app, redis_url)

    assert again
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.id == captured["event_id"])) == 1
    assert event_types(payment.id).count("PAYMENT_COMPLETED") == 1

    forged = client.post("/api/v1/payments/webhook", data=b'{"event": "payment.captured"}',
                         headers={"X-Razorpay-Signature": "f" * 64,
                                  "Content-Type": "application/json"})
    assert forged.status_code == 400
    assert forged.mimetype == "application/problem+json"
    unsigned = client.post("/api/v1/payments/webhook", data=b"{}",
                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 400


def test_a_late_failure_event_never_moves_a_captured_payment_backwards(booking, razorpay):
    payment, fields = pay(booking, razorpay)
    service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                            fields["razorpay_signature"])
    stale = {"id": "pay_OldAttempt0001", "order_id": payment.gateway_order_id,
             "amount": FEE, "status": "failed", "error_description": "Card declined"}
    service.apply_gateway_payment(payment.id, stale, source="webhook")
    authorized_again = {**stale, "id": fields["razorpay_payment_id"], "status": "authorized"}
    service.apply_gateway_payment(payment.id, authorized_again, source="webhook")
    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"


def test_a_failed_payment_then_a_successful_retry(booking, razorpay):
    payment, failure = pay(booking, razorpay, outcome="failure")
    failed_id = failure.get("razorpay_payment_id") or failure.get("error", {}).get(
        "metadata", {}).get("payment_id")

    service.apply_gateway_payment(payment.id, gateway.fetch_payment(failed_id), source="webhook")
    assert db.session.get(PaymentTransaction, payment.id).status == "FAILED"
    assert "PAYMENT_FAILED" in event_types(payment.id)

    retry = razorpay.pay(payment.gateway_order_id)
    service.verify_checkout(payment.id, retry["razorpay_payment_id"],
                            retry["razorpay_signature"])
    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"
    assert db.session.get(Appointment, booking["appointment"].id).status == "CONFIRMED"


def test_verify_and_webhook_racing_settle_the_payment_once(app, booking, razorpay, redis_url):
    payment, fields = pay(booking, razorpay)
    razorpay.deliver_webhooks()  # stored and queued; the job's work runs in the race below
    received = list(db.session.scalars(select(WebhookEvent.id).where(
        WebhookEvent.status == "RECEIVED")))
    assert received
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def verify():
        with app.app_context():
            barrier.wait()
            try:
                service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                        fields["razorpay_signature"])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    def webhook_job():
        with app.app_context():
            barrier.wait()
            try:
                for event_id in received:  # what the worker's job does (no signals here)
                    service.process_webhook(event_id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=verify), threading.Thread(target=webhook_job)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    db.session.expire_all()
    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"
    assert event_types(payment.id).count("PAYMENT_COMPLETED") == 1
    assert event_types(booking["appointment"].id).count("CONFIRMED") == 1


def test_full_and_partial_refunds_through_the_admin_api(app, booking, razorpay, client, factory,
                                                        redis_url):
    payment, fields = pay(booking, razorpay)
    service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                            fields["razorpay_signature"])
    admin = factory.create_admin()
    token = client.api_token(admin.email)
    headers = {"Authorization": f"Bearer {token}"}

    partial = client.post(f"/api/v1/payments/{payment.id}/refund",
                          json={"amount": 20_000, "reason": "Goodwill"}, headers=headers)
    assert partial.status_code == 201, partial.get_json()
    assert partial.get_json()["status"] == "PROCESSED"
    too_much = client.post(f"/api/v1/payments/{payment.id}/refund",
                           json={"amount": 40_000, "reason": "Oops"}, headers=headers)
    assert too_much.status_code == 422
    assert too_much.get_json()["errors"][0]["field"] == "amount"
    rest = client.post(f"/api/v1/payments/{payment.id}/refund", json={"reason": "Cancelled"},
                       headers=headers)
    assert rest.get_json()["amount"]["amount"] == 30_000

    db.session.expire_all()
    settled = db.session.get(PaymentTransaction, payment.id)
    assert (settled.status, settled.refunded_paise) == ("REFUNDED", FEE)
    assert event_types(payment.id).count("REFUND_COMPLETED") == 2
    patient_token = client.api_token(booking["patient"].email)
    refused = client.post(f"/api/v1/payments/{payment.id}/refund", json={"reason": "me"},
                          headers={"Authorization": f"Bearer {patient_token}"})
    assert refused.status_code == 403


def test_a_refund_is_followed_through_its_webhooks(app, booking, razorpay, redis_url):
    razorpay.control("POST", "/settings", {"auto_process_refunds": False})
    payment, fields = pay(booking, razorpay)
    service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                            fields["razorpay_signature"])
    row = service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "test",
                         idempotency_key="test-refund-1")
    assert row.status == "PENDING"
    again = service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "test",
                           idempotency_key="test-refund-1")
    assert again.id == row.id
    assert len(razorpay.control("GET", "/webhooks?event=refund.created")["items"]) == 1

    razorpay.control("POST", f"/payments/{row.gateway_refund_id}/refund-status",
                     {"status": "failed"})
    razorpay.deliver_webhooks()
    run_jobs(app, redis_url)

    row = db.session.get(Refund, row.id)
    assert row.status == "FAILED"
    assert db.session.get(PaymentTransaction, payment.id).refunded_paise == 0


def test_a_payment_captured_after_the_slot_was_lost_is_refunded(booking, razorpay, factory,
                                                                frozen_clock):
    payment, fields = pay(booking, razorpay)
    frozen_clock.advance(timedelta(minutes=6))
    appointments.reserve(factory.create_patient(), booking["appointment"].slot_id)

    settled = service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                      fields["razorpay_signature"])

    assert settled.status == "REFUNDED"
    refund = db.session.scalar(select(Refund).where(Refund.payment_id == payment.id))
    assert (refund.source, refund.amount_paise, refund.status) == ("SLOT_LOST", FEE,
                                                                   "PROCESSED")
    assert db.session.get(Appointment, booking["appointment"].id).status == "EXPIRED"
    assert "REFUND_INITIATED" in event_types(payment.id)


def test_reconciliation_settles_a_payment_whose_webhook_was_lost(booking, razorpay,
                                                                 frozen_clock):
    razorpay.control("POST", "/webhooks/drop-next", {"count": 10})
    payment, _fields = pay(booking, razorpay)  # the patient closed the browser; no webhook
    assert service.reconcile()["payments"] == 0  # too recent to chase
    frozen_clock.advance(timedelta(minutes=6))

    service.reconcile()

    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"
    assert db.session.get(Appointment, booking["appointment"].id).status == "CONFIRMED"


def test_a_cancellation_event_refunds_the_policy_amount(app, booking, razorpay, redis_url,
                                                        frozen_clock):

    payment, fields = pay(booking, razorpay)
    service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                            fields["razorpay_signature"])
    appointment = db.session.get(Appointment, booking["appointment"].id)
    frozen_clock.freeze(appointment.start_at - timedelta(hours=3))  # 50% by the policy
    appointments.cancel_by_patient(booking["patient"], appointment.id)

    assert relay_pending() > 0
    run_jobs(app, redis_url)
    run_jobs(app, redis_url)  # a second pass finds nothing more to do

    refunds = db.session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()
    assert [(r.source, r.amount_paise) for r in refunds] == [("CANCELLATION", FEE // 2)]


def test_the_confirm_route_needs_a_payment_captured_for_that_appointment(booking, razorpay,
                                                                         client):
    token = client.api_token(booking["patient"].email)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/appointments/{booking['appointment'].id}/confirm"
    assert client.post(url, json={"payment_id": "pay_Made_Up_0001"},
                       headers=headers).status_code == 402
    payment, fields = pay(booking, razorpay)
    service.apply_gateway_payment(payment.id, {
        "id": fields["razorpay_payment_id"], "order_id": payment.gateway_order_id,
        "amount": FEE, "status": "captured"}, source="test")
    ok = client.post(url, json={"payment_id": fields["razorpay_payment_id"]}, headers=headers)
    assert ok.status_code == 200
    assert ok.get_json()["status"] == "CONFIRMED"


def test_weekly_payouts_take_commission_and_the_doctors_share_of_refunds(booking, razorpay,
                                                                         frozen_clock):
    payment, fields = pay(booking, razorpay)
    service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                            fields["razorpay_signature"])
    service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "partial",
                   idempotency_key="payout-refund-1")
    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    assert payouts.compute_week() == 1
    assert payouts.compute_week() == 1  # recomputing is idempotent
    (row,) = payouts.doctor_payouts(booking["doctor"].id)
    # The clinic gives back its 10% commission on the refunded ₹100; the doctor ₹90.
    assert (row.gross_paise, row.commission_paise, row.refunds_paise, row.net_paise) == (
        FEE, FEE // 10, 9_000, FEE - FEE // 10 - 9_000)
