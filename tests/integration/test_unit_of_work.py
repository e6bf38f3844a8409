"""The unit of work (`portal.transactions.write`) and the rules that moved out of the views
into services (issue 10): each is checked here at the service level."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import User
from portal.availability import service as availability
from portal.availability.models import AvailableSlot
from portal.doctors import service as doctors
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.payments import service as payments
from portal.transactions import in_write, write
from tests.factories import MONDAY_MORNING as MONDAY


@pytest.fixture
def doctor(factory, frozen_clock):
    frozen_clock.freeze(MONDAY)
    return factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=0)


def slots(doctor, kind="IN_PERSON") -> list[AvailableSlot]:
    return list(db.session.scalars(select(AvailableSlot).where(
        AvailableSlot.doctor_id == doctor.id, AvailableSlot.consultation_type == kind)
        .order_by(AvailableSlot.start_at)))


def names() -> set[str]:
    return set(db.session.scalars(select(User.name)))


# --- write() ---------------------------------------------------------------------------------


def test_write_commits_what_its_block_did(factory):
    patient = factory.create_patient()
    with write():
        patient.name = "Renamed"
    db.session.remove()
    assert "Renamed" in names()


def test_write_rolls_back_and_re_raises_on_any_error(factory):
    patient = factory.create_patient(name="Kept")
    def rename_then_fail() -> None:
        with write():
            patient.name = "Lost"
            db.session.flush()
            raise LookupError("after the write")

    with pytest.raises(LookupError, match="after the write"):
        rename_then_fail()
    db.session.remove()
    assert "Kept" in names()
    assert "Lost" not in names()


def test_a_nested_write_is_a_savepoint_of_the_outer_one(factory):
    first, second = factory.create_patient(name="First"), factory.create_patient(name="Second")
    with write():
        first.name = "First, changed"
        def inner() -> None:
            with write():
                assert in_write()
                second.name = "Second, undone"
                db.session.flush()
                raise LookupError("the inner part fails")

        with pytest.raises(LookupError, match="inner part"):
            inner()
    db.session.remove()
    assert {"First, changed", "Second"} <= names()
    assert not in_write()


def test_write_refuses_changes_made_outside_a_unit_of_work(factory):
    factory.create_patient()
    db.session.add(User(name="Stray", email="stray@example.com", password_hash="x"))
    with pytest.raises(RuntimeError, match="outside a unit of work"):
        write().__enter__()
    db.session.rollback()


# --- one bookable-slot rule ------------------------------------------------------------------


def test_reserving_inside_the_doctors_minimum_notice_is_refused_with_409(doctor, factory,
                                                                         client):
    first = slots(doctor)[0]  # Monday 09:00 IST, 3 hours ahead
    with write():
        doctor.min_notice_minutes = 4 * 60
    patient = factory.create_patient()
    token = client.api_token(patient.email)
    response = client.post("/api/v1/appointments/reserve", json={"slot_id": str(first.id)},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["detail"] == ("This doctor needs at least 4 hours' notice; choose a later "
                                 "time.")
    assert problem["errors"] == [{"field": "slot_id", "message": problem["detail"]}]
    assert db.session.scalar(select(Appointment.id)) is None
    assert first.id not in {s.id for s in availability.free_slots(
        doctor, MONDAY, MONDAY + timedelta(days=1))}


def test_rescheduling_into_the_notice_period_is_refused(doctor, factory, frozen_clock):
    patient = factory.create_patient()
    later = slots(doctor)[-1]
    booked = appointments.confirm_free(patient, appointments.reserve(patient, later.id).id)
    with write():
        doctor.min_notice_minutes = 4 * 60
    with pytest.raises(appointments.SlotUnavailable, match="4 hours' notice"):
        appointments.reschedule(patient, booked.id, slots(doctor)[0].id)
    assert db.session.get(Appointment, booked.id).slot_id == later.id


def test_the_same_rule_lists_and_reserves(doctor, factory):
    listed = availability.free_slots(doctor, MONDAY, MONDAY + timedelta(days=8))
    assert all(s.start_at >= MONDAY + timedelta(minutes=doctor.min_notice_minutes)
               for s in listed)
    held = appointments.reserve(factory.create_patient(), listed[0].id)
    assert held.status == AppointmentStatus.RESERVED


# --- rules moved out of the views ------------------------------------------------------------


def test_the_clinic_side_quote_refunds_in_full_and_the_patients_follows_the_policy(
        doctor, factory, frozen_clock):
    patient = factory.create_patient()
    video = slots(doctor, "VIDEO")[4]  # Tuesday 17:00 IST, 35 hours ahead
    held = appointments.reserve(patient, video.id)
    held = appointments.confirm(held.id)
    clinic = appointments.cancellation_quote(held, MONDAY, clinic_side=True)
    assert (clinic.refund_paise, clinic.percent, clinic.until) == (50_000, 100, None)
    own = appointments.cancellation_quote(held, MONDAY)
    assert (own.refund_paise, own.percent) == (50_000, 100)
    assert own.until == held.start_at - timedelta(hours=24)
    frozen_clock.freeze(held.start_at - timedelta(hours=3))
    later = appointments.cancellation_quote(held)
    assert (later.refund_paise, later.percent, later.until) == (25_000, 50,
                                                                held.start_at
                                                                - timedelta(hours=2))


def test_when_an_appointment_may_be_cancelled_or_moved(doctor, factory, frozen_clock):
    patient = factory.create_patient()
    booked = appointments.confirm_free(patient,
                                       appointments.reserve(patient, slots(doctor)[3].id).id)
    assert appointments.why_not_cancellable(booked, clinic_side=False) is None
    assert appointments.why_not_reschedulable(booked) is None
    frozen_clock.freeze(booked.start_at - timedelta(hours=3))
    assert "4 hours before they start" in appointments.why_not_reschedulable(booked)
    frozen_clock.freeze(booked.start_at + timedelta(minutes=1))
    assert "already started" in appointments.why_not_cancellable(booked, clinic_side=False)
    assert appointments.why_not_cancellable(booked, clinic_side=True) is None


def test_a_keyed_form_sent_again_after_its_hold_ended_holds_again(doctor, factory,
                                                                  frozen_clock):
    patient = factory.create_patient()
    slot = slots(doctor)[0]
    first = appointments.reserve(patient, slot.id, idempotency_key="form-1")
    assert appointments.reserve(patient, slot.id, idempotency_key="form-1").id == first.id
    frozen_clock.advance(timedelta(minutes=6))
    again = appointments.reserve(patient, slot.id, idempotency_key="form-1")
    assert again.id != first.id
    assert again.status == AppointmentStatus.RESERVED


def test_only_the_patient_or_an_admin_confirms_and_a_paid_one_needs_its_payment(
        doctor, factory):
    patient, stranger = factory.create_patient(), factory.create_patient()
    free = appointments.reserve(patient, slots(doctor)[0].id)
    with pytest.raises(NotFound):
        appointments.confirm_free(stranger, free.id)
    doctor_user = db.session.get(User, doctor.user_id)
    with pytest.raises(NotFound):
        appointments.confirm_free(doctor_user, free.id)
    assert appointments.confirm_free(factory.create_admin(), free.id).status == "CONFIRMED"
    paid = appointments.reserve(patient, slots(doctor, "VIDEO")[0].id)
    with pytest.raises(appointments.PaymentRequired):
        appointments.confirm_free(patient, paid.id)
    with pytest.raises(appointments.PaymentRequired):
        payments.confirm_paid(patient, paid.id, "pay_NotCaptured001")


def test_get_visible_own_admits_only_the_patient_and_admins(doctor, factory):
    patient = factory.create_patient()
    held = appointments.reserve(patient, slots(doctor)[0].id)
    doctor_user = db.session.get(User, doctor.user_id)
    assert appointments.get_visible(doctor_user, held.id).id == held.id
    with pytest.raises(NotFound):
        appointments.get_visible(doctor_user, held.id, own=True)
    assert appointments.get_visible(patient, held.id, own=True).id == held.id
    assert appointments.get_visible(factory.create_admin(), held.id, own=True).id == held.id
    with pytest.raises(NotFound):
        appointments.get_visible(factory.create_patient(), held.id)


def test_a_doctor_manages_only_their_own_schedule_and_an_admin_names_one(doctor, factory):
    doctor_user = db.session.get(User, doctor.user_id)
    assert doctors.doctor_to_manage(doctor_user, None).id == doctor.id
    with pytest.raises(NotFound):
        doctors.doctor_to_manage(doctor_user, factory.create_doctor(hours=()).id)
    with pytest.raises(NotFound):
        doctors.doctor_to_manage(factory.create_patient(), doctor.id)
    with pytest.raises(ValidationFailed):
        doctors.doctor_to_manage(factory.create_admin(), None)
    assert doctors.doctor_to_manage(factory.create_admin(), doctor.id).id == doctor.id
    with pytest.raises(NotFound):
        doctors.doctor_to_manage(factory.create_admin(), uuid.uuid4())


def test_a_reschedule_keeps_the_old_slot_and_times_in_columns(doctor, factory):
    patient = factory.create_patient()
    first, second = slots(doctor)[2], slots(doctor)[5]
    booked = appointments.confirm_free(patient, appointments.reserve(patient, first.id).id)
    appointments.reschedule(patient, booked.id, second.id)
    moved = [h for h in appointments.history(booked) if h.from_status == h.to_status]
    assert [(h.old_slot_id, h.old_start_at, h.old_end_at) for h in moved] == [
        (first.id, first.start_at, first.end_at)]
    assert moved[0].to_status is AppointmentStatus.CONFIRMED


def test_me_names_a_doctors_own_profile_id(doctor, factory, client):
    doctor_user = db.session.get(User, doctor.user_id)
    mine = client.get("/api/v1/me", headers={
        "Authorization": f"Bearer {client.api_token(doctor_user.email)}"}).get_json()
    assert mine["doctor_id"] == str(doctor.id)
    patient = factory.create_patient()
    theirs = client.get("/api/v1/me", headers={
        "Authorization": f"Bearer {client.api_token(patient.email)}"}).get_json()
    assert theirs["doctor_id"] is None
