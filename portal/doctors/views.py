"""The public directory of doctors (each doctor's own page is a booking page:
`portal.appointments.booking`), and the forms that set or remove a doctor's photo."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.doctors import photos, service
from portal.exceptions import ValidationFailed
from portal.roles import Role
from portal.security import login_required
from portal.web import page_number, render_page

bp = Blueprint("doctors", __name__, url_prefix="/doctors")

# The routes that take a photo, here and in the API. Their size limit (the photo plus room for
# the multipart framing) is set before anything reads the body: the CSRF and NUL checks parse
# forms, and a body past the limit must be refused (413) unread, not spooled to disk first.
PHOTO_UPLOADS = {"doctors.upload_photo", "api.doctors_api.upload_photo"}
MULTIPART_ALLOWANCE = 64 * 1024


@bp.before_app_request
def limit_photo_uploads() -> None:
    """Runs before the app's own hooks: blueprints are registered before `create_app` adds
    them (portal/__init__.py)."""
    if request.endpoint in PHOTO_UPLOADS:
        request.max_content_length = current_app.config["PHOTO_MAX_BYTES"] + MULTIPART_ALLOWANCE


@bp.app_template_global()
def doctor_photo(doctor, width: int) -> photos.PhotoSources | None:
    """For templates/_macros/avatar.html: the <img> sources of a doctor's photo, or None."""
    return photos.photo_sources(doctor, width)


@bp.get("/")
def directory():
    """Search and filter doctors; HTMX swaps only the results, the URL stays shareable."""
    specialty = request.args.get("specialty", "").strip()[:80] or None
    query = request.args.get("q", "").strip()[:100] or None
    page = service.search_doctors(specialty, query, page_number())
    return render_page("doctors/directory.html", block="results", page=page,
                       specialties=service.specialties(), specialty=specialty, query=query)


@bp.get("/<uuid:doctor_id>/photo")
@login_required
def photo(doctor_id: uuid.UUID):
    """The photo form on a page of its own (admins reach it from their doctor list); the
    doctor themself or an admin, anyone else gets 404."""
    doctor = service.doctor_to_manage(current_user, doctor_id)
    return render_template("doctors/photo.html", doctor=doctor)


@bp.post("/<uuid:doctor_id>/photo")
@login_required
def upload_photo(doctor_id: uuid.UUID):
    """Set the photo from the form's `photo` file, then back to `next` with what happened."""
    upload = photos.read_upload(request.files.get("photo"))
    try:
        photos.set_photo(current_user, doctor_id, upload)
    except ValidationFailed as exc:
        flash(exc.errors.get("photo", exc.message), "error")
    else:
        flash("Photo saved. The directory and the doctor's page show it now.", "success")
    return redirect(_back(doctor_id))


@bp.post("/<uuid:doctor_id>/photo/delete")
@login_required
def delete_photo(doctor_id: uuid.UUID):
    """Remove the photo (pages show the doctor's initials), then back to `next`."""
    photos.remove_photo(current_user, doctor_id)
    flash("Photo removed. Pages show the doctor's initials instead.", "success")
    return redirect(_back(doctor_id))


def _back(doctor_id: uuid.UUID) -> str:
    """The form's `next` when it is a path on this site; else the doctor's dashboard, or for an
    admin the doctor's photo page."""
    target = request.form.get("next", "")
    # Browsers read "\" as "/" and drop tabs and newlines: "/\evil.example" leaves the site.
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and not any(c.isspace() for c in target)
            and not urlsplit(target).netloc):
        return target
    if current_user.role == Role.DOCTOR:
        return url_for("main.dashboard")
    return url_for("doctors.photo", doctor_id=doctor_id)
