"""Waitlist rules: joining and leaving, offering freed times in join order, claiming an offer.

When a time of a doctor becomes bookable again (a cancellation, a lapsed hold, a reschedule
that frees the old slot, new or widened hours, an unblocked time), the outbox event's consumer
calls `offer_freed`: each such slot is offered to the next WAITLIST_BATCH matching entries, in
the order they joined. An offer lasts WAITLIST_OFFER_MINUTES, never past the slot's notice
period; when it lapses untaken (a job at its expiry, and the sweeper), the next batch is
offered.

Claiming is a normal hold through `appointments.reserve`, so the database decides between two
taps at the same instant: one gets the 5-minute hold, the other a clear refusal and stays on the
list. The others offered the same time are told at once that it has gone.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, select, update

from portal.appointments import service as appointments
from portal.appointments.models import ACTIVE_STATUSES, Appointment, AppointmentStatus
from portal.auth.models import User
from portal.availability.models import AvailableSlot
from portal.availability.slot_states import SlotUnavailable, notice
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.doctors.service import get_doctor
from portal.events import APPOINTMENT_EVENTS, OutboxEvent, record_event
from portal.exceptions import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.family import service as family
from portal.jobqueue import get_queue
from portal.roles import Role
from portal.transactions import write
from portal.waitlist.models import (
    DayPart,
    EntryStatus,
    OfferStatus,
    WaitlistEntry,
    WaitlistOffer,
)

log = logging.getLogger(__name__)

WAITLIST_EVENTS = APPOINTMENT_EVENTS  # offers ride on the appointments topic
MAX_ENTRIES = 10  # active entries per account


class OfferGone(Conflict):
    title = "The time has gone"


@dataclass(frozen=True)
class EntryInput:
    doctor_id: uuid.UUID
    date_from: date
    date_to: date
    day_parts: tuple[str, ...] = ()
    consultation_type: str | None = None
    for_dependent_id: uuid.UUID | None = None


# --- joining and leaving ---------------------------------------------------------------------


def join(user: User, data: EntryInput, now: datetime | None = None) -> WaitlistEntry:
    """Wait for a doctor's freed times between two dates (the doctor's local dates)."""
    now = now or utcnow()
    if user.role != Role.PATIENT:
        raise NotFound("Only patients can join a waitlist.")
    doctor = get_doctor(data.doctor_id)
    today = now.astimezone(ZoneInfo(doctor.timezone)).date()
    last = today + timedelta(days=doctor.booking_window_days - 1)
    errors: dict[str, str] = {}
    if data.date_from < today:
        errors["date_from"] = "Choose today or a later date."
    if data.date_to < data.date_from:
        errors["date_to"] = "The last date must not be before the first."
    elif data.date_to > last:
        errors["date_to"] = (f"{doctor.name} takes bookings up to {last:%d %b %Y}; choose that "
                             "date or an earlier one.")
    try:
        parts = sorted({DayPart(p.upper()) for p in data.day_parts}, key=list(DayPart).index)
    except ValueError:
        errors["day_parts"] = "Choose from morning, afternoon and evening."
        parts = []
    kinds = {kind.value for kind in doctor.consultation_types}
    if data.consultation_type is not None and data.consultation_type not in kinds:
        errors["consultation_type"] = "This doctor does not offer that kind of consultation."
    if errors:
        raise ValidationFailed(errors)
    if data.for_dependent_id is not None:
        family.get_own(user, data.for_dependent_id)
    active = db.session.scalar(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.patient_id == user.id, WaitlistEntry.status == EntryStatus.ACTIVE))
    if active >= MAX_ENTRIES:
        raise Conflict(f"You are on {active} waitlists; leave one before joining another.")
    with write():
        seq = (db.session.scalar(select(func.max(WaitlistEntry.seq))) or 0) + 1
        entry = WaitlistEntry(
            seq=seq, patient_id=user.id, for_dependent_id=data.for_dependent_id,
            doctor_id=doctor.id,
            date_from=data.date_from, date_to=data.date_to,
            day_parts=",".join(p.value for p in parts),
            consultation_type=data.consultation_type, status=EntryStatus.ACTIVE,
            created_at=now)
        db.session.add(entry)
    return entry


def entries_of(user: User, now: datetime | None = None) -> list[WaitlistEntry]:
    """The patient's current entries (past ones end by themselves), oldest first."""
    end_past_entries(now, patient_id=user.id)
    return list(db.session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.patient_id == user.id, WaitlistEntry.status == EntryStatus.ACTIVE)
        .order_by(WaitlistEntry.seq)))


def get_own_entry(user: User, entry_id: uuid.UUID) -> WaitlistEntry:
    entry = db.session.get(WaitlistEntry, entry_id)
    if entry is None or entry.patient_id != user.id:
        raise NotFound("No such waitlist entry.")
    return entry


def leave(user: User, entry_id: uuid.UUID, now: datetime | None = None) -> WaitlistEntry:
    """Leave a waitlist; open offers made to this entry are withdrawn."""
    now = now or utcnow()
    entry = get_own_entry(user, entry_id)
    with write():
        if entry.status == EntryStatus.ACTIVE:
            entry.status = EntryStatus.LEFT
            entry.ended_at = now
            db.session.execute(update(WaitlistOffer).where(
                WaitlistOffer.entry_id == entry.id, WaitlistOffer.status == OfferStatus.OFFERED)
                .values(status=OfferStatus.WITHDRAWN, answered_at=now))
    return entry


def end_past_entries(now: datetime | None = None, patient_id: uuid.UUID | None = None) -> int:
    """Entries whose last date has passed in their doctor's zone end."""
    now = now or utcnow()
    stmt = (select(WaitlistEntry.id, WaitlistEntry.date_to, Doctor.timezone)
            .join(Doctor, Doctor.id == WaitlistEntry.doctor_id)
            .where(WaitlistEntry.status == EntryStatus.ACTIVE,
                   WaitlistEntry.date_to < (now + timedelta(days=1)).date()))
    if patient_id is not None:
        stmt = stmt.where(WaitlistEntry.patient_id == patient_id)
    past = [entry_id for entry_id, last, zone in db.session.execute(stmt)
            if last < now.astimezone(ZoneInfo(zone)).date()]
    if not past:
        return 0
    with write():
        return db.session.execute(
            update(WaitlistEntry).where(WaitlistEntry.id.in_(past),
                                        WaitlistEntry.status == EntryStatus.ACTIVE)
            .values(status=EntryStatus.ENDED, ended_at=now)
            .execution_options(synchronize_session=False)).rowcount or 0


# --- offering --------------------------------------------------------------------------------


def _matches(entry: WaitlistEntry, slot: AvailableSlot, zone: ZoneInfo) -> bool:
    local = slot.start_at.astimezone(zone)
    if not entry.date_from <= local.date() <= entry.date_to:
        return False
    if entry.consultation_type and entry.consultation_type != slot.consultation_type:
        return False
    parts = entry.parts
    return not parts or any(low <= local.hour < high for low, high in (p.hours for p in parts))


def _busy_patients(doctor_id: uuid.UUID, slot: AvailableSlot, patient_ids: set[uuid.UUID],
                   zone: ZoneInfo, now: datetime) -> set[uuid.UUID]:
    """Patients who hold or booked this doctor at that time, or on that day already."""
    local_day = slot.start_at.astimezone(zone).date()
    day_start = datetime.combine(local_day, time(0), tzinfo=zone)
    rows = db.session.execute(select(Appointment.patient_id).where(
        Appointment.patient_id.in_(patient_ids), Appointment.doctor_id == doctor_id,
        Appointment.status.in_(ACTIVE_STATUSES),
        (Appointment.reserved_until.is_(None)) | (Appointment.reserved_until > now),
        Appointment.start_at < max(slot.end_at, day_start + timedelta(days=1)),
        Appointment.end_at > min(slot.start_at, day_start))).scalars()
    return set(rows)


def _deciding(doctor_id: uuid.UUID, patient_ids: set[uuid.UUID],
              now: datetime) -> set[uuid.UUID]:
    """Patients with an open offer from this doctor already: one decision at a time."""
    return set(db.session.scalars(select(WaitlistOffer.patient_id).where(
        WaitlistOffer.patient_id.in_(patient_ids), WaitlistOffer.doctor_id == doctor_id,
        WaitlistOffer.status == OfferStatus.OFFERED, WaitlistOffer.expires_at > now)))


def _offers_today(patient_ids: set[uuid.UUID], now: datetime) -> dict[uuid.UUID, int]:
    since = now - timedelta(days=1)
    rows = db.session.execute(select(WaitlistOffer.patient_id, func.count()).where(
        WaitlistOffer.patient_id.in_(patient_ids), WaitlistOffer.offered_at > since)
        .group_by(WaitlistOffer.patient_id)).all()
    return dict(rows)


def offer_slot(slot_id: uuid.UUID, now: datetime | None = None) -> list[WaitlistOffer]:
    """Offer one bookable slot to the next batch of matching entries, unless a batch is
    still deciding. Returns the new offers (events notify their patients)."""
    now = now or utcnow()
    config = current_app.config
    made: list[WaitlistOffer] = []
    with write():
        row = db.session.execute(
            select(AvailableSlot, Doctor).join(Doctor, Doctor.id == AvailableSlot.doctor_id)
            .where(AvailableSlot.id == slot_id).with_for_update(of=AvailableSlot)).first()
        if row is None:
            return made
        slot, doctor = row
        lead = notice(doctor.min_notice_minutes)
        bookable = db.session.scalar(select(AvailableSlot.id).where(
            AvailableSlot.id == slot_id, AvailableSlot.bookable(now, lead)))
        if bookable is None or not doctor.active:
            _withdraw_open_offers(slot_id, now)
            return made
        open_offers = db.session.scalar(select(func.count()).select_from(WaitlistOffer).where(
            WaitlistOffer.slot_id == slot_id, WaitlistOffer.status == OfferStatus.OFFERED,
            WaitlistOffer.expires_at > now))
        if open_offers:
            return made
        expires = min(now + timedelta(minutes=config["WAITLIST_OFFER_MINUTES"]),
                      slot.start_at - lead)
        if expires <= now + timedelta(minutes=1):
            return made  # too close to the start for anyone to take it in time
        zone = ZoneInfo(doctor.timezone)
        local_day = slot.start_at.astimezone(zone).date()
        offered = set(db.session.scalars(select(WaitlistOffer.entry_id).where(
            WaitlistOffer.slot_id == slot_id)))
        candidates = [entry for entry in db.session.scalars(
            select(WaitlistEntry).where(
                WaitlistEntry.doctor_id == doctor.id,
                WaitlistEntry.status == EntryStatus.ACTIVE,
                WaitlistEntry.date_from <= local_day, WaitlistEntry.date_to >= local_day)
            .order_by(WaitlistEntry.seq, WaitlistEntry.id))
            if entry.id not in offered and _matches(entry, slot, zone)]
        if not candidates:
            return made
        patients = {entry.patient_id for entry in candidates}
        busy = _busy_patients(doctor.id, slot, patients, zone, now) | _deciding(
            doctor.id, patients, now)
        counts = _offers_today(patients, now)
        limit = config["WAITLIST_MAX_OFFERS_PER_DAY"]
        batch = (db.session.scalar(select(func.max(WaitlistOffer.batch)).where(
            WaitlistOffer.slot_id == slot_id)) or 0) + 1
        chosen: set[uuid.UUID] = set()
        for entry in candidates:
            if len(made) >= config["WAITLIST_BATCH"]:
                break
            if entry.patient_id in busy or entry.patient_id in chosen or \
                    counts.get(entry.patient_id, 0) >= limit:
                continue
            offer = WaitlistOffer(entry_id=entry.id, patient_id=entry.patient_id,
                                  doctor_id=doctor.id, slot_id=slot.id, start_at=slot.start_at,
                                  end_at=slot.end_at, batch=batch, status=OfferStatus.OFFERED,
                                  offered_at=now, expires_at=expires)
            db.session.add(offer)
            chosen.add(entry.patient_id)
            made.append(offer)
        db.session.flush()
        for offer in made:
            record_event(WAITLIST_EVENTS, "WAITLIST_OFFERED", offer.id, {
                "offer_id": str(offer.id), "patient_id": str(offer.patient_id),
                "doctor_id": str(doctor.id), "start_at": offer.start_at.isoformat(),
                "expires_at": offer.expires_at.isoformat()})
    if made:
        _schedule_lapse(slot_id, made[0].expires_at)
    return made


def _withdraw_open_offers(slot_id: uuid.UUID, now: datetime) -> None:
    db.session.execute(update(WaitlistOffer).where(
        WaitlistOffer.slot_id == slot_id, WaitlistOffer.status == OfferStatus.OFFERED)
        .values(status=OfferStatus.WITHDRAWN, answered_at=now)
        .execution_options(synchronize_session=False))


def _schedule_lapse(slot_id: uuid.UUID, at: datetime) -> None:
    """At the batch's expiry, lapse what was not taken and offer the next batch. Without
    Redis the sweeper does it."""
    try:
        get_queue("default").enqueue_at(at, "jobs.waitlist.next_batch", str(slot_id),
                                        job_id=f"waitlist-{slot_id}-{int(at.timestamp())}")
    except Exception:
        log.warning("could not schedule the next waitlist batch of slot %s; the sweeper will",
                    slot_id, exc_info=True)


def next_batch(slot_id: uuid.UUID, now: datetime | None = None) -> list[WaitlistOffer]:
    """Lapse this slot's expired offers and offer it to the next batch."""
    now = now or utcnow()
    with write():
        db.session.execute(update(WaitlistOffer).where(
            WaitlistOffer.slot_id == slot_id, WaitlistOffer.status == OfferStatus.OFFERED,
            WaitlistOffer.expires_at <= now)
            .values(status=OfferStatus.LAPSED).execution_options(synchronize_session=False))
    return offer_slot(slot_id, now)


def offer_freed(slot_ids: list[uuid.UUID], now: datetime | None = None) -> int:
    """Offer each freed slot that someone waits for; returns the offers made."""
    return sum(len(offer_slot(slot_id, now)) for slot_id in dict.fromkeys(slot_ids))


def slots_opened(doctor_id: uuid.UUID, start: datetime, end: datetime,
                 now: datetime | None = None) -> int:
    """New or widened hours (or an unblocked time) opened slots in [start, end): offer the
    bookable ones, if anyone waits for this doctor at all."""
    now = now or utcnow()
    waiting = db.session.scalar(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.doctor_id == doctor_id, WaitlistEntry.status == EntryStatus.ACTIVE))
    if not waiting:
        return 0
    ids = list(db.session.scalars(select(AvailableSlot.id).where(
        AvailableSlot.doctor_id == doctor_id, AvailableSlot.start_at >= start,
        AvailableSlot.start_at < end, AvailableSlot.open_at(now), AvailableSlot.start_at > now)
        .order_by(AvailableSlot.start_at)))
    return offer_freed(ids, now)


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Every minute: end past entries, lapse expired offers and offer their slots again."""
    now = now or utcnow()
    ended = end_past_entries(now)
    slots = list(db.session.scalars(select(WaitlistOffer.slot_id).where(
        WaitlistOffer.status == OfferStatus.OFFERED, WaitlistOffer.expires_at <= now,
        WaitlistOffer.slot_id.is_not(None)).distinct().limit(200)))
    offered = sum(len(next_batch(slot_id, now)) for slot_id in slots)
    return {"ended": ended, "slots": len(slots), "offered": offered}


# --- claiming --------------------------------------------------------------------------------


def get_own_offer(user: User, offer_id: uuid.UUID) -> WaitlistOffer:
    offer = db.session.get(WaitlistOffer, offer_id)
    if offer is None or offer.patient_id != user.id:
        raise NotFound("No such offer.")
    return offer


def claim(user: User, offer_id: uuid.UUID, now: datetime | None = None) -> Appointment:
    """Take an offered time: a normal 5-minute hold, then pay as usual. The first tap wins."""
    now = now or utcnow()
    offer = get_own_offer(user, offer_id)
    try:
        with write():
            # Locks in the order every path takes them (patient, slot, offers), so two taps
            # on offers of the same time queue on the slot instead of deadlocking.
            db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
            if offer.slot_id is not None:
                db.session.execute(select(AvailableSlot.id).where(
                    AvailableSlot.id == offer.slot_id).with_for_update())
            offer = db.session.scalar(select(WaitlistOffer).where(WaitlistOffer.id == offer_id)
                                      .with_for_update(of=WaitlistOffer)
                                      .execution_options(populate_existing=True))
            if offer.status == OfferStatus.TAKEN and offer.appointment_id:
                return db.session.get(Appointment, offer.appointment_id)
            if offer.status != OfferStatus.OFFERED or offer.slot_id is None:
                raise OfferGone("This time has gone to someone else, or the offer ended. You "
                                "are still on the waitlist.")
            if offer.expires_at <= now:
                offer.status = OfferStatus.LAPSED
                raise OfferGone("This offer has lapsed. You are still on the waitlist.")
            appointment = appointments.reserve(user, offer.slot_id, now=now,
                                               for_dependent_id=offer.entry.for_dependent_id)
            offer.status = OfferStatus.TAKEN
            offer.answered_at = now
            offer.appointment_id = appointment.id
            offer.entry.status = EntryStatus.BOOKED
            offer.entry.ended_at = now
            _tell_the_others(offer, now)
    except SlotUnavailable:
        _mark_gone(offer_id, now)
        raise OfferGone("Someone else took this time just before you. You are still on the "
                        "waitlist.") from None
    except OfferGone:
        with write():  # the lapse is recorded even though the claim failed
            _lapse_if_expired(offer_id, now)
        raise
    return appointment


def _tell_the_others(offer: WaitlistOffer, now: datetime) -> None:
    others = list(db.session.scalars(select(WaitlistOffer).where(
        WaitlistOffer.slot_id == offer.slot_id, WaitlistOffer.status == OfferStatus.OFFERED,
        WaitlistOffer.id != offer.id)))
    for other in others:
        other.status = OfferStatus.GONE
        other.answered_at = now
        record_event(WAITLIST_EVENTS, "WAITLIST_GONE", other.id, {
            "offer_id": str(other.id), "patient_id": str(other.patient_id),
            "doctor_id": str(other.doctor_id), "start_at": other.start_at.isoformat()})


def _mark_gone(offer_id: uuid.UUID, now: datetime) -> None:
    with write():
        offer = db.session.get(WaitlistOffer, offer_id)
        if offer.status == OfferStatus.OFFERED:
            offer.status = OfferStatus.GONE
            offer.answered_at = now


def _lapse_if_expired(offer_id: uuid.UUID, now: datetime) -> None:
    offer = db.session.get(WaitlistOffer, offer_id)
    if offer.status == OfferStatus.OFFERED and offer.expires_at <= now:
        offer.status = OfferStatus.LAPSED


# --- reading ---------------------------------------------------------------------------------


def open_offers_of(user: User, now: datetime | None = None) -> list[WaitlistOffer]:
    now = now or utcnow()
    return list(db.session.scalars(select(WaitlistOffer).where(
        WaitlistOffer.patient_id == user.id, WaitlistOffer.status == OfferStatus.OFFERED,
        WaitlistOffer.expires_at > now).order_by(WaitlistOffer.expires_at)))


def waiting_by_day(doctor: Doctor, first: date, last: date) -> dict[date, int]:
    """How many active entries cover each day from `first` to `last` (the doctor's view)."""
    entries = db.session.execute(select(WaitlistEntry.date_from, WaitlistEntry.date_to).where(
        WaitlistEntry.doctor_id == doctor.id, WaitlistEntry.status == EntryStatus.ACTIVE,
        WaitlistEntry.date_to >= first, WaitlistEntry.date_from <= last)).all()
    counts: dict[date, int] = defaultdict(int)
    day = first
    while day <= last:
        counts[day] = sum(start <= day <= end for start, end in entries)
        day += timedelta(days=1)
    return dict(counts)


@dataclass(frozen=True)
class Conversion:
    offers: int
    taken: int
    lapsed: int
    gone: int
    median_seconds_to_take: float | None

    @property
    def rate(self) -> float:
        return self.taken / self.offers if self.offers else 0.0


def conversion(since: datetime, until: datetime) -> Conversion:
    """Offers made in [since, until), how many were taken, and how fast (the admin's view)."""
    rows = db.session.execute(select(WaitlistOffer.status, WaitlistOffer.offered_at,
                                     WaitlistOffer.answered_at).where(
        and_(WaitlistOffer.offered_at >= since, WaitlistOffer.offered_at < until))).all()
    taken = sorted((answered - offered).total_seconds() for status, offered, answered in rows
                   if status == OfferStatus.TAKEN and answered)
    median = taken[len(taken) // 2] if taken else None
    return Conversion(len(rows), len(taken),
                      sum(status == OfferStatus.LAPSED for status, _, _ in rows),
                      sum(status == OfferStatus.GONE for status, _, _ in rows), median)


# --- reacting to events ----------------------------------------------------------------------


def on_event(event: OutboxEvent, now: datetime | None = None) -> int:
    """A consumer: CANCELLED, EXPIRED and RESCHEDULED may free a slot, SLOTS_OPENED opens
    new ones; offer them to whoever waits."""
    payload, event_type = event.payload, event.event_type
    if event_type == "SLOTS_OPENED":
        return slots_opened(uuid.UUID(payload["doctor_id"]),
                            datetime.fromisoformat(payload["start"]),
                            datetime.fromisoformat(payload["end"]), now)
    slot_ids: list[uuid.UUID] = []
    if event_type == "RESCHEDULED" and payload.get("old_slot_id"):
        slot_ids.append(uuid.UUID(payload["old_slot_id"]))
    elif event_type in ("CANCELLED", "EXPIRED"):
        appointment = db.session.get(Appointment, uuid.UUID(payload["appointment_id"]))
        if appointment is not None and appointment.slot_id is not None and \
                appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.EXPIRED):
            slot_ids.append(appointment.slot_id)
    return offer_freed(slot_ids, now)
