"""Retention: reasons for visits and cancellations go RETENTION_REASON_DAYS after the visit,
the words and addresses of notifications RETENTION_NOTIFICATION_DAYS after sending; the
records the clinic needs stay, and running the job again changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from rq.cron import CronScheduler
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatusHistory
from portal.config import ConfigError, load_config
from portal.events import OutboxEvent, relay_pending
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    NotificationLog,
    NotificationType,
)
from portal.notifications.notify import notify
from portal.payments.models import Refund
from portal.payments.service import payment_for_appointment, refund_for_cancelled_event
from portal.privacy.retention import CANCELLED_REFUND_REASON, RetentionResult, apply_retention
from portal.transactions import write
from tests.factories import MONDAY_MORNING, book
from tests.integration.support import page_text, reload, sync

REASON = "Chest pain when climbing stairs"
CANCEL_REASON = "Dr. called away: emergency surgery"


@pytest.fixture
def clinic(factory, frozen_clock):
    """Monday 7 December 2026: a doctor with free in-person consultations from 09:00 and
    ₹500 video ones from 17:00, and a patient, both in Kolkata."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_in_person_paise=0, fee_video_paise=50_000,
                                   booking_window_days=4)
    return {"doctor": doctor, "patient": factory.create_patient(sms=False),
            "slots": factory.free_slots(doctor, "IN_PERSON"),
            "video": factory.free_slots(doctor, "VIDEO")}


def visit(clinic, index: int = 0, reason: str = REASON) -> Appointment:
    """A confirmed free consultation with a reason for the visit."""
    return book(clinic["patient"], clinic["slots"][index], reason=reason, confirm=True)


def after(appointment: Appointment, days: int, minutes: int = 0):
    return appointment.end_at + timedelta(days=days, minutes=minutes)


# --- reasons -----------------------------------------------------------------------------------


def test_a_reason_for_the_visit_is_cleared_a_year_after_it_and_the_appointment_stays(
        clinic, frozen_clock):
    appointment = visit(clinic)
    later = visit(clinic, 3, reason="Follow-up")

    frozen_clock.freeze(after(appointment, 365, minutes=-1))
    assert apply_retention() == RetentionResult(appointments=0, notifications=0)
    assert reload(appointment).reason_for_visit == REASON

    frozen_clock.freeze(after(appointment, 365, minutes=1))
    assert apply_retention().appointments == 1

    kept = reload(appointment)
    assert kept.reason_for_visit == ""
    assert (kept.status, kept.doctor_id, kept.start_at, kept.fee_paise) == (
        "CONFIRMED", clinic["doctor"].id, appointment.start_at, 0)
    assert reload(later).reason_for_visit == "Follow-up"  # its visit was 90 minutes later
    assert apply_retention().appointments == 0  # idempotent


def test_a_cancellation_reason_is_cleared_wherever_it_was_copied(clinic, frozen_clock,
                                                                 razorpay):
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    paid = book(clinic["patient"], clinic["video"][0], reason=REASON, paid=True,
                razorpay=razorpay)
    cancelled = appointments.cancel_by_doctor(clinic["doctor"].user, paid.id, CANCEL_REASON)
    (event,) = db.session.scalars(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == paid.id, OutboxEvent.event_type == "CANCELLED"))
    refund = refund_for_cancelled_event(event)  # what the payment consumer does
    relay_pending()  # the events are published
    assert refund.reason == CANCEL_REASON
    history = db.session.scalars(select(AppointmentStatusHistory).where(
        AppointmentStatusHistory.appointment_id == paid.id,
        AppointmentStatusHistory.to_status == "CANCELLED")).one()
    assert history.reason == CANCEL_REASON

    frozen_clock.freeze(after(cancelled, 366))
    assert apply_retention().appointments == 1

    sync()
    kept = db.session.get(Appointment, paid.id)
    assert (kept.reason_for_visit, kept.cancel_reason) == ("", None)
    assert (kept.status, kept.cancelled_by, kept.refund_paise) == ("CANCELLED", "doctor",
                                                                   paid.fee_paise)
    assert db.session.get(AppointmentStatusHistory, history.id).reason == ""
    assert db.session.get(Refund, refund.id).reason == CANCELLED_REFUND_REASON
    assert db.session.get(Refund, refund.id).amount_paise == paid.fee_paise
    assert payment_for_appointment(paid.id).amount_paise == paid.fee_paise
    assert db.session.get(OutboxEvent, event.seq).payload["reason"] == ""
    # The history's other rows keep the system's words.
    assert {h.reason for h in db.session.scalars(select(AppointmentStatusHistory).where(
        AppointmentStatusHistory.appointment_id == paid.id,
        AppointmentStatusHistory.to_status != "CANCELLED"))} == {"slot held", "payment captured"}


def test_reasons_are_cleared_in_batches(clinic, frozen_clock):
    booked = [visit(clinic, i) for i in range(5)]

    frozen_clock.freeze(after(booked[-1], 365, minutes=1))
    assert apply_retention(batch=2).appointments == 5

    assert {reload(a).reason_for_visit for a in booked} == {""}


def test_the_periods_come_from_the_configuration(app, clinic, frozen_clock, monkeypatch):
    appointment = visit(clinic)
    monkeypatch.setitem(app.config, "RETENTION_REASON_DAYS", 30)

    frozen_clock.freeze(after(appointment, 30, minutes=1))

    assert apply_retention().appointments == 1


@pytest.mark.parametrize(("name", "value"), [("RETENTION_REASON_DAYS", "0"),
                                             ("RETENTION_NOTIFICATION_DAYS", "-5"),
                                             ("RETENTION_NOTIFICATION_DAYS", "ninety")])
def test_a_retention_period_must_be_a_number_of_days(name, value):
    assert load_config({})[name] in (365, 90)
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


# --- notifications -----------------------------------------------------------------------------


def message(user, cause: str, channel: Channel = Channel.EMAIL) -> NotificationLog:
    (row,) = notify(user, NotificationType.ANNOUNCEMENT,
                    {"title": "Your test results", "message": "Ready at the desk, Pat."},
                    cause, only={channel})
    return row


def finish(row: NotificationLog, status: DeliveryStatus, sent_at=None) -> None:
    with write():
        row = db.session.get(NotificationLog, row.id)
        row.status, row.sent_at = status.value, sent_at


def test_a_messages_words_and_address_are_cleared_90_days_after_sending(
        clinic, frozen_clock):
    patient = clinic["patient"]
    sent = message(patient, "t:sent")
    finish(sent, DeliveryStatus.DELIVERED, sent_at=MONDAY_MORNING)
    failed = message(patient, "t:failed")  # given up on, never sent: from when it was made
    finish(failed, DeliveryStatus.FAILED)
    waiting = message(patient, "t:waiting")  # still to go: kept whatever its age
    frozen_clock.advance(timedelta(days=2))
    recent = message(patient, "t:recent")
    finish(recent, DeliveryStatus.SENT, sent_at=MONDAY_MORNING + timedelta(days=2))

    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=90, minutes=1))
    assert apply_retention().notifications == 2

    for row in (sent, failed):
        cleared = reload(row)
        assert (cleared.subject, cleared.body, cleared.body_html, cleared.recipient,
                cleared.context) == ("", "", None, "", {})
        assert (cleared.type, cleared.channel, cleared.user_id) == (
            "ANNOUNCEMENT", "EMAIL", patient.id)
    assert reload(sent).status == "DELIVERED"
    assert reload(sent).sent_at == MONDAY_MORNING
    assert reload(failed).status == "FAILED"
    assert reload(waiting).recipient == patient.email
    assert reload(recent).subject == "Your test results"
    assert apply_retention().notifications == 0  # idempotent


def test_the_inbox_still_lists_a_cleared_message_by_its_kind(client, clinic, frozen_clock):
    patient = clinic["patient"]
    message(patient, "t:in-app", Channel.IN_APP)  # in-app: sent by being recorded

    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=91))
    assert apply_retention().notifications == 1

    client.login(patient.email)
    inbox = page_text(client.get("/notifications/"))
    assert "Clinic announcements" in inbox
    assert "Your test results" not in inbox
    assert "Ready at the desk" not in inbox


def test_messages_are_cleared_in_batches(clinic, frozen_clock):
    rows = [message(clinic["patient"], f"t:{n}", Channel.IN_APP) for n in range(5)]

    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=91))

    assert apply_retention(batch=2).notifications == 5
    assert {reload(row).body for row in rows} == {""}


# --- the job -----------------------------------------------------------------------------------


def test_the_daily_job_is_registered_and_runs_the_service(app, clinic, frozen_clock,
                                                          redis_url):
    scheduler = CronScheduler(connection=Redis.from_url(redis_url))
    scheduler.load_config_from_file("jobs.cron")
    job = {j.name: j for j in scheduler.get_jobs()}["apply-retention"]
    assert (job.cron, job.func_name) == ("30 2 * * *", "jobs.privacy.apply_retention")

    appointment = visit(clinic)
    frozen_clock.freeze(after(appointment, 366))
    connection = redis_connection(redis_url)
    queued = Queue("default", connection=connection).enqueue("jobs.privacy.apply_retention")
    worker = AppWorker([Queue("default", connection=connection)], connection=connection)
    worker.app = app
    worker.work(burst=True)

    queued.refresh()
    assert queued.get_status() == "finished", queued.latest_result()
    assert queued.return_value() == {"appointments": 1, "notifications": 0}
    assert reload(appointment).reason_for_visit == ""
