"""Booking pages: holding a slot, the appointment page, My appointments, cancelling,
rescheduling, and the doctor's list of appointments.

Endpoints (blueprint `appointments`, under /appointments):
  reserve      POST /reserve                   the doctor page's slot picker posts here
  index        GET  /                          My appointments (patients), ?scope=upcoming|past
  practice     GET  /practice                  the doctor's today and upcoming appointments
  detail       GET  /<id>                      the appointment page (hold, confirmation, history)
  visit_for    POST /<id>/visit-for            whom it is for: the account holder or a family member
  status       GET  /<id>/status               the hold's countdown, polled by HTMX
  ics          GET  /<id>.ics                  an iCalendar file
  confirm      POST /<id>/confirm              free consultations only (paid ones go via payments)
  cancel       GET, POST /<id>/cancel          the refund quote, then the cancellation
  reschedule   GET, POST /<id>/reschedule      a picker of the doctor's free times
  complete     POST /<id>/complete             doctors, once the appointment has started
  no_show      POST /<id>/no-show              doctors, once the appointment has started

Every page is for the patient, the doctor or an admin: anyone else gets 404 (the service's
`get_visible`), so ids cannot be probed. Each HTMX interaction also works as a plain link or
form: HTMX gets a fragment, a browser without JavaScript a page or a redirect with a message.
Times are shown in the viewer's zone (the doctor's zone for the doctor), always named.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import video
from portal.appointments import picker, service
from portal.appointments.forms import (
    DoctorCancelForm,
    PatientCancelForm,
    ReasonForm,
    RescheduleForm,
    ReserveForm,
    VisitForForm,
)
from portal.appointments.ics import calendar_for
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import Role
from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.doctors.models import ConsultationType
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.family import service as family
from portal.family.models import Dependent
from portal.formatting import format_money, localtime
from portal.security import doctor_required, login_required, patient_required, roles_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("appointments", __name__, url_prefix="/appointments")

# The clinic's side: the doctor, the front desk and admins record outcomes.
staff_required = roles_required(Role.DOCTOR, Role.STAFF, Role.ADMIN)

S = AppointmentStatus
RESCHEDULE_DAYS = 14
PER_PAGE = 10
TIME_FMT = "%a %d %b %Y, %H:%M"


# --- template helpers ----------------------------------------------------------------------------


@bp.app_template_global()
def new_idempotency_key() -> str:
    """A fresh key for a booking form: submitting the same form twice returns the same hold."""
    return str(uuid.uuid4())


@bp.app_template_filter("doctor_title")
def doctor_title(name: str) -> str:
    """'Dr. Asha Mehta' stays as it is; 'Asha Mehta' becomes 'Dr Asha Mehta'."""
    return name if name.lower().startswith(("dr ", "dr.")) else f"Dr {name}"


# --- small helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """An appointment as a list shows it: its status as the patient or doctor should read it."""

    appointment: Appointment
    status: AppointmentStatus
    started: bool
    error: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    label: str
    by: str
    note: str = ""


def _row(appointment: Appointment, now: datetime, error: str = "") -> Row:
    return Row(appointment, service.effective_status(appointment, now),
               appointment.start_at <= now, error)


def _zone(appointment: Appointment | None = None) -> str:
    """The viewer's zone: a doctor's own practice zone, everyone else their account's zone."""
    if current_user.role == Role.DOCTOR and appointment is not None:
        return appointment.doctor.timezone
    if current_user.role == Role.DOCTOR:
        doctor = doctors.doctor_for_user(current_user)
        if doctor is not None:
            return doctor.timezone
    return current_user.timezone



def _is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def _htmx_redirect(url: str):
    """HTMX follows HX-Redirect with a full page load; browsers follow the 303."""
    if _is_htmx():
        return "", 200, {"HX-Redirect": url}
    return redirect(url, 303)


def _parse_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        return None


def _is_owner(appointment: Appointment) -> bool:
    return appointment.patient_id == current_user.id


def _is_staff() -> bool:
    return service.is_clinic_side(current_user)


def _history(appointment: Appointment) -> list[HistoryEntry]:
    """The status history in words: what happened, when, and who did it."""
    entries = []
    for row in service.history(appointment):
        if row.changed_by_id is None:
            by = "automatically"
        elif row.changed_by_id == current_user.id:
            by = "by you"
        elif row.changed_by_id == appointment.patient_id:
            by = "by the patient"
        elif row.changed_by_id == appointment.doctor.user_id:
            by = "by the doctor"
        else:
            by = "by the clinic"
        to_status = row.to_status
        label, note = to_status.label, ""
        if row.from_status == row.to_status == S.CONFIRMED:
            label = "Rescheduled"
            note = (f"from {localtime(row.old_start_at, _zone(), TIME_FMT)}"
                    if row.old_start_at else "")
        elif to_status == S.EXPIRED:
            label = "Hold expired"
        elif to_status == S.CANCELLED or (to_status == S.CONFIRMED
                                          and row.reason != "confirmed"):
            note = row.reason
        entries.append(HistoryEntry(row.created_at, label, by, note))
    return entries


# --- holding a slot ------------------------------------------------------------------------------


@bp.post("/reserve")
@patient_required
def reserve():
    """Hold the chosen slot and open its page; a taken, held or past slot, or too many holds,
    sends the patient back to the doctor's page with the reason (HTMX: the reason in place
    of the slot)."""
    form = ReserveForm()
    back = _doctor_page(form)
    if not form.validate_on_submit():
        return _reserve_failed(" ".join(form.for_dependent_id.errors)
                               or "Choose a time from the list.", back, 422)
    slot_id = uuid.UUID(form.slot_id.data)
    key = (form.idempotency_key.data or "").strip() or None
    try:
        appointment = service.reserve(current_user, slot_id, idempotency_key=key,
                                      for_dependent_id=_parse_uuid(form.for_dependent_id.data))
    except NotFound as exc:
        return _reserve_failed(exc.message, back, exc.status)
    except DomainError as exc:
        return _reserve_failed(exc.message, back, exc.status,
                               too_many=isinstance(exc, service.TooManyHolds))
    return _htmx_redirect(url_for(".detail", appointment_id=appointment.id))


def _doctor_page(form: ReserveForm) -> str:
    doctor_id = _parse_uuid(form.doctor_id.data)
    if doctor_id is None:
        return url_for("doctors.directory")
    try:
        day = date.fromisoformat(form.day.data or "").isoformat()
    except ValueError:
        day = None
    return url_for("booking.doctor", doctor_id=doctor_id, day=day)


def _reserve_failed(message: str, back: str, status: int, too_many: bool = False):
    if _is_htmx():
        return render_template("appointments/_reserve_error.html", message=message, back=back,
                               too_many=too_many), status
    flash(message, "error")
    return redirect(back, 303)


# --- the appointment page ------------------------------------------------------------------------


@bp.get("/<uuid:appointment_id>")
@login_required
def detail(appointment_id: uuid.UUID):
    """The appointment: a held one counts down and offers the next step; a confirmed one
    has its details, calendar file, cancel and reschedule; every one its history."""
    appointment = service.get_visible(current_user, appointment_id)
    now = utcnow()
    status = service.effective_status(appointment, now)
    started = appointment.start_at <= now
    is_owner = _is_owner(appointment)
    visit_for_form = None
    if is_owner and current_user.role == Role.PATIENT and not started and \
            status in (S.RESERVED, S.CONFIRMED):
        visit_for_form = _visit_for_form(appointment, family.dependents_of(current_user))
    return render_template(
        "appointments/detail.html", appointment=appointment, status=status, tz=_zone(appointment),
        now=now, is_owner=is_owner, is_staff=_is_staff(),
        remaining=service.hold_seconds_left(appointment, now),
        started=started,
        can_reschedule=service.why_not_reschedulable(appointment, now) is None,
        reschedule_cutoff=current_app.config["RESCHEDULE_CUTOFF_HOURS"],
        history=_history(appointment),
        reason_form=ReasonForm(reason=appointment.reason_for_visit),
        visit_for_form=visit_for_form, show_queue=_shows_queue(appointment, status, now),
        video=_video_state(appointment, now), is_doctor=_is_appointments_doctor(appointment))


@dataclass(frozen=True)
class VideoState:
    state: str  # before, open, ended
    opens: datetime
    closes: datetime


def _video_state(appointment: Appointment, now: datetime) -> VideoState | None:
    if not appointment.video_room_url:
        return None
    window = video.join_window(appointment)
    state = "before" if now < window.opens else "open" if window.contains(now) else "ended"
    return VideoState(state, window.opens, window.closes)


def _is_appointments_doctor(appointment: Appointment) -> bool:
    return current_user.role == Role.DOCTOR and appointment.doctor.user_id == current_user.id


@bp.get("/<uuid:appointment_id>/video")
@login_required
def video_panel(appointment_id: uuid.UUID):
    """The video section: HTMX polls it until the call opens, so "Join" appears in place."""
    appointment = service.get_visible(current_user, appointment_id)
    if not (_is_owner(appointment) or _is_appointments_doctor(appointment)) or \
            not appointment.video_room_url:
        raise NotFound("No such video call.")
    if not _is_htmx():
        return redirect(url_for(".detail", appointment_id=appointment.id))
    return render_template("appointments/_video.html", appointment=appointment,
                           tz=_zone(appointment), video=_video_state(appointment, utcnow()))


@bp.get("/<uuid:appointment_id>/video/join")
@login_required
def video_join(appointment_id: uuid.UUID):
    """Mint a token for the doctor or the patient and go to the room (inside the window)."""
    appointment = service.get_visible(current_user, appointment_id)
    try:
        link = video.join_link(current_user, appointment)
    except (video.NotJoinableYet, video.JoinClosed) as exc:
        flash(exc.message, "error")
        return redirect(url_for(".detail", appointment_id=appointment.id), 303)
    response = redirect(link.url, 303)
    response.headers["Cache-Control"] = "no-store"  # the token is personal and short-lived
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _visit_for_form(appointment: Appointment, members: list[Dependent]) -> VisitForForm:
    """The "Who is this appointment for?" select: "Myself (Pat Kumar)", then each family
    member as "Mira (child, 6)" (their age on the day of the appointment)."""
    day = appointment.start_at.astimezone(ZoneInfo(appointment.doctor.timezone)).date()
    form = VisitForForm(formdata=None, for_dependent_id=str(appointment.for_dependent_id or ""))
    form.for_dependent_id.choices = [SelectChoice("", f"Myself ({appointment.patient.name})")] + [
        SelectChoice(str(m.id),
                     f"{m.name} ({m.relation.label.lower()}, {m.age_on(day) or 'under 1'})")
        for m in members]
    return form


@bp.post("/<uuid:appointment_id>/visit-for")
@patient_required
def visit_for(appointment_id: uuid.UUID):
    """Say whom the appointment is for (yourself or a family member), while it is held or
    confirmed and before it starts; the doctor sees their name and age."""
    form = VisitForForm()
    here = url_for(".detail", appointment_id=appointment_id)
    if not form.validate():
        flash(" ".join(form.for_dependent_id.errors) or "Choose who the appointment is for.",
              "error")
        return redirect(here, 303)
    try:
        appointment = service.set_visit_for(current_user, appointment_id,
                                            _parse_uuid(form.for_dependent_id.data))
    except NotFound as exc:
        if exc.field != "for_dependent_id":
            raise
        flash(exc.message, "error")
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(f"This appointment is for {appointment.visit_for_name}.", "success")
    return redirect(here, 303)


def _shows_queue(appointment: Appointment, status: AppointmentStatus, now: datetime) -> bool:
    """Whether the page loads the queue panel (queue.place): on the day of the visit while it
    is on (the patient's place, "You are 3rd in line"), and for the desk also while a hold
    waits for its payment or a booking for its check-in."""
    if current_user.role in (Role.STAFF, Role.ADMIN) and status in (S.RESERVED, S.CONFIRMED):
        return True
    zone = ZoneInfo(appointment.doctor.timezone)
    return status in (S.CONFIRMED, S.ARRIVED, S.IN_CONSULTATION) and (
        appointment.start_at.astimezone(zone).date() == now.astimezone(zone).date())


@bp.post("/<uuid:appointment_id>/reason")
@patient_required
def reason(appointment_id: uuid.UUID):
    """Save the reason for the visit (the doctor reads it before the consultation)."""
    form = ReasonForm()
    if not form.validate():
        flash(" ".join(form.reason.errors) or "Check the reason.", "error")
    else:
        try:
            service.set_reason(current_user, appointment_id, form.reason.data or "")
        except service.TransitionNotAllowed as exc:
            flash(exc.message, "error")
        else:
            flash("Your reason for the visit is saved; your doctor will see it.", "success")
    return redirect(url_for(".detail", appointment_id=appointment_id))


@bp.get("/<uuid:appointment_id>/status")
@login_required
def status(appointment_id: uuid.UUID):
    """The hold's countdown, refreshed from the server's clock. Once the appointment is no
    longer held (lapsed, confirmed, released), HTMX reloads the whole page."""
    appointment = service.get_visible(current_user, appointment_id)
    now = utcnow()
    here = url_for(".detail", appointment_id=appointment.id)
    if service.effective_status(appointment, now) != S.RESERVED or not _is_owner(appointment):
        if _is_htmx():
            return "", 200, {"HX-Refresh": "true"}
        return redirect(here)
    if not _is_htmx():
        return redirect(here)
    return render_template("appointments/_hold_status.html", appointment=appointment,
                           tz=_zone(appointment),
                           remaining=service.hold_seconds_left(appointment, now))


@bp.get("/<uuid:appointment_id>.ics")
@login_required
def ics(appointment_id: uuid.UUID):
    """The appointment as an iCalendar event (times in UTC), for the patient's calendar app."""
    appointment = service.get_visible(current_user, appointment_id)
    page = url_for(".detail", appointment_id=appointment.id, _external=True)
    body = calendar_for(appointment, page, domain=request.host.split(":")[0])
    response = make_response(body)
    response.mimetype = "text/calendar"
    response.charset = "utf-8"
    filename = f"appointment-{appointment.start_at:%Y%m%d-%H%M}.ics"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.post("/<uuid:appointment_id>/confirm")
@login_required
def confirm(appointment_id: uuid.UUID):
    """Confirm a held free consultation. Paid ones are confirmed by the payment step."""
    here = url_for(".detail", appointment_id=appointment_id)
    try:
        service.confirm_free(current_user, appointment_id)
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(here, 303)
    flash("Your booking is confirmed.", "success")
    return redirect(here, 303)


# --- My appointments -----------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    """The patient's upcoming (soonest first) or past appointments; HTMX swaps the list."""
    if current_user.role == Role.DOCTOR:
        return redirect(url_for(".practice"))
    if current_user.role != Role.PATIENT:
        abort(403)
    scope = "past" if request.args.get("scope") == "past" else "upcoming"
    now = utcnow()
    page = service.patient_appointments(current_user.id, upcoming=scope == "upcoming",
                                        now=now, page=page_number(), per_page=PER_PAGE)
    return render_page("appointments/index.html", block="list", page=page, scope=scope,
                       rows=[_row(a, now) for a in page.items], tz=current_user.timezone)


# --- cancelling ----------------------------------------------------------------------------------


@bp.route("/<uuid:appointment_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(appointment_id: uuid.UUID):
    """GET: what cancelling now would refund, and the form. POST: cancel.

    Patients are refunded by the policy (a hold simply ends); a doctor or an admin gives
    a reason and the patient is refunded in full.
    """
    appointment = service.get_visible(current_user, appointment_id)
    staff = _is_staff()
    form = DoctorCancelForm() if staff else PatientCancelForm()
    from_practice = staff and (form.return_to.data == "practice")
    here = url_for(".detail", appointment_id=appointment.id)
    status_code = 200
    if form.is_submitted():
        if form.validate():
            try:
                cancelled = service.cancel(current_user, appointment.id, form.reason.data or "")
            except NotFound:
                raise
            except ValidationFailed as exc:
                apply_errors(form, exc)
            except DomainError as exc:
                form.form_errors.append(exc.message)
            else:
                if from_practice and _is_htmx():
                    return _practice_row(cancelled)
                flash(_cancelled_message(cancelled, staff), "success")
                return redirect(url_for(".practice") if from_practice else here, 303)
        status_code = 422 if any(f.errors for f in form) else 409
        if from_practice and _is_htmx():
            errors = [*form.form_errors, *(e for f in form for e in f.errors)]
            return _practice_row(appointment, " ".join(errors)), status_code
    now = utcnow()
    quote = service.cancellation_quote(appointment, now, clinic_side=staff)
    return render_template(
        "appointments/cancel.html", appointment=appointment,
        status=service.effective_status(appointment, now), form=form, staff=staff,
        quote=quote, quote_until=quote.until,
        blocked=service.why_not_cancellable(appointment, staff, now) or "",
        tz=_zone(appointment)), status_code


def _cancelled_message(appointment: Appointment, staff: bool) -> str:
    refund = appointment.refund_paise or 0
    money = format_money(refund, appointment.currency)
    if staff:
        return (f"Appointment cancelled. The patient is refunded {money} in full."
                if refund else "Appointment cancelled. The patient has been told.")
    if appointment.confirmed_at is None:
        return "The hold is released; the time is free for others."
    if refund:
        return (f"Your appointment is cancelled. {money} will be refunded to the way you "
                "paid, usually within 5–7 working days.")
    return "Your appointment is cancelled."


# --- rescheduling --------------------------------------------------------------------------------


@bp.route("/<uuid:appointment_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(appointment_id: uuid.UUID):
    """A picker of the doctor's free times of the same kind for the next two weeks; POST moves
    the appointment. HTMX gets the picker in a <dialog>, browsers a page of its own."""
    appointment = service.get_visible(current_user, appointment_id)
    tz = _zone(appointment)
    form = RescheduleForm()
    here = url_for(".detail", appointment_id=appointment.id)
    status_code = 200
    if form.is_submitted():
        if form.validate():
            try:
                moved = service.reschedule(current_user, appointment.id,
                                           uuid.UUID(form.slot_id.data))
            except NotFound as exc:
                if exc.field != "slot_id":
                    raise
                form.slot_id.errors = [exc.message]
            except DomainError as exc:
                form.form_errors.append(exc.message)
            else:
                flash(f"Moved to {localtime(moved.start_at, tz, TIME_FMT)} ({tz}).", "success")
                return _htmx_redirect(here)
        status_code = 409 if form.form_errors else 422
    now = utcnow()
    blocked = service.why_not_reschedulable(appointment, now) or ""
    days = [] if blocked else picker.free_days(appointment.doctor, appointment.consultation_type,
                                               tz, now, RESCHEDULE_DAYS)
    context = {"appointment": appointment, "form": form, "days": days, "tz": tz,
               "blocked": blocked, "kind": ConsultationType(appointment.consultation_type)}
    if _is_htmx():
        fragment = "_reschedule_panel.html" if request.method == "POST" else (
            "_reschedule_dialog.html")
        return render_template(f"appointments/{fragment}", **context), status_code
    return render_template("appointments/reschedule.html", **context), status_code


# --- the doctor's appointments -------------------------------------------------------------------


@bp.get("/practice")
@doctor_required
def practice():
    """The logged-in doctor's appointments today (any outcome) and upcoming, with the patient's
    details and reason for the visit, in the doctor's zone. HTMX pages the upcoming list."""
    doctor = doctors.doctor_for_user(current_user)
    if doctor is None:
        abort(404)
    zone = ZoneInfo(doctor.timezone)
    now = utcnow()
    today = now.astimezone(zone).date()
    day_start = datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)
    day_end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    todays = service.doctor_appointments(doctor.id, start=day_start, end=day_end, now=now,
                                         reader=current_user,
                                         per_page=100).items
    upcoming = service.doctor_appointments(doctor.id, upcoming=True, start=day_end, now=now,
                                           reader=current_user,
                                           page=page_number(), per_page=20)
    return render_page(
        "appointments/practice.html", block="upcoming", doctor=doctor, tz=doctor.timezone,
        today=today, today_rows=[_row(a, now) for a in reversed(todays)], upcoming=upcoming,
        upcoming_rows=[_row(a, now) for a in upcoming.items])


def _practice_row(appointment: Appointment, error: str = ""):
    return render_template("appointments/_practice_row.html",
                           row=_row(appointment, utcnow(), error), tz=_zone(appointment))


def _outcome(appointment_id: uuid.UUID, action, done: str):
    """Mark completed / no-show: HTMX from the list gets the row back, browsers a redirect."""
    from_practice = request.form.get("return_to") == "practice"
    back = (url_for(".practice") if from_practice
            else url_for(".detail", appointment_id=appointment_id))
    try:
        appointment = action(current_user, appointment_id)
    except NotFound:
        raise
    except DomainError as exc:
        if _is_htmx() and from_practice:
            appointment = service.get_visible(current_user, appointment_id)
            return _practice_row(appointment, exc.message), exc.status
        flash(exc.message, "error")
        return redirect(back, 303)
    if _is_htmx() and from_practice:
        return _practice_row(appointment)
    flash(f"Appointment with {appointment.visit_for_name} {done}.", "success")
    return redirect(back, 303)


@bp.post("/<uuid:appointment_id>/complete")
@staff_required
def complete(appointment_id: uuid.UUID):
    """The doctor saw the patient (allowed once the appointment has started)."""
    return _outcome(appointment_id, service.mark_completed, "marked completed")


@bp.post("/<uuid:appointment_id>/no-show")
@staff_required
def no_show(appointment_id: uuid.UUID):
    """The patient did not come (allowed once the appointment has started)."""
    return _outcome(appointment_id, service.mark_no_show, "marked as a no-show")
