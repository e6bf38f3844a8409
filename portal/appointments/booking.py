"""The doctor's public page, where booking starts: the profile and the slot picker.

It lives with the booking pages (not in `portal.doctors`) because it shows bookable slots:
doctors know nothing of availability or appointments; booking knows both.

Endpoints (blueprint `booking`, under /doctors):
  doctor   GET /<doctor_id>?day=YYYY-MM-DD   the page; HTMX (choosing a day) gets the picker;
                                             "Join the waitlist" when no time suits
"""

from __future__ import annotations

import uuid

from flask import Blueprint, request, url_for
from flask_login import current_user

from portal.appointments.picker import slot_picker
from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.doctors.models import Doctor
from portal.formatting import viewer_timezone
from portal.roles import Role
from portal.web import render_page

bp = Blueprint("booking", __name__, url_prefix="/doctors")


@bp.get("/<uuid:doctor_id>")
def doctor(doctor_id: uuid.UUID):
    """A doctor's public page with the slot picker (?day= in the viewer's zone)."""
    found = doctors.get_doctor(doctor_id)
    picker = slot_picker(found, viewer_timezone(), request.args.get("day"), utcnow())
    return render_page("doctors/detail.html", block="booking", doctor=found, picker=picker,
                       waitlist_url=_waitlist_url(found))


def _waitlist_url(doctor: Doctor) -> str | None:
    """Where "Join the waitlist" leads: the join form for patients, the login page (and back
    to the form) for visitors; doctors, staff and admins do not wait for times (None)."""
    join = url_for("waitlist.join", doctor=doctor.id)
    if not current_user.is_authenticated:
        return url_for("auth.login", next=join)
    return join if current_user.role == Role.PATIENT else None
