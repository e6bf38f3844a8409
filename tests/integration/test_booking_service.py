"""Booking rules at the service level: holds, expiry by time alone, transitions, history."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.appointments import service
from portal.appointments.models import Appointment, AppointmentStatusHistory
from portal.availability import service as availability
from portal.availability.models import AvailableSlot
from portal.events import OutboxEvent
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from tests.factories import MONDAY_MORNING


@pytest.fixture
def doctor(factory, frozen_clock):
    """The clinic's week (free in person 09:00-12:00, ₹500 video 17:00-19:00) for 8 days."""
    frozen_clock.freeze(MONDAY_MORNING)
    return factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=0)


@pytest.fixture
def patient(factory):
    return factory.create_patient()


def slots(doctor, kind="IN_PERSON") -> list[AvailableSlot]:
    return list(db.session.scalars(select(AvailableSlot).where(
        AvailableSlot.doctor_id == doctor.id, AvailableSlot.consultation_type == kind)
        .order_by(AvailableSlot.start_at)))


def events(appointment) -> list[str]:
    return list(db.session.scalars(select(OutboxEvent.event_type).where(
        OutboxEvent.aggregate_id == appointment.id).order_by(OutboxEvent.seq)))


def statuses(appointment) -> list[tuple[str | None, str]]:
    return [(h.from_status, h.to_status) for h in service.history(appointment)]


def test_a_hold_lasts_five_minutes_and_the_slot_shows_as_held(doctor, patient):
    slot = slots(doctor)[0]
    appointment = service.reserve(patient, slot.id)
    assert appointment.status == "RESERVED"
    assert appointment.reserved_until == MONDAY_MORNING + timedelta(minutes=5)
    db.session.refresh(slot)
    assert (slot.status, slot.held_until) == ("HELD", MONDAY_MORNING + timedelta(minutes=5))
    assert slot.id not in {s.id for s in availability.free_slots(
        doctor, MONDAY_MORNING, MONDAY_MORNING + timedelta(days=2))}
    assert statuses(appointment) == [(None, "RESERVED")]
    assert events(appointment) == ["RESERVED"]


def test_the_fee_comes_from_the_doctor_not_the_client(doctor, patient):
    video = service.reserve(patient, slots(doctor, "VIDEO")[0].id)
    assert video.fee_paise == 50_000


def test_a_taken_slot_is_refused_clearly(doctor, patient, factory):
    slot = slots(doctor)[0]
    service.reserve(patient, slot.id)
    with pytest.raises(service.SlotUnavailable, match="holding this time"):
        service.reserve(factory.create_patient(), slot.id)


def test_a_past_slot_is_refused(doctor, patient, frozen_clock):
    slot = slots(doctor)[0]
    frozen_clock.freeze(slot.start_at + timedelta(minutes=1))
    with pytest.raises(service.SlotUnavailable, match="passed"):
        service.reserve(patient, slot.id)


def test_an_unknown_slot_is_not_found(doctor, patient):
    with pytest.raises(NotFound):
        service.reserve(patient, uuid.uuid4())


def test_a_patient_holds_at_most_two_slots(doctor, patient):
    first, second, third = slots(doctor)[:3]
    service.reserve(patient, first.id)
    service.reserve(patient, second.id)
    with pytest.raises(service.TooManyHolds):
        service.reserve(patient, third.id)
    assert db.session.get(AvailableSlot, third.id).status == "FREE"


def test_a_double_click_returns_the_same_hold(doctor, patient):
    slot = slots(doctor)[0]
    first = service.reserve(patient, slot.id)
    second = service.reserve(patient, slot.id)
    assert first.id == second.id
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1


def test_the_same_idempotency_key_returns_the_same_hold(doctor, patient):
    a, b = slots(doctor)[:2]
    first = service.reserve(patient, a.id, idempotency_key="k-1")
    again = service.reserve(patient, b.id, idempotency_key="k-1")
    assert again.id == first.id
    assert db.session.get(AvailableSlot, b.id).status == "FREE"


def test_a_lapsed_hold_does_not_block_a_new_reservation_with_no_worker_running(
        doctor, patient, factory, frozen_clock):
    slot = slots(doctor)[0]
    lapsed = service.reserve(patient, slot.id)
    frozen_clock.advance(timedelta(minutes=5))
    assert service.effective_status(lapsed) == "EXPIRED"
    assert slot.id in {s.id for s in availability.free_slots(
        doctor, MONDAY_MORNING, MONDAY_MORNING + timedelta(days=2))}

    winner = service.reserve(factory.create_patient(), slot.id)

    db.session.refresh(lapsed)
    assert lapsed.status == "EXPIRED"
    assert statuses(lapsed) == [(None, "RESERVED"), ("RESERVED", "EXPIRED")]
    assert winner.status == "RESERVED"


def test_the_sweeper_expires_lapsed_holds_and_frees_their_slots(doctor, patient, frozen_clock):
    slot = slots(doctor)[0]
    appointment = service.reserve(patient, slot.id)
    frozen_clock.advance(timedelta(minutes=4, seconds=59))
    assert service.expire_lapsed_holds() == 0
    frozen_clock.advance(timedelta(seconds=1))
    assert service.expire_lapsed_holds() == 1
    db.session.refresh(appointment)
    db.session.refresh(slot)
    assert (appointment.status, slot.status, slot.held_until) == ("EXPIRED", "FREE", None)
    assert events(appointment) == ["RESERVED", "EXPIRED"]
    assert service.expire_hold(appointment.id) is False  # the per-hold job arriving late


def test_a_free_consultation_is_confirmed_with_history_and_event(doctor, patient):
    appointment = service.reserve(patient, slots(doctor)[0].id)
    service.confirm(appointment.id, actor_id=patient.id)
    db.session.refresh(appointment)
    assert appointment.status == "CONFIRMED"
    assert db.session.get(AvailableSlot, appointment.slot_id).status == "BOOKED"
    assert statuses(appointment)[-1] == ("RESERVED", "CONFIRMED")
    assert events(appointment) == ["RESERVED", "CONFIRMED"]
    assert service.confirm(appointment.id).status == "CONFIRMED"  # idempotent
    assert events(appointment) == ["RESERVED", "CONFIRMED"]


def test_a_video_appointment_gets_an_unguessable_room_of_its_own(doctor, patient, factory):
    appointment = service.reserve(patient, slots(doctor, "VIDEO")[0].id)
    confirmed = service.confirm(appointment.id)
    other = service.confirm(service.reserve(factory.create_patient(),
                                            slots(doctor, "VIDEO")[1].id).id)
    assert confirmed.video_room_url.startswith("https://meet.example.com/careconnect-")
    # 16 random bytes in URL-safe base64: 128 bits that cannot be guessed.
    assert len(confirmed.video_room_url.split("/careconnect-", 1)[1]) >= 22
    assert confirmed.video_room_url != other.video_room_url


def test_a_late_confirmation_takes_the_slot_back_when_it_is_still_free(doctor, patient,
                                                                       frozen_clock):
    appointment = service.reserve(patient, slots(doctor)[0].id)
    frozen_clock.advance(timedelta(minutes=7))
    service.confirm(appointment.id)
    assert statuses(appointment) == [(None, "RESERVED"), ("RESERVED", "CONFIRMED")]


def test_a_payment_after_the_expiry_job_still_books_a_slot_nobody_took(doctor, patient,
                                                                      frozen_clock):
    appointment = service.reserve(patient, slots(doctor)[0].id)
    frozen_clock.advance(timedelta(minutes=7))
    service.expire_lapsed_holds()
    service.confirm(appointment.id)
    assert statuses(appointment)[-2:] == [("RESERVED", "EXPIRED"), ("EXPIRED", "CONFIRMED")]
    assert db.session.get(AvailableSlot, appointment.slot_id).status == "BOOKED"


def test_a_late_confirmation_fails_when_someone_else_took_the_slot(doctor, patient, factory,
                                                                  frozen_clock):
    slot = slots(doctor)[0]
    late = service.reserve(patient, slot.id)
    frozen_clock.advance(timedelta(minutes=6))
    other = service.reserve(factory.create_patient(), slot.id)
    with pytest.raises(service.HoldExpired):
        service.confirm(late.id)
    db.session.refresh(late)
    assert late.status == "EXPIRED"
    assert db.session.get(Appointment, other.id).status == "RESERVED"


def test_the_cancellation_quote_follows_the_policy(doctor, patient, frozen_clock):
    appointment = service.reserve(patient, slots(doctor, "VIDEO")[0].id)
    service.confirm(appointment.id)
    start = appointment.start_at
    frozen_clock.freeze(start - timedelta(hours=25))
    assert service.cancellation_quote(appointment).refund_paise == 50_000
    frozen_clock.freeze(start - timedelta(hours=3))
    assert service.cancellation_quote(appointment).refund_paise == 25_000
    frozen_clock.freeze(start - timedelta(hours=1))
    assert service.cancellation_quote(appointment).refund_paise == 0


def test_a_patient_cancellation_frees_the_slot_and_records_the_refund(doctor, patient,
                                                                      frozen_clock):
    appointment = service.reserve(patient, slots(doctor, "VIDEO")[0].id)
    service.confirm(appointment.id)
    frozen_clock.freeze(appointment.start_at - timedelta(hours=3))
    cancelled = service.cancel_by_patient(patient, appointment.id)
    assert (cancelled.status, cancelled.refund_paise, cancelled.cancelled_by) == (
        "CANCELLED", 25_000, "patient")
    assert db.session.get(AvailableSlot, cancelled.slot_id).status == "FREE"
    cancel_event = db.session.scalar(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == appointment.id, OutboxEvent.event_type == "CANCELLED"))
    assert cancel_event.payload["refund_paise"] == 25_000
    assert cancel_event.topic == "appointment-events"


def test_a_doctor_cancellation_refunds_in_full_and_needs_a_reason(doctor, patient,
                                                                  frozen_clock):

    appointment = service.reserve(patient, slots(doctor, "VIDEO")[0].id)
    service.confirm(appointment.id)
    frozen_clock.freeze(appointment.start_at - timedelta(minutes=30))
    with pytest.raises(ValidationFailed):
        service.cancel_by_doctor(doctor.user, appointment.id, " ")
    cancelled = service.cancel_by_doctor(doctor.user, appointment.id, "Emergency surgery")
    assert (cancelled.refund_paise, cancelled.cancelled_by) == (50_000, "doctor")
    assert statuses(cancelled)[-1] == ("CONFIRMED", "CANCELLED")


def test_another_patient_cannot_see_or_cancel_an_appointment(doctor, patient, factory):
    appointment = service.reserve(patient, slots(doctor)[0].id)
    stranger = factory.create_patient()
    with pytest.raises(NotFound):
        service.get_visible(stranger, appointment.id)
    with pytest.raises(NotFound):
        service.cancel_by_patient(stranger, appointment.id)
    other_doctor = factory.create_doctor(hours=())
    with pytest.raises(NotFound):
        service.cancel_by_doctor(other_doctor.user, appointment.id, "no")


def test_rescheduling_moves_the_booking_atomically(doctor, patient):
    old_slot, new_slot = slots(doctor)[6], slots(doctor)[12]
    appointment = service.confirm(service.reserve(patient, old_slot.id).id)
    moved = service.reschedule(patient, appointment.id, new_slot.id)
    assert (moved.slot_id, moved.start_at) == (new_slot.id, new_slot.start_at)
    assert db.session.get(AvailableSlot, old_slot.id).status == "FREE"
    assert db.session.get(AvailableSlot, new_slot.id).status == "BOOKED"
    assert events(moved)[-1] == "RESCHEDULED"
    assert statuses(moved)[-1] == ("CONFIRMED", "CONFIRMED")


def test_rescheduling_to_a_taken_slot_changes_nothing(doctor, patient, factory):
    old_slot, taken = slots(doctor)[6], slots(doctor)[12]
    appointment = service.confirm(service.reserve(patient, old_slot.id).id)
    service.reserve(factory.create_patient(), taken.id)
    with pytest.raises(service.SlotUnavailable):
        service.reschedule(patient, appointment.id, taken.id)
    db.session.refresh(appointment)
    assert appointment.slot_id == old_slot.id
    assert db.session.get(AvailableSlot, old_slot.id).status == "BOOKED"


def test_rescheduling_is_refused_close_to_the_start(doctor, patient, frozen_clock):
    appointment = service.confirm(service.reserve(patient, slots(doctor)[0].id).id)
    frozen_clock.freeze(appointment.start_at - timedelta(hours=3))
    with pytest.raises(service.TransitionNotAllowed, match="4 hours"):
        service.reschedule(patient, appointment.id, slots(doctor)[-1].id)


def test_a_doctor_marks_completed_or_no_show_only_once_started(doctor, patient, frozen_clock):
    first = service.confirm(service.reserve(patient, slots(doctor)[0].id).id)
    second = service.confirm(service.reserve(patient, slots(doctor)[1].id).id)
    with pytest.raises(service.TransitionNotAllowed, match="not started"):
        service.mark_completed(doctor.user, first.id)
    frozen_clock.freeze(second.start_at + timedelta(minutes=5))
    assert service.mark_completed(doctor.user, first.id).status == "COMPLETED"
    assert service.mark_no_show(doctor.user, second.id).status == "NO_SHOW"
    with pytest.raises(service.TransitionNotAllowed):
        service.mark_no_show(doctor.user, first.id)
    assert events(first)[-1] == "COMPLETED"
    assert events(second)[-1] == "NO_SHOW"


def test_every_transition_leaves_a_history_row(doctor, patient, frozen_clock):
    appointment = service.reserve(patient, slots(doctor)[0].id)
    service.confirm(appointment.id)
    service.cancel_by_patient(patient, appointment.id)
    rows = db.session.scalars(select(AppointmentStatusHistory).where(
        AppointmentStatusHistory.appointment_id == appointment.id)).all()
    assert len(rows) == 3
    assert all(row.created_at == MONDAY_MORNING for row in rows)
    assert {row.changed_by_id for row in rows} == {patient.id, None}
