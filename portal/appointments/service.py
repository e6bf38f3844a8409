"""Booking rules: hold a slot, confirm, cancel, reschedule, complete. No Flask request here.

Races are decided by the database, never by a read followed by a write:
- a slot moves FREE -> HELD -> BOOKED only through the availability service's conditional
  UPDATEs (`portal.availability.slot_states`), so of two concurrent requests exactly one wins;
- a partial unique index allows one active (RESERVED or CONFIRMED) appointment per slot, and
  on PostgreSQL an exclusion constraint forbids overlapping active appointments of a doctor;
- a hold whose `reserved_until` has passed counts as free everywhere, before any job runs.
Every transition writes `appointment_status_history` and an outbox event in the same
transaction (invariant 5). Each public function that changes state is one unit of work.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from portal import video
from portal.appointments.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentStatusHistory,
)
from portal.auth.models import User
from portal.availability import slot_states
from portal.availability.models import SlotStatus
from portal.availability.slot_states import SlotUnavailable
from portal.clock import utcnow
from portal.doctors.models import ConsultationType
from portal.events import APPOINTMENT_EVENTS, record_event
from portal.exceptions import Conflict, DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.family import service as family
from portal.jobqueue import get_queue
from portal.pagination import Page, paginate
from portal.privacy import access
from portal.privacy.models import AccessKind
from portal.roles import Role
from portal.transactions import write

log = logging.getLogger(__name__)

S = AppointmentStatus

# Which transitions the state machine allows (DESIGN.md, "Appointment states").
ALLOWED = {
    S.RESERVED: {S.CONFIRMED, S.EXPIRED, S.CANCELLED},
    # CONFIRMED -> CONFIRMED: a reschedule. ARRIVED: checked in at the desk.
    S.CONFIRMED: {S.CANCELLED, S.COMPLETED, S.NO_SHOW, S.CONFIRMED, S.ARRIVED},
    S.ARRIVED: {S.IN_CONSULTATION, S.COMPLETED, S.NO_SHOW},
    S.IN_CONSULTATION: {S.COMPLETED},
    # A payment captured after the hold lapsed still books the slot if nobody took it.
    S.EXPIRED: {S.CONFIRMED},
}
# The clinic's side: may cancel with a full refund and mark outcomes.
CLINIC_ROLES = (Role.DOCTOR, Role.STAFF, Role.ADMIN)
# Who sees every appointment of the clinic (doctors see their own).
CLINIC_WIDE_ROLES = (Role.STAFF, Role.ADMIN)
# From which states each outcome may be recorded.
OUTCOME_FROM = {S.COMPLETED: (S.CONFIRMED, S.ARRIVED, S.IN_CONSULTATION),
                S.NO_SHOW: (S.CONFIRMED, S.ARRIVED)}

__all__ = ["SlotUnavailable"]


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
    """What a cancellation now would refund, shown before it is confirmed.

    `until` is when a patient's refund drops to the policy's next tier (None if it will not).
    """

    refund_paise: int
    percent: int
    explanation: str
    until: datetime | None = None


# --- reading ---------------------------------------------------------------------------------


def get_visible(user: User, appointment_id: uuid.UUID, *, own: bool = False) -> Appointment:
    """The appointment if `user` may see it: its patient, its doctor, or an admin.

    With `own=True` only the patient it belongs to (or the desk or an admin acting for them):
    for paying, confirming, giving a reason, cancelling as the patient. Anyone else gets
    NotFound, the same as a missing id, so ids cannot be probed.
    """
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or not can_see(user, appointment) or (
            own and user.role not in CLINIC_WIDE_ROLES and appointment.patient_id != user.id):
        raise NotFound("No such appointment.")
    access.note(user, appointment.patient_id, AccessKind.APPOINTMENT, appointment.id)
    return appointment


def can_see(user: User, appointment: Appointment) -> bool:
    if user.role in CLINIC_WIDE_ROLES:
        return True
    if user.role == Role.DOCTOR:
        return appointment.doctor.user_id == user.id
    return appointment.patient_id == user.id


def is_clinic_side(user: User) -> bool:
    """Doctors and admins act for the clinic: full refunds, outcomes, any reschedule."""
    return user.role in CLINIC_ROLES


def patient_appointments(patient_id: uuid.UUID, *, upcoming: bool | None = None,
                         now: datetime | None = None, page: int = 1, per_page: int = 20,
                         reader: User | None = None) -> Page[Appointment]:
    """A patient's appointments: upcoming (soonest first) or past (latest first) or all.

    `reader`: who is looking (an admin reading someone else's is in the access log)."""
    now = now or utcnow()
    stmt = select(Appointment).where(Appointment.patient_id == patient_id)
    stmt = _scope(stmt, upcoming, now)
    return _noted(paginate(stmt, page, per_page), reader)


def _noted(page: Page[Appointment], reader: User | None) -> Page[Appointment]:
    if reader is not None:
        access.note_many(reader, ((a.patient_id, AccessKind.APPOINTMENT, a.id)
                                  for a in page.items))
    return page


def doctor_appointments(doctor_id: uuid.UUID, *, upcoming: bool | None = None,
                        start: datetime | None = None, end: datetime | None = None,
                        now: datetime | None = None, page: int = 1, per_page: int = 50,
                        reader: User | None = None) -> Page[Appointment]:
    """A doctor's appointments, without lapsed holds and expired ones (each one `reader`
    sees is in the access log)."""
    now = now or utcnow()
    stmt = select(Appointment).where(Appointment.doctor_id == doctor_id,
                                     Appointment.status != S.EXPIRED,
                                     ~_lapsed_hold(now))
    if start is not None:
        stmt = stmt.where(Appointment.end_at > start)
    if end is not None:
        stmt = stmt.where(Appointment.start_at < end)
    return _noted(paginate(_scope(stmt, upcoming, now), page, per_page), reader)


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
    return (Appointment.status == S.RESERVED) & (Appointment.reserved_until <= now)


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
    return appointment.status


def hold_seconds_left(appointment: Appointment, now: datetime | None = None) -> int:
    """Seconds left on a hold, rounded up (while the hold lasts it never reads 0)."""
    now = now or utcnow()
    if appointment.status != S.RESERVED or appointment.reserved_until is None:
        return 0
    return max(0, math.ceil((appointment.reserved_until - now).total_seconds()))


def why_not_cancellable(appointment: Appointment, clinic_side: bool,
                        now: datetime | None = None) -> str | None:
    """Why this appointment cannot be cancelled now (None when it can)."""
    now = now or utcnow()
    status = effective_status(appointment, now)
    if status not in (S.RESERVED, S.CONFIRMED):
        return f"A {status.label.lower()} appointment cannot be cancelled."
    if status == S.CONFIRMED and appointment.start_at <= now and not clinic_side:
        return "The appointment has already started; it cannot be cancelled now."
    return None


def why_not_reschedulable(appointment: Appointment, now: datetime | None = None) -> str | None:
    """Why this appointment cannot be moved now (None when it can)."""
    now = now or utcnow()
    if appointment.status != S.CONFIRMED:
        return "Only a confirmed appointment can be rescheduled."
    cutoff = current_app.config["RESCHEDULE_CUTOFF_HOURS"]
    if appointment.start_at - now < timedelta(hours=cutoff):
        return f"Appointments can be moved up to {cutoff} hours before they start; cancel instead."
    return None


def set_visit_for(patient: User, appointment_id: uuid.UUID, for_dependent_id: uuid.UUID | None,
                now: datetime | None = None) -> Appointment:
    """Whom the visit is for (the holder themself, or one of their family), changeable while
    held or confirmed, before it starts."""
    now = now or utcnow()
    appointment = get_visible(patient, appointment_id, own=True)
    with write():
        if for_dependent_id is not None:
            family.lock(for_dependent_id)
            family.get_own(patient, for_dependent_id)
        appointment = _locked(appointment.id)
        if effective_status(appointment, now) not in (S.RESERVED, S.CONFIRMED) or \
                appointment.start_at <= now:
            raise TransitionNotAllowed("Whom the appointment is for can be changed only before "
                                       "it starts.")
        appointment.for_dependent_id = for_dependent_id
        appointment.updated_at = now
    return appointment


def set_reason(patient: User, appointment_id: uuid.UUID, reason: str,
               now: datetime | None = None) -> Appointment:
    """The patient's reason for the visit, editable while held or confirmed, before it starts."""
    now = now or utcnow()
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "Use at most 1000 characters."})
    appointment = get_visible(patient, appointment_id, own=True)
    with write():
        appointment = _locked(appointment.id)
        if effective_status(appointment, now) not in (S.RESERVED, S.CONFIRMED) or \
                appointment.start_at <= now:
            raise TransitionNotAllowed("The reason can be changed only before the appointment "
                                       "starts.")
        appointment.reason_for_visit = reason.strip()
        appointment.updated_at = now
    return appointment


# --- holding a slot ----------------------------------------------------------------------------


def reserve(patient: User, slot_id: uuid.UUID, *, idempotency_key: str | None = None,
            reason: str = "", for_dependent_id: uuid.UUID | None = None,
            actor: User | None = None, now: datetime | None = None) -> Appointment:
    """Hold a bookable slot for HOLD_MINUTES. Raises SlotUnavailable, TooManyHolds or NotFound.

    `for_dependent_id` books for one of the account holder's family members: the holder
    pays and is notified, the visit is theirs, and the hold limit counts per holder.
    `actor` is who made the hold when not the patient (the front desk, on the phone).

    The same `idempotency_key`, or a second click on a slot the patient already holds,
    returns the existing hold instead of making another. A key whose hold has since ended
    (a form re-sent from the browser's history) is a new request: the slot is held again.
    """
    now = now or utcnow()
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "Use at most 1000 characters."})
    if for_dependent_id is not None:
        family.get_own(patient, for_dependent_id)
    if idempotency_key:
        existing = _by_idempotency_key(patient.id, idempotency_key)
        if existing is not None:
            if effective_status(existing, now) in (S.RESERVED, S.CONFIRMED):
                return existing
            idempotency_key = None
    session = db.session()
    # Nothing of the new hold needs reading back after the commit: keep what was written
    # instead of expiring it (the answer would otherwise cost a SELECT and a transaction).
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        with write():
            appointment = _hold(patient, slot_id, idempotency_key, reason, for_dependent_id,
                                (actor or patient).id, now)
    except IntegrityError:
        # The INSERT is where the unique indexes and the exclusion constraint fire.
        if idempotency_key:
            existing = _by_idempotency_key(patient.id, idempotency_key)
            if existing is not None:
                return existing
        raise SlotUnavailable("This time was just taken; choose another.", "slot_id") from None
    finally:
        session.expire_on_commit = expire
    _schedule_expiry(appointment)
    return appointment


def _hold(patient: User, slot_id: uuid.UUID, idempotency_key: str | None, reason: str,
          for_dependent_id: uuid.UUID | None, actor_id: uuid.UUID,
          now: datetime) -> Appointment:
    # The slot first, without a lock: a slot someone holds or booked is refused at once (a
    # rush of patients on a few slots), before this patient's row is locked. This read only
    # refuses early; the conditional UPDATE below still decides who gets the slot.
    slot, doctor = slot_states.slot_and_doctor(slot_id, now)
    try:
        slot_states.refuse_if_taken(slot, doctor, now)
    except SlotUnavailable:
        own = db.session.scalar(select(Appointment).where(
            Appointment.patient_id == patient.id, Appointment.slot_id == slot_id,
            Appointment.status == S.RESERVED, Appointment.reserved_until > now))
        if own is not None:  # taken by this patient: a second click, another tab
            return own
        raise
    # Serialise this patient's reservations so the hold limit cannot be raced (PostgreSQL).
    db.session.execute(select(User.id).where(User.id == patient.id).with_for_update())
    if for_dependent_id is not None:
        family.lock(for_dependent_id)
        family.get_own(patient, for_dependent_id)  # not removed meanwhile
    live = db.session.execute(select(Appointment.id, Appointment.slot_id).where(
        Appointment.patient_id == patient.id, Appointment.status == S.RESERVED,
        Appointment.reserved_until > now)).all()
    own = next((row.id for row in live if row.slot_id == slot_id), None)
    if own is not None:
        return db.session.get(Appointment, own)
    holds = len(live)
    if holds >= current_app.config["MAX_ACTIVE_HOLDS"]:
        raise TooManyHolds(f"You are already holding {holds} slot{'s' if holds != 1 else ''}. "
                           "Complete or cancel a booking before holding another.", "slot_id")
    if slot.status != SlotStatus.FREE:
        # A lapsed hold (a free slot has no active appointment): its appointment expires first.
        _expire_lapsed_on_slot(slot_id, now)
    hold_until = now + timedelta(minutes=current_app.config["HOLD_MINUTES"])
    slot_states.hold(slot, doctor, now, hold_until)
    fee = doctor.fee_for(ConsultationType(slot.consultation_type))
    appointment = Appointment(
        patient_id=patient.id, for_dependent_id=for_dependent_id, doctor_id=doctor.id,
        # The loaded objects themselves, so the answer needs no query to name them.
        patient=patient, doctor=doctor, slot_id=slot.id, start_at=slot.start_at,
        end_at=slot.end_at, consultation_type=slot.consultation_type,
        status=S.RESERVED, reserved_until=hold_until, fee_paise=fee or 0,
        currency=current_app.config["CURRENCY"], reason_for_visit=reason.strip(),
        idempotency_key=idempotency_key, created_at=now, updated_at=now)
    db.session.add(appointment)
    db.session.flush()  # the INSERT that the unique indexes and the exclusion constraint check
    _record(appointment, None, S.RESERVED, actor_id,
            "slot held" if actor_id == patient.id else "slot held by the clinic", now)
    return appointment


def _by_idempotency_key(patient_id: uuid.UUID, key: str) -> Appointment | None:
    return db.session.scalar(select(Appointment).where(
        Appointment.patient_id == patient_id, Appointment.idempotency_key == key))


def _expire_lapsed_on_slot(slot_id: uuid.UUID, now: datetime,
                           keep: uuid.UUID | None = None) -> None:
    """Mark lapsed holds on this slot EXPIRED first, so they stop counting as active."""
    lapsed = db.session.scalars(select(Appointment).where(
        Appointment.slot_id == slot_id, Appointment.status == S.RESERVED,
        Appointment.reserved_until <= now, Appointment.id != keep)
        .with_for_update(of=Appointment)).all()
    for appointment in lapsed:
        _record(appointment, S.RESERVED, S.EXPIRED, None, "hold lapsed", now)
    if lapsed:
        db.session.flush()


def _schedule_expiry(appointment: Appointment) -> None:
    """Enqueue the expiry job for the hold's end. Without Redis the sweeper does it."""
    try:
        get_queue("default").enqueue_at(appointment.reserved_until,
                                        "jobs.appointments.expire_hold", str(appointment.id),
                                        job_id=f"expire-hold-{appointment.id}")
    except Exception:
        log.warning("could not schedule the expiry of hold %s; the sweeper will",
                    appointment.id, exc_info=True)


def expire_hold(appointment_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Expire one hold if it has lapsed; False when there is nothing to do (idempotent)."""
    now = now or utcnow()
    with write():
        appointment = db.session.scalar(select(Appointment).where(
            Appointment.id == appointment_id, Appointment.status == S.RESERVED,
            Appointment.reserved_until <= now).with_for_update(of=Appointment))
        if appointment is None:
            return False
        _record(appointment, S.RESERVED, S.EXPIRED, None, "hold lapsed", now)
        slot_states.release(appointment.slot_id, SlotStatus.HELD)
    return True


def extend_hold(appointment_id: uuid.UUID, until: datetime, *,
                actor_id: uuid.UUID | None = None, reason: str = "hold extended",
                now: datetime | None = None) -> Appointment:
    """Keep a live hold until `until` (a payment link the patient pays later); never shortens it.

    Raises HoldExpired when the appointment is not a live hold. The history row records the
    change (RESERVED -> RESERVED) with the new end; no event: nothing reacts to it.
    """
    now = now or utcnow()
    with write():
        appointment = _locked(appointment_id)
        if appointment.status != S.RESERVED or appointment.reserved_until <= now:
            raise HoldExpired("The hold on this time has lapsed; book the time again.")
        if until <= appointment.reserved_until:
            return appointment
        slot_states.extend_hold(appointment.slot_id, until)
        appointment.reserved_until = until
        appointment.updated_at = now
        db.session.add(AppointmentStatusHistory(
            appointment_id=appointment.id, from_status=S.RESERVED, to_status=S.RESERVED,
            changed_by_id=actor_id, reason=f"{reason} until {until.isoformat()}"[:500],
            created_at=now))
    _schedule_expiry(appointment)
    return appointment


def lapsed_hold_ids(now: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    now = now or utcnow()
    return list(db.session.scalars(select(Appointment.id).where(
        Appointment.status == S.RESERVED, Appointment.reserved_until <= now)
        .order_by(Appointment.reserved_until).limit(limit)))


def expire_lapsed_holds(now: datetime | None = None, limit: int = 500) -> int:
    """The sweeper: expire every lapsed hold (the per-hold job may have been lost)."""
    now = now or utcnow()
    return sum(expire_hold(appointment_id, now) for appointment_id in lapsed_hold_ids(now, limit))


# --- confirming ----------------------------------------------------------------------------


def confirm_free(user: User, appointment_id: uuid.UUID,
                 now: datetime | None = None) -> Appointment:
    """The patient (or an admin) confirms a held free consultation; paid ones need payment."""
    appointment = get_visible(user, appointment_id, own=True)
    if appointment.fee_paise > 0:
        raise PaymentRequired("This consultation is paid: it is confirmed once the payment "
                              "is made.", "payment_id")
    return confirm(appointment.id, actor_id=user.id, now=now)


def confirm(appointment_id: uuid.UUID, *, actor_id: uuid.UUID | None = None,
            reason: str = "confirmed", now: datetime | None = None) -> Appointment:
    """Book the held slot (the payment step calls this once money is captured).

    A hold that lapsed is still confirmed when nobody else has taken the slot meanwhile;
    otherwise HoldExpired (the payments side then refunds). Confirming twice is a no-op.
    """
    now = now or utcnow()
    try:
        with write():
            appointment = _locked(appointment_id)
            if appointment.status == S.CONFIRMED:
                return appointment
            if appointment.status not in (S.RESERVED, S.EXPIRED):
                raise TransitionNotAllowed(
                    f"A {appointment.status.label.lower()} appointment cannot be confirmed.")
            if appointment.start_at <= now:
                raise HoldExpired("The appointment time has passed; it cannot be confirmed.")
            from_status = appointment.status
            if appointment.status == S.EXPIRED or appointment.reserved_until <= now:
                # Late: take the slot back only if it is still free (nobody holds or booked it).
                _expire_lapsed_on_slot(appointment.slot_id, now, keep=appointment.id)
                if not slot_states.rebook_if_open(appointment.slot_id, now):
                    raise HoldExpired("The hold on this slot lapsed and someone else has "
                                      "taken it.")
                reason = f"{reason} after the hold lapsed; the slot was still free"
            else:
                slot_states.book_held(appointment.slot_id)
            appointment.confirmed_at = now
            appointment.reserved_until = None
            if appointment.consultation_type == ConsultationType.VIDEO and \
                    not appointment.video_room_url:
                appointment.video_room_url = video.new_room_url()
            _record(appointment, from_status, S.CONFIRMED, actor_id, reason, now)
    except IntegrityError:
        raise HoldExpired("The hold on this slot lapsed and someone else has taken it.") from None
    return appointment


# --- cancelling --------------------------------------------------------------------------------


def cancellation_quote(appointment: Appointment, now: datetime | None = None, *,
                       clinic_side: bool = False) -> CancellationQuote:
    """The refund a cancellation now would give: the policy's tier for the patient, the
    whole fee when the clinic cancels."""
    now = now or utcnow()
    if appointment.status != S.CONFIRMED or appointment.fee_paise == 0:
        return CancellationQuote(0, 0, "Nothing has been paid, so there is nothing to refund.")
    if clinic_side:
        return CancellationQuote(appointment.fee_paise, 100,
                                 "A cancellation by the clinic refunds the patient in full.")
    hours_before = (appointment.start_at - now) / timedelta(hours=1)
    for min_hours, percent in current_app.config["CANCELLATION_POLICY"]:
        if hours_before >= min_hours:
            refund = appointment.fee_paise * percent // 100
            when = (f"at least {min_hours} hours before the start" if min_hours
                    else "this close to the start")
            until = appointment.start_at - timedelta(hours=min_hours) if min_hours else None
            return CancellationQuote(refund, percent,
                                     f"Cancelling {when} refunds {percent}% of the fee.", until)
    return CancellationQuote(0, 0, "The appointment has started; nothing is refunded.")


def cancel(user: User, appointment_id: uuid.UUID, reason: str = "",
           now: datetime | None = None) -> Appointment:
    """Cancel as whoever `user` is: the patient by the policy, the clinic side in full."""
    if is_clinic_side(user):
        return cancel_by_doctor(user, appointment_id, reason, now)
    return cancel_by_patient(user, appointment_id, reason, now)


def cancel_by_patient(patient: User, appointment_id: uuid.UUID, reason: str = "",
                      now: datetime | None = None) -> Appointment:
    """The patient cancels a hold or a confirmed appointment; the refund follows the policy."""
    now = now or utcnow()
    appointment = get_visible(patient, appointment_id, own=True)
    return _cancel(appointment.id, "patient", patient.id, reason or "cancelled by the patient",
                   clinic_side=False, now=now)


def cancel_by_doctor(doctor_user: User, appointment_id: uuid.UUID, reason: str,
                     now: datetime | None = None) -> Appointment:
    """The doctor (or an admin) cancels; the patient is always refunded in full."""
    if not reason.strip():
        raise ValidationFailed({"reason": "Tell the patient why the appointment is cancelled."})
    if len(reason) > 500:
        raise ValidationFailed({"reason": "Use at most 500 characters."})
    appointment = get_visible(doctor_user, appointment_id)
    by = doctor_user.role.value if doctor_user.role != Role.STAFF else "clinic"
    return _cancel(appointment.id, by, doctor_user.id, reason.strip(), clinic_side=True,
                   now=now or utcnow())


def _cancel(appointment_id: uuid.UUID, by: str, actor_id: uuid.UUID, reason: str, *,
            clinic_side: bool, now: datetime) -> Appointment:
    with write():
        appointment = _locked(appointment_id)
        refusal = why_not_cancellable(appointment, clinic_side, now)
        if refusal:
            raise TransitionNotAllowed(refusal)
        status = effective_status(appointment, now)
        refund = cancellation_quote(appointment, now, clinic_side=clinic_side).refund_paise
        appointment.cancelled_by = by
        appointment.cancel_reason = reason[:500]
        appointment.cancelled_at = now
        appointment.refund_paise = refund
        slot_states.release(appointment.slot_id, SlotStatus.HELD if status == S.RESERVED
                            else SlotStatus.BOOKED)
        _record(appointment, status, S.CANCELLED, actor_id, reason, now,
                extra={"cancelled_by": by, "refund_paise": refund})
    return appointment


# --- rescheduling ------------------------------------------------------------------------------


def reschedule(user: User, appointment_id: uuid.UUID, new_slot_id: uuid.UUID,
               now: datetime | None = None) -> Appointment:
    """Move a confirmed appointment to another bookable slot of the same doctor, atomically."""
    now = now or utcnow()
    get_visible(user, appointment_id)
    try:
        with write():
            appointment = _locked(appointment_id)
            refusal = why_not_reschedulable(appointment, now)
            if refusal:
                raise TransitionNotAllowed(refusal)
            new_slot, doctor = slot_states.slot_and_doctor(new_slot_id, now)
            if new_slot.doctor_id != appointment.doctor_id:
                raise NotFound("Choose a free time of the same doctor.", "slot_id")
            if new_slot.consultation_type != appointment.consultation_type:
                kind = ConsultationType(appointment.consultation_type).label
                raise SlotUnavailable(f"Choose a time for the same kind of consultation "
                                      f"({kind}).", "slot_id")
            _expire_lapsed_on_slot(new_slot_id, now)
            slot_states.book(new_slot, doctor, now)
            old_start, old_end, old_slot_id = (appointment.start_at, appointment.end_at,
                                               appointment.slot_id)
            slot_states.release(old_slot_id, SlotStatus.BOOKED)
            appointment.slot_id = new_slot.id
            appointment.start_at = new_slot.start_at
            appointment.end_at = new_slot.end_at
            _record(appointment, S.CONFIRMED, S.CONFIRMED, user.id, "rescheduled", now,
                    event="RESCHEDULED", old=(old_slot_id, old_start, old_end),
                    extra={"old_start_at": old_start.isoformat(),
                           "old_end_at": old_end.isoformat(),
                           "old_slot_id": str(old_slot_id) if old_slot_id else None})
    except IntegrityError:
        raise SlotUnavailable("That time was just taken; choose another.", "slot_id") from None
    return appointment


# --- after the visit ---------------------------------------------------------------------------


def mark_completed(user: User, appointment_id: uuid.UUID,
                   now: datetime | None = None) -> Appointment:
    return _mark_outcome(user, appointment_id, S.COMPLETED, now or utcnow())


def mark_no_show(user: User, appointment_id: uuid.UUID,
                 now: datetime | None = None) -> Appointment:
    return _mark_outcome(user, appointment_id, S.NO_SHOW, now or utcnow())


def _mark_outcome(user: User, appointment_id: uuid.UUID, outcome: AppointmentStatus,
                  now: datetime) -> Appointment:
    appointment = get_visible(user, appointment_id)
    if not is_clinic_side(user):
        raise NotFound("No such appointment.")
    with write():
        appointment = _locked(appointment.id)
        if appointment.status not in OUTCOME_FROM[outcome]:
            raise TransitionNotAllowed(f"A {appointment.status.label.lower()} appointment "
                                       f"cannot be marked {outcome.label.lower()}.")
        if appointment.status == S.CONFIRMED and appointment.start_at > now:
            raise TransitionNotAllowed("The appointment has not started yet.")
        _record(appointment, appointment.status, outcome, user.id,
                f"marked {outcome.label.lower()}", now)
    return appointment


# --- the day of the visit: the desk and the queue ------------------------------------------


def mark_arrived(user: User, appointment_id: uuid.UUID, now: datetime | None = None
                 ) -> Appointment:
    """The patient is at the clinic (checked in by the desk): CONFIRMED -> ARRIVED.

    Allowed on the appointment's own day, from CHECK_IN_EARLY_MINUTES before its start."""
    now = now or utcnow()
    if user.role not in CLINIC_WIDE_ROLES:
        raise NotFound("No such appointment.")
    with write():
        appointment = _locked(appointment_id)
        if appointment.status != S.CONFIRMED:
            raise TransitionNotAllowed(f"A {appointment.status.label.lower()} appointment "
                                       "cannot be checked in.")
        early = timedelta(minutes=current_app.config["CHECK_IN_EARLY_MINUTES"])
        zone = ZoneInfo(appointment.doctor.timezone)
        if appointment.start_at - now > early or \
                appointment.start_at.astimezone(zone).date() != now.astimezone(zone).date():
            raise TransitionNotAllowed("Check-in opens on the day of the appointment, "
                                       f"{early.seconds // 60} minutes before it starts.")
        if appointment.end_at + timedelta(hours=4) < now:
            raise TransitionNotAllowed("This appointment is long over; book a new one.")
        _record(appointment, S.CONFIRMED, S.ARRIVED, user.id, "checked in", now)
    return appointment


def start_consultation(user: User, appointment_id: uuid.UUID,
                       now: datetime | None = None) -> Appointment:
    """The doctor calls the patient in: ARRIVED -> IN_CONSULTATION."""
    now = now or utcnow()
    get_visible(user, appointment_id)
    if not is_clinic_side(user):
        raise NotFound("No such appointment.")
    with write():
        appointment = _locked(appointment_id)
        if appointment.status != S.ARRIVED:
            raise TransitionNotAllowed(f"A {appointment.status.label.lower()} appointment "
                                       "cannot be called in.")
        _record(appointment, S.ARRIVED, S.IN_CONSULTATION, user.id, "called in", now)
    return appointment


# --- shared steps --------------------------------------------------------------------------


def _locked(appointment_id: uuid.UUID) -> Appointment:
    appointment = db.session.scalar(select(Appointment).where(Appointment.id == appointment_id)
                                    .with_for_update(of=Appointment)
                                    .execution_options(populate_existing=True))
    if appointment is None:
        raise NotFound("No such appointment.")
    return appointment


def _record(appointment: Appointment, from_status: AppointmentStatus | None,
            to_status: AppointmentStatus, actor_id: uuid.UUID | None, reason: str,
            now: datetime, *, event: str | None = None,
            old: tuple[uuid.UUID | None, datetime, datetime] | None = None,
            extra: dict | None = None) -> None:
    """Apply a transition with its history row and outbox event (same transaction)."""
    if from_status is not None and to_status not in ALLOWED.get(from_status, set()):
        raise TransitionNotAllowed(f"{from_status} -> {to_status} is not allowed.")
    appointment.status = to_status
    appointment.updated_at = now
    old_slot_id, old_start, old_end = old or (None, None, None)
    db.session.add(AppointmentStatusHistory(
        appointment_id=appointment.id, from_status=from_status, to_status=to_status,
        changed_by_id=actor_id, reason=reason[:500], old_slot_id=old_slot_id,
        old_start_at=old_start, old_end_at=old_end, created_at=now))
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
