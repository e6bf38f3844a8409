"""Availability rules: weekly hours, overrides, blocks, and keeping `available_slots` in step.

The pure slot arithmetic lives in `slots.py`; this module loads rows, calls it, and writes the
difference back with bulk statements. Regeneration never touches a held or booked slot: slots
are deleted only with `status = 'FREE'` in the DELETE itself, so a reservation that wins a race
with regeneration keeps its slot.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from portal.auth.models import User
from portal.availability.models import (
    AvailabilityOverride,
    AvailableSlot,
    BlockedSlot,
    OverrideKind,
    SlotStatus,
    WeeklyAvailability,
)
from portal.availability.slot_states import notice, video_offered
from portal.availability.slots import (
    Block,
    CustomRange,
    Override,
    ScheduleError,
    Slot,
    WeeklyRange,
    generate_slots,
    get_zone,
    validate_override,
    validate_ranges,
    validate_window,
)
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.doctors.service import doctor_to_manage
from portal.events import APPOINTMENT_EVENTS, record_event
from portal.exceptions import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.transactions import write

CHUNK = 200  # doctors per transaction when regenerating many
MAX_QUERY_DAYS = 92  # a slot listing covers at most about a quarter


@dataclass
class RegenerationReport:
    """What one regeneration changed, and the held or booked slots now outside the schedule."""

    doctors: int = 0
    created: int = 0
    removed: int = 0
    kept: int = 0
    conflicts: list[AvailableSlot] = field(default_factory=list)

    def merge(self, other: RegenerationReport) -> None:
        self.doctors += other.doctors
        self.created += other.created
        self.removed += other.removed
        self.kept += other.kept
        self.conflicts.extend(other.conflicts)


@dataclass(frozen=True)
class RangeInput:
    weekday: int
    start: time
    end: time
    consultation_type: str
    slot_minutes: int
    buffer_minutes: int = 0


@dataclass(frozen=True)
class Schedule:
    doctor: Doctor
    weekly: list[WeeklyAvailability]
    upcoming: list[WeeklyAvailability]
    overrides: list[AvailabilityOverride]
    blocks: list[BlockedSlot]


def local_today(doctor: Doctor, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(get_zone(doctor.timezone)).date()


# --- reading ---------------------------------------------------------------------------------


def get_schedule(doctor: Doctor, now: datetime | None = None) -> Schedule:
    """The schedule in force today, any that starts later, and current overrides and blocks."""
    now = now or utcnow()
    today = local_today(doctor, now)
    rows = list(db.session.scalars(
        select(WeeklyAvailability)
        .where(WeeklyAvailability.doctor_id == doctor.id,
               or_(WeeklyAvailability.effective_to.is_(None),
                   WeeklyAvailability.effective_to >= today))
        .order_by(WeeklyAvailability.effective_from, WeeklyAvailability.weekday,
                  WeeklyAvailability.start_time)))
    current = [r for r in rows if r.effective_from <= today]
    upcoming = [r for r in rows if r.effective_from > today]
    overrides = list(db.session.scalars(
        select(AvailabilityOverride)
        .where(AvailabilityOverride.doctor_id == doctor.id,
               AvailabilityOverride.end_date >= today)
        .order_by(AvailabilityOverride.start_date, AvailabilityOverride.start_time)))
    blocks = list(db.session.scalars(
        select(BlockedSlot)
        .where(BlockedSlot.doctor_id == doctor.id, BlockedSlot.end_at > now)
        .order_by(BlockedSlot.start_at)))
    return Schedule(doctor, current, upcoming, overrides, blocks)


def free_slots(doctor: Doctor, start: datetime, end: datetime,
               now: datetime | None = None) -> list[AvailableSlot]:
    """Bookable slots starting in [start, end) (`AvailableSlot.bookable`: free or with a
    lapsed hold, and outside the doctor's notice period)."""
    now = now or utcnow()
    if end <= start:
        raise ValidationFailed({"to": "The end of the range must be after its start."})
    if end - start > timedelta(days=MAX_QUERY_DAYS):
        raise ValidationFailed({"to": f"Ask for at most {MAX_QUERY_DAYS} days at a time."})
    stmt = (select(AvailableSlot)
            .where(AvailableSlot.doctor_id == doctor.id, AvailableSlot.start_at >= start,
                   AvailableSlot.start_at < end,
                   AvailableSlot.bookable(now, notice(doctor.min_notice_minutes)))
            .order_by(AvailableSlot.start_at))
    if not video_offered():
        stmt = stmt.where(AvailableSlot.consultation_type != "VIDEO")
    return list(db.session.scalars(stmt))


def slots_between(doctor: Doctor, start: datetime, end: datetime) -> list[AvailableSlot]:
    """Every slot (any status) starting in [start, end), for the doctor's calendar."""
    return list(db.session.scalars(
        select(AvailableSlot)
        .where(AvailableSlot.doctor_id == doctor.id, AvailableSlot.start_at >= start,
               AvailableSlot.start_at < end)
        .order_by(AvailableSlot.start_at)))


def blocks_between(doctor: Doctor, start: datetime, end: datetime) -> list[BlockedSlot]:
    return list(db.session.scalars(
        select(BlockedSlot)
        .where(BlockedSlot.doctor_id == doctor.id, BlockedSlot.start_at < end,
               BlockedSlot.end_at > start)
        .order_by(BlockedSlot.start_at)))


# --- changing the schedule ---------------------------------------------------------------------


def set_weekly_schedule(doctor: Doctor, ranges: Sequence[RangeInput],
                        effective_from: date | None = None, now: datetime | None = None, *,
                        window_days: int | None = None,
                        min_notice_minutes: int | None = None) -> RegenerationReport:
    """Replace the weekly hours from `effective_from` (default: today) on; earlier dates keep
    their old hours. The booking window and notice period change with them when given.

    Ranges in force before that date end the day before it; ranges that would only start on
    or after it are replaced. Returns the regeneration report (with booked slots now outside
    the schedule, for the doctor to act on).
    """
    now = now or utcnow()
    today = local_today(doctor, now)
    effective_from = effective_from or today
    _check_booking_rules(window_days, min_notice_minutes)
    if effective_from < today:
        raise ScheduleError("effective_from", f"The new hours cannot start in the past; "
                                              f"choose {today.isoformat()} or later.")
    new = [WeeklyRange(r.weekday, r.start, r.end, r.slot_minutes, r.buffer_minutes,
                       r.consultation_type, effective_from, None) for r in ranges]
    validate_ranges(new)
    _check_types_offered(doctor, {r.consultation_type for r in ranges})

    with write():
        if window_days is not None:
            doctor.booking_window_days = window_days
        if min_notice_minutes is not None:
            doctor.min_notice_minutes = min_notice_minutes
        existing = db.session.scalars(select(WeeklyAvailability).where(
            WeeklyAvailability.doctor_id == doctor.id,
            or_(WeeklyAvailability.effective_to.is_(None),
                WeeklyAvailability.effective_to >= effective_from)))
        for row in existing:
            if row.effective_from >= effective_from:
                db.session.delete(row)
            else:
                row.effective_to = effective_from - timedelta(days=1)
        for r in ranges:
            db.session.add(WeeklyAvailability(
                doctor_id=doctor.id, weekday=r.weekday, start_time=r.start, end_time=r.end,
                consultation_type=r.consultation_type, slot_minutes=r.slot_minutes,
                buffer_minutes=r.buffer_minutes, effective_from=effective_from))
        db.session.flush()
        return regenerate_doctor(doctor, now)


@dataclass(frozen=True)
class OverrideInput:
    start_date: date
    end_date: date
    kind: str
    reason: str = ""
    start: time | None = None
    end: time | None = None
    consultation_type: str | None = None
    slot_minutes: int | None = None
    buffer_minutes: int = 0


def add_override(doctor: Doctor, data: OverrideInput,
                 now: datetime | None = None) -> tuple[AvailabilityOverride, RegenerationReport]:
    """Days off or custom hours for a date range; regenerates the affected slots."""
    now = now or utcnow()
    if len(data.reason) > 200:
        raise ScheduleError("reason", "Use at most 200 characters.")
    ranges: tuple[CustomRange, ...] = ()
    if data.kind == OverrideKind.CUSTOM:
        if data.start is None or data.end is None:
            raise ScheduleError("start", "Custom hours need a start and an end time.")
        slot_minutes = data.slot_minutes or doctor.slot_minutes
        consultation_type = data.consultation_type or doctor.consultation_types[0].value
        ranges = (CustomRange(data.start, data.end, slot_minutes, data.buffer_minutes,
                              consultation_type),)
        _check_types_offered(doctor, {consultation_type})
    else:
        slot_minutes, consultation_type = None, None
    validate_override(Override(data.start_date, data.end_date, data.kind, ranges, data.reason),
                      local_today(doctor, now))
    if data.end_date - data.start_date > timedelta(days=366):
        raise ScheduleError("end_date", "An override can cover at most a year.")
    row = AvailabilityOverride(
        doctor_id=doctor.id, start_date=data.start_date, end_date=data.end_date, kind=data.kind,
        start_time=data.start if ranges else None, end_time=data.end if ranges else None,
        slot_minutes=slot_minutes, buffer_minutes=data.buffer_minutes if ranges else 0,
        consultation_type=consultation_type, reason=data.reason.strip())
    with write():
        db.session.add(row)
        db.session.flush()
        return row, regenerate_doctor(doctor, now)


def remove_override(doctor: Doctor, override_id: uuid.UUID,
                    now: datetime | None = None) -> RegenerationReport:
    with write():
        row = db.session.get(AvailabilityOverride, override_id)
        if row is None or row.doctor_id != doctor.id:
            raise NotFound("No such override.")
        db.session.delete(row)
        db.session.flush()
        return regenerate_doctor(doctor, now)


def block_interval(doctor: Doctor, start: datetime, end: datetime, reason: str = "",
                   now: datetime | None = None) -> BlockedSlot:
    """Block [start, end): free slots inside go away; held or booked ones refuse the block."""
    now = now or utcnow()
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed({"start": "Give times with a UTC offset."})
    if end <= start:
        raise ValidationFailed({"end": "The end must be after the start."})
    if end <= now:
        raise ValidationFailed({"start": "That time is already over."})
    if end - start > timedelta(days=31):
        raise ValidationFailed({"end": "Block at most 31 days at once; use days off for more."})
    if len(reason) > 200:
        raise ValidationFailed({"reason": "Use at most 200 characters."})
    with write():
        taken = db.session.scalar(
            select(AvailableSlot.id)
            .where(AvailableSlot.doctor_id == doctor.id, AvailableSlot.start_at < end,
                   AvailableSlot.end_at > start, ~AvailableSlot.open_at(now))
            .limit(1).with_for_update())
        if taken is not None:
            raise Conflict("A patient holds or has booked a slot in that time; cancel that "
                           "appointment first.", "start")
        block = BlockedSlot(doctor_id=doctor.id, start_at=start, end_at=end,
                            reason=reason.strip())
        db.session.add(block)
        # Open slots go: free ones, and held ones whose hold lapsed (they count as free).
        db.session.execute(delete(AvailableSlot).where(
            AvailableSlot.doctor_id == doctor.id, AvailableSlot.start_at < end,
            AvailableSlot.end_at > start, AvailableSlot.open_at(now)))
    return block


def unblock(doctor: Doctor, block_id: uuid.UUID, now: datetime | None = None
            ) -> RegenerationReport:
    with write():
        block = db.session.get(BlockedSlot, block_id)
        if block is None or block.doctor_id != doctor.id:
            raise NotFound("No such block.")
        db.session.delete(block)
        db.session.flush()
        return regenerate_doctor(doctor, now)


MAX_NOTICE_MINUTES = 14 * 24 * 60


def _check_booking_rules(window_days: int | None, min_notice_minutes: int | None) -> None:
    """How far ahead patients may book and how much notice the doctor needs, if given."""
    if window_days is not None:
        try:
            validate_window(window_days)
        except ScheduleError as exc:
            raise ValidationFailed({"booking_window_days": exc.message}) from None
    if min_notice_minutes is not None and not 0 <= min_notice_minutes <= MAX_NOTICE_MINUTES:
        raise ValidationFailed({"min_notice_minutes": "The notice period must be between 0 "
                                "minutes and 14 days."})


def _check_types_offered(doctor: Doctor, types: set[str]) -> None:
    offered = {kind.value for kind in doctor.consultation_types}
    missing = types - offered
    if missing:
        raise ScheduleError("consultation_type", "This doctor does not offer "
                            f"{', '.join(sorted(missing))} consultations; set a fee first.")


# --- regeneration ------------------------------------------------------------------------------


def regenerate_doctor(doctor: Doctor, now: datetime | None = None) -> RegenerationReport:
    """Bring one doctor's future slots in line with their schedule."""
    return regenerate_doctors([doctor.id], now)


def regenerate_doctors(doctor_ids: Iterable[uuid.UUID], now: datetime | None = None,
                       progress: Callable[[int], None] | None = None) -> RegenerationReport:
    """Regenerate many doctors, CHUNK per transaction, with one query per table per chunk.

    Idempotent: running it twice changes nothing the second time. `progress` is called with
    the number of doctors finished after each chunk (the CLI draws a progress bar with it).
    """
    now = now or utcnow()
    ids = list(doctor_ids)
    report = RegenerationReport()
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset:offset + CHUNK]
        try:
            with write():
                part = _regenerate_chunk(chunk, now)
        except IntegrityError:
            # A concurrent regeneration inserted the same slots first; recompute from theirs.
            with write():
                part = _regenerate_chunk(chunk, now)
        report.merge(part)
        if progress:
            progress(len(chunk))
    return report


def active_doctor_ids() -> list[uuid.UUID]:
    return list(db.session.scalars(select(Doctor.id).where(Doctor.active.is_(True))
                                   .order_by(Doctor.id)))


def _regenerate_chunk(doctor_ids: list[uuid.UUID], now: datetime) -> RegenerationReport:
    # Row locks on the doctors serialise regenerations of the same doctor (PostgreSQL).
    doctors = list(db.session.scalars(
        select(Doctor).where(Doctor.id.in_(doctor_ids)).with_for_update(of=Doctor)))
    weekly: dict[uuid.UUID, list[WeeklyRange]] = defaultdict(list)
    overrides: dict[uuid.UUID, list[Override]] = defaultdict(list)
    blocks: dict[uuid.UUID, list[Block]] = defaultdict(list)
    existing: dict[uuid.UUID, list[AvailableSlot]] = defaultdict(list)

    earliest = min((local_today(d, now) for d in doctors), default=now.date()) - timedelta(days=1)
    for row in db.session.scalars(select(WeeklyAvailability).where(
            WeeklyAvailability.doctor_id.in_(doctor_ids),
            or_(WeeklyAvailability.effective_to.is_(None),
                WeeklyAvailability.effective_to >= earliest))):
        weekly[row.doctor_id].append(WeeklyRange(
            row.weekday, row.start_time, row.end_time, row.slot_minutes, row.buffer_minutes,
            row.consultation_type, row.effective_from, row.effective_to))
    for row in db.session.scalars(select(AvailabilityOverride).where(
            AvailabilityOverride.doctor_id.in_(doctor_ids),
            AvailabilityOverride.end_date >= earliest)):
        ranges = () if row.kind == OverrideKind.OFF else (CustomRange(
            row.start_time, row.end_time, row.slot_minutes, row.buffer_minutes,
            row.consultation_type),)
        overrides[row.doctor_id].append(Override(row.start_date, row.end_date, row.kind, ranges,
                                                 row.reason))
    for row in db.session.scalars(select(BlockedSlot).where(
            BlockedSlot.doctor_id.in_(doctor_ids), BlockedSlot.end_at > now)):
        blocks[row.doctor_id].append(Block(row.start_at, row.end_at))
    # Plain column rows, not ORM objects: a chunk holds tens of thousands of slots.
    for slot in db.session.execute(select(
            AvailableSlot.id, AvailableSlot.doctor_id, AvailableSlot.start_at,
            AvailableSlot.end_at, AvailableSlot.consultation_type, AvailableSlot.status).where(
            AvailableSlot.doctor_id.in_(doctor_ids), AvailableSlot.end_at > now)):
        existing[slot.doctor_id].append(slot)

    report = RegenerationReport()
    stale_ids: list[uuid.UUID] = []
    new_rows: list[dict] = []
    for doctor in doctors:
        plan = _plan(doctor, weekly[doctor.id], overrides[doctor.id], blocks[doctor.id],
                     existing[doctor.id], now)
        stale_ids.extend(plan.stale_ids)
        new_rows.extend(plan.new_rows)
        report.kept += plan.kept
        report.conflicts.extend(plan.conflicts)
        report.doctors += 1

    for offset in range(0, len(stale_ids), 500):
        result = db.session.execute(
            delete(AvailableSlot)
            .where(AvailableSlot.id.in_(stale_ids[offset:offset + 500]),
                   AvailableSlot.status == SlotStatus.FREE)
            .execution_options(synchronize_session=False))
        report.removed += result.rowcount or 0
    if new_rows:
        # executemany: psycopg 3 pipelines it (a multi-row VALUES statement costs more to
        # compile than it saves, measured with bench/slot_generation.py).
        db.session.execute(insert(AvailableSlot), new_rows)
        _announce_opened(new_rows)
    report.created += len(new_rows)
    conflict_ids = [slot.id for slot in report.conflicts]
    report.conflicts = list(db.session.scalars(select(AvailableSlot).where(
        AvailableSlot.id.in_(conflict_ids)).order_by(AvailableSlot.start_at))) \
        if conflict_ids else []
    return report


def _announce_opened(new_rows: list[dict]) -> None:
    """New or widened hours, or an unblocked time, opened slots: one event per doctor (the
    waitlist offers them to whoever waits)."""
    spans: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    for row in new_rows:
        spans[row["doctor_id"]].append(row["start_at"])
    for doctor_id, starts in spans.items():
        record_event(APPOINTMENT_EVENTS, "SLOTS_OPENED", doctor_id, {
            "doctor_id": str(doctor_id), "start": min(starts).isoformat(),
            "end": (max(starts) + timedelta(seconds=1)).isoformat(), "count": len(starts)})


@dataclass
class _Plan:
    stale_ids: list[uuid.UUID]
    new_rows: list[dict]
    kept: int
    conflicts: list[AvailableSlot]


def _plan(doctor: Doctor, ranges: list[WeeklyRange], overrides: list[Override],
          blocks: list[Block], existing: list[AvailableSlot], now: datetime) -> _Plan:
    """Decide, for one doctor, which free slots to delete and which to insert."""
    today = local_today(doctor, now)
    window_end = today + timedelta(days=doctor.booking_window_days - 1)
    wanted = generate_slots(ranges, overrides, blocks, doctor.timezone, today, window_end, now,
                            timedelta(minutes=doctor.min_notice_minutes)) if doctor.active else []
    occupied = [s for s in existing if s.status != SlotStatus.FREE]
    free_by_key = {(s.start_at, s.end_at, s.consultation_type): s
                   for s in existing if s.status == SlotStatus.FREE}

    wanted_keys: set[tuple] = set()
    new_rows: list[dict] = []
    kept = 0
    for slot in _drop_overlapping(wanted, occupied):
        key = (slot.start, slot.end, slot.consultation_type)
        wanted_keys.add(key)
        if key in free_by_key:
            kept += 1
        else:
            new_rows.append({"id": uuid.uuid4(), "doctor_id": doctor.id, "start_at": slot.start,
                             "end_at": slot.end, "consultation_type": slot.consultation_type,
                             "status": SlotStatus.FREE, "created_at": now})
    stale_ids = [s.id for key, s in free_by_key.items() if key not in wanted_keys]
    return _Plan(stale_ids, new_rows, kept,
                 _outside_schedule(doctor, occupied, ranges, overrides, today, window_end))


def _drop_overlapping(wanted: list[Slot], occupied: list[AvailableSlot]) -> list[Slot]:
    """Never offer a free slot that overlaps a held or booked one (invariant 1)."""
    if not occupied:
        return wanted
    taken = sorted((s.start_at, s.end_at) for s in occupied)
    kept, i = [], 0
    for slot in wanted:  # both lists sorted by start: one merge pass
        while i < len(taken) and taken[i][1] <= slot.start:
            i += 1
        j, clash = i, False
        while j < len(taken) and taken[j][0] < slot.end:
            if taken[j][1] > slot.start:
                clash = True
                break
            j += 1
        if not clash:
            kept.append(slot)
    return kept


def _outside_schedule(doctor: Doctor, occupied: list[AvailableSlot], ranges: list[WeeklyRange],
                      overrides: list[Override], today: date, window_end: date
                      ) -> list[AvailableSlot]:
    """Held or booked slots that the current schedule no longer covers."""
    if not occupied:
        return []
    zone = get_zone(doctor.timezone)
    first = min(s.start_at for s in occupied)
    last = max(window_end, max(s.start_at for s in occupied).astimezone(zone).date())
    offered = generate_slots(ranges, overrides, [], doctor.timezone,
                             min(today, first.astimezone(zone).date()), last,
                             first - timedelta(days=1), timedelta(0))
    spans = [(s.start, s.end) for s in offered]
    return [s for s in occupied
            if not any(start <= s.start_at and s.end_at <= end for start, end in spans)]


# --- finding what a doctor may manage ---------------------------------------------------------


def get_slot(user: User, slot_id: uuid.UUID) -> tuple[AvailableSlot, Doctor]:
    """A slot of a doctor `user` manages (their own, or any for an admin); else NotFound."""
    slot = db.session.get(AvailableSlot, slot_id)
    if slot is None:
        raise NotFound("No such slot.")
    return slot, doctor_to_manage(user, slot.doctor_id)


def get_block(user: User, block_id: uuid.UUID) -> tuple[BlockedSlot, Doctor]:
    """A block of a doctor `user` manages; else NotFound."""
    block = db.session.get(BlockedSlot, block_id)
    if block is None:
        raise NotFound("No such block.")
    return block, doctor_to_manage(user, block.doctor_id)


def get_override(user: User, override_id: uuid.UUID) -> tuple[AvailabilityOverride, Doctor]:
    """A day off or custom hours of a doctor `user` manages; else NotFound."""
    row = db.session.get(AvailabilityOverride, override_id)
    if row is None:
        raise NotFound("No such day off or custom hours.")
    return row, doctor_to_manage(user, row.doctor_id)


def occupied_slots(doctor: Doctor, slot_ids: Iterable[uuid.UUID]) -> list[AvailableSlot]:
    """Those of `slot_ids` that are still held or booked (a change's conflicts, re-read)."""
    ids = list(slot_ids)
    if not ids:
        return []
    return list(db.session.scalars(
        select(AvailableSlot)
        .where(AvailableSlot.id.in_(ids), AvailableSlot.doctor_id == doctor.id,
               AvailableSlot.status != SlotStatus.FREE)
        .order_by(AvailableSlot.start_at)))
