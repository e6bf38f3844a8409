"""The outbox consumers, called directly on the events the booking and payment services
record: who is told what on which channel, and what happens to the reminders."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.availability import service as availability
from portal.events import OutboxEvent
from portal.extensions import db
from portal.notifications.models import NotificationLog, NotificationType, ScheduledNotification
from portal.notifications.reactions import on_appointment_event, on_payment_event
from portal.payments import service as payments
from tests.factories import MONDAY_MORNING as MONDAY  # 06:00 in Kolkata

T = NotificationType


@pytest.fixture
def clinic(factory, frozen_clock):
    """A free video doctor in Kolkata and a patient in London with SMS switched off."""
    frozen_clock.freeze(MONDAY)
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "13:00", "VIDEO"),
                                   booking_window_days=4)
    patient = factory.create_patient(timezone="Europe/London", sms=False)
    slots = factory.free_slots(doctor)
    return {"doctor": doctor, "patient": patient, "slots": slots}


def book(clinic, index: int = 8):
    """A confirmed appointment (Tuesday by default: far enough ahead to be moved)."""
    appointment = appointments.reserve(clinic["patient"], clinic["slots"][index].id)
    return appointments.confirm(appointment.id, actor_id=clinic["patient"].id)


def event(aggregate_id: uuid.UUID, event_type: str) -> OutboxEvent:
    """The (latest) outbox event of this type about this appointment or payment."""
    return db.session.scalars(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == aggregate_id, OutboxEvent.event_type == event_type)
        .order_by(OutboxEvent.seq.desc())).first()


def told(user) -> list[tuple[str, str]]:
    """(type, channel) of every notification the user got, sorted."""
    return sorted((row.type, row.channel) for row in db.session.scalars(
        select(NotificationLog).where(NotificationLog.user_id == user.id)))


def reminders(appointment_id: uuid.UUID) -> dict[str, int]:
    """How many of the appointment's reminders are in each status."""
    rows = db.session.scalars(select(ScheduledNotification).where(
        ScheduledNotification.appointment_id == appointment_id))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def test_a_reservation_is_noted_in_app_for_the_patient_only(clinic):
    held = appointments.reserve(clinic["patient"], clinic["slots"][8].id)

    on_appointment_event(event(held.id, "RESERVED"))

    assert told(clinic["patient"]) == [("APPOINTMENT_RESERVED", "IN_APP")]
    assert told(clinic["doctor"].user) == []
    assert reminders(held.id) == {}


def test_a_confirmation_tells_both_schedules_reminders_and_runs_once(clinic):
    appointment = book(clinic)
    confirmed = event(appointment.id, "CONFIRMED")

    on_appointment_event(confirmed)
    on_appointment_event(confirmed)  # a consumer run again after a crash adds nothing

    assert told(clinic["patient"]) == [("APPOINTMENT_CONFIRMED", "EMAIL"),
                                       ("APPOINTMENT_CONFIRMED", "IN_APP")]
    assert told(clinic["doctor"].user) == [("DOCTOR_NEW_BOOKING", "EMAIL"),
                                           ("DOCTOR_NEW_BOOKING", "IN_APP")]
    email = db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == clinic["patient"].id,
        NotificationLog.channel == "EMAIL")).one()
    assert email.context["ics_appointment_id"] == str(appointment.id)  # the invitation
    assert email.dedupe_key.startswith(f"event:{confirmed.id}:")
    assert email.link.endswith(f"/appointments/{appointment.id}")
    assert reminders(appointment.id) == {"SCHEDULED": 3}


def test_a_patients_cancellation_notifies_the_patient_and_the_doctor(clinic):
    appointment = book(clinic)
    on_appointment_event(event(appointment.id, "CONFIRMED"))
    appointments.cancel_by_patient(clinic["patient"], appointment.id, "Feeling better")

    on_appointment_event(event(appointment.id, "CANCELLED"))

    patient_kinds = {kind for kind, _ in told(clinic["patient"])}
    doctor_kinds = {kind for kind, _ in told(clinic["doctor"].user)}
    assert "APPOINTMENT_CANCELLED" in patient_kinds
    assert "DOCTOR_BOOKING_CANCELLED" in doctor_kinds
    cancelled = db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == clinic["patient"].id,
        NotificationLog.type == "APPOINTMENT_CANCELLED")).first()
    assert cancelled.context["reason"] == ""  # the patient knows why they cancelled
    assert cancelled.context["refund_amount"] == ""  # a free consultation: nothing to refund
    assert reminders(appointment.id) == {"CANCELLED": 3}


def test_a_doctors_cancellation_tells_the_patient_why_and_not_the_doctor(clinic):
    appointment = book(clinic)
    appointments.cancel_by_doctor(clinic["doctor"].user, appointment.id, "Doctor unwell")

    on_appointment_event(event(appointment.id, "CANCELLED"))

    assert told(clinic["patient"]) == [("APPOINTMENT_CANCELLED", "EMAIL"),
                                       ("APPOINTMENT_CANCELLED", "IN_APP")]
    assert told(clinic["doctor"].user) == []
    row = db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == clinic["patient"].id)).first()
    assert row.context["reason"] == "Doctor unwell"


def test_a_move_says_the_old_time_in_each_recipients_zone_and_moves_the_reminders(clinic):
    appointment = book(clinic)
    on_appointment_event(event(appointment.id, "CONFIRMED"))
    old_start = appointment.start_at
    new_slot = clinic["slots"][12]
    appointments.reschedule(clinic["patient"], appointment.id, new_slot.id)

    on_appointment_event(event(appointment.id, "RESCHEDULED"))

    def context(user, kind) -> dict:
        return db.session.scalars(select(NotificationLog).where(
            NotificationLog.user_id == user.id, NotificationLog.type == kind,
            NotificationLog.channel == "EMAIL")).one().context

    fmt = "%a %d %b %Y, %H:%M"
    patient_ctx = context(clinic["patient"], "APPOINTMENT_RESCHEDULED")
    doctor_ctx = context(clinic["doctor"].user, "DOCTOR_BOOKING_MOVED")
    assert patient_ctx["old_start"] == old_start.astimezone(ZoneInfo("Europe/London")).strftime(fmt)
    assert doctor_ctx["old_start"] == old_start.astimezone(ZoneInfo("Asia/Kolkata")).strftime(fmt)
    assert patient_ctx["ics_appointment_id"] == str(appointment.id)
    assert "ics_appointment_id" not in doctor_ctx
    assert reminders(appointment.id) == {"CANCELLED": 3, "SCHEDULED": 3}
    due = set(db.session.scalars(select(ScheduledNotification.due_at).where(
        ScheduledNotification.appointment_id == appointment.id,
        ScheduledNotification.status == "SCHEDULED")))
    assert due == {new_slot.start_at - timedelta(minutes=m) for m in (1440, 60, 15)}


def test_an_event_type_the_table_does_not_name_tells_nobody(clinic):
    appointment = book(clinic)
    completed = OutboxEvent(id=uuid.uuid4(), topic="appointment-events",
                            event_type="COMPLETED", aggregate_id=appointment.id,
                            payload={"appointment_id": str(appointment.id)})

    on_appointment_event(completed)

    assert told(clinic["patient"]) == []
    assert reminders(appointment.id) == {}


def test_a_captured_payment_sends_the_receipt_linking_to_it(factory, frozen_clock, razorpay):
    frozen_clock.freeze(MONDAY)
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
    razorpay.control("POST", "/settings", {"auto_capture": True})
    patient = factory.create_patient()
    slot = availability.free_slots(doctor, MONDAY, MONDAY + timedelta(days=3))[0]
    held = appointments.reserve(patient, slot.id)
    payment = payments.initiate(patient, held.id)
    fields = razorpay.pay(payment.gateway_order_id, "success")
    payments.verify_checkout(payment.id, fields["razorpay_payment_id"],
                             fields["razorpay_signature"], user=patient)

    on_payment_event(event(payment.id, "PAYMENT_COMPLETED"))

    assert told(patient) == [("PAYMENT_RECEIPT", "EMAIL"), ("PAYMENT_RECEIPT", "IN_APP")]
    assert told(doctor.user) == []
    receipt = db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == patient.id, NotificationLog.channel == "IN_APP")).one()
    assert receipt.link.endswith(f"/payments/{payment.id}/receipt")
    assert receipt.context["amount"] == "₹500"
