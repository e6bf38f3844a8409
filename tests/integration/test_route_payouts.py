"""Doctors paid through Razorpay Route, end to end through the official razorpay client against
the stand-in over HTTP: linked accounts, transfers held until the visit, releases, reversals,
settlements and statements, with the webhooks going through the real pipeline. And the other
half of the issue: a paid hold does not lapse while its money is on the way."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from jobs import appointments as appointment_jobs
from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.events import relay_pending
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.payments import accounts, desk, gateway, payouts, service, transfers
from portal.payments.models import (
    DoctorPayout,
    LinkedAccount,
    PaymentTransaction,
    Transfer,
    WebhookEvent,
)
from tests.factories import MONDAY_MORNING
from tests.integration.support import page_text, sync

FEE = 50_000
SHARE = 45_000  # the fee less the clinic's 10% commission
ACCOUNT_NUMBER = "50100012345678"


def details(**overrides) -> accounts.AccountDetails:
    return accounts.AccountDetails(**{
        "legal_name": "Asha Mehta", "contact_name": "Asha Mehta",
        "email": "asha.mehta@example.com", "phone": "+919820000001",
        "account_number": ACCOUNT_NUMBER, "ifsc": "HDFC0000317",
        "beneficiary_name": "Asha Mehta", "street": "12 Hill Road", "city": "Mumbai",
        "state": "MAHARASHTRA", "postal_code": "400050", **overrides})


@pytest.fixture
def clinic(factory, frozen_clock, razorpay, twilio):
    """A doctor with an activated linked account (video ₹500, 09:00-12:00 in Kolkata from
    Monday), a patient holding the first slot, and an admin."""
    frozen_clock.freeze(MONDAY_MORNING)
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True,
                                           "auto_process_transfers": True})
    doctor = factory.create_doctor(name="Dr. Asha Mehta", fee_video_paise=FEE,
                                   fee_in_person_paise=None, booking_window_days=3,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
    account = accounts.onboard(doctor, details())
    patient = factory.create_patient(sms=False)
    return {"doctor": doctor, "account": account, "patient": patient,
            "admin": factory.create_admin(), "slots": factory.free_slots(doctor),
            "appointment": factory.book(patient, doctor=doctor)}


def run_jobs(app) -> None:
    connection = redis_connection(app.config["REDIS_URL"])
    worker = AppWorker([Queue(n, connection=connection) for n in app.config["RQ_QUEUES"]],
                       connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


def settle(app, razorpay=None) -> None:
    """The relay, the workers and (when given) Razorpay's webhooks, until nothing moves."""
    for _ in range(3):
        if razorpay is not None:
            razorpay.deliver_webhooks()
        relay_pending()
        run_jobs(app)


def pay(clinic, razorpay) -> PaymentTransaction:
    payment = service.initiate(clinic["patient"], clinic["appointment"].id)
    fields = razorpay.pay(payment.gateway_order_id)
    return service.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                   fields["razorpay_signature"])


def the_transfer(payment) -> Transfer:
    db.session.expire_all()
    return db.session.scalar(select(Transfer).where(Transfer.payment_id == payment.id))


def at_razorpay(payment) -> list[dict]:
    return gateway.payment_transfers(payment.gateway_payment_id)


def after_the_visit(clinic, frozen_clock) -> None:
    frozen_clock.freeze(clinic["appointment"].end_at + timedelta(minutes=5))


# --- linked accounts ---------------------------------------------------------------------------


def test_onboarding_makes_an_activated_linked_account_and_keeps_only_the_last_digits(clinic,
                                                                                    razorpay):
    account = db.session.get(LinkedAccount, clinic["account"].id)
    assert re.fullmatch(r"acc_[0-9A-Za-z]{14}", account.gateway_account_id)
    assert account.gateway_product_id.startswith("acc_prd_")
    assert (account.status, account.account_last4, account.ifsc) == (
        "activated", "5678", "HDFC0000317")
    stored = " ".join(str(v) for v in db.session.execute(select(LinkedAccount)).scalar_one()
                      .__dict__.values())
    assert ACCOUNT_NUMBER not in stored  # the full number went to Razorpay only
    at_gateway = gateway.fetch_linked_account(account.gateway_account_id)
    assert (at_gateway["legal_business_name"], at_gateway["business_type"]) == (
        "Asha Mehta", "individual")


def test_onboarding_refuses_bad_bank_details_naming_the_fields(factory, razorpay):
    doctor = factory.create_doctor(hours=())
    with pytest.raises(accounts.ValidationFailed) as refused:
        accounts.onboard(doctor, details(ifsc="HDFC317", account_number="12ab",
                                         phone="9820000001"))
    assert set(refused.value.errors) == {"ifsc", "account_number", "phone"}
    assert accounts.account_for(doctor.id) is None


def test_razorpay_asking_for_clarification_reaches_the_account_through_its_webhook(
        app, clinic, razorpay):
    razorpay.control("POST", f"/accounts/{clinic['account'].gateway_account_id}/activation",
                     {"status": "needs_clarification"})
    settle(app, razorpay)
    account = db.session.get(LinkedAccount, clinic["account"].id)
    assert account.status == "needs_clarification"
    assert "No linked account" not in accounts.why_not_payable(clinic["doctor"])
    assert "needs clarification" in accounts.why_not_payable(clinic["doctor"])


# --- the transfer, its release, settlement and statement ---------------------------------------


def test_a_captured_payment_creates_a_held_transfer_of_the_doctors_share(app, clinic, razorpay):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)

    transfer = the_transfer(payment)
    assert (transfer.amount_paise, transfer.commission_paise) == (SHARE, FEE - SHARE)
    assert (transfer.status, transfer.on_hold) == ("processed", True)
    assert re.fullmatch(r"trf_[0-9A-Za-z]{14}", transfer.gateway_transfer_id)
    (listed,) = at_razorpay(payment)
    assert (listed["id"], listed["amount"], listed["on_hold"], listed["recipient"]) == (
        transfer.gateway_transfer_id, SHARE, True, clinic["account"].gateway_account_id)
    assert listed["settlement_status"] == "on_hold"
    settle(app, razorpay)  # the reactions ran once: nothing new
    assert len(at_razorpay(payment)) == 1


def test_completing_the_visit_releases_the_share_and_settlement_pays_the_statement(
        app, clinic, razorpay, frozen_clock):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    assert razorpay.control("POST", "/settlements/run")["count"] == 0  # held: nothing settles

    after_the_visit(clinic, frozen_clock)
    appointments.mark_completed(clinic["doctor"].user, clinic["appointment"].id)
    settle(app, razorpay)

    transfer = the_transfer(payment)
    assert (transfer.on_hold, transfer.released_at is not None) == (False, True)
    (listed,) = at_razorpay(payment)
    assert (listed["on_hold"], listed["settlement_status"]) == (False, "pending")

    (settlement,) = razorpay.control("POST", "/settlements/run")["items"]
    settle(app, razorpay)
    transfer = the_transfer(payment)
    assert (transfer.settlement_id, transfer.settled_at is not None) == (settlement["id"], True)
    assert payouts.money_on_the_way(clinic["doctor"].id) == payouts.MoneyOnTheWay(
        held=0, released=0, settled=SHARE, failed=0)

    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    payouts.compute_week()
    payout = db.session.scalar(select(DoctorPayout))
    assert (payout.status, payout.net_paise) == ("PAID", SHARE)
    assert the_transfer(payment).payout_id == payout.id


def test_a_statement_is_marked_paid_when_its_transfers_settle_after_it_was_computed(
        app, clinic, razorpay, frozen_clock):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    payouts.compute_week()
    payout = db.session.scalar(select(DoctorPayout))
    assert payout.status == "CALCULATED"

    appointments.mark_completed(clinic["doctor"].user, clinic["appointment"].id)
    settle(app, razorpay)
    razorpay.control("POST", "/settlements/run")
    settle(app, razorpay)

    db.session.expire_all()
    payout = db.session.get(DoctorPayout, payout.id)
    assert payout.status == "PAID"
    assert payout.paid_at == the_transfer(payment).settled_at


@pytest.mark.parametrize(("paid", "expected"), [(True, "released"), (False, "reversed")])
def test_a_no_show_follows_the_configured_rule(app, clinic, razorpay, frozen_clock, paid,
                                               expected):
    app.config["PAYOUT_ON_NO_SHOW"] = paid
    try:
        payment = pay(clinic, razorpay)
        settle(app, razorpay)
        after_the_visit(clinic, frozen_clock)
        appointments.mark_no_show(clinic["doctor"].user, clinic["appointment"].id)
        settle(app, razorpay)
    finally:
        app.config["PAYOUT_ON_NO_SHOW"] = True
    transfer = the_transfer(payment)
    (listed,) = at_razorpay(payment)
    if expected == "released":
        assert (transfer.on_hold, listed["on_hold"], transfer.reversed_paise) == (False, False, 0)
    else:
        assert (transfer.status, transfer.reversed_paise, transfer.on_hold) == (
            "reversed", SHARE, True)
        assert (listed["status"], listed["amount_reversed"]) == ("reversed", SHARE)
        (reversal,) = transfer.reversals
        assert reversal.refund_id is None
        assert "No-show" in reversal.reason


# --- refunds reverse the matching share --------------------------------------------------------


def test_a_refund_reverses_the_matching_share(app, clinic, razorpay):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "Goodwill",
                   idempotency_key="route-refund-1")
    settle(app, razorpay)

    transfer = the_transfer(payment)
    (reversal,) = transfer.reversals
    assert (reversal.amount_paise, transfer.reversed_paise) == (9_000, 9_000)  # 90% of ₹100
    assert re.fullmatch(r"rvrsl_[0-9A-Za-z]{14}", reversal.gateway_reversal_id)
    assert transfer.status == "partially_reversed"
    (listed,) = at_razorpay(payment)
    assert (listed["amount_reversed"], listed["status"]) == (9_000, "partially_reversed")

    service.refund(payment.id, FEE - 10_000, service.RefundSource.ADMIN, "The rest",
                   idempotency_key="route-refund-2")
    settle(app, razorpay)
    transfer = the_transfer(payment)
    assert (transfer.status, transfer.reversed_paise) == ("reversed", SHARE)  # nothing left over
    assert len(gateway.transfer_reversals(transfer.gateway_transfer_id)) == 2


def test_a_doctors_cancellation_refunds_in_full_and_takes_the_whole_share_back(
        app, clinic, razorpay):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    appointments.cancel_by_doctor(clinic["doctor"].user, clinic["appointment"].id,
                                  "Called away to surgery")
    settle(app, razorpay)
    transfer = the_transfer(payment)
    assert (transfer.status, transfer.reversed_paise, transfer.on_hold) == (
        "reversed", SHARE, True)


def test_a_late_cancellations_kept_fee_is_paid_like_a_no_show(app, clinic, razorpay,
                                                               frozen_clock):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    appointment = clinic["appointment"]
    frozen_clock.freeze(appointment.start_at - timedelta(hours=3))  # 50% back by the policy
    appointments.cancel_by_patient(clinic["patient"], appointment.id)
    settle(app, razorpay)
    transfer = the_transfer(payment)
    assert (transfer.reversed_paise, transfer.on_hold) == (SHARE // 2, False)


# --- webhooks: once, in any order --------------------------------------------------------------


def test_replayed_and_out_of_order_transfer_webhooks_change_nothing_the_second_time(
        app, clinic, razorpay, frozen_clock):
    razorpay.control("POST", "/settings", {"auto_process_transfers": False})
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    transfer = the_transfer(payment)
    assert transfer.status == "pending"
    razorpay.control("POST", "/webhooks/drop-next", {"count": 1})
    razorpay.control("POST", f"/transfers/{transfer.gateway_transfer_id}/status",
                     {"status": "processed"})  # its webhook is lost for now
    settle(app, razorpay)
    assert the_transfer(payment).status == "pending"  # nothing said it was processed yet
    frozen_clock.advance(timedelta(minutes=6))
    assert service.reconcile()["checked"] == 1  # the pending transfer is fetched
    assert the_transfer(payment).status == "processed"
    after_the_visit(clinic, frozen_clock)
    appointments.mark_completed(clinic["doctor"].user, clinic["appointment"].id)
    settle(app, razorpay)
    (settlement,) = razorpay.control("POST", "/settlements/run")["items"]
    settle(app, razorpay)
    settled = the_transfer(payment)
    assert (settled.status, settled.on_hold, settled.settlement_id) == (
        "processed", False, settlement["id"])

    # The lost transfer.processed comes late, after the settlement; then everything again.
    (late,) = razorpay.webhooks(event="transfer.processed")
    razorpay.control("POST", f"/webhooks/{late['event_id']}/redeliver")
    for delivery in razorpay.webhooks(event="settlement.processed"):
        razorpay.control("POST", f"/webhooks/{delivery['event_id']}/redeliver")
    settle(app, razorpay)
    db.session.expire_all()
    again = the_transfer(payment)
    assert (again.status, again.on_hold, again.settlement_id, again.settled_at,
            again.updated_at) == (settled.status, settled.on_hold, settled.settlement_id,
                                  settled.settled_at, settled.updated_at)
    stored = db.session.scalars(select(WebhookEvent).where(
        WebhookEvent.event_type.in_(["transfer.processed", "settlement.processed"]))).all()
    assert len(stored) == 2  # each event stored once, by Razorpay's event id
    assert {e.status for e in stored} == {"PROCESSED"}


def test_a_transfer_made_processed_by_a_webhook_then_told_failed_stays_processed(clinic,
                                                                                 razorpay):
    payment = pay(clinic, razorpay)
    transfers.create_transfer(payment.id)
    transfer = the_transfer(payment)
    entity = gateway.fetch_transfer(transfer.gateway_transfer_id)
    transfers.apply_gateway_transfer(entity)
    transfers.apply_gateway_transfer({**entity, "status": "failed"})
    transfers.apply_gateway_transfer({**entity, "status": "pending"})
    assert the_transfer(payment).status == "processed"


# --- a doctor who cannot be paid ---------------------------------------------------------------


def test_a_doctor_without_a_linked_account_is_paid_nothing_and_the_admin_sees_why(
        app, factory, razorpay, twilio, frozen_clock, client):
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Ravi Kumar", fee_video_paise=FEE,
                                   fee_in_person_paise=None, booking_window_days=3,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
    patient = factory.create_patient(sms=False)
    appointment = factory.book(patient, doctor=doctor, paid=True, razorpay=razorpay)
    settle(app, razorpay)
    payment = service.payment_for_appointment(appointment.id)
    assert the_transfer(payment) is None
    assert at_razorpay(payment) == []

    admin = factory.create_admin()
    client.login(admin.email)
    detail = page_text(client.get(f"/admin/payments/{payment.id}"))
    assert "No linked account: onboard Dr. Ravi Kumar." in detail
    payouts_page = page_text(client.get("/admin/payouts"))
    assert "No linked account: onboard Dr. Ravi Kumar." in payouts_page

    # Onboarded later: reconciliation transfers the share it could not before.
    accounts.onboard(doctor, details(email="ravi@example.com"))
    frozen_clock.advance(timedelta(minutes=2))
    service.reconcile()
    assert the_transfer(payment).amount_paise == SHARE


# --- lost answers and reconciliation -----------------------------------------------------------


def test_a_transfer_whose_answer_was_lost_is_found_again_not_made_twice(clinic, razorpay,
                                                                        monkeypatch,
                                                                        frozen_clock):
    payment = pay(clinic, razorpay)
    real = gateway.create_transfer

    def lost_answer(*args, **kwargs):
        real(*args, **kwargs)
        raise gateway.GatewayUnavailable("The payment service is not answering right now.")

    monkeypatch.setattr(gateway, "create_transfer", lost_answer)
    transfers.create_transfer(payment.id)
    transfer = the_transfer(payment)
    assert (transfer.gateway_transfer_id, transfer.error is not None) == (None, True)
    monkeypatch.setattr(gateway, "create_transfer", real)

    frozen_clock.advance(timedelta(minutes=6))
    service.reconcile()
    transfer = the_transfer(payment)
    (listed,) = at_razorpay(payment)
    assert transfer.gateway_transfer_id == listed["id"]


def test_a_reversal_whose_answer_was_lost_is_found_again_not_made_twice(app, clinic, razorpay,
                                                                       monkeypatch,
                                                                       frozen_clock):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    real = gateway.reverse_transfer

    def lost_answer(*args, **kwargs):
        real(*args, **kwargs)
        raise gateway.GatewayUnavailable("The payment service is not answering right now.")

    monkeypatch.setattr(gateway, "reverse_transfer", lost_answer)
    service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "Goodwill",
                   idempotency_key="lost-reversal")
    settle(app, razorpay)
    (reversal,) = the_transfer(payment).reversals
    assert (reversal.gateway_reversal_id, reversal.error is not None) == (None, True)
    monkeypatch.setattr(gateway, "reverse_transfer", real)

    frozen_clock.advance(timedelta(minutes=6))
    service.reconcile()
    transfer = the_transfer(payment)
    (listed,) = gateway.transfer_reversals(transfer.gateway_transfer_id)
    assert transfer.reversals[0].gateway_reversal_id == listed["id"]
    assert (transfer.reversed_paise, listed["amount"]) == (9_000, 9_000)


def test_a_release_refused_while_the_gateway_is_down_is_made_by_reconciliation(
        app, clinic, razorpay, monkeypatch, frozen_clock):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    after_the_visit(clinic, frozen_clock)

    def down(*args, **kwargs):
        raise gateway.GatewayUnavailable("The payment service is not answering right now.")

    monkeypatch.setattr(gateway, "release_transfer", down)
    appointments.mark_completed(clinic["doctor"].user, clinic["appointment"].id)
    settle(app, razorpay)
    held = the_transfer(payment)
    assert (held.on_hold, held.release_requested_at is not None) == (True, True)
    monkeypatch.undo()
    frozen_clock.advance(timedelta(minutes=6))
    service.reconcile()
    assert the_transfer(payment).on_hold is False
    assert at_razorpay(payment)[0]["on_hold"] is False


# --- statements --------------------------------------------------------------------------------


def test_the_statement_lists_the_transfers_and_reversals_behind_its_totals(
        app, clinic, razorpay, frozen_clock, client):
    payment = pay(clinic, razorpay)
    settle(app, razorpay)
    service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "Goodwill",
                   idempotency_key="statement-refund")
    settle(app, razorpay)
    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    payouts.compute_week()
    payout = db.session.scalar(select(DoctorPayout))
    assert (payout.gross_paise, payout.commission_paise, payout.refunds_paise,
            payout.net_paise) == (FEE, FEE - SHARE, 9_000, SHARE - 9_000)

    client.login(clinic["admin"].email)
    page = re.sub(r"\s+", " ", page_text(client.get(f"/admin/payouts/{payout.id}")))
    transfer = the_transfer(payment)
    assert transfer.gateway_transfer_id in page
    assert transfer.reversals[0].gateway_reversal_id in page
    assert "Held until the visit is completed" in page

    response = client.get(f"/admin/payouts/{payout.id}.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == payouts.STATEMENT_CSV_HEADER
    lines = [r for r in rows[1:] if r[0] != "Total"]
    assert [(r[0], r[7]) for r in lines] == [("Transfer", str(SHARE)), ("Refund", "-9000")]
    net = next(r for r in rows if r[0] == "Total" and r[3] == "Net")
    assert net[7] == str(SHARE - 9_000) == str(sum(int(r[7]) for r in lines))


def test_desk_payments_are_owed_on_the_statement_not_transferred(app, factory, clinic,
                                                                 razorpay, frozen_clock):
    staff = factory.create_admin()
    appointment = factory.book(clinic["patient"], clinic["slots"][3])
    desk_payment = desk.record_offline(staff, appointment.id, "cash", "R-1001")
    settle(app, razorpay)
    assert the_transfer(desk_payment) is None
    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    payouts.compute_week()
    payout = db.session.scalar(select(DoctorPayout))
    statement = payouts.statement(payout, "Asia/Kolkata", accounts.why_not_payable)
    (line,) = statement.lines
    assert (line.kind, line.amount) == ("desk", SHARE)
    assert statement.owed_at_desk == SHARE
    assert statement.through_route == 0
    assert payout.status == "CALCULATED"  # nothing went through Razorpay to settle


# --- a paid hold does not lapse while its money is on the way ----------------------------------


def test_a_hold_whose_payment_was_captured_with_lost_webhooks_is_confirmed_at_its_expiry(
        clinic, razorpay, frozen_clock):
    razorpay.control("POST", "/webhooks/drop-next", {"count": 10})
    payment = service.initiate(clinic["patient"], clinic["appointment"].id)
    razorpay.pay(payment.gateway_order_id)  # paid; the browser never came back
    frozen_clock.advance(timedelta(minutes=5))

    expired = appointment_jobs.expire_hold(str(clinic["appointment"].id))

    db.session.expire_all()
    assert expired is False
    assert db.session.get(Appointment, clinic["appointment"].id).status == "CONFIRMED"
    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"


def test_a_hold_whose_payment_never_came_expires_at_its_end_as_before(clinic, razorpay,
                                                                      frozen_clock):
    payment = service.initiate(clinic["patient"], clinic["appointment"].id)
    frozen_clock.advance(timedelta(minutes=5))
    assert appointment_jobs.sweep_lapsed_holds() == 1
    db.session.expire_all()
    assert db.session.get(Appointment, clinic["appointment"].id).status == "EXPIRED"
    assert db.session.get(PaymentTransaction, payment.id).status == "CREATED"


def test_an_authorised_payment_is_captured_and_confirmed_by_the_sweeper(clinic, razorpay,
                                                                        frozen_clock):
    razorpay.control("POST", "/settings", {"auto_capture": False})
    razorpay.control("POST", "/webhooks/drop-next", {"count": 10})
    payment = service.initiate(clinic["patient"], clinic["appointment"].id)
    razorpay.pay(payment.gateway_order_id)
    frozen_clock.advance(timedelta(minutes=6))
    assert appointment_jobs.sweep_lapsed_holds() == 0
    db.session.expire_all()
    assert db.session.get(Appointment, clinic["appointment"].id).status == "CONFIRMED"
    assert db.session.get(PaymentTransaction, payment.id).status == "CAPTURED"


def test_reconciliation_picks_fresh_orders_after_a_minute(clinic, razorpay, frozen_clock):
    razorpay.control("POST", "/webhooks/drop-next", {"count": 10})
    payment = service.initiate(clinic["patient"], clinic["appointment"].id)
    razorpay.pay(payment.gateway_order_id)
    frozen_clock.advance(timedelta(seconds=30))
    assert service.reconcile()["payments"] == 0  # too fresh even to ask
    frozen_clock.advance(timedelta(seconds=31))

    assert service.reconcile()["payments"] == 1

    db.session.expire_all()
    assert db.session.get(Appointment, clinic["appointment"].id).status == "CONFIRMED"
    assert service.reconcile()["payments"] == 0  # checked: not again within the minute


def test_reconciliation_leaves_older_orders_to_the_usual_interval(clinic, razorpay,
                                                                  frozen_clock):
    payment = service.initiate(clinic["patient"], clinic["appointment"].id)
    frozen_clock.advance(timedelta(minutes=16))
    assert service.reconcile()["payments"] == 1  # asked (unpaid) at 16 minutes
    frozen_clock.advance(timedelta(minutes=2))
    assert service.reconcile()["payments"] == 0  # not fresh any more: every 5 minutes
    frozen_clock.advance(timedelta(minutes=3))
    assert service.reconcile()["payments"] == 1
    assert db.session.get(PaymentTransaction, payment.id).status == "CREATED"


# --- the pages ---------------------------------------------------------------------------------

FORM = {"legal_name": "Ravi Kumar", "contact_name": "Ravi Kumar", "email": "ravi@example.com",
        "phone": "+919820000002", "street": "4 Lake View", "city": "Bengaluru",
        "state": "KARNATAKA", "postal_code": "560034", "beneficiary_name": "Ravi Kumar",
        "account_number": "123456789012", "ifsc": "icic0001234"}


def test_the_admin_onboards_a_doctor_from_the_doctors_list(factory, razorpay, client):
    doctor = factory.create_doctor(name="Dr. Ravi Kumar", hours=())
    client.login(factory.create_admin().email)
    listing = page_text(client.get("/admin/doctors"))
    url = f"/admin/doctors/{doctor.id}/payouts"
    assert f'href="{url}"' in listing
    assert "(no linked account)" in listing
    page = page_text(client.get(url))
    assert "No linked account: onboard Dr. Ravi Kumar" in page

    refused = client.post_form(url, {**FORM, "ifsc": "ICIC1234", "account_number": "12-34",
                                     "phone": "09820000002"})
    assert refused.status_code == 422
    body = page_text(refused)
    assert "An IFSC is 11 characters" in body
    assert "A bank account number is 9 to 18 digits." in body
    assert "international format" in body
    assert "12-34" not in body  # the account number is never sent back
    assert accounts.account_for(doctor.id) is None

    done = client.post_form(url, FORM)
    assert done.status_code == 303
    page = page_text(client.get(url))
    assert "Dr. Ravi Kumar's linked account is active." in page
    assert "ending <strong>9012</strong>, IFSC ICIC0001234" in page
    assert "123456789012" not in page
    sync()
    assert accounts.account_for(doctor.id).status == "activated"
    assert "(no linked account)" not in page_text(client.get("/admin/doctors"))


def test_razorpay_refusing_the_account_is_shown_on_the_form(factory, razorpay, client):
    first, second = factory.create_doctor(hours=()), factory.create_doctor(hours=())
    accounts.onboard(first, details(email="shared@example.com"))
    client.login(factory.create_admin().email)

    refused = client.post_form(f"/admin/doctors/{second.id}/payouts",
                               {**FORM, "email": "shared@example.com"})

    assert refused.status_code == 422
    assert "Razorpay did not take it: The payment gateway refused to create the linked " \
           "account: Merchant email already exists for account" in page_text(refused)
    assert accounts.account_for(second.id) is None


def test_the_doctor_sees_held_released_and_settled_amounts_and_their_statement(
        app, clinic, razorpay, frozen_clock, new_client, factory):
    pay(clinic, razorpay)
    settle(app, razorpay)
    second = factory.book(clinic["patient"], clinic["slots"][1], paid=True, razorpay=razorpay)
    settle(app, razorpay)
    doctor = new_client()
    doctor.login(clinic["doctor"].user.email)

    page = page_text(doctor.get("/payments/earnings"))
    assert 'data-total="held">₹900<' in page
    assert "Held until the visit is completed" in page

    after_the_visit(clinic, frozen_clock)
    appointments.mark_completed(clinic["doctor"].user, clinic["appointment"].id)
    settle(app, razorpay)
    razorpay.control("POST", "/settlements/run")
    settle(app, razorpay)
    appointments.mark_completed(clinic["doctor"].user, second.id)  # released, not settled
    settle(app, razorpay)
    page = page_text(doctor.get("/payments/earnings"))
    assert 'data-total="held">₹0<' in page
    assert 'data-total="released">₹450<' in page
    assert 'data-total="settled">₹450<' in page

    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    payouts.compute_week()
    payout = db.session.scalar(select(DoctorPayout))
    statement = page_text(doctor.get(f"/payments/earnings/{payout.id}"))
    assert statement.count('data-kind="transfer"') == 2
    csv_rows = list(csv.reader(io.StringIO(
        doctor.get(f"/payments/earnings/{payout.id}.csv").get_data(as_text=True))))
    assert [r[0] for r in csv_rows[1:3]] == ["Transfer", "Transfer"]
