"""The doctor's week calendar as the page shows it: slots and blocks placed on a grid of days
and hours in the doctor's zone. Presentation only; the rules are in `service`."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.availability import service
from portal.availability.models import AvailableSlot
from portal.availability.slots import get_zone
from portal.doctors.models import ConsultationType, Doctor

DEFAULT_HOURS = range(9, 18)  # rows of an empty week
STATE_LABELS = {"free": "Free", "held": "Held", "booked": "Booked", "blocked": "Blocked"}


@dataclass(frozen=True)
class CalendarItem:
    """A slot or a block as one entry of the grid, with its times in the doctor's zone."""

    kind: str  # "slot" or "block"
    id: uuid.UUID
    state: str  # free, held, booked, blocked
    start: datetime  # local
    end: datetime  # local
    at: datetime  # where the grid shows it (a block spanning days shows on each)
    past: bool
    consultation_type: str | None = None
    held_until: datetime | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def time_label(self) -> str:
        if self.kind == "block" and (self.end - self.start > timedelta(minutes=60)
                                     or self.start.date() != self.end.date()):
            if self.start.date() == self.end.date():
                return f"{self.start:%H:%M}–{self.end:%H:%M}"
            return f"{self.start:%d %b %H:%M}–{self.end:%d %b %H:%M}"
        return f"{self.start:%H:%M}"

    @property
    def span_label(self) -> str:
        return f"{long_date(self.start.date())}, {self.start:%H:%M} to {self.end:%H:%M}"

    @property
    def day_label(self) -> str:
        return long_date(self.at.date())

    @property
    def type_label(self) -> str:
        if not self.consultation_type:
            return ""
        return ConsultationType(self.consultation_type).label


@dataclass
class CalendarDay:
    date: date
    is_today: bool
    is_selected: bool
    cells: dict[int, list[CalendarItem]] = field(default_factory=dict)

    @property
    def short_label(self) -> str:
        return f"{self.date:%a}"

    @property
    def long_label(self) -> str:
        return long_date(self.date)


@dataclass
class CalendarWeek:
    start: date
    today: date
    selected: date
    timezone: str
    days: list[CalendarDay]
    hours: list[int]
    counts: dict[str, int]

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def previous(self) -> date:
        return self.start - timedelta(days=7)

    @property
    def following(self) -> date:
        return self.start + timedelta(days=7)

    @property
    def this_week(self) -> date:
        return monday(self.today)

    @property
    def is_this_week(self) -> bool:
        return self.start == self.this_week

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def build_week(doctor: Doctor, week_start: date, selected: date | None,
               now: datetime) -> CalendarWeek:
    """Slots and blocks of the week starting on `week_start` (a Monday, doctor's zone)."""
    zone = get_zone(doctor.timezone)
    today = service.local_today(doctor, now)
    days = [week_start + timedelta(days=i) for i in range(7)]
    if selected not in days:
        selected = today if today in days else week_start
    start_utc, end_utc = midnight(days[0], zone), midnight(days[-1] + timedelta(days=1), zone)

    by_day: dict[date, list[CalendarItem]] = defaultdict(list)
    counts = dict.fromkeys(STATE_LABELS, 0)
    for slot in service.slots_between(doctor, start_utc, end_utc):
        item = slot_item(slot, zone, now)
        by_day[item.start.date()].append(item)
        counts[item.state] += 1
    for block in service.blocks_between(doctor, start_utc, end_utc):
        counts["blocked"] += 1
        for day in days:
            day_start, day_end = midnight(day, zone), midnight(day + timedelta(days=1), zone)
            if block.start_at < day_end and block.end_at > day_start:
                by_day[day].append(CalendarItem(
                    "block", block.id, "blocked", block.start_at.astimezone(zone),
                    block.end_at.astimezone(zone), max(block.start_at, day_start).astimezone(zone),
                    past=block.end_at <= now, reason=block.reason))

    hours: set[int] = set()
    for items in by_day.values():
        for item in items:
            hours.add(item.at.hour)
            last = item.end - timedelta(minutes=1)
            hours.add(last.hour if last.date() == item.at.date() else 23)
    rows = list(range(min(hours), max(hours) + 1)) if hours else list(DEFAULT_HOURS)

    calendar_days = []
    for day in days:
        cells: dict[int, list[CalendarItem]] = defaultdict(list)
        for item in sorted(by_day[day], key=lambda i: i.at):
            cells[item.at.hour].append(item)
        calendar_days.append(CalendarDay(day, day == today, day == selected, dict(cells)))
    return CalendarWeek(week_start, today, selected, doctor.timezone, calendar_days, rows, counts)


def slot_item(slot: AvailableSlot, zone: ZoneInfo, now: datetime) -> CalendarItem:
    """One slot as the grid and the side panel show it."""
    state = "free" if slot.is_free(now) else slot.status.lower()
    start = slot.start_at.astimezone(zone)
    return CalendarItem("slot", slot.id, state, start, slot.end_at.astimezone(zone), start,
                        past=slot.end_at <= now, consultation_type=slot.consultation_type,
                        held_until=slot.held_until.astimezone(zone) if state == "held" else None)
