"""Payment pages: handing a held appointment to Razorpay Checkout, the way back, the patient's
payments and receipts, and the doctor's earnings.

Endpoints (blueprint `payments`, under /payments):
  start       GET, POST /start/<appointment_id>   the payment step; POST creates (or finds) the
                                                  order and opens Checkout
  callback    GET  /<payment_id>/callback         Checkout hands back its signed fields here;
                                                  a page posts them on to `verify`
  verify      POST /<payment_id>/verify           checks the signature, settles, back to the
                                                  appointment with the outcome
  cancelled   GET  /<payment_id>/cancelled        Checkout failed or was closed
  index       GET  /                              the patient's payments
  receipt     GET  /<payment_id>/receipt          a printable receipt of a paid payment
  earnings    GET  /earnings                      a doctor's weekly payouts, and their shares
                                                  held, released and settled (Razorpay Route)
  earnings_statement      GET /earnings/<payout_id>      one of their weekly statements
  earnings_statement_csv  GET /earnings/<payout_id>.csv  the same as CSV

Checkout: with RAZORPAY_CHECKOUT_URL set (the sandbox) `start` redirects the browser to the
sandbox's checkout page; with real keys it is empty and `start` renders a page that opens
Razorpay's checkout.js (static/js/razorpay-checkout.js), whose handler posts to `verify`.
Either way the signed fields reach `verify` through a form carrying our CSRF token: the
webhook is the only CSRF-exempt route. Patients see only their own payments (404 otherwise).
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from datetime import datetime
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
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
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import Role
from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.doctors.models import ConsultationType
from portal.exceptions import DomainError, NotFound
from portal.formatting import format_money, localtime
from portal.payments import accounts, gateway, payouts, reports, service
from portal.payments.models import PaymentStatus, PaymentTransaction, RefundSource
from portal.security import doctor_required, login_required, patient_required
from portal.web import page_number, render_page

bp = Blueprint("payments", __name__, url_prefix="/payments")

P = PaymentStatus
CHECKOUT_FIELDS = ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")
CHECKOUT_JS = "https://checkout.razorpay.com/v1/checkout.js"
PER_PAGE = 10


# --- helpers -------------------------------------------------------------------------------


def _appointment_page(appointment_id: uuid.UUID) -> str:
    return url_for("appointments.detail", appointment_id=appointment_id)


def _doctor_title(name: str) -> str:
    return name if name.lower().startswith(("dr ", "dr.")) else f"Dr {name}"


def minutes_left(appointment: Appointment, now: datetime) -> int:
    """Whole minutes the hold still lasts, rounded up (0 once it is over)."""
    if appointments.effective_status(appointment, now) != AppointmentStatus.RESERVED or \
            appointment.reserved_until is None:
        return 0
    return max(0, math.ceil((appointment.reserved_until - now).total_seconds() / 60))


def _minutes(n: int) -> str:
    return f"{n} minute{'' if n == 1 else 's'}"


def _description(appointment: Appointment, tz: str) -> str:
    kind = ConsultationType(appointment.consultation_type).label
    when = localtime(appointment.start_at, tz, "%d %b %Y, %H:%M")
    return (f"{kind} consultation with {_doctor_title(appointment.doctor.name)}, "
            f"{when} ({tz})")


def _sandbox_checkout_url(payment: PaymentTransaction, appointment: Appointment) -> str:
    """The sandbox's checkout page for the order, told where to send the patient back."""
    base = current_app.config["RAZORPAY_CHECKOUT_URL"].rstrip("/")
    params = {
        "callback_url": url_for(".callback", payment_id=payment.id, _external=True),
        "cancel_url": url_for(".cancelled", payment_id=payment.id, _external=True),
        "name": current_app.config["CLINIC_NAME"],
        "description": _description(appointment, current_user.timezone),
        "prefill_email": current_user.email,
    }
    if current_user.phone:
        params["prefill_contact"] = current_user.phone
    return f"{base}/{payment.gateway_order_id}?{urlencode(params)}"


def _own_payment(payment_id: uuid.UUID) -> PaymentTransaction:
    """The payment if the user may see it (the patient's own, or an admin), else 404."""
    return service.get_visible_payment(current_user, payment_id)


# --- the payment step ----------------------------------------------------------------------


@bp.route("/start/<uuid:appointment_id>", methods=["GET", "POST"])
@patient_required
def start(appointment_id: uuid.UUID):
    """GET: the payment step of the patient's held paid appointment (what it costs, the time
    left, the Pay button). POST: create the Razorpay order, or find the one made before, and
    open Checkout. A lapsed hold, nothing to pay or the gateway being down sends the patient
    back to the appointment page with the reason. Another patient's appointment is a 404."""
    appointment = appointments.get_visible(current_user, appointment_id)
    if appointment.patient_id != current_user.id:
        raise NotFound("No such appointment.")
    back = _appointment_page(appointment.id)
    now = utcnow()
    if request.method == "GET":
        if appointment.fee_paise <= 0 or minutes_left(appointment, now) <= 0:
            return redirect(back)
        return render_template(
            "payments/start.html", appointment=appointment, tz=current_user.timezone,
            remaining=max(0, math.ceil((appointment.reserved_until - now).total_seconds())))
    try:
        payment = service.initiate(current_user, appointment.id)
    except NotFound:
        raise
    except DomainError as exc:  # HoldExpired, NothingToPay, GatewayUnavailable (503)
        flash(exc.message, "error")
        return redirect(back, 303)
    if current_app.config["RAZORPAY_CHECKOUT_URL"]:
        return redirect(_sandbox_checkout_url(payment, appointment), 303)
    return render_template(
        "payments/checkout.html", payment=payment, appointment=appointment,
        tz=current_user.timezone, checkout_js=CHECKOUT_JS,
        key_id=current_app.config["RAZORPAY_KEY_ID"],
        description=_description(appointment, current_user.timezone),
        minutes=minutes_left(appointment, now))


# --- back from Checkout --------------------------------------------------------------------


@bp.get("/<uuid:payment_id>/callback")
@login_required
def callback(payment_id: uuid.UUID):
    """Checkout's hand-back (the three signed fields in the query string). Renders a form that
    posts them with our CSRF token to `verify`, sent at once by static/js/checkout-return.js
    (a visible button without JavaScript). Nothing is settled by this GET."""
    payment = _own_payment(payment_id)
    fields = {name: request.args.get(name, "").strip()[:100] for name in CHECKOUT_FIELDS}
    if not fields["razorpay_payment_id"] or not fields["razorpay_signature"]:
        flash("The payment details did not come back from the checkout. If you paid, your "
              "booking is confirmed automatically within a few minutes.", "error")
        return redirect(_appointment_page(payment.appointment_id), 303)
    return render_template("payments/callback.html", payment=payment, fields=fields)


@bp.post("/<uuid:payment_id>/verify")
@login_required
def verify(payment_id: uuid.UUID):
    """Check Checkout's signature against the order we stored and settle the payment: the
    appointment is confirmed, or refunded in full when its slot went to someone else while
    the patient paid. A bad signature is a 400 page; the appointment page tells the rest."""
    payment = _own_payment(payment_id)
    back = _appointment_page(payment.appointment_id)
    try:
        settled = service.verify_checkout(
            payment.id, request.form.get("razorpay_payment_id", "").strip(),
            request.form.get("razorpay_signature", "").strip(), user=current_user)
    except service.InvalidSignature as exc:
        return render_template("payments/verify_failed.html", payment=payment,
                               message=exc.message), 400
    except gateway.GatewayUnavailable:
        flash("We could not reach the payment service to confirm your payment. If you paid, "
              "your booking is confirmed automatically within a few minutes.", "error")
        return redirect(back, 303)
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(back, 303)
    category, message = outcome_message(settled)
    flash(message, category)
    return redirect(back, 303)


def outcome_message(payment: PaymentTransaction) -> tuple[str, str]:
    """What the patient is told once Checkout's answer was applied."""
    amount = format_money(payment.amount_paise, payment.currency)
    if any(r.source == RefundSource.SLOT_LOST for r in payment.refunds):
        return ("warning", f"Your slot was taken while you paid — the full amount of {amount} "
                           "is being refunded to the way you paid, usually within 5–7 working "
                           "days. Nothing was booked.")
    status = payment.status
    if status in (P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED):
        return "success", f"Payment of {amount} received. Your booking is confirmed."
    if status == P.AUTHORIZED:
        return "info", ("Your payment is authorised and being completed; your booking is "
                        "confirmed as soon as it is.")
    if status == P.FAILED:
        return "error", "The payment did not go through. You can try again."
    return "info", "We are still waiting for the payment to complete."


@bp.get("/<uuid:payment_id>/cancelled")
@login_required
def cancelled(payment_id: uuid.UUID):
    """Checkout came back without a payment (`error=payment_failed` or `error=closed`): back to
    the appointment, told how long the hold still lasts."""
    payment = _own_payment(payment_id)
    appointment = payment.appointment
    left = minutes_left(appointment, utcnow())
    failed = request.args.get("error") == "payment_failed"
    if payment.status in (P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED):
        flash("This booking is already paid.", "info")
    elif left:
        if failed:
            flash("The payment did not go through. You can try again while your hold lasts "
                  f"({_minutes(left)} left).", "error")
        else:
            flash("You closed the payment window; nothing was charged. You can still pay "
                  f"while your hold lasts ({_minutes(left)} left).", "info")
    else:
        start = "The payment did not go through" if failed else "Nothing was charged"
        flash(f"{start}, and the hold on this time has ended. Choose a time again to book.",
              "error" if failed else "info")
    return redirect(_appointment_page(appointment.id), 303)


# --- history and receipts ------------------------------------------------------------------



@bp.get("/")
@login_required
def index():
    """The patient's payments, newest first, paginated. Admins go to the dashboard and doctors
    to their earnings."""
    if current_user.role == Role.ADMIN:
        return redirect(url_for("admin_payments.dashboard"))
    if current_user.role == Role.DOCTOR:
        return redirect(url_for(".earnings"))
    page = reports.patient_payments(current_user.id, page_number(), PER_PAGE)
    return render_page("payments/index.html", block="list", page=page, tz=current_user.timezone,
                       paid_statuses=reports.PAID_STATUSES)


def receipt_number(payment: PaymentTransaction) -> str:
    """Stable and short: the day the money was taken and the start of our payment id."""
    day = (payment.captured_at or payment.created_at).strftime("%Y%m%d")
    return f"RCP-{day}-{payment.id.hex[:8].upper()}"


@bp.get("/<uuid:payment_id>/receipt")
@login_required
def receipt(payment_id: uuid.UUID):
    """A printable receipt of a paid payment (the patient's own, or any for an admin), with
    the GST it includes and any refunds. Times in the patient's zone."""
    payment = _own_payment(payment_id)
    if payment.status not in reports.PAID_STATUSES:
        raise NotFound("There is no receipt: this payment was not completed.")
    appointment = payment.appointment
    return render_template(
        "payments/receipt.html", payment=payment, appointment=appointment,
        tz=appointment.patient.timezone, number=receipt_number(payment),
        tax=service.tax_included(payment.amount_paise),
        gst_percent=current_app.config["GST_PERCENT"],
        refunds=[r for r in payment.refunds if r.status != "FAILED"],
        kind=ConsultationType(appointment.consultation_type).label,
        method=reports.payment_method_label(payment), paid_how=reports.paid_how(payment))


# --- the doctor's earnings -----------------------------------------------------------------


@bp.get("/earnings")
@doctor_required
def earnings():
    """The logged-in doctor's payouts by week (gross, commission, refunds, net, status) and
    what this week has brought so far."""
    doctor = doctors.doctor_for_user(current_user)
    if doctor is None:
        abort(404)
    commission = current_app.config["PLATFORM_COMMISSION_PERCENT"]
    return render_template(
        "payments/earnings.html", doctor=doctor, payouts=payouts.doctor_payouts(doctor.id),
        so_far=reports.week_to_date(doctor.id, utcnow()),
        commission_percent=commission, money=payouts.money_on_the_way(doctor.id),
        transfers=payouts.recent_transfers(doctor.id), account=accounts.account_for(doctor.id),
        transfer_state=payouts.transfer_state)


def _own_statement(payout_id: uuid.UUID) -> payouts.Statement:
    """The logged-in doctor's statement; another doctor's (or none) is NotFound."""
    doctor = doctors.doctor_for_user(current_user)
    payout = payouts.get_payout(payout_id)
    if doctor is None or payout is None or payout.doctor_id != doctor.id:
        raise NotFound("No such payout statement.")
    return payouts.statement(payout, doctor.timezone, lambda _doctor: (
        "Not transferred: the clinic is setting up your Razorpay linked account."))


@bp.get("/earnings/<uuid:payout_id>")
@doctor_required
def earnings_statement(payout_id: uuid.UUID):
    """One of the doctor's weekly statements, printable: the transfers, refunds and reversals
    behind its totals and where each stands. Times in the doctor's zone."""
    found = _own_statement(payout_id)
    return render_template(
        "payments/statement.html", statement=found, tz=found.doctor.timezone,
        back=(url_for(".earnings"), "Earnings"),
        csv_url=url_for(".earnings_statement_csv", payout_id=payout_id), account_url=None)


@bp.get("/earnings/<uuid:payout_id>.csv")
@doctor_required
def earnings_statement_csv(payout_id: uuid.UUID):
    """The statement as CSV (one row per line, then the totals)."""
    found = _own_statement(payout_id)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(payouts.statement_csv_rows(found, found.doctor.timezone))
    filename = f"payout-{found.payout.week_start.isoformat()}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})
