"""Doctor calendar and schedule pages (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("availability", __name__, url_prefix="/practice")
