"""Waitlist pages: joining a doctor's waitlist, My waitlists, and the one-tap offer page.

Endpoints (blueprint `waitlist`, under /waitlist), for patients only:
  index    GET       /                          My waitlists: entries with "Leave", open offers
  join     GET, POST /join?doctor=<doctor_id>   dates, times of day, consultation type, whom for
  leave    POST      /<entry_id>/leave          leave one waitlist (its open offers are withdrawn)
  offer    GET       /offers/<offer_id>         the page the WAITLIST_OFFER notification links
                                                to: the time, the doctor, a countdown, "Take it"
  take     POST      /offers/<offer_id>/take    take the offer: a normal hold, then its page

Another patient's entry or offer is 404 (the service's `get_own_entry` / `get_own_offer`), so
ids cannot be probed; doctors and admins are refused (403), visitors sent to log in. A GET
never takes or changes an offer: only the POST claims it. Every form is a plain form (a POST
redirects with a message, or shows the errors: 422 for the join form's fields, 409 for an
offer that has gone); HTMX only swaps the lists after "Leave" and refreshes the offer's state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from portal.availability.service import local_today
from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.doctors.models import Doctor
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.family import service as family
from portal.family.models import Dependent
from portal.security import patient_required
from portal.waitlist import service
from portal.waitlist.forms import PART_HINTS, JoinForm
from portal.waitlist.models import EntryStatus, OfferStatus, WaitlistEntry, WaitlistOffer
from portal.web import apply_errors, render_page

bp = Blueprint("waitlist", __name__, url_prefix="/waitlist")

GONE_MESSAGE = "Someone else took this time just before you."
STILL_WAITING = "You are still on the waitlist."


@dataclass(frozen=True)
class EntryRow:
    """One entry of My waitlists, with the names it shows."""

    entry: WaitlistEntry
    doctor: Doctor
    dependent: Dependent | None

    @property
    def parts_label(self) -> str:
        return ", ".join(p.label for p in self.entry.parts) or "Any time of day"

    @property
    def kind_label(self) -> str:
        kinds = {k.value: k.label for k in self.doctor.consultation_types}
        kind = self.entry.consultation_type
        return kinds.get(kind, kind) if kind else "Either"


@dataclass(frozen=True)
class OfferView:
    """An offer as its page shows it: the state decides the message and the button."""

    offer: WaitlistOffer
    doctor: Doctor
    dependent: Dependent | None
    state: str  # open, taken, gone, lapsed, withdrawn
    seconds_left: int

    @property
    def still_waiting(self) -> bool:
        return self.offer.entry.status == EntryStatus.ACTIVE


def _doctor(doctor_id: uuid.UUID) -> Doctor:
    return doctors.get_doctor(doctor_id, include_inactive=True)


def _members() -> dict[uuid.UUID, Dependent]:
    return {m.id: m for m in family.dependents_of(current_user)}


def _offer_view(offer: WaitlistOffer, now: datetime,
                members: dict[uuid.UUID, Dependent] | None = None) -> OfferView:
    """The offer's state as of `now`: an offer past its end counts as lapsed even before the
    sweeper writes so (this page only reads)."""
    left = int((offer.expires_at - now).total_seconds())
    state = {OfferStatus.TAKEN: "taken", OfferStatus.GONE: "gone",
             OfferStatus.LAPSED: "lapsed", OfferStatus.WITHDRAWN: "withdrawn"}.get(
        offer.status, "open" if left > 0 else "lapsed")
    whom = offer.entry.for_dependent_id
    dependent = (_members() if members is None else members).get(whom) if whom else None
    return OfferView(offer, _doctor(offer.doctor_id), dependent, state, max(0, left))


def _index_context(now: datetime) -> dict:
    members = _members()
    rows = [EntryRow(e, _doctor(e.doctor_id), members.get(e.for_dependent_id))
            for e in service.entries_of(current_user, now)]
    offers = [_offer_view(o, now, members) for o in service.open_offers_of(current_user, now)]
    return {"rows": rows, "offers": offers, "tz": current_user.timezone}


# --- pages ---------------------------------------------------------------------------------------


@bp.get("")
@patient_required
def index():
    """My waitlists: what I wait for (doctor, dates, times, for whom) and the open offers."""
    return render_page("waitlist/index.html", block="lists", **_index_context(utcnow()))


@bp.route("/join", methods=["GET", "POST"])
@patient_required
def join():
    """The join form for the doctor named by ?doctor=<id> (404 for a missing or unknown
    one): the next week by default; the service's field errors come back with 422."""
    try:
        doctor_id = uuid.UUID(request.args.get("doctor", ""))
    except ValueError:
        raise NotFound("No such doctor.") from None
    doctor = doctors.get_doctor(doctor_id)
    today = local_today(doctor)
    form = JoinForm.for_doctor(doctor, family.dependents_of(current_user), today)
    status = 200
    if form.validate_on_submit():
        try:
            entry = service.join(current_user, form.entry_input(doctor))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except DomainError as exc:  # too many waitlists: say so above the form
            form.form_errors.append(exc.message)
            status = exc.status
        else:
            flash(f"You are on {doctor.name}'s waitlist from {entry.date_from:%d %b} to "
                  f"{entry.date_to:%d %b}. When a matching time comes free, we will offer it "
                  "to you.", "success")
            return redirect(url_for(".index"), 303)
    if form.is_submitted() and status == 200 and (form.errors or form.form_errors):
        status = 422
    return render_template("waitlist/join.html", form=form, doctor=doctor, today=today,
                           part_hints=PART_HINTS), status


@bp.post("/<uuid:entry_id>/leave")
@patient_required
def leave(entry_id: uuid.UUID):
    """Leave a waitlist; HTMX gets the updated lists, a browser a redirect with a message."""
    entry = service.leave(current_user, entry_id)
    message = f"You have left {_doctor(entry.doctor_id).name}'s waitlist."
    if getattr(request, "htmx", False):
        return render_block("waitlist/index.html", "lists", message=message,
                            **_index_context(utcnow()))
    flash(message, "success")
    return redirect(url_for(".index"), 303)


@bp.get("/offers/<uuid:offer_id>")
@patient_required
def offer(offer_id: uuid.UUID):
    """The offer: its time in my zone, the doctor, the time left and "Take it"; or, once it
    has gone or lapsed, why, and the way back. Reads only: taking is the POST."""
    found = service.get_own_offer(current_user, offer_id)
    return render_page("waitlist/offer.html", block="offer",
                       view=_offer_view(found, utcnow()), tz=current_user.timezone)


@bp.post("/offers/<uuid:offer_id>/take")
@patient_required
def take(offer_id: uuid.UUID):
    """Take the offered time: a 5-minute hold like any other, then its page (which leads to
    payment for a paid consultation). Too late: the offer page with the reason, 409."""
    try:
        appointment = service.claim(current_user, offer_id)
    except NotFound:
        raise
    except DomainError as exc:
        view = _offer_view(service.get_own_offer(current_user, offer_id), utcnow())
        # Gone, lapsed or withdrawn: the page's own words for that state say why (clearer
        # than the service's catch-all); anything else (too many holds): the service's.
        error = exc.message if view.state in ("open", "taken") else None
        return render_template("waitlist/offer.html", view=view, tz=current_user.timezone,
                               error=error, refused=True), exc.status
    flash("The time is held for you for 5 minutes: complete the booking.", "success")
    return redirect(url_for("appointments.detail", appointment_id=appointment.id), 303)
