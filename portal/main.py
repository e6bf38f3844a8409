"""The home page and each role's landing page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from portal.doctors import service as doctors
from portal.security import doctor_required
from portal.web import home_for

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """Landing page for visitors; signed-in users go to their own home."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("main/index.html", specialties=doctors.specialties())


@bp.get("/dashboard")
@doctor_required
def dashboard():
    """The doctor's home: their profile as patients see it."""
    doctor = doctors.doctor_for_user(current_user)
    if doctor is None:
        return redirect(url_for("main.index"))
    return render_template("main/dashboard.html", doctor=doctor)
