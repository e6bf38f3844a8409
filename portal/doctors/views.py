"""The public directory and doctor pages."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, request

from portal.availability import service as availability
from portal.clock import utcnow
from portal.doctors import service
from portal.doctors.models import ConsultationType, Doctor
from portal.formatting import viewer_timezone
from portal.web import page_number, render_page

bp = Blueprint("doctors", __name__, url_prefix="/doctors")



@bp.get("/")
def directory():
    """Search and filter doctors; HTMX swaps only the results, the URL stays shareable."""
    specialty = request.args.get("specialty", "").strip()[:80] or None
    query = request.args.get("q", "").strip()[:100] or None
    page = service.search_doctors(specialty, query, page_number())
    return render_page("doctors/directory.html", block="results", page=page,
                       specialties=service.specialties(), specialty=specialty, query=query)


@bp.get("/<uuid:doctor_id>")
def detail(doctor_id: uuid.UUID):
    """A doctor's public page with the slot picker (?day=YYYY-MM-DD, in the viewer's zone).

    HTMX requests (choosing a day) get only the picker.
    """
    doctor = service.get_doctor(doctor_id)
    picker = slot_picker(doctor, viewer_timezone(), request.args.get("day"))
    return render_page("doctors/detail.html", block="booking", doctor=doctor, picker=picker)


# --- the patient's slot picker ------------------------------------------------------------------

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


def slot_picker(doctor: Doctor, tz: str, day: str | None) -> SlotPicker:
    """Free slots of the next PICKER_DAYS days in zone `tz`, and those of the chosen day by part.

    The chosen day is `day` (ISO date) when it is one of those days, else the first with slots.
    """
    zone = ZoneInfo(tz)
    today = utcnow().astimezone(zone).date()
    dates = [today + timedelta(days=i) for i in range(PICKER_DAYS)]
    start = datetime.combine(today, time(0), tzinfo=zone)
    end = datetime.combine(dates[-1] + timedelta(days=1), time(0), tzinfo=zone)
    by_day: dict[date, list[PickerSlot]] = defaultdict(list)
    for slot in availability.free_slots(doctor, start, end):
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
