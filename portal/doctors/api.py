"""Doctor directory API."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app
from flask_login import current_user

from portal.api import operation, parse_body, parse_query, respond
from portal.doctors import profile, service
from portal.doctors.schemas import (
    DirectoryQuery,
    DoctorList,
    DoctorOut,
    DoctorPatch,
    DoctorSettingsOut,
    DoctorUpdateOut,
    SlotConflictOut,
)
from portal.roles import Role
from portal.security import roles_required

bp = Blueprint("doctors_api", __name__)


@bp.get("/doctors")
@operation("List active doctors", tags=("doctors",), query=DirectoryQuery, response=DoctorList,
           auth=False)
def list_doctors():
    """Filter by `specialty` (exact, case-insensitive) and search by name with `q`."""
    query = parse_query(DirectoryQuery)
    page = service.search_doctors(query.specialty, query.q, query.page, query.per_page)
    currency = current_app.config["CURRENCY"]
    return respond(DoctorList(items=[DoctorOut.of(d, currency) for d in page.items],
                              page=page.page, per_page=page.per_page, total=page.total,
                              pages=page.pages))


@bp.get("/doctors/<uuid:doctor_id>")
@operation("One doctor's public profile", tags=("doctors",), response=DoctorOut, auth=False,
           errors=(404,))
def get_doctor(doctor_id: uuid.UUID):
    return respond(DoctorOut.of(service.get_doctor(doctor_id), current_app.config["CURRENCY"]))


@bp.patch("/doctors/<uuid:doctor_id>")
@roles_required(Role.DOCTOR, Role.ADMIN)
@operation("Change a doctor's profile (the doctor themself, or an admin)", tags=("doctors",),
           body=DoctorPatch, response=DoctorUpdateOut, errors=(404,),
           description="A fee applies to holds made after the change. Withdrawing a "
                       "consultation type removes its free slots; a new time zone keeps every "
                       "appointment at its instant and regenerates the free slots. Held or "
                       "booked slots left outside the hours are listed in `conflicts`.")
def update_doctor(doctor_id: uuid.UUID):
    data = parse_body(DoctorPatch)
    result = profile.update_profile(current_user, doctor_id, profile.ProfileChanges(
        name=data.name, specialty=data.specialty, qualifications=data.qualifications,
        bio=data.bio, languages=data.languages, offers_video=data.offers_video,
        fee_video_paise=data.fee_video_paise, offers_in_person=data.offers_in_person,
        fee_in_person_paise=data.fee_in_person_paise, slot_minutes=data.slot_minutes,
        buffer_minutes=data.buffer_minutes, booking_window_days=data.booking_window_days,
        min_notice_minutes=data.min_notice_minutes, timezone=data.timezone))
    currency = current_app.config["CURRENCY"]
    return respond(DoctorUpdateOut(
        doctor=DoctorSettingsOut.of(result.doctor, currency), changed=result.changed,
        slots_created=result.created, slots_removed=result.removed,
        withdrawn_types=[kind.value for kind in result.dropped_types],
        conflicts=[SlotConflictOut(slot_id=s.id, start=s.start_at, end=s.end_at,
                                   status=s.status.value,
                                   consultation_type=s.consultation_type)
                   for s in result.conflicts]))
