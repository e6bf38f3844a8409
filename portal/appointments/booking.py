"""The doctor's public page, where booking starts: the profile and the slot picker.

It lives with the booking pages (not in `portal.doctors`) because it shows bookable slots:
doctors know nothing of availability or appointments; booking knows both.

Endpoints (blueprint `booking`, under /doctors):
  doctor   GET /<doctor_id>?day=YYYY-MM-DD   the page; HTMX (choosing a day) gets the picker
"""

from __future__ import annotations

import uuid

from flask import Blueprint, request

from portal.appointments.picker import slot_picker
from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.formatting import viewer_timezone
from portal.web import render_page

bp = Blueprint("booking", __name__, url_prefix="/doctors")


@bp.get("/<uuid:doctor_id>")
def doctor(doctor_id: uuid.UUID):
    """A doctor's public page with the slot picker (?day= in the viewer's zone)."""
    found = doctors.get_doctor(doctor_id)
    picker = slot_picker(found, viewer_timezone(), request.args.get("day"), utcnow())
    return render_page("doctors/detail.html", block="booking", doctor=found, picker=picker)
