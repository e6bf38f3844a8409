"""The admin's waitlist page: how many offers were made, taken, lapsed or gone, and how fast
patients take them, over the last 7, 30 and 90 days.

Endpoints (blueprint `admin_waitlist`, under /admin; admins only, others 403):
  conversion   GET /waitlist   one row per period, from `waitlist.service.conversion`
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, render_template

from portal.clock import utcnow
from portal.security import admin_required
from portal.waitlist import service

bp = Blueprint("admin_waitlist", __name__, url_prefix="/admin")

PERIODS = (7, 30, 90)  # days


@dataclass(frozen=True)
class Period:
    days: int
    figures: service.Conversion


def duration_label(seconds: float | None) -> str:
    """'—', '45 s', '3 min 20 s' or '2 h 5 min': the median time to take an offer."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@bp.get("/waitlist")
@admin_required
def conversion():
    """Waitlist conversion for the last 7, 30 and 90 days (offers by when they were made)."""
    now = utcnow()
    periods = [Period(days, service.conversion(now - timedelta(days=days), now))
               for days in PERIODS]
    return render_template("admin/waitlist.html", periods=periods,
                           duration_label=duration_label)
