"""Availability API: read a schedule and free slots; doctors and admins change schedules."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, time, timedelta

from flask import Blueprint, current_app, request
from flask_login import current_user
from pydantic_core import to_json

from portal.api import operation, parse_body, parse_query, respond
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
    SlotQuery,
    WeeklyScheduleIn,
)
from portal.availability.slot_states import video_offered
from portal.availability.slots import ScheduleError, get_zone
from portal.clock import utcnow
from portal.doctors.models import Doctor
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
           response=SlotList, auth=False, errors=(404,),
           description="Bookable slots starting in [from, to), with times in `tz` (default: "
                       "the doctor's). The answer carries a weak ETag; send it back in "
                       "If-None-Match to get 304 Not Modified while nothing in it changed.")
def list_slots(doctor_id: uuid.UUID):
    doctor = service.listing_doctor(doctor_id)
    query = parse_query(SlotQuery)
    tz_name = query.tz or doctor.timezone
    try:
        zone = get_zone(tz_name)
    except ScheduleError as exc:
        raise ValidationFailed({"tz": exc.message}) from None
    now = utcnow()
    etag = _slots_etag(doctor, tz_name, query, now)
    if request.if_none_match.contains_weak(etag):
        return _cacheable(current_app.response_class(status=304), etag)
    start = _as_instant(query.from_, zone) or now
    end = _as_instant(query.to, zone) or start + timedelta(days=14)
    rows = service.free_slot_rows(doctor, start, end, now)
    currency = current_app.config["CURRENCY"]
    fees = {kind: {"amount": doctor.fee_for(kind), "currency": currency}
            for kind in ("VIDEO", "IN_PERSON")}
    # One pass from rows to JSON bytes (pydantic-core, as `respond` formats SlotList), with no
    # model per slot.
    body = to_json({
        "doctor_id": doctor.id, "timezone": tz_name, "range_start": start.astimezone(zone),
        "range_end": end.astimezone(zone),
        "slots": [{"id": slot_id, "start": start_at.astimezone(zone),
                   "end": end_at.astimezone(zone), "consultation_type": kind,
                   "fee": fees[kind]}
                  for slot_id, start_at, end_at, kind in rows]})
    return _cacheable(current_app.response_class(body, mimetype="application/json"), etag)


def _slots_etag(doctor: service.ListingDoctor, tz_name: str, query: SlotQuery,
                now: datetime) -> str:
    """A validator of everything the answer is made of: the doctor's slots version (bumped by
    every hold, booking, cancellation and schedule change), the doctor's fees and notice, the
    question asked, the settings that filter it, and the current minute.

    The minute is there because time alone changes the answer: slots pass into the notice
    period, lapsed holds free their slots. Slots start on whole minutes, so a 304 is at most
    a minute behind time; it is never behind a hold or a booking.
    """
    parts = (doctor.slots_version, doctor.fee_video_paise, doctor.fee_in_person_paise,
             doctor.min_notice_minutes, tz_name, query.from_, query.to,
             now.replace(second=0, microsecond=0), video_offered(),
             current_app.config["CURRENCY"])
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return f"{doctor.id.hex[:8]}-{doctor.slots_version}-{digest}"


def _cacheable(response, etag: str):
    """Browsers and proxies may keep the answer but must ask again (If-None-Match) each time."""
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _as_instant(value: datetime | date | None, zone) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=zone)
