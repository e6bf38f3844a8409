"""Availability API: read a schedule and free slots; doctors and admins change schedules."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from flask import Blueprint, current_app
from flask_login import current_user

from portal.api import Money, operation, parse_body, parse_query, respond
from portal.auth.models import Role
from portal.availability import service
from portal.availability.schemas import (
    BlockIn,
    BlockOut,
    ConflictOut,
    OverrideCreated,
    OverrideIn,
    OverrideOut,
    RangeOut,
    RegenerationOut,
    ScheduleOut,
    SlotList,
    SlotOut,
    SlotQuery,
    WeeklyScheduleIn,
)
from portal.availability.slots import ScheduleError, get_zone
from portal.clock import utcnow
from portal.doctors.models import ConsultationType, Doctor
from portal.doctors.service import doctor_to_manage, get_doctor
from portal.exceptions import ValidationFailed
from portal.security import roles_required

bp = Blueprint("availability_api", __name__, url_prefix="/availability")

schedule_editor = roles_required(Role.DOCTOR, Role.ADMIN)


def can_see_private(doctor: Doctor) -> bool:
    return current_user.is_authenticated and (
        current_user.role == Role.ADMIN or current_user.id == doctor.user_id)


def _range_out(row) -> RangeOut:
    return RangeOut(id=row.id, weekday=row.weekday, start=row.start_time, end=row.end_time,
                    consultation_type=row.consultation_type, slot_minutes=row.slot_minutes,
                    buffer_minutes=row.buffer_minutes, effective_from=row.effective_from,
                    effective_to=row.effective_to)


def _override_out(row, private: bool) -> OverrideOut:
    return OverrideOut(id=row.id, start_date=row.start_date, end_date=row.end_date,
                       kind=row.kind, start=row.start_time, end=row.end_time,
                       consultation_type=row.consultation_type, slot_minutes=row.slot_minutes,
                       reason=row.reason if private else None)


def _regeneration_out(report: service.RegenerationReport) -> RegenerationOut:
    return RegenerationOut(created=report.created, removed=report.removed, kept=report.kept,
                           conflicts=[ConflictOut(slot_id=s.id, start=s.start_at, end=s.end_at,
                                                  status=s.status) for s in report.conflicts])


@bp.get("/doctors/<uuid:doctor_id>")
@operation("A doctor's weekly schedule, overrides and (for them and admins) blocks",
           tags=("availability",), response=ScheduleOut, auth=False, errors=(404,))
def get_schedule(doctor_id: uuid.UUID):
    doctor = get_doctor(doctor_id, include_inactive=current_user.is_authenticated
                        and current_user.role == Role.ADMIN)
    schedule = service.get_schedule(doctor)
    private = can_see_private(doctor)
    return respond(ScheduleOut(
        doctor_id=doctor.id, timezone=doctor.timezone,
        booking_window_days=doctor.booking_window_days,
        min_notice_minutes=doctor.min_notice_minutes,
        weekly=[_range_out(r) for r in schedule.weekly],
        upcoming=[_range_out(r) for r in schedule.upcoming],
        overrides=[_override_out(o, private) for o in schedule.overrides],
        blocks=[BlockOut(id=b.id, start=b.start_at, end=b.end_at, reason=b.reason)
                for b in schedule.blocks] if private else []))


@bp.post("/weekly")
@schedule_editor
@operation("Set weekly hours from a date on", tags=("availability",), body=WeeklyScheduleIn,
           response=RegenerationOut, errors=(404,))
def set_weekly():
    """Replaces the weekly hours from `effective_from`; earlier days keep the old hours."""
    data = parse_body(WeeklyScheduleIn)
    doctor = doctor_to_manage(current_user, data.doctor_id)
    report = service.set_weekly_schedule(doctor, [
        service.RangeInput(r.weekday, r.start, r.end, r.consultation_type, r.slot_minutes,
                           r.buffer_minutes) for r in data.ranges], data.effective_from,
        window_days=data.booking_window_days, min_notice_minutes=data.min_notice_minutes)
    return respond(_regeneration_out(report))


@bp.post("/block")
@schedule_editor
@operation("Block a time interval", tags=("availability",), body=BlockIn, response=BlockOut,
           status=201, errors=(404, 409))
def block():
    data = parse_body(BlockIn)
    doctor = doctor_to_manage(current_user, data.doctor_id)
    row = service.block_interval(doctor, data.start, data.end, data.reason)
    return respond(BlockOut(id=row.id, start=row.start_at, end=row.end_at, reason=row.reason),
                   201)


@bp.delete("/block/<uuid:block_id>")
@schedule_editor
@operation("Remove a block (unblock)", tags=("availability",), response=RegenerationOut,
           errors=(404,))
def unblock(block_id: uuid.UUID):
    _, doctor = service.get_block(current_user, block_id)
    return respond(_regeneration_out(service.unblock(doctor, block_id)))


@bp.post("/overrides")
@schedule_editor
@operation("Add days off or custom hours", tags=("availability",), body=OverrideIn,
           response=OverrideCreated, status=201, errors=(404,))
def add_override():
    data = parse_body(OverrideIn)
    doctor = doctor_to_manage(current_user, data.doctor_id)
    row, report = service.add_override(doctor, service.OverrideInput(
        start_date=data.start_date, end_date=data.end_date, kind=data.kind, reason=data.reason,
        start=data.start, end=data.end, consultation_type=data.consultation_type,
        slot_minutes=data.slot_minutes, buffer_minutes=data.buffer_minutes))
    return respond(OverrideCreated(override=_override_out(row, True),
                                   regeneration=_regeneration_out(report)), 201)


@bp.delete("/overrides/<uuid:override_id>")
@schedule_editor
@operation("Remove an override", tags=("availability",), response=RegenerationOut,
           errors=(404,))
def remove_override(override_id: uuid.UUID):
    _, doctor = service.get_override(current_user, override_id)
    return respond(_regeneration_out(service.remove_override(doctor, override_id)))


@bp.get("/doctors/<uuid:doctor_id>/slots")
@operation("Free slots of a doctor", tags=("availability",), query=SlotQuery,
           response=SlotList, auth=False, errors=(404,))
def list_slots(doctor_id: uuid.UUID):
    """Bookable slots starting in [from, to), with times in `tz` (default: the doctor's)."""
    doctor = get_doctor(doctor_id)
    query = parse_query(SlotQuery)
    tz_name = query.tz or doctor.timezone
    try:
        zone = get_zone(tz_name)
    except ScheduleError as exc:
        raise ValidationFailed({"tz": exc.message}) from None
    start = _as_instant(query.from_, zone) or utcnow()
    end = _as_instant(query.to, zone) or start + timedelta(days=14)
    slots = service.free_slots(doctor, start, end)
    currency = current_app.config["CURRENCY"]
    return respond(SlotList(
        doctor_id=doctor.id, timezone=tz_name, range_start=start.astimezone(zone),
        range_end=end.astimezone(zone),
        slots=[SlotOut(id=s.id, start=s.start_at.astimezone(zone), end=s.end_at.astimezone(zone),
                       consultation_type=s.consultation_type,
                       fee=Money(amount=doctor.fee_for(ConsultationType(s.consultation_type))
                                 or 0, currency=currency))
               for s in slots]))


def _as_instant(value: datetime | date | None, zone) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=zone)
