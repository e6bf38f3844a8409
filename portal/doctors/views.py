"""The public directory of doctors (each doctor's own page is a booking page:
`portal.appointments.booking`)."""

from __future__ import annotations

from flask import Blueprint, request

from portal.doctors import service
from portal.web import page_number, render_page

bp = Blueprint("doctors", __name__, url_prefix="/doctors")


@bp.get("/")
def directory():
    """Search and filter doctors; HTMX swaps only the results, the URL stays shareable."""
    specialty = request.args.get("specialty", "").strip()[:80] or None
    query = request.args.get("q", "").strip()[:100] or None
    page = service.search_doctors(specialty, query, page_number())
    return render_page("doctors/directory.html", block="results", page=page,
                       specialties=service.specialties(), specialty=specialty, query=query)
