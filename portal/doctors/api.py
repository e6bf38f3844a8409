"""Doctor directory API, and doctors' photos."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, request
from flask_login import current_user

from portal.api import operation, parse_body, parse_query, respond
from portal.doctors import photos, profile, service
from portal.doctors.schemas import (
    DirectoryQuery,
    DoctorList,
    DoctorOut,
    DoctorPatch,
    DoctorSettingsOut,
    DoctorUpdateOut,
    PhotoOut,
    SlotConflictOut,
)
from portal.roles import Role
from portal.security import login_required, roles_required

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
@bp.post("/doctors/<uuid:doctor_id>/photo")
@login_required
@operation("Set a doctor's photo", tags=("doctors",), response=PhotoOut, errors=(404, 413),
           files={"photo": "A JPEG, PNG or WebP image, up to 5 MB (PHOTO_MAX_BYTES)."},
           description="For the doctor themself or an admin (anyone else: 404). The image is "
           "decoded and encoded again without its metadata (EXIF with any GPS position, XMP, "
           "comments), cropped to a centred square and kept at 96, 256 and 512 pixels; it "
           "replaces the photo before it. A file that is not such an image, or is too large, "
           "is a 422 on `photo`; a body far past the limit, a 413.")
def upload_photo(doctor_id: uuid.UUID):
    """Set a doctor's photo from the multipart field `photo`."""
    upload = photos.read_upload(request.files.get("photo"))
    return respond(PhotoOut.of(photos.set_photo(current_user, doctor_id, upload)))


@bp.delete("/doctors/<uuid:doctor_id>/photo")
@login_required
@operation("Remove a doctor's photo", tags=("doctors",), response=PhotoOut, errors=(404,))
def delete_photo(doctor_id: uuid.UUID):
    """For the doctor themself or an admin; pages show the doctor's initials instead."""
    return respond(PhotoOut.of(photos.remove_photo(current_user, doctor_id)))
