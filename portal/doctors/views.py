"""The public directory and doctor pages."""

from __future__ import annotations

import uuid

from flask import Blueprint, request

from portal.doctors import service
from portal.web import render_page

bp = Blueprint("doctors", __name__, url_prefix="/doctors")


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 100_000))
    except ValueError:
        return 1


@bp.get("/")
def directory():
    """Search and filter doctors; HTMX swaps only the results, the URL stays shareable."""
    specialty = request.args.get("specialty", "").strip()[:80] or None
    query = request.args.get("q", "").strip()[:100] or None
    page = service.search_doctors(specialty, query, _page_number())
    return render_page("doctors/directory.html", block="results", page=page,
                       specialties=service.specialties(), specialty=specialty, query=query)


@bp.get("/<uuid:doctor_id>")
def detail(doctor_id: uuid.UUID):
    """A doctor's public page."""
    return render_page("doctors/detail.html", doctor=service.get_doctor(doctor_id))
