"""Booking rules: hold a slot, confirm, cancel, reschedule, complete. No Flask request here.

Races are decided by the database, never by a read followed by a write:
- a slot moves FREE -> HELD -> BOOKED only through conditional UPDATEs whose WHERE clause
  re-checks the state, so of two concurrent requests exactly one changes the row;
- a partial unique index allows one active (RESERVED or CONFIRMED) appointment per slot, and
  on PostgreSQL an exclusion constraint forbids overlapping active appointments of a doctor;
- a hold whose `reserved_until` has passed counts as free everywhere, before any job runs.
Every transition writes `appointment_status_history` and an outbox event in the same
transaction (invariant 5).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.appointments.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentStatusHistory,
)
from portal.auth.models import Role, User
from portal.availability.models import AvailableSlot, SlotStatus
from portal.clock import utcnow
from portal.doctors.models import ConsultationType, Doctor
from portal.events import APPOINTMENT_EVENTS, record_event
from portal.exceptions import Conflict, DomainError, NotFound
from portal.extensions import db
from portal.pagination import Page, paginate
from portal.transactions import begin_write

log = logging.getLogger(__name__)

S = AppointmentStatus

# Which transitions the state machine allows (DESIGN.md, "Appointment states").
ALLOWED = {
    S.RESERVED: {S.CONFIRMED, S.EXPIRED, S.CANCELLED},
    S.CONFIRMED: {S.CANCELLED, S.COMPLETED, S.NO_SHOW, S.CONFIRMED},  # CONFIRMED: reschedule
    # A payment captured after the hold lapsed still books the slot if nobody took it.
    S.EXPIRED: {S.CONFIRMED},
}


class SlotUnavailable(Conflict):
    title = "Slot unavailable"


class HoldExpired(Conflict):
    title = "Hold expired"


class TooManyHolds(Conflict):
    title = "Too many holds"


class TransitionNotAllowed(Conflict):
    title = "Not allowed in this state"


class PaymentRequired(DomainError):
    status = 402
    title = "Payment required"


@dataclass(frozen=True)
class CancellationQuote:
    """What a cancellation now would refund, shown before the patient confirms it."""

    refund_paise: int
    percent: int
    explanation: str


# --- reading ---------------------------------------------------------------------------------


def get_visible(user: User, appointment_id: uuid.UUID) -> Appointment:
    """The appointment if `user` may see it: the patient, the doctor, or an admin.

    Anyone else gets NotFound, the same as a missing id, so ids cannot be probed.
    """
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or not can_see(user, appointment):
        raise NotFound("No such appointment.")
    return appointment


def can_see(user: User, appointment: Appointment) -> bool:
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.DOCTOR:
        return appointment.doctor.user_id == user.id
    return appointment.patient_id == user.id


def patient_appointments(patient_id: uuid.UUID, *, upcoming: bool | None = None,
                         now: datetime | None = None, page: int = 1,
                         per_page: int = 20) -> Page[Appointment]:
    """A patient's appointments: upcoming (soonest first) or past (latest first) or all."""
    now = now or utcnow()
    stmt = select(Appointment).where(Appointment.patient_id == patient_id)
    stmt = _scope(stmt, upcoming, now)
    return paginate(stmt, page, per_page)


def doctor_appointments(doctor_id: uuid.UUID, *, upcoming: bool | None = None,
                        start: datetime | None = None, end: datetime | None = None,
                        now: datetime | None = None, page: int = 1,
                        per_page: int = 50) -> Page[Appointment]:
    """A doctor's appointments, without lapsed holds and expired ones."""
    now = now or utcnow()
    stmt = select(Appointment).where(Appointment.doctor_id == doctor_id,
                                     Appointment.status != S.EXPIRED.value,
                                     ~_lapsed_hold(now))
    if start is not None:
        stmt = stmt.where(Appointment.end_at > start)
    if end is not None:
        stmt = stmt.where(Appointment.start_at < end)
    return paginate(_scope(stmt, upcoming, now), page, per_page)


def _scope(stmt, upcoming: bool | None, now: datetime):
    if upcoming is True:
        return stmt.where(Appointment.end_at > now,
                          Appointment.status.in_(ACTIVE_STATUSES), ~_lapsed_hold(now)
                          ).order_by(Appointment.start_at)
    if upcoming is False:
        return stmt.where(or_(Appointment.end_at <= now,
                              Appointment.status.not_in(ACTIVE_STATUSES), _lapsed_hold(now))
                          ).order_by(Appointment.start_at.desc())
    return stmt.order_by(Appointment.start_at.desc())


def _lapsed_hold(now: datetime):
    return (Appointment.status == S.RESERVED.value) & (Appointment.reserved_until <= now)


def history(appointment: Appointment) -> list[AppointmentStatusHistory]:
    return list(db.session.scalars(
        select(AppointmentStatusHistory)
        .where(AppointmentStatusHistory.appointment_id == appointment.id)
        .order_by(AppointmentStatusHistory.id)))


def effective_status(appointment: Appointment, now: datetime | None = None) -> AppointmentStatus:
    """RESERVED with a lapsed hold reads as EXPIRED even before the expiry job has run."""
    now = now or utcnow()
    if appointment.status == S.RESERVED and appointment.reserved_until <= now:
        return S.EXPIRED
    return appointment.status_enum


def set_reason(patient: User, appointment_id: uuid.UUID, reason: str,
               now: datetime | None = None) -> Appointment:
    """The patient's reason for the visit, editable while held or confirmed, before it starts."""
    from portal.exceptions import ValidationFailed

    now = now or utcnow()
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "Use at most 1000 characters."})
    appointment = get_visible(patient, appointment_id)
    if appointment.patient_id != patient.id:
        raise NotFound("No such appointment.")
    begin_write()
    appointment = _locked(appointment.id)
    if effective_status(appointment, now) not in (S.RESERVED, S.CONFIRMED) or \
            appointment.start_at <= now:
        db.session.rollback()
        raise TransitionNotAllowed("The reason can be changed only before the appointment "
                                   "starts.")
    appointment.reason_for_visit = reason.strip()
    appointment.updated_at = now
    db.session.commit()
    return appointment


# --- holding a slot ----------------------------------------------------------------------------


def reserve(patient: User, slot_id: uuid.UUID, *, idempotency_key: str | None = None,
            reason: str = "", now: datetime | None = None) -> Appointment:
    """Hold a free slot for HOLD_MINUTES. Raises SlotUnavailable, TooManyHolds or NotFound.

    The same `idempotency_key`, or a second click on a slot the patient already holds,
    returns the existing hold instead of making another.
    """
    now = now or utcnow()
    if len(reason) > 1000:
        from portal.exceptions import ValidationFailed

        raise ValidationFailed({"reason": "Use at most 1000 characters."})
    if idempotency_key:
        existing = _by_idempotency_key(patient.id, idempotency_key)
        if existing is not None:
            return existing

    begin_write()
    # Serialise this patient's reservations so the hold limit cannot be raced (PostgreSQL).
    db.session.execute(select(User.id).where(User.id == patient.id).with_for_update())
    own = db.session.scalar(select(Appointment).where(
        Appointment.patient_id == patient.id, Appointment.slot_id == slot_id,
        Appointment.status == S.RESERVED.value, Appointment.reserved_until > now))
    if own is not None:
        db.session.commit()
        return own
    holds = db.session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.patient_id == patient.id, Appointment.status == S.RESERVED.value,
        Appointment.reserved_until > now))
    limit = current_app.config["MAX_ACTIVE_HOLDS"]
    if holds >= limit:
        db.session.rollback()
        raise TooManyHolds(f"You are already holding {holds} slot{'s' if holds != 1 else ''}. "
                           "Complete or cancel a booking before holding another.", "slot_id")

    _expire_lapsed_on_slot(slot_id, now)
    hold_until = now + timedelta(minutes=current_app.config["HOLD_MINUTES"])
    claimed = db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id, _claimable(now),
               AvailableSlot.doctor_id.in_(select(Doctor.id).where(Doctor.active.is_(True))))
        .values(status=SlotStatus.HELD.value, held_until=hold_until)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        error = _why_unavailable(slot_id, now)
        db.session.rollback()
        raise error
    slot = db.session.get(AvailableSlot, slot_id)
    doctor = db.session.get(Doctor, slot.doctor_id)
    fee = doctor.fee_for(ConsultationType(slot.consultation_type))
    appointment = Appointment(
        patient_id=patient.id, doctor_id=doctor.id, slot_id=slot.id, start_at=slot.start_at,
        end_at=slot.end_at, consultation_type=slot.consultation_type,
        status=S.RESERVED.value, reserved_until=hold_until, fee_paise=fee or 0,
        currency=current_app.config["CURRENCY"], reason_for_visit=reason.strip(),
        idempotency_key=idempotency_key, created_at=now, updated_at=now)
    db.session.add(appointment)
    try:
        # The INSERT (at this flush) is where the unique indexes and the exclusion constraint
        # fire, so it belongs inside the try as much as the commit does.
        db.session.flush()
        _record(appointment, None, S.RESERVED, patient.id, "slot held", now)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if idempotency_key:
            existing = _by_idempotency_key(patient.id, idempotency_key)
            if existing is not None:
                return existing
        raise SlotUnavailable("This time was just taken; choose another.", "slot_id") from None
    _schedule_expiry(appointment)
    return appointment


def _claimable(now: datetime):
    """A slot that can be taken now: free, or held by a hold that has lapsed."""
    return (AvailableSlot.start_at > now) & or_(
        AvailableSlot.status == SlotStatus.FREE.value,
        (AvailableSlot.status == SlotStatus.HELD.value) & (AvailableSlot.held_until <= now))


def _why_unavailable(slot_id: uuid.UUID, now: datetime) -> DomainError:
    slot = db.session.get(AvailableSlot, slot_id)
    if slot is None:
        return NotFound("No such slot; it may have been withdrawn. Choose another time.",
                        "slot_id")
    if slot.start_at <= now:
        return SlotUnavailable("That time has already passed; choose a later one.", "slot_id")
    if slot.status == SlotStatus.BOOKED:
        return SlotUnavailable("Someone has just booked this time; choose another.", "slot_id")
    if slot.status == SlotStatus.HELD:
        return SlotUnavailable("Someone is holding this time right now. It frees up if they "
                               "do not complete the booking within a few minutes.", "slot_id")
    return NotFound("This doctor is not taking bookings at the moment.", "slot_id")


def _by_idempotency_key(patient_id: uuid.UUID, key: str) -> Appointment | None:
    return db.session.scalar(select(Appointment).where(
        Appointment.patient_id == patient_id, Appointment.idempotency_key == key))


def _expire_lapsed_on_slot(slot_id: uuid.UUID, now: datetime,
                           keep: uuid.UUID | None = None) -> None:
    """Mark lapsed holds on this slot EXPIRED first, so they stop counting as active."""
    lapsed = db.session.scalars(select(Appointment).where(
        Appointment.slot_id == slot_id, Appointment.status == S.RESERVED.value,
        Appointment.reserved_until <= now, Appointment.id != keep)
        .with_for_update(of=Appointment)).all()
    for appointment in lapsed:
        _record(appointment, S.RESERVED, S.EXPIRED, None, "hold lapsed", now)
    if lapsed:
        db.session.flush()


def _schedule_expiry(appointment: Appointment) -> None:
    """Enqueue the expiry job for the hold's end. Without Redis the sweeper does it."""
    try:
        from portal.queue import get_queue

        get_queue("default").enqueue_at(appointment.reserved_until,
                                        "jobs.appointments.expire_hold", str(appointment.id),
                                        job_id=f"expire-hold-{appointment.id}")
    except Exception:
        log.warning("could not schedule the expiry of hold %s; the sweeper will",
                    appointment.id, exc_info=True)


def expire_hold(appointment_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Expire one hold if it has lapsed; False when there is nothing to do (idempotent)."""
    now = now or utcnow()
    begin_write()
    appointment = db.session.scalar(select(Appointment).where(
        Appointment.id == appointment_id, Appointment.status == S.RESERVED.value,
        Appointment.reserved_until <= now).with_for_update(of=Appointment))
    if appointment is None:
        db.session.rollback()
        return False
    _record(appointment, S.RESERVED, S.EXPIRED, None, "hold lapsed", now)
    _release_slot(appointment, from_status=SlotStatus.HELD)
    db.session.commit()
    return True


def expire_lapsed_holds(now: datetime | None = None, limit: int = 500) -> int:
    """The sweeper: expire every lapsed hold (the per-hold job may have been lost)."""
    now = now or utcnow()
    ids = list(db.session.scalars(select(Appointment.id).where(
        Appointment.status == S.RESERVED.value, Appointment.reserved_until <= now)
        .order_by(Appointment.reserved_until).limit(limit)))
    db.session.rollback()
    return sum(expire_hold(appointment_id, now) for appointment_id in ids)


# --- confirming ----------------------------------------------------------------------------


def confirm(appointment_id: uuid.UUID, *, actor_id: uuid.UUID | None = None,
            reason: str = "confirmed", now: datetime | None = None) -> Appointment:
    """Book the held slot (the payment step calls this once money is captured).

    A hold that lapsed is still confirmed when nobody else has taken the slot meanwhile;
    otherwise HoldExpired (the payments side then refunds). Confirming twice is a no-op.
    """
    now = now or utcnow()
    begin_write()
    appointment = _locked(appointment_id)
    if appointment.status == S.CONFIRMED:
        db.session.commit()
        return appointment
    if appointment.status not in (S.RESERVED, S.EXPIRED):
        status = appointment.status
        db.session.rollback()
        raise TransitionNotAllowed(f"A {status.lower()} appointment cannot be confirmed.")
    if appointment.start_at <= now:
        db.session.rollback()
        raise HoldExpired("The appointment time has passed; it cannot be confirmed.")
    from_status = appointment.status_enum
    if appointment.status == S.EXPIRED or appointment.reserved_until <= now:
        # Late: take the slot back only if it is still free (nobody holds or booked it).
        _expire_lapsed_on_slot(appointment.slot_id, now, keep=appointment.id)
        claimed = db.session.execute(
            update(AvailableSlot).where(AvailableSlot.id == appointment.slot_id,
                                        _claimable(now))
            .values(status=SlotStatus.BOOKED.value, held_until=None)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            db.session.rollback()
            raise HoldExpired("The hold on this slot lapsed and someone else has taken it.")
        reason = f"{reason} after the hold lapsed; the slot was still free"
    else:
        db.session.execute(
            update(AvailableSlot).where(AvailableSlot.id == appointment.slot_id)
            .values(status=SlotStatus.BOOKED.value, held_until=None)
            .execution_options(synchronize_session=False))
    appointment.confirmed_at = now
    appointment.reserved_until = None
    if appointment.consultation_type == ConsultationType.VIDEO and not appointment.video_room_url:
        appointment.video_room_url = (current_app.config["VIDEO_ROOM_BASE_URL"]
                                      + secrets.token_urlsafe(24))
    _record(appointment, from_status, S.CONFIRMED, actor_id, reason, now)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise HoldExpired("The hold on this slot lapsed and someone else has taken it.") from None
    return appointment


# --- cancelling --------------------------------------------------------------------------------


def cancellation_quote(appointment: Appointment, now: datetime | None = None
                       ) -> CancellationQuote:
    """The refund a patient's cancellation would get now, by the configured policy."""
    now = now or utcnow()
    if appointment.status != S.CONFIRMED or appointment.fee_paise == 0:
        return CancellationQuote(0, 0, "Nothing has been paid, so there is nothing to refund.")
    hours_before = (appointment.start_at - now) / timedelta(hours=1)
    for min_hours, percent in current_app.config["CANCELLATION_POLICY"]:
        if hours_before >= min_hours:
            refund = appointment.fee_paise * percent // 100
            when = (f"at least {min_hours} hours before the start" if min_hours
                    else "this close to the start")
            return CancellationQuote(refund, percent,
                                     f"Cancelling {when} refunds {percent}% of the fee.")
    return CancellationQuote(0, 0, "The appointment has started; nothing is refunded.")


def cancel_by_patient(patient: User, appointment_id: uuid.UUID, reason: str = "",
                      now: datetime | None = None) -> Appointment:
    """The patient cancels a hold or a confirmed appointment; the refund follows the policy."""
    now = now or utcnow()
    appointment = get_visible(patient, appointment_id)
    if appointment.patient_id != patient.id:
        raise NotFound("No such appointment.")
    return _cancel(appointment.id, "patient", patient.id, reason or "cancelled by the patient",
                   full_refund=False, now=now)


def cancel_by_doctor(doctor_user: User, appointment_id: uuid.UUID, reason: str,
                     now: datetime | None = None) -> Appointment:
    """The doctor (or an admin) cancels; the patient is always refunded in full."""
    from portal.exceptions import ValidationFailed

    if not reason.strip():
        raise ValidationFailed({"reason": "Tell the patient why the appointment is cancelled."})
    if len(reason) > 500:
        raise ValidationFailed({"reason": "Use at most 500 characters."})
    appointment = get_visible(doctor_user, appointment_id)
    role = "admin" if doctor_user.role == Role.ADMIN else "doctor"
    return _cancel(appointment.id, role, doctor_user.id, reason.strip(), full_refund=True,
                   now=now or utcnow())


def _cancel(appointment_id: uuid.UUID, by: str, actor_id: uuid.UUID, reason: str, *,
            full_refund: bool, now: datetime) -> Appointment:
    begin_write()
    appointment = _locked(appointment_id)
    status = effective_status(appointment, now)
    if status not in (S.RESERVED, S.CONFIRMED):
        db.session.rollback()
        raise TransitionNotAllowed(f"A {status.label.lower()} appointment cannot be cancelled.")
    if status == S.CONFIRMED and appointment.start_at <= now and by == "patient":
        db.session.rollback()
        raise TransitionNotAllowed("The appointment has already started; it cannot be "
                                   "cancelled now.")
    refund = 0
    if status == S.CONFIRMED:
        refund = appointment.fee_paise if full_refund else cancellation_quote(
            appointment, now).refund_paise
    appointment.cancelled_by = by
    appointment.cancel_reason = reason[:500]
    appointment.cancelled_at = now
    appointment.refund_paise = refund
    _release_slot(appointment, from_status=SlotStatus.HELD if status == S.RESERVED
                  else SlotStatus.BOOKED)
    _record(appointment, status, S.CANCELLED, actor_id, reason, now,
            extra={"cancelled_by": by, "refund_paise": refund})
    db.session.commit()
    return appointment


# --- rescheduling ------------------------------------------------------------------------------


def reschedule(user: User, appointment_id: uuid.UUID, new_slot_id: uuid.UUID,
               now: datetime | None = None) -> Appointment:
    """Move a confirmed appointment to another free slot of the same doctor, atomically."""
    now = now or utcnow()
    appointment = get_visible(user, appointment_id)
    if user.role == Role.PATIENT and appointment.patient_id != user.id:
        raise NotFound("No such appointment.")
    begin_write()
    appointment = _locked(appointment_id)
    if appointment.status != S.CONFIRMED:
        db.session.rollback()
        raise TransitionNotAllowed("Only a confirmed appointment can be rescheduled.")
    cutoff = timedelta(hours=current_app.config["RESCHEDULE_CUTOFF_HOURS"])
    if appointment.start_at - now < cutoff:
        db.session.rollback()
        raise TransitionNotAllowed(
            f"Appointments can be moved up to {current_app.config['RESCHEDULE_CUTOFF_HOURS']} "
            "hours before they start; cancel instead.")
    new_slot = db.session.get(AvailableSlot, new_slot_id)
    if new_slot is None or new_slot.doctor_id != appointment.doctor_id:
        db.session.rollback()
        raise NotFound("Choose a free time of the same doctor.", "slot_id")
    if new_slot.consultation_type != appointment.consultation_type:
        db.session.rollback()
        raise SlotUnavailable("Choose a time for the same kind of consultation "
                              f"({ConsultationType(appointment.consultation_type).label}).",
                              "slot_id")
    _expire_lapsed_on_slot(new_slot_id, now)
    claimed = db.session.execute(
        update(AvailableSlot).where(AvailableSlot.id == new_slot_id, _claimable(now))
        .values(status=SlotStatus.BOOKED.value, held_until=None)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        error = _why_unavailable(new_slot_id, now)
        db.session.rollback()
        raise error
    old_start, old_end, old_slot_id = appointment.start_at, appointment.end_at, appointment.slot_id
    _release_slot(appointment, from_status=SlotStatus.BOOKED)
    appointment.slot_id = new_slot.id
    appointment.start_at = new_slot.start_at
    appointment.end_at = new_slot.end_at
    _record(appointment, S.CONFIRMED, S.CONFIRMED, user.id,
            f"rescheduled from {old_start.isoformat()}", now, event="RESCHEDULED",
            extra={"old_start_at": old_start.isoformat(), "old_end_at": old_end.isoformat(),
                   "old_slot_id": str(old_slot_id) if old_slot_id else None})
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise SlotUnavailable("That time was just taken; choose another.", "slot_id") from None
    return appointment


# --- after the visit ---------------------------------------------------------------------------


def mark_completed(doctor_user: User, appointment_id: uuid.UUID,
                   now: datetime | None = None) -> Appointment:
    return _mark_outcome(doctor_user, appointment_id, S.COMPLETED, now or utcnow())


def mark_no_show(doctor_user: User, appointment_id: uuid.UUID,
                 now: datetime | None = None) -> Appointment:
    return _mark_outcome(doctor_user, appointment_id, S.NO_SHOW, now or utcnow())


def _mark_outcome(user: User, appointment_id: uuid.UUID, outcome: AppointmentStatus,
                  now: datetime) -> Appointment:
    appointment = get_visible(user, appointment_id)
    if user.role not in (Role.DOCTOR, Role.ADMIN):
        raise NotFound("No such appointment.")
    begin_write()
    appointment = _locked(appointment.id)
    if appointment.status != S.CONFIRMED:
        status = appointment.status_enum.label.lower()
        db.session.rollback()
        raise TransitionNotAllowed(f"A {status} appointment cannot be marked "
                                   f"{outcome.label.lower()}.")
    if appointment.start_at > now:
        db.session.rollback()
        raise TransitionNotAllowed("The appointment has not started yet.")
    _record(appointment, S.CONFIRMED, outcome, user.id, f"marked {outcome.label.lower()}", now)
    db.session.commit()
    return appointment


# --- shared steps --------------------------------------------------------------------------


def _locked(appointment_id: uuid.UUID) -> Appointment:
    appointment = db.session.scalar(select(Appointment).where(Appointment.id == appointment_id)
                                    .with_for_update(of=Appointment)
                                    .execution_options(populate_existing=True))
    if appointment is None:
        db.session.rollback()
        raise NotFound("No such appointment.")
    return appointment


def _release_slot(appointment: Appointment, from_status: SlotStatus) -> None:
    """Give the appointment's slot back (if it still exists and is still ours)."""
    if appointment.slot_id is None:
        return
    db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == appointment.slot_id,
               AvailableSlot.status == from_status.value)
        .values(status=SlotStatus.FREE.value, held_until=None)
        .execution_options(synchronize_session=False))


def _record(appointment: Appointment, from_status: AppointmentStatus | None,
            to_status: AppointmentStatus, actor_id: uuid.UUID | None, reason: str,
            now: datetime, *, event: str | None = None, extra: dict | None = None) -> None:
    """Apply a transition with its history row and outbox event (same transaction)."""
    if from_status is not None and to_status not in ALLOWED.get(from_status, set()):
        raise TransitionNotAllowed(f"{from_status} -> {to_status} is not allowed.")
    appointment.status = to_status.value
    appointment.updated_at = now
    db.session.add(AppointmentStatusHistory(
        appointment_id=appointment.id, from_status=from_status.value if from_status else None,
        to_status=to_status.value, changed_by_id=actor_id, reason=reason[:500], created_at=now))
    record_event(APPOINTMENT_EVENTS, event or to_status.value, appointment.id, {
        "appointment_id": str(appointment.id),
        "patient_id": str(appointment.patient_id),
        "doctor_id": str(appointment.doctor_id),
        "start_at": appointment.start_at.isoformat(),
        "end_at": appointment.end_at.isoformat(),
        "consultation_type": appointment.consultation_type,
        "fee_paise": appointment.fee_paise,
        "currency": appointment.currency,
        "status": to_status.value,
        "changed_by": str(actor_id) if actor_id else None,
        "reason": reason,
        **(extra or {}),
    })
