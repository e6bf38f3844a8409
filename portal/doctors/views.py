"""The public directory of doctors (each doctor's own page is a booking page:
`portal.appointments.booking`), and the doctor's profile page.

Endpoints:
  doctors.directory     GET       /doctors/               search and filter doctors
  doctor_profile.edit   GET, POST /practice/profile       the doctor's profile and practice
                                                          settings (admins: ?doctor=<uuid>)
  doctors.photo_page, upload_photo, remove_photo          a doctor's photo (the doctor, admins)
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from portal.availability import service as availability
from portal.availability.calendar import STATE_LABELS, long_date
from portal.availability.slots import get_zone
from portal.doctors import photos, service
from portal.doctors.forms import DoctorProfileForm, rupees, to_paise
from portal.doctors.models import ConsultationType, Doctor
from portal.doctors.profile import ProfileChanges, ProfileUpdate, update_profile
from portal.exceptions import NotFound, ValidationFailed
from portal.formatting import format_money
from portal.roles import Role
from portal.security import login_required, roles_required
from portal.web import apply_errors, page_number, render_page

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


# --- the doctor's profile page -------------------------------------------------------------------
# Under /practice beside the schedule pages, so a blueprint of its own. The doctor edits their
# own profile; an admin names the doctor with ?doctor=<uuid>. Saving redirects back and shows
# what the change did (fees, withdrawn types, appointments now outside the hours), kept in the
# session for that one page like the schedule pages' conflicts.

profile_bp = Blueprint("doctor_profile", __name__, url_prefix="/practice")

profile_keeper = roles_required(Role.DOCTOR, Role.ADMIN)

RESULT_KEY = "doctor_profile_result"
MAX_CONFLICTS_SHOWN = 20  # slot ids kept in the session cookie
# The service's names for the fields whose form names differ (fees: paise there, rupees here).
FORM_FIELDS = {"fee_video_paise": "fee_video", "fee_in_person_paise": "fee_in_person"}
FEE_FIELDS = {"fee_video_paise": ConsultationType.VIDEO,
              "fee_in_person_paise": ConsultationType.IN_PERSON}


def _profile_doctor() -> Doctor:
    """The logged-in doctor, or for an admin the doctor named by ?doctor=<uuid> (without one,
    an admin is sent to the doctors list); a malformed id or another doctor's is 404."""
    raw = request.args.get("doctor")
    try:
        doctor_id = uuid.UUID(raw) if raw else None
    except ValueError:
        raise NotFound("No such doctor.") from None
    if current_user.role == Role.ADMIN and doctor_id is None:
        flash("Choose a doctor to edit their profile.", "info")
        abort(redirect(url_for("admin.doctors_list")))
    return service.doctor_to_manage(current_user, doctor_id)


def _profile_scope(doctor: Doctor) -> dict[str, str]:
    return {"doctor": str(doctor.id)} if current_user.role == Role.ADMIN else {}


def _profile_changes(form: DoctorProfileForm) -> ProfileChanges:
    return ProfileChanges(
        name=form.name.data, specialty=form.specialty.data,
        qualifications=form.qualifications.data or "", bio=form.bio.data or "",
        languages=form.languages.data or "",
        offers_video=form.offers_video.data, fee_video_paise=to_paise(form.fee_video.data),
        offers_in_person=form.offers_in_person.data,
        fee_in_person_paise=to_paise(form.fee_in_person.data),
        slot_minutes=form.slot_minutes.data, buffer_minutes=form.buffer_minutes.data,
        booking_window_days=form.booking_window_days.data,
        min_notice_minutes=form.min_notice_minutes.data, timezone=form.timezone.data)


def _what_happened(result: ProfileUpdate) -> list[str]:
    """The change in words, for the doctor to read after saving."""
    doctor, changed = result.doctor, set(result.changed)
    lines = []
    for name, kind in FEE_FIELDS.items():
        fee = getattr(doctor, name)
        if name in changed and fee is not None and kind not in result.dropped_types:
            charged = f"charged {format_money(fee)}" if fee else "free"
            lines.append(f"Fee changed: new holds are {charged} for {kind.label.lower()} "
                         "consultations; existing bookings keep their price.")
    for kind in result.dropped_types:
        lines.append(f"{kind.label} consultations withdrawn: their weekly and custom hours end "
                     "today and their free times are removed; held and booked ones stay.")
    if "timezone" in changed:
        lines.append(f"Time zone changed to {doctor.timezone}: booked appointments keep their "
                     "time; your free times follow your weekly hours in the new zone.")
    if result.created or result.removed:
        lines.append(f"Free times regenerated: {result.created} added, {result.removed} "
                     "removed.")
    return lines


def _remember_result(result: ProfileUpdate) -> None:
    session[RESULT_KEY] = {
        "doctor": str(result.doctor.id), "lines": _what_happened(result),
        "total": len(result.conflicts),
        "slots": [str(s.id) for s in result.conflicts[:MAX_CONFLICTS_SHOWN]]}


def _pop_result(doctor: Doctor) -> dict | None:
    saved = session.get(RESULT_KEY)
    if not saved or saved.get("doctor") != str(doctor.id):
        return None
    session.pop(RESULT_KEY)
    ids = []
    for raw in saved.get("slots", []):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    zone = get_zone(doctor.timezone)
    slots = [{"id": s.id, "status": STATE_LABELS[s.status.lower()],
              "when": f"{long_date(s.start_at.astimezone(zone).date())}, "
                      f"{s.start_at.astimezone(zone):%H:%M}–{s.end_at.astimezone(zone):%H:%M}",
              "type": ConsultationType(s.consultation_type).label}
             for s in availability.occupied_slots(doctor, ids)]
    conflicts = {"total": saved["total"], "slots": slots} if saved.get("total") else None
    return {"lines": saved.get("lines", []), "conflicts": conflicts}


@profile_bp.route("/profile", methods=["GET", "POST"])
@profile_keeper
def edit():
    """The doctor's profile (name, specialty, qualifications, bio, languages) and practice
    settings (consultation types and fees, slot length, rest, booking window, notice, time
    zone). After saving: what the change did, and the held or booked times it left outside
    the hours, with links to the calendar. Errors on the fields at fault, with status 422."""
    doctor = _profile_doctor()
    scope = _profile_scope(doctor)
    form = DoctorProfileForm(obj=doctor)
    if not form.is_submitted():
        form.offers_video.data = doctor.fee_video_paise is not None
        form.fee_video.data = rupees(doctor.fee_video_paise)
        form.offers_in_person.data = doctor.fee_in_person_paise is not None
        form.fee_in_person.data = rupees(doctor.fee_in_person_paise)
    if form.validate_on_submit():
        try:
            result = update_profile(current_user, doctor.id, _profile_changes(form))
        except ValidationFailed as exc:
            apply_errors(form, ValidationFailed({FORM_FIELDS.get(name, name): message
                                                 for name, message in exc.errors.items()}))
        else:
            _remember_result(result)
            flash("The profile is saved." if result.changed else "Nothing changed.", "success")
            return redirect(url_for(".edit", **scope), 303)
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("doctors/profile.html", form=form, doctor=doctor, scope=scope,
                           result=_pop_result(doctor)), status
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
