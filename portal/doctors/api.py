"""Doctor directory API, and doctors' photos."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, request
from flask_login import current_user

from portal.api import operation, parse_query, respond
from portal.doctors import photos, service
from portal.doctors.schemas import DirectoryQuery, DoctorList, DoctorOut, PhotoOut
from portal.security import login_required

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
