"""Booking pages for patients and doctors (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("appointments", __name__, url_prefix="/appointments")
