"""Doctor directory API."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app

from portal.api import operation, parse_query, respond
from portal.doctors import service
from portal.doctors.schemas import DirectoryQuery, DoctorList, DoctorOut

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
