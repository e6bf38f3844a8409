"""Slot state changes: FREE -> HELD -> BOOKED and back. The only writer of a slot's status.

Every change is a conditional UPDATE whose WHERE clause re-checks the state, so of two
concurrent requests exactly one changes the row (invariant 1). These are steps of the
caller's unit of work (`portal.transactions.write()`), not transactions of their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from portal.availability.models import AvailableSlot, SlotStatus
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
        .where(AvailableSlot.id == slot_id, Doctor.active.is_(True))).first()
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


def extend_hold(slot_id: uuid.UUID | None, until: datetime) -> None:
    """Keep the appointment's own live hold on the slot until `until` (never shortened)."""
    if slot_id is not None:
        db.session.execute(update(AvailableSlot)
                           .where(AvailableSlot.id == slot_id,
                                  AvailableSlot.status == SlotStatus.HELD,
                                  AvailableSlot.held_until < until)
                           .values(held_until=until)
                           .execution_options(synchronize_session=False))


def rebook_if_open(slot_id: uuid.UUID | None, now: datetime) -> bool:
    """Book a slot again whose hold lapsed, if nobody took it meanwhile (a late payment).

    The notice period is not checked again: the patient held the time before it began.
    """
    if slot_id is None:
        return False
    return db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id, AvailableSlot.start_at > now,
               AvailableSlot.open_at(now))
        .values(status=SlotStatus.BOOKED, held_until=None)
        .execution_options(synchronize_session=False)).rowcount == 1


def release(slot_id: uuid.UUID | None, from_status: SlotStatus) -> None:
    """Give a slot back (if it still exists and is still in the state we left it in)."""
    if slot_id is None:
        return
    db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id, AvailableSlot.status == from_status)
        .values(status=SlotStatus.FREE, held_until=None)
        .execution_options(synchronize_session=False))


def _change(slot_id: uuid.UUID, doctor: Doctor, now: datetime, to: SlotStatus,
            held_until: datetime | None) -> None:
    changed = db.session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id,
               AvailableSlot.bookable(now, notice(doctor.min_notice_minutes)))
        .values(status=to, held_until=held_until)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise why_unavailable(slot_id, now)


def why_unavailable(slot_id: uuid.UUID, now: datetime) -> DomainError:
    """Why this slot cannot be taken now, in words a patient understands."""
    slot = db.session.get(AvailableSlot, slot_id, populate_existing=True)
    if slot is None:
        return NotFound("No such slot; it may have been withdrawn. Choose another time.",
                        "slot_id")
    doctor = db.session.get(Doctor, slot.doctor_id)
    if doctor is None or not doctor.active:
        return NotFound("This doctor is not taking bookings at the moment.", "slot_id")
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
