"""Admin payment pages (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_payments", __name__, url_prefix="/admin")
