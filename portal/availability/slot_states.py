"""Slot state changes: FREE -> HELD -> BOOKED and back. The only writer of a slot's status.

Every change is a conditional UPDATE whose WHERE clause re-checks the state, so of two
concurrent requests exactly one changes the row (invariant 1). These are steps of the
caller's unit of work (`portal.transactions.write()`), not transactions of their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import BigInteger, Uuid, bindparam, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from portal.availability.models import AvailableSlot, SlotStatus, SlotVersion
from portal.doctors.models import Doctor
from portal.exceptions import Conflict, DomainError, NotFound
from portal.extensions import db


class SlotUnavailable(Conflict):
    title = "Slot unavailable"


def slot_and_doctor(slot_id: uuid.UUID, now: datetime) -> tuple[AvailableSlot, Doctor]:
    """The slot and its doctor, if the doctor takes bookings; else the reason as an error.

    Whether the slot itself is bookable is decided by the conditional UPDATE that takes it.
    """
    row = db.session.execute(
        select(AvailableSlot, Doctor).join(Doctor, Doctor.id == AvailableSlot.doctor_id)
        .where(AvailableSlot.id == slot_id, Doctor.active.is_(True))
        # The row as it is now, not as an object this session loaded earlier remembers it.
        .execution_options(populate_existing=True)).first()
    if row is None:
        raise why_unavailable(slot_id, now)
    if row[0].consultation_type == "VIDEO" and not video_offered():
        raise SlotUnavailable("Video consultations are not available at the moment; choose "
                              "an in-person time.", "slot_id")
    return row[0], row[1]


def video_offered() -> bool:
    """VIDEO_PROVIDER=none turns video consultations off: their slots are neither listed nor
    booked (portal/video.py)."""
    return current_app.config["VIDEO_PROVIDER"] != "none"


def notice(minutes: int) -> timedelta:
    return timedelta(minutes=minutes or 0)


# --- the slot listing's version --------------------------------------------------------------
# Every writer of slots calls one of these after its slot writes, in the same transaction.

_BUMP_DOCTORS = text(
    "INSERT INTO slot_versions (doctor_id, version) VALUES (:doctor_id, 1) "
    "ON CONFLICT (doctor_id) DO UPDATE SET version = slot_versions.version + 1",
).bindparams(bindparam("doctor_id", type_=Uuid()))
_BUMP_SLOT_DOCTOR = text(
    "INSERT INTO slot_versions (doctor_id, version) "
    "SELECT doctor_id, 1 FROM available_slots WHERE id = :slot_id "
    "ON CONFLICT (doctor_id) DO UPDATE SET version = slot_versions.version + 1",
).bindparams(bindparam("slot_id", type_=Uuid()))


def bump_versions(doctor_ids) -> None:
    """These doctors' slots changed: their listings' ETags change with this transaction."""
    rows = [{"doctor_id": doctor_id} for doctor_id in sorted(set(doctor_ids))]
    if rows:
        db.session.execute(_BUMP_DOCTORS, rows)


def _bump_for_slot(slot_id: uuid.UUID) -> None:
    db.session.execute(_BUMP_SLOT_DOCTOR, {"slot_id": slot_id})


# --- state changes -----------------------------------------------------------------------------


def hold(slot: AvailableSlot, doctor: Doctor, now: datetime, until: datetime) -> None:
    """FREE (or a lapsed hold) -> HELD until `until`; SlotUnavailable if someone was faster."""
    _change(slot.id, doctor, now, SlotStatus.HELD, until)


def book(slot: AvailableSlot, doctor: Doctor, now: datetime) -> None:
    """A bookable slot straight to BOOKED (a reschedule moving onto it)."""
    _change(slot.id, doctor, now, SlotStatus.BOOKED, None)


def book_held(slot_id: uuid.UUID | None) -> None:
    """The appointment's own live hold becomes a booking."""
    if slot_id is not None:
        db.session.execute(update(AvailableSlot).where(AvailableSlot.id == slot_id)
                           .values(status=SlotStatus.BOOKED, held_until=None)
                           .execution_options(synchronize_session=False))
        _bump_for_slot(slot_id)


def extend_hold(slot_id: uuid.UUID | None, until: datetime) -> None:
    """Keep the appointment's own live hold on the slot until `until` (never shortened)."""
    if slot_id is not None:
        changed = db.session.execute(update(AvailableSlot)
                                     .where(AvailableSlot.id == slot_id,
                                            AvailableSlot.status == SlotStatus.HELD,
                                            AvailableSlot.held_until < until)
                                     .values(held_until=until)
                                     .execution_options(synchronize_session=False)).rowcount
        if changed:
            _bump_for_slot(slot_id)


def rebook_if_open(slot_id: uuid.UUID | None, now: datetime) -> bool:
    """Book a slot again whose hold lapsed, if nobody took it meanwhile (a late payment).

    The notice period is not checked again: the patient held the time before it began.
    """
    if slot_id is None:
        return False
    rebooked = db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id, AvailableSlot.start_at > now,
               AvailableSlot.open_at(now))
        .values(status=SlotStatus.BOOKED, held_until=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if rebooked:
        _bump_for_slot(slot_id)
    return rebooked


def release(slot_id: uuid.UUID | None, from_status: SlotStatus) -> None:
    """Give a slot back (if it still exists and is still in the state we left it in)."""
    if slot_id is None:
        return
    released = db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id, AvailableSlot.status == from_status)
        .values(status=SlotStatus.FREE, held_until=None)
        .execution_options(synchronize_session=False)).rowcount
    if released:
        _bump_for_slot(slot_id)


def _change(slot_id: uuid.UUID, doctor: Doctor, now: datetime, to: SlotStatus,
            held_until: datetime | None) -> None:
    """The conditional UPDATE that decides a race, and the doctor's version bump with it."""
    take = (update(AvailableSlot)
            .where(AvailableSlot.id == slot_id,
                   AvailableSlot.bookable(now, notice(doctor.min_notice_minutes)))
            .values(status=to, held_until=held_until)
            .execution_options(synchronize_session=False))
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement: the UPDATE in a CTE, the bump of the version of the doctor whose
        # slot it changed (none if it changed nothing). Rows come back only if it won.
        changed = take.returning(AvailableSlot.doctor_id).cte("changed")
        bump = pg_insert(SlotVersion).from_select(
            ["doctor_id", "version"], select(changed.c.doctor_id, literal(1, BigInteger)))
        bump = bump.on_conflict_do_update(
            index_elements=[SlotVersion.doctor_id],
            set_={"version": SlotVersion.version + 1}).returning(SlotVersion.doctor_id)
        won = db.session.execute(bump).first() is not None
    else:
        won = db.session.execute(take).rowcount == 1
        if won:
            bump_versions([doctor.id])
    if not won:
        raise why_unavailable(slot_id, now)


def refuse_if_taken(slot: AvailableSlot, doctor: Doctor, now: datetime) -> None:
    """SlotUnavailable, with the reason, when the slot as read is not bookable now.

    Only an early refusal on a row read without a lock: a slot that looks bookable may still
    be lost to the conditional UPDATE (`hold`, `book`), which alone decides.
    """
    if not (slot.is_free(now) and slot.start_at > now
            and slot.start_at >= now + notice(doctor.min_notice_minutes)):
        raise _why(slot, doctor, now)


def why_unavailable(slot_id: uuid.UUID, now: datetime) -> DomainError:
    """Why this slot cannot be taken now, in words a patient understands."""
    slot = db.session.get(AvailableSlot, slot_id, populate_existing=True)
    if slot is None:
        return NotFound("No such slot; it may have been withdrawn. Choose another time.",
                        "slot_id")
    doctor = db.session.get(Doctor, slot.doctor_id)
    if doctor is None or not doctor.active:
        return NotFound("This doctor is not taking bookings at the moment.", "slot_id")
    return _why(slot, doctor, now)


def _why(slot: AvailableSlot, doctor: Doctor, now: datetime) -> DomainError:
    if slot.start_at <= now:
        return SlotUnavailable("That time has already passed; choose a later one.", "slot_id")
    if slot.status == SlotStatus.BOOKED:
        return SlotUnavailable("Someone has just booked this time; choose another.", "slot_id")
    if not slot.is_free(now):
        return SlotUnavailable("Someone is holding this time right now. It frees up if they "
                               "do not complete the booking within a few minutes.", "slot_id")
    if slot.start_at < now + notice(doctor.min_notice_minutes):
        return SlotUnavailable(f"This doctor needs {_notice_words(doctor.min_notice_minutes)} "
                               "notice; choose a later time.", "slot_id")
    return SlotUnavailable("This time cannot be booked now; choose another.", "slot_id")


def _notice_words(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"at least {days} day{'s' if days != 1 else ''}'"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"at least {hours} hour{'s' if hours != 1 else ''}'"
    return f"at least {minutes} minutes'"
