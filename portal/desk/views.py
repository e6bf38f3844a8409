"""Front-desk pages: the day board, finding and booking for patients, walk-ins, check-in,
payments at the desk and the printed day list.

Endpoints (blueprint `desk`; staff and admins only):
  board        GET        /desk                       the day board (?date=, ?patient= to book)
  print_day    GET        /desk/print/<doctor_id>     one doctor's day list, for paper (?date=)
  patients     GET        /desk/patients              find a patient (?q=, ?page=, ?slot=)
  book         GET, POST  /desk/book                  book a slot (?slot=) for a patient
  walk_in      GET, POST  /desk/walk-in               someone without a booking joins a queue
  check_in     POST       /desk/appointments/<id>/check-in      the patient is here: a token
  payment      GET, POST  /desk/appointments/<id>/payment       the fee at the counter
  payment_link POST       /desk/appointments/<id>/payment-link  a Razorpay Payment Link

Times are in the clinic's zone (DEFAULT_TIMEZONE), named on every page. HTMX refreshes the
board's timeline every 10 seconds and after an action (the `desk-changed` event); without
JavaScript every action is a form that redirects back with a message.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal.appointments import service as appointments
from portal.appointments.models import AppointmentStatus
from portal.clock import utcnow
from portal.desk import service
from portal.desk.forms import (
    BookForNewPersonForm,
    BookForPatientForm,
    OfflinePaymentForm,
    PaymentLinkForm,
    WalkInForm,
)
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.family import service as family
from portal.formatting import format_money
from portal.payments import desk as desk_payments
from portal.payments import links as payment_links
from portal.payments import service as payments
from portal.payments.models import PAYMENT_RANK, OfflineMethod, PaymentStatus
from portal.queue import service as queue
from portal.roles import Role
from portal.security import roles_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("desk", __name__, url_prefix="/desk")

desk_required = roles_required(Role.STAFF, Role.ADMIN)

PER_PAGE = 20
DESK_CHANGED = "desk-changed"  # HX-Trigger after an action: the board and panels refresh


# --- small helpers -------------------------------------------------------------------------------


def clinic_zone() -> str:
    return current_app.config["DEFAULT_TIMEZONE"]


def clinic_today() -> date:
    return utcnow().astimezone(ZoneInfo(clinic_zone())).date()


def _day_arg() -> date:
    """?date=YYYY-MM-DD, or today in the clinic's zone (also for junk)."""
    try:
        return date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return clinic_today()


def _uuid_arg(name: str, source=None) -> uuid.UUID | None:
    try:
        return uuid.UUID((source or request.args).get(name) or "")
    except ValueError:
        return None


def doctor_title(name: str) -> str:
    """'Dr. Asha Mehta' stays; 'Asha Mehta' becomes 'Dr Asha Mehta' (as the templates' filter)."""
    return name if name.lower().startswith(("dr ", "dr.")) else f"Dr {name}"


def _is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def _done(message: str, back: str):
    """After an action: HTMX gets the message for the page's message area and the event that
    refreshes the board; a browser the message on the page it goes back to."""
    if _is_htmx():
        return (render_template("desk/_flash.html", message=message, category="success"), 200,
                {"HX-Trigger": DESK_CHANGED})
    flash(message, "success")
    return redirect(back, 303)


# --- the day board -------------------------------------------------------------------------------


@bp.get("")
@desk_required
def board():
    """Every doctor on duty on the day, their timeline and the desk's actions. HTMX polls the
    timeline block. `?patient=` (from the patient search) makes each free time's "Book" book
    for that patient."""
    day = _day_arg()
    patient = None
    patient_id = _uuid_arg("patient")
    if patient_id is not None:
        patient = service.get_patient(current_user, patient_id)
    now = utcnow()
    columns = service.day_board(current_user, day, clinic_zone(), now)
    return render_page("desk/board.html", block="timeline", columns=columns, day=day,
                       today=clinic_today(), tz=clinic_zone(), now=now, patient=patient,
                       prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1))


@bp.get("/print/<uuid:doctor_id>")
@desk_required
def print_day(doctor_id: uuid.UUID):
    """One doctor's day as a list for paper: times, names, phones, reasons, tokens, states."""
    day = _day_arg()
    column = service.doctor_day(current_user, doctor_id, day, clinic_zone())
    return render_template("desk/print.html", column=column, day=day, tz=clinic_zone(),
                           printed_at=utcnow())


# --- check-in ------------------------------------------------------------------------------------


@bp.post("/appointments/<uuid:appointment_id>/check-in")
@desk_required
def check_in(appointment_id: uuid.UUID):
    """The patient is at the counter: their appointment is checked in and gets the next token
    of the doctor's day. `back` names the page to return to (the board or the appointment)."""
    back = _back_to(appointment_id)
    try:
        token = queue.check_in(current_user, appointment_id)
    except NotFound:
        raise
    except DomainError as exc:
        if _is_htmx():
            raise
        flash(exc.message, "error")
        return redirect(back, 303)
    return _done(f"Checked in {token.name}: token {token.number}.", back)


def _back_to(appointment_id: uuid.UUID) -> str:
    if request.form.get("back") == "appointment":
        return url_for("appointments.detail", appointment_id=appointment_id)
    try:
        day = date.fromisoformat(request.form.get("date", ""))
    except ValueError:
        day = None
    return url_for(".board", date=day.isoformat() if day else None)


# --- finding a patient ---------------------------------------------------------------------------


@bp.get("/patients")
@desk_required
def patients():
    """Search patients by name, phone or email (at least 3 characters); HTMX swaps the
    results as the desk types. `?slot=` carries a time being booked through the search."""
    q = request.args.get("q", "").strip()
    slot_id = _uuid_arg("slot")
    page, error = None, ""
    if q:
        try:
            page = service.search_patients(current_user, q, page_number(), PER_PAGE)
        except ValidationFailed as exc:
            error = exc.errors.get("q", exc.message)
    return render_page("desk/patients.html", block="results", q=q, page=page, error=error,
                       slot_id=slot_id)


# --- booking for a patient -----------------------------------------------------------------------


@bp.route("/book", methods=["GET", "POST"])
@desk_required
def book():
    """Book a time (?slot=) for a patient: one found by the search (?patient=, ?q= to search
    here) or a new person (an account without a password, and an invitation). The booking is
    a hold, as online; the appointment page then takes the payment or confirms it."""
    existing = BookForPatientForm(prefix="p")
    new = BookForNewPersonForm(prefix="n")
    if request.method == "POST":
        # Which form was sent: the one for a found patient carries their id.
        return _book_existing(existing, new) if "p-patient_id" in request.form else (
            _book_new(existing, new))
    slot_id = _uuid_arg("slot")
    if slot_id is None:
        return render_template("desk/book.html", slot=None), 200
    patient_id = _uuid_arg("patient")
    existing.slot_id.data = new.slot_id.data = str(slot_id)
    if patient_id is not None:
        existing.patient_id.data = str(patient_id)
    return _book_page(existing, new, slot_id, patient_id)


def _book_page(existing: BookForPatientForm, new: BookForNewPersonForm, slot_id: uuid.UUID,
               patient_id: uuid.UUID | None, status: int = 200):
    slot, doctor = service.slot_for_booking(current_user, slot_id)
    patient = service.get_patient(current_user, patient_id) if patient_id else None
    if not existing.idempotency_key.data:
        # Sending the same form twice (a double tap) returns the same hold.
        existing.idempotency_key.data = str(uuid.uuid4())
    if patient is not None:
        existing.for_dependent_id.choices = [
            SelectChoice("", f"{patient.name} (the account holder)"),
            *(SelectChoice(str(d.id), f"{d.name} ({d.relation.lower()})")
              for d in family.dependents_of(patient))]
    q = request.args.get("q", "").strip()
    page, error = None, ""
    if q and patient is None:
        try:
            page = service.search_patients(current_user, q, page_number(), PER_PAGE)
        except ValidationFailed as exc:
            error = exc.errors.get("q", exc.message)
    return render_page("desk/book.html", block="results", slot=slot, doctor=doctor,
                       patient=patient,
                       existing=existing, new=new, q=q, page=page, error=error,
                       slot_id=slot.id, tz=clinic_zone(), now=utcnow()), status


def _book_existing(existing: BookForPatientForm, new: BookForNewPersonForm):
    for_dependent_id = _uuid_arg("p-for_dependent_id", request.form)
    if existing.validate() and (for_dependent_id or not existing.for_dependent_id.data):
        patient_id = uuid.UUID(existing.patient_id.data)
        try:
            patient = service.get_patient(current_user, patient_id)
            appointment = service.book_for(
                current_user, patient, uuid.UUID(existing.slot_id.data),
                reason=existing.reason.data or "", for_dependent_id=for_dependent_id,
                idempotency_key=(existing.idempotency_key.data or "").strip() or None)
        except ValidationFailed as exc:
            apply_errors(existing, exc)
        except DomainError as exc:
            if isinstance(exc, NotFound) and exc.field not in ("slot_id", "for_dependent_id"):
                raise
            existing.form_errors.append(exc.message)
        else:
            return _booked(appointment)
    elif existing.for_dependent_id.data and for_dependent_id is None:
        existing.for_dependent_id.errors = ["Choose whom the visit is for from the list."]
    return _rerender(existing, new, _uuid_arg("p-patient_id", request.form))


def _book_new(existing: BookForPatientForm, new: BookForNewPersonForm):
    if new.validate():
        try:
            person = service.register_person(current_user, service.NewPerson(
                new.name.data, new.phone.data, new.email.data or "", clinic_zone()))
            appointment = service.book_for(current_user, person, uuid.UUID(new.slot_id.data),
                                           reason=new.reason.data or "")
        except ValidationFailed as exc:
            apply_errors(new, exc)
        except DomainError as exc:
            if isinstance(exc, NotFound) and exc.field != "slot_id":
                raise
            new.form_errors.append(exc.message)
        else:
            return _booked(appointment)
    return _rerender(existing, new, None)


def _rerender(existing: BookForPatientForm, new: BookForNewPersonForm,
              patient_id: uuid.UUID | None):
    """The booking page again with the errors: 422 for fields, 409 for a time just taken."""
    slot_id = _uuid_arg("p-slot_id", request.form) or _uuid_arg("n-slot_id", request.form)
    if slot_id is None:
        flash("Choose a time on the day board first.", "error")
        return redirect(url_for(".board"), 303)
    forms = (existing, new)
    field_errors = any(f.errors for form in forms for f in form)
    status = 422 if field_errors or not any(form.form_errors for form in forms) else 409
    existing.slot_id.data = new.slot_id.data = str(slot_id)
    return _book_page(existing, new, slot_id, patient_id, status)


def _booked(appointment):
    when = appointment.start_at.astimezone(ZoneInfo(clinic_zone()))
    doctor = doctor_title(appointment.doctor.name)
    if appointment.fee_paise:
        next_step = "Take the payment at the desk or send a payment link before the hold ends."
    else:
        next_step = "Confirm it before the hold ends (a free consultation)."
    flash(f"Held {when:%a %d %b, %H:%M} with {doctor} for {appointment.visit_for_name}. "
          f"{next_step}", "success")
    return redirect(url_for("appointments.detail", appointment_id=appointment.id), 303)


# --- walk-ins ------------------------------------------------------------------------------------


@bp.route("/walk-in", methods=["GET", "POST"])
@desk_required
def walk_in():
    """Someone without a booking joins the queue of a doctor on duty today and gets a token
    number (and an account to claim, by SMS)."""
    form = WalkInForm()
    on_duty = [c.doctor for c in service.day_board(current_user, clinic_today(), clinic_zone())]
    form.doctor_id.choices = [SelectChoice("", "Choose the doctor"), *(
        SelectChoice(str(d.id), f"{doctor_title(d.name)} ({d.specialty})") for d in on_duty)]
    if form.validate_on_submit():
        try:
            token = service.walk_in(current_user, uuid.UUID(form.doctor_id.data),
                                    service.NewPerson(form.name.data, form.phone.data,
                                                      form.email.data or "", clinic_zone()))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except NotFound as exc:
            form.doctor_id.errors = [exc.message]
        else:
            doctor = next((d for d in on_duty if d.id == token.doctor_id), None)
            who = doctor_title(doctor.name) if doctor else "the doctor"
            flash(f"Token {token.number} for {who}: {token.name}.", "success")
            return redirect(url_for(".walk_in", doctor=token.doctor_id), 303)
    elif not form.is_submitted() and request.args.get("doctor"):
        form.doctor_id.data = request.args["doctor"]  # the next walk-in: likely the same doctor
    status = 422 if form.is_submitted() else 200
    return render_template("desk/walk_in.html", form=form, on_duty=bool(on_duty)), status


# --- payments at the desk ------------------------------------------------------------------------

# How the desk says where the money went: "₹800 paid in cash".
PAID_HOW = {OfflineMethod.CASH: "in cash", OfflineMethod.UPI: "by UPI at the counter",
            OfflineMethod.CARD: "on the card machine"}
# A booking the desk may still take money for: a live hold, or booked and not paid yet.
DUE = (AppointmentStatus.RESERVED, *desk_payments.BOOKED)


@bp.route("/appointments/<uuid:appointment_id>/payment", methods=["GET", "POST"])
@desk_required
def payment(appointment_id: uuid.UUID):
    """The fee taken at the counter (cash, UPI, the card machine) with the counter's receipt
    number; a held appointment is confirmed with it. The page also sends a payment link."""
    appointment = appointments.get_visible(current_user, appointment_id)
    form = OfflinePaymentForm()
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        was = appointments.effective_status(appointment)
        try:
            paid = desk_payments.record_offline(current_user, appointment.id, form.method.data,
                                                form.reference.data or "")
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except NotFound:
            raise
        except DomainError as exc:  # already paid, a receipt number used, a hold taken...
            status = exc.status
            if exc.field and hasattr(form, exc.field):
                getattr(form, exc.field).errors = [exc.message]
            else:
                form.form_errors.append(exc.message)
        else:
            confirmed = (" The booking is confirmed." if was in (
                AppointmentStatus.RESERVED, AppointmentStatus.EXPIRED) else "")
            flash(f"{format_money(paid.amount_paise, paid.currency)} paid "
                  f"{PAID_HOW[OfflineMethod(paid.method)]} (receipt no. {paid.offline_reference})."
                  f"{confirmed}", "success")
            return redirect(url_for("appointments.detail", appointment_id=appointment.id), 303)
    paid_already = payments.payment_for_appointment(appointment.id)
    link = payment_links.link_for_payment(paid_already.id) if paid_already else None
    return render_template(
        "desk/payment.html", appointment=appointment, form=form, link_form=PaymentLinkForm(),
        payment=paid_already, link=link, due=payment_due(appointment),
        status=appointments.effective_status(appointment), tz=clinic_zone(),
        link_minutes=current_app.config["PAYMENT_LINK_MINUTES"]), status


@bp.post("/appointments/<uuid:appointment_id>/payment-link")
@desk_required
def payment_link(appointment_id: uuid.UUID):
    """Send the patient a Razorpay Payment Link for the fee (SMS and email); a held time waits
    for it. Sending again gives the same link, not a second message."""
    here = url_for(".payment", appointment_id=appointment_id)
    try:
        link = desk_payments.send_payment_link(current_user, appointment_id)
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(here, 303)
    until = (link.expires_at.astimezone(ZoneInfo(clinic_zone())).strftime("%H:%M")
             if link.expires_at else "it expires")
    flash(f"Payment link sent by SMS and email: {link.short_url or 'on its way'}. The time is "
          f"held until {until}.", "success")
    return redirect(url_for("appointments.detail", appointment_id=appointment_id), 303)


def payment_due(appointment) -> bool:
    """A paid consultation not paid yet, that the desk could still take money for."""
    if appointment is None or not appointment.fee_paise:
        return False
    if appointments.effective_status(appointment) not in DUE:
        return False
    paid = payments.payment_for_appointment(appointment.id)
    return paid is None or PAYMENT_RANK[paid.status] < PAYMENT_RANK[PaymentStatus.CAPTURED]


# --- template helpers ----------------------------------------------------------------------------

# Whether a person has set a password yet, and whether the clinic has a real address for them.
bp.add_app_template_global(service.is_claimed, "is_claimed")
bp.add_app_template_global(service.is_placeholder_email, "is_placeholder_email")



bp.add_app_template_global(payment_due, "payment_due")
