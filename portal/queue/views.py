"""Queue pages: the doctor's queue, the waiting-room display, and a patient's place.

Endpoints (blueprint `queue`, under /queue):
  index        GET   /queue                        doctors: their own queue; the desk: today's
  doctor_queue GET   /<doctor_id>                  now serving, the waiting list, the actions
  call_next    POST  /<doctor_id>/call-next        the next person in the queue's order
  done         POST  /tokens/<token_id>/done       the consultation is over
  not_here     POST  /tokens/<token_id>/not-here   a waiting person did not answer
  running_late POST  /<doctor_id>/running-late     tell everyone still to be seen
  display      GET   /<doctor_id>/display          the waiting room's screen: no login, token
                                                   numbers only, never a name
  place        GET   /appointment/<id>/place       "You are 3rd in line; about 20 minutes"

The doctor runs their own queue; the desk and admins any (the service's `queue_for`: another
doctor's id is 404). The lists refresh by HTMX polling; the actions also work as plain forms.
"""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal.appointments import service as appointments
from portal.appointments.models import AppointmentStatus
from portal.clock import utcnow
from portal.desk import service as desk
from portal.doctors import service as doctors
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.queue import service
from portal.queue.forms import RunningLateForm
from portal.queue.models import TokenStatus
from portal.roles import Role
from portal.security import login_required, roles_required
from portal.web import apply_errors, render_page

bp = Blueprint("queue", __name__, url_prefix="/queue")

runs_queue = roles_required(Role.DOCTOR, Role.STAFF, Role.ADMIN)

QUEUE_CHANGED = "desk-changed"  # HX-Trigger after an action: the lists refresh at once
STOP_POLLING = 286  # htmx stops polling an element that gets this status
FINISHED = {TokenStatus.DONE, TokenStatus.NO_SHOW, TokenStatus.LEFT}
OVER = {AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED,
        AppointmentStatus.EXPIRED}


def _is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


# --- words ---------------------------------------------------------------------------------------


@bp.app_template_filter("ordinal")
def ordinal(n: int) -> str:
    """2nd, 3rd, 4th, 11th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@bp.app_template_filter("wait_words")
def wait_words(minutes: int) -> str:
    """'about 20 minutes', 'about 1 hour 5 minutes', 'any moment now'."""
    if minutes <= 0:
        return "any moment now"
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'' if hours == 1 else 's'}")
    if rest:
        parts.append(f"{rest} minute{'' if rest == 1 else 's'}")
    return "about " + " ".join(parts)


# --- the doctor's queue --------------------------------------------------------------------------


@bp.get("")
@runs_queue
def index():
    """A doctor goes to their own queue; the desk and admins get today's doctors on duty."""
    if current_user.role == Role.DOCTOR:
        doctor = doctors.doctor_for_user(current_user)
        if doctor is None:
            abort(404)
        return redirect(url_for(".doctor_queue", doctor_id=doctor.id))
    zone = current_app.config["DEFAULT_TIMEZONE"]
    today = utcnow().astimezone(ZoneInfo(zone)).date()
    columns = desk.day_board(current_user, today, zone)
    return render_template("queue/index.html", columns=columns, today=today)


@bp.get("/<uuid:doctor_id>")
@runs_queue
def doctor_queue(doctor_id: uuid.UUID, form: RunningLateForm | None = None, status: int = 200):
    """Now serving, the waiting list in the order of calling with each wait, and the actions.
    HTMX polls the list (the running-late form sits outside it, so typing is not lost)."""
    now = utcnow()
    queue = service.view_for(current_user, doctor_id, now)
    return render_page("queue/queue.html", block="waiting", queue=queue, now=now,
                       form=form or RunningLateForm(),
                       tz=queue.doctor.timezone), status


def _acted(message: str, doctor_id: uuid.UUID):
    """HTMX: the message for the page's message area, and the event that refreshes the list;
    a browser: back to the queue with the message."""
    if _is_htmx():
        return (render_template("desk/_flash.html", message=message, category="success"), 200,
                {"HX-Trigger": QUEUE_CHANGED})
    flash(message, "success")
    return redirect(url_for(".doctor_queue", doctor_id=doctor_id), 303)


def _refused(exc: DomainError, doctor_id: uuid.UUID | None):
    """A refused action (nobody waiting, someone still with the doctor): HTMX shows it in the
    message area (the app's error handler), a browser on the queue page."""
    if _is_htmx() or isinstance(exc, NotFound):
        raise exc
    flash(exc.message, "error")
    back = (url_for(".doctor_queue", doctor_id=doctor_id) if doctor_id is not None
            else url_for(".index"))
    return redirect(back, 303)


@bp.post("/<uuid:doctor_id>/call-next")
@runs_queue
def call_next(doctor_id: uuid.UUID):
    """Take the next person in the queue's order in to the doctor."""
    try:
        token = service.call_next(current_user, doctor_id)
    except DomainError as exc:
        return _refused(exc, doctor_id)
    return _acted(f"Token {token.number} ({token.name}) called in.", doctor_id)


@bp.post("/tokens/<uuid:token_id>/done")
@runs_queue
def done(token_id: uuid.UUID):
    """The consultation is over (a booked appointment is completed)."""
    try:
        token = service.finish(current_user, token_id)
    except DomainError as exc:
        return _refused(exc, _uuid_form("doctor_id"))
    return _acted(f"Token {token.number} ({token.name}) is done.", token.doctor_id)


@bp.post("/tokens/<uuid:token_id>/not-here")
@runs_queue
def not_here(token_id: uuid.UUID):
    """A waiting person did not answer when called, or went home."""
    try:
        token = service.mark_not_here(current_user, token_id)
    except DomainError as exc:
        return _refused(exc, _uuid_form("doctor_id"))
    return _acted(f"Token {token.number} ({token.name}) marked as not here.", token.doctor_id)


def _uuid_form(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.form.get(name) or "")
    except ValueError:
        return None


@bp.post("/<uuid:doctor_id>/running-late")
@runs_queue
def running_late(doctor_id: uuid.UUID):
    """Announce a delay of N minutes today: everyone still waiting or booked later today is
    told, and the waits shift until the doctor next calls someone."""
    form = RunningLateForm()
    if form.validate():
        try:
            delay, told = service.announce_delay(current_user, doctor_id, form.minutes.data,
                                                 form.note.data or "")
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            people = f"{len(told)} patient{'' if len(told) == 1 else 's'}"
            what = (f"running {delay.minutes} minutes late" if delay.minutes
                    else "back on time")
            flash(f"Told {people} that the doctor is {what}.", "success")
            return redirect(url_for(".doctor_queue", doctor_id=doctor_id), 303)
    return doctor_queue(doctor_id, form=form, status=422)


# --- the waiting room's screen -------------------------------------------------------------------


@bp.get("/<uuid:doctor_id>/display")
def display(doctor_id: uuid.UUID):
    """The TV in the waiting room (no login): now serving and the next tokens, numbers only,
    never a name. HTMX polls it; without JavaScript the page reloads itself every 30 s."""
    queue = service.display(doctor_id)
    return render_page("queue/display.html", block="screen", queue=queue,
                       upcoming=[p.token.number for p in queue.waiting[:6]],
                       updated=utcnow(), tz=queue.doctor.timezone)


# --- a patient's place ---------------------------------------------------------------------------


@bp.get("/appointment/<uuid:appointment_id>/place")
@login_required
def place(appointment_id: uuid.UUID):
    """The appointment's place in today's queue: for the patient "You are 3rd in line; about
    20 minutes", for the desk also its actions. The appointment page loads and polls this
    fragment (HTMX stops polling once the visit is over); without JavaScript it is a page."""
    queue, where, token = service.place_for_appointment(current_user, appointment_id)
    appointment = appointments.get_visible(current_user, appointment_id)
    status = appointments.effective_status(appointment)
    token_status = service.live_status(token) if token is not None else None
    over = status in OVER or token_status in FINISHED
    context = {"appointment": appointment, "status": status, "queue": queue, "place": where,
               "token": token, "token_status": token_status, "over": over,
               "is_owner": appointment.patient_id == current_user.id,
               "is_desk": current_user.role in (Role.STAFF, Role.ADMIN),
               "today": service.local_day(appointment.doctor, utcnow()) == service.local_day(
                   appointment.doctor, appointment.start_at)}
    if _is_htmx():
        return render_template("queue/_place.html", **context), STOP_POLLING if over else 200
    return render_template("queue/place.html", **context)
