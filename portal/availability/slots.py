"""Turn a doctor's weekly schedule (local wall time + IANA zone) into concrete UTC slots.

This module is the pure core of availability: plain dataclasses and functions, no Flask, no
database. The service layer loads rows, calls `generate_slots`, and stores or shows the result;
forms and the API call the `validate_*` helpers so every entry point enforces the same rules.

Why wall time: a doctor says "Mondays 09:00-13:00" and means 09:00 on the clock on their wall,
summer or winter. So the slot grid is laid out in local wall time, each start is converted to UTC
on its own, and a slot's end is its start plus its length in absolute time (a 30-minute slot is
30 real minutes even across a clock change).

Daylight-saving rules (see DESIGN.md, "Shape"):
- A wall time that does not exist (the spring-forward gap) is skipped. We detect it by the
  round-trip test: wall -> UTC -> wall must give back the same wall time. Converting a gap time
  naively is dangerous: 02:30 on the New York spring night maps to the same UTC instant as 03:30,
  so it would duplicate a real slot.
- A wall time that happens twice (the fall-back fold) is offered once, at its first occurrence
  (fold=0). The repeated hour is simply not bookable that night.
- A slot must end, as read on the wall clock, at or before the range's end. A slot that starts
  just before the spring gap ends an hour later on the wall than it would on other days; if that
  runs past the end of the range it is dropped, and if it collides with the next slot of the grid,
  the earlier-starting slot wins (the same rule that protects against overlapping ranges).
"""

from __future__ import annotations

import bisect
import functools
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from portal.exceptions import DomainError

VIDEO = "VIDEO"
IN_PERSON = "IN_PERSON"
CONSULTATION_TYPES: tuple[str, ...] = (VIDEO, IN_PERSON)

OFF = "OFF"
CUSTOM = "CUSTOM"
OVERRIDE_KINDS: tuple[str, ...] = (OFF, CUSTOM)

MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MAX_WINDOW_DAYS = 366

WEEKDAY_NAMES: tuple[str, ...] = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)

_ONE_DAY = timedelta(days=1)


class ScheduleError(DomainError):
    """A schedule input breaks a rule.

    `field` names the input at fault so a form can put the message next to it; `index` is the
    position of the offending range in the list that was validated, when there is a list.
    It is a DomainError so the app's error handlers turn it into a 422 without extra code.
    """

    status = 422
    title = "Invalid schedule"

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        super().__init__(message, field)
        self.field: str = field
        self.index = index

    def __repr__(self) -> str:
        return (
            f"ScheduleError(field={self.field!r}, message={self.message!r}, "
            f"index={self.index!r})"
        )


@dataclass(frozen=True, slots=True)
class WeeklyRange:
    """One block of recurring working hours: e.g. Mondays 09:00-13:00, 30-minute video slots.

    Times are local wall time in the doctor's zone, on one day (end > start). `effective_from`
    and `effective_to` are inclusive local dates; None leaves that side open, which lets a doctor
    schedule next month's hours without touching this month's.
    """

    weekday: int  # 0 = Monday .. 6 = Sunday, as date.weekday()
    start: time
    end: time
    slot_minutes: int
    buffer_minutes: int = 0  # gap after each slot, e.g. for notes
    consultation_type: str = IN_PERSON
    effective_from: date | None = None
    effective_to: date | None = None

    def in_effect_on(self, day: date) -> bool:
        """Whether this range applies on the local date `day`."""
        if self.effective_from is not None and day < self.effective_from:
            return False
        return self.effective_to is None or day <= self.effective_to


class CustomRange(NamedTuple):
    """Hours that replace the weekly ones on an override's dates.

    A NamedTuple so that a plain (start, end, slot_minutes, buffer_minutes, consultation_type)
    tuple is accepted and read the same way.
    """

    start: time
    end: time
    slot_minutes: int
    buffer_minutes: int = 0
    consultation_type: str = IN_PERSON


@dataclass(frozen=True, slots=True)
class Override:
    """Dates (inclusive, local) on which the weekly schedule does not apply.

    kind "OFF": no slots at all (holiday, vacation). kind "CUSTOM": the dates use `ranges`
    instead of the weekly hours; an empty tuple means no hours. OFF wins over CUSTOM when both
    cover a date, because closing a day must never be undone by accident.
    """

    start_date: date
    end_date: date
    kind: str
    ranges: tuple[CustomRange, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        # Normalise plain tuples (and lists) to CustomRange so the rest of the code reads fields
        # by name. This only reshapes; rules are checked by validate_override.
        object.__setattr__(self, "ranges", tuple(CustomRange(*r) for r in self.ranges))

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


@dataclass(frozen=True, slots=True)
class Block:
    """An ad-hoc unavailable interval [start_utc, end_utc), e.g. a meeting or a booked visit."""

    start_utc: datetime
    end_utc: datetime


@dataclass(frozen=True, slots=True)
class Slot:
    """A concrete bookable interval [start, end) in UTC."""

    start: datetime
    end: datetime
    consultation_type: str


class _Hours(Protocol):
    """What generation needs from a WeeklyRange or a CustomRange."""

    @property
    def start(self) -> time: ...
    @property
    def end(self) -> time: ...
    @property
    def slot_minutes(self) -> int: ...
    @property
    def buffer_minutes(self) -> int: ...
    @property
    def consultation_type(self) -> str: ...


# --------------------------------------------------------------------------------------------
# Time zones
# --------------------------------------------------------------------------------------------


@functools.cache
def _known_zones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk; do it once per process.
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in _known_zones()}


@functools.cache
def get_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, cached; raises ScheduleError for an unknown name.

    Checking against the known names first also keeps arbitrary strings (paths) away from
    the tz file loader.
    """
    validate_timezone(name)
    return ZoneInfo(name)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def generate_slots(
    ranges: Iterable[WeeklyRange],
    overrides: Iterable[Override],
    blocks: Iterable[Block],
    tz: str,
    window_start: date,
    window_end: date,
    now: datetime,
    min_notice: timedelta,
) -> list[Slot]:
    """Concrete UTC slots for the local dates window_start..window_end (inclusive), by start.

    Per date: an OFF override gives nothing; a CUSTOM override replaces the weekly hours;
    otherwise the weekly ranges of that weekday in effect on that date apply. Overlaps between
    slots are resolved on the full grid (earlier start wins) before slots are dropped for notice
    or blocks, so the set of slots for a given day does not shift as time passes or as visits
    are booked. Then slots starting before now + min_notice, and slots overlapping any block,
    are dropped.

    Invalid ranges (no positive slot length, negative buffer, end not after start) produce no
    slots rather than an error: generation runs on stored data, validation guards the inputs.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    zone = get_zone(tz)
    if window_end < window_start:
        return []

    by_weekday: list[list[WeeklyRange]] = [[] for _ in range(7)]
    for weekly in ranges:
        if 0 <= weekly.weekday <= 6:
            by_weekday[weekly.weekday].append(weekly)
    relevant = [o for o in overrides if o.end_date >= window_start and o.start_date <= window_end]

    candidates: list[Slot] = []
    day = window_start
    while day <= window_end:
        for hours in _hours_for_day(day, by_weekday, relevant):
            _append_day_slots(candidates, day, hours, zone)
        day += _ONE_DAY

    # Stable sort: for equal starts the range listed first wins in the sweep below.
    candidates.sort(key=_slot_start)
    grid = _without_overlaps(candidates)

    cutoff = now.astimezone(UTC) + min_notice
    is_blocked = _block_index(blocks)
    return [s for s in grid if s.start >= cutoff and not is_blocked(s.start, s.end)]


def _slot_start(slot: Slot) -> datetime:
    return slot.start


def _hours_for_day(
    day: date, by_weekday: list[list[WeeklyRange]], overrides: list[Override]
) -> Sequence[_Hours]:
    custom: list[CustomRange] = []
    has_custom = False
    for override in overrides:
        if not override.covers(day):
            continue
        if override.kind == OFF:
            return ()
        if override.kind == CUSTOM:
            has_custom = True
            custom.extend(override.ranges)
    if has_custom:
        return custom
    return [r for r in by_weekday[day.weekday()] if r.in_effect_on(day)]


def _append_day_slots(out: list[Slot], day: date, hours: _Hours, zone: ZoneInfo) -> None:
    """Lay the grid of one range on one local date, in wall time, and convert each start."""
    slot_minutes, buffer_minutes = hours.slot_minutes, hours.buffer_minutes
    if slot_minutes <= 0 or buffer_minutes < 0 or hours.end <= hours.start:
        return
    length = timedelta(minutes=slot_minutes)
    step = timedelta(minutes=slot_minutes + buffer_minutes)
    range_end = datetime.combine(day, hours.end)  # naive wall time
    wall = datetime.combine(day, hours.start)  # naive wall time, fold=0
    ctype = hours.consultation_type
    last_start = range_end - length
    while wall <= last_start:
        start_utc = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: first occurrence
        # Round trip: a wall time in the spring-forward gap comes back different.
        if start_utc.astimezone(zone).replace(tzinfo=None) == wall:
            end_utc = start_utc + length  # absolute time
            # The end, read on the wall clock, must not pass the range end (it can, by the
            # size of the gap, for a slot that starts just before the spring change).
            if end_utc.astimezone(zone).replace(tzinfo=None) <= range_end:
                out.append(Slot(start_utc, end_utc, ctype))
        wall += step


def _without_overlaps(slots: list[Slot]) -> list[Slot]:
    """Keep, from slots sorted by start, each one that does not overlap a kept earlier one."""
    kept: list[Slot] = []
    last_end: datetime | None = None
    for slot in slots:
        if last_end is None or slot.start >= last_end:
            kept.append(slot)
            last_end = slot.end
    return kept


def _block_index(blocks: Iterable[Block]) -> Callable[[datetime, datetime], bool]:
    """A predicate telling whether [start, end) overlaps any block, in O(log n) per call.

    Blocks are sorted by start; with the running maximum of their ends, "some block starting
    before `end` ends after `start`" is one bisect and one comparison.
    """
    spans: list[tuple[datetime, datetime]] = []
    for block in blocks:
        if block.start_utc.tzinfo is None or block.end_utc.tzinfo is None:
            raise ValueError("Block times must be aware datetimes")
        if block.end_utc > block.start_utc:
            spans.append((block.start_utc.astimezone(UTC), block.end_utc.astimezone(UTC)))
    spans.sort()
    starts = [s for s, _ in spans]
    max_end: list[datetime] = []
    for _, end in spans:
        max_end.append(end if not max_end or end > max_end[-1] else max_end[-1])

    def is_blocked(start: datetime, end: datetime) -> bool:
        i = bisect.bisect_left(starts, end)  # blocks [0, i) start before `end`
        return i > 0 and max_end[i - 1] > start

    return is_blocked


# --------------------------------------------------------------------------------------------
# Validation (used by forms, API schemas and services)
# --------------------------------------------------------------------------------------------


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _minutes_after(start: time, minutes: int) -> str:
    return _hhmm((datetime.combine(date.min, start) + timedelta(minutes=minutes)).time())


def _check_hours(hours: _Hours, index: int | None, prefix: str = "") -> None:
    """Field-level rules shared by weekly ranges and custom override hours."""
    slot, buffer = hours.slot_minutes, hours.buffer_minutes
    if hours.consultation_type not in CONSULTATION_TYPES:
        raise ScheduleError(
            prefix + "consultation_type",
            f"Choose a consultation type: {' or '.join(CONSULTATION_TYPES)}.",
            index,
        )
    if isinstance(slot, bool) or not isinstance(slot, int) or not (
        MIN_SLOT_MINUTES <= slot <= MAX_SLOT_MINUTES
    ):
        raise ScheduleError(
            prefix + "slot_minutes",
            f"Slot length must be between {MIN_SLOT_MINUTES} and {MAX_SLOT_MINUTES} minutes "
            f"(got {slot!r}).",
            index,
        )
    if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
        raise ScheduleError(
            prefix + "buffer_minutes",
            f"The break after each slot must be zero or more whole minutes (got {buffer!r}).",
            index,
        )
    for name in ("start", "end"):
        value: time = getattr(hours, name)
        if value.second or value.microsecond:
            raise ScheduleError(prefix + name, f"Use whole minutes for the {name} time.", index)
    if hours.end <= hours.start:
        raise ScheduleError(
            prefix + "end",
            f"The end time ({_hhmm(hours.end)}) must be after the start time "
            f"({_hhmm(hours.start)}).",
            index,
        )
    length = (hours.end.hour * 60 + hours.end.minute) - (hours.start.hour * 60 + hours.start.minute)
    span = f"{_hhmm(hours.start)}-{_hhmm(hours.end)}"
    if length < slot:
        raise ScheduleError(
            prefix + "slot_minutes",
            f"{span} is {length} minutes, too short for one {slot}-minute slot.",
            index,
        )
    step = slot + buffer
    # n slots with a buffer after each but the last take n*step - buffer minutes; the final
    # buffer may also be kept (n*step). With no buffer both say: length is a multiple of slot.
    if length % step and (length + buffer) % step:
        count = (length + buffer) // step
        used = count * step - buffer
        fits = f"{count} slot{'s' if count != 1 else ''} fit"
        if buffer:
            what = f"{slot}-minute slots with a {buffer}-minute break after each"
        else:
            what = f"{slot}-minute slots"
        raise ScheduleError(
            prefix + "slot_minutes",
            f"{span} ({length} minutes) does not divide into {what}: {fits} and "
            f"{length - used} minutes are left over. End at {_minutes_after(hours.start, used)} "
            f"or change the slot length.",
            index,
        )


def _periods_overlap(a: WeeklyRange, b: WeeklyRange) -> bool:
    a_from, b_from = a.effective_from or date.min, b.effective_from or date.min
    a_to, b_to = a.effective_to or date.max, b.effective_to or date.max
    return a_from <= b_to and b_from <= a_to


def validate_ranges(ranges: Sequence[WeeklyRange]) -> None:
    """Raise ScheduleError for the first weekly range that breaks a rule.

    Each range: weekday 0-6, a known consultation type, slot length 5-240 minutes, buffer >= 0,
    whole-minute times, end after start, a whole number of slots (with buffers between them, the
    last buffer optional), effective_to not before effective_from. Across ranges: two ranges on
    the same weekday whose effective periods overlap must not overlap in time (touching is fine).
    """
    for index, weekly in enumerate(ranges):
        if isinstance(weekly.weekday, bool) or weekly.weekday not in range(7):
            raise ScheduleError(
                "weekday", f"Choose a day of the week (got {weekly.weekday!r}).", index
            )
        _check_hours(weekly, index)
        if (
            weekly.effective_from is not None
            and weekly.effective_to is not None
            and weekly.effective_to < weekly.effective_from
        ):
            raise ScheduleError(
                "effective_to",
                f"The last day ({weekly.effective_to.isoformat()}) is before the first day "
                f"({weekly.effective_from.isoformat()}).",
                index,
            )
    for later in range(len(ranges)):
        b = ranges[later]
        for earlier in range(later):
            a = ranges[earlier]
            if (
                a.weekday == b.weekday
                and a.start < b.end
                and b.start < a.end
                and _periods_overlap(a, b)
            ):
                raise ScheduleError(
                    "start",
                    f"{WEEKDAY_NAMES[b.weekday]} {_hhmm(b.start)}-{_hhmm(b.end)} overlaps "
                    f"{_hhmm(a.start)}-{_hhmm(a.end)} on the same day.",
                    later,
                )


def validate_timezone(name: str) -> str:
    """Return `name` if it is an IANA zone this system knows, else raise ScheduleError."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("timezone", "Choose a time zone, such as Asia/Kolkata.")
    if name in _known_zones():
        return name
    hint = _zones_by_lower_name().get(name.strip().lower())
    suggestion = f" Did you mean {hint}?" if hint else " Use an IANA name such as Asia/Kolkata."
    raise ScheduleError("timezone", f"Unknown time zone {name!r}.{suggestion}")


def validate_window(days: int) -> int:
    """Return `days` if it is a sensible booking window (1..366 days), else raise."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise ScheduleError("days", f"The window must be a whole number of days (got {days!r}).")
    if days < 1:
        raise ScheduleError("days", "The window must be at least 1 day.")
    if days > MAX_WINDOW_DAYS:
        raise ScheduleError(
            "days",
            f"A window longer than a year ({MAX_WINDOW_DAYS} days) is not allowed; "
            f"got {days} days.",
        )
    return days


def validate_override(ov: Override, today: date) -> None:
    """Raise ScheduleError if an override cannot be saved as given.

    `today` is the doctor's local date. Errors in custom hours carry the field as
    "ranges.<field>" and the index of the offending range.
    """
    if ov.kind not in OVERRIDE_KINDS:
        raise ScheduleError("kind", "Choose either a day off or custom hours.")
    if ov.start_date < today:
        raise ScheduleError(
            "start_date",
            f"The first day ({ov.start_date.isoformat()}) is in the past; "
            f"choose today ({today.isoformat()}) or later.",
        )
    if ov.end_date < ov.start_date:
        raise ScheduleError(
            "end_date",
            f"The last day ({ov.end_date.isoformat()}) is before the first day "
            f"({ov.start_date.isoformat()}).",
        )
    if ov.kind == OFF:
        if ov.ranges:
            raise ScheduleError(
                "ranges", "A day off has no hours; remove the hours or choose custom hours."
            )
        return
    if not ov.ranges:
        raise ScheduleError(
            "ranges", "Custom hours need at least one time range; to close the day, use a day off."
        )
    for index, hours in enumerate(ov.ranges):
        _check_hours(hours, index, prefix="ranges.")
    for later in range(len(ov.ranges)):
        b = ov.ranges[later]
        for earlier in range(later):
            a = ov.ranges[earlier]
            if a.start < b.end and b.start < a.end:
                raise ScheduleError(
                    "ranges.start",
                    f"{_hhmm(b.start)}-{_hhmm(b.end)} overlaps {_hhmm(a.start)}-{_hhmm(a.end)}.",
                    later,
                )
