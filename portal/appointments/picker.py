"""The slot pickers' presentation model: a doctor's bookable times grouped by day (and part of
the day) in the viewer's zone, for the booking page and the reschedule dialog."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.availability import service as availability
from portal.doctors.models import ConsultationType, Doctor

PICKER_DAYS = 14
DAY_PARTS = (("Morning", 0, 12), ("Afternoon", 12, 17), ("Evening", 17, 24))


@dataclass(frozen=True)
class PickerSlot:
    id: uuid.UUID
    start: datetime  # in the viewer's zone
    consultation_type: ConsultationType
    fee: int | None

    @property
    def type_label(self) -> str:
        return self.consultation_type.label


@dataclass(frozen=True)
class PickerDay:
    date: date
    count: int


@dataclass(frozen=True)
class SlotPicker:
    timezone: str
    days: list[PickerDay]
    selected: date
    parts: list[tuple[str, list[PickerSlot]]]  # only the parts of the day that have slots

    @property
    def total(self) -> int:
        return sum(day.count for day in self.days)


@dataclass(frozen=True)
class FreeDay:
    """One day of the reschedule picker: slot ids with their starts in the viewer's zone."""

    date: date
    slots: list[tuple[uuid.UUID, datetime]]


def _window(zone: ZoneInfo, today: date, days: int) -> tuple[datetime, datetime]:
    return (datetime.combine(today, time(0), tzinfo=zone),
            datetime.combine(today + timedelta(days=days), time(0), tzinfo=zone))


def slot_picker(doctor: Doctor, tz: str, day: str | None, now: datetime) -> SlotPicker:
    """Bookable slots of the next PICKER_DAYS days in zone `tz`, the chosen day's by part.

    The chosen day is `day` (ISO date) when it is one of those days, else the first with slots.
    """
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    dates = [today + timedelta(days=i) for i in range(PICKER_DAYS)]
    start, end = _window(zone, today, PICKER_DAYS)
    by_day: dict[date, list[PickerSlot]] = defaultdict(list)
    for slot in availability.free_slots(doctor, start, end, now=now):
        local = slot.start_at.astimezone(zone)
        kind = ConsultationType(slot.consultation_type)
        by_day[local.date()].append(PickerSlot(slot.id, local, kind, doctor.fee_for(kind)))
    try:
        chosen: date | None = date.fromisoformat(day or "")
    except ValueError:
        chosen = None
    if chosen not in dates:
        chosen = next((d for d in dates if by_day[d]), today)
    parts = [(name, [s for s in by_day[chosen] if low <= s.start.hour < high])
             for name, low, high in DAY_PARTS]
    return SlotPicker(tz, [PickerDay(d, len(by_day[d])) for d in dates], chosen,
                      [(name, slots) for name, slots in parts if slots])


def free_days(doctor: Doctor, consultation_type: str, tz: str, now: datetime,
              days: int) -> list[FreeDay]:
    """Bookable slots of one consultation type over the next `days` days, by local date."""
    zone = ZoneInfo(tz)
    start, end = _window(zone, now.astimezone(zone).date(), days)
    by_day: dict[date, list[tuple[uuid.UUID, datetime]]] = defaultdict(list)
    for slot in availability.free_slots(doctor, start, end, now=now):
        if slot.consultation_type == consultation_type:
            local = slot.start_at.astimezone(zone)
            by_day[local.date()].append((slot.id, local))
    return [FreeDay(day, by_day[day]) for day in sorted(by_day)]
