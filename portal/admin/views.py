"""Admin pages: manage doctor accounts and invite the front desk's staff."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin.forms import ActiveForm, DoctorForm
from portal.auth.service import Registration
from portal.desk import service as desk
from portal.desk.forms import StaffInviteForm
from portal.doctors import service as doctors
from portal.exceptions import ValidationFailed
from portal.payments import accounts
from portal.security import admin_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")

FIELD_MAP = {"fee_video_paise": "fee_video", "fee_in_person_paise": "fee_in_person"}


def _rupees_to_paise(value: int | None) -> int | None:
    return None if value is None else value * 100


@bp.get("/doctors")
@admin_required
def doctors_list():
    """Every doctor, active or not."""
    query = request.args.get("q", "").strip()[:100] or None
    page = doctors.search_doctors(query=query, page=page_number(), per_page=25,
                                  include_inactive=True)
    return render_page("admin/doctors.html", block="results", page=page, query=query,
                       active_form=ActiveForm(), payout_accounts=accounts.accounts_by_doctor())


# The admin's home; an alias keeps url_for("admin.doctors") short in templates.
bp.add_url_rule("/", "doctors", doctors_list)


@bp.route("/doctors/new", methods=["GET", "POST"])
@admin_required
def new_doctor():
    """Create a doctor account and profile."""
    form = DoctorForm()
    if form.validate_on_submit():
        try:
            doctor = doctors.create_doctor(
                Registration(name=form.name.data, email=form.email.data, phone=form.phone.data,
                             timezone=form.timezone.data, password=form.password.data),
                doctors.DoctorProfile(
                    specialty=form.specialty.data, timezone=form.timezone.data,
                    fee_video_paise=_rupees_to_paise(form.fee_video.data),
                    fee_in_person_paise=_rupees_to_paise(form.fee_in_person.data),
                    qualifications=form.qualifications.data or "",
                    languages=form.languages.data or "", bio=form.bio.data or "",
                    slot_minutes=form.slot_minutes.data))
        except ValidationFailed as exc:
            apply_errors(form, ValidationFailed(
                {FIELD_MAP.get(k, k): v for k, v in exc.errors.items()}))
        else:
            flash(f"Doctor account created for {doctor.name}.", "success")
            return redirect(url_for("admin.doctors_list"))
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("admin/doctor_form.html", form=form), status


@bp.post("/doctors/<uuid:doctor_id>/active")
@admin_required
def set_active(doctor_id: uuid.UUID):
    """Deactivate or reactivate a doctor (`active` = 1 or 0)."""
    doctor = doctors.get_doctor(doctor_id, include_inactive=True)
    active = request.form.get("active") == "1"
    doctors.set_doctor_active(doctor, active)
    flash(f"{doctor.name} is now {'active' if active else 'deactivated'}.", "success")
    return redirect(url_for("admin.doctors_list"))


@bp.route("/staff", methods=["GET", "POST"])
@admin_required
def staff():
    """The front desk's accounts, and inviting a receptionist: a staff account without a
    password, and an email with a link to set one."""
    form = StaffInviteForm()
    if form.validate_on_submit():
        try:
            person = desk.invite_staff(current_user, form.name.data, form.email.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash(f"Invited {person.name}: they get an email at {person.email} with a link to "
                  "set their password.", "success")
            return redirect(url_for("admin.staff"), 303)
    status = 422 if form.is_submitted() else 200
    page = desk.list_staff(current_user, page_number(), 50)
    return render_template("admin/staff.html", form=form, page=page), status
