"""Admin payment pages: the dashboard (filters, totals, chart, CSV), one payment with a manual
refund, the refunds list and doctor payouts.

Endpoints (blueprint `admin_payments`, under /admin; admins only, others 403):
  dashboard       GET  /payments                   filters (channel: online, payment link, at the
                                                   desk), totals, daily chart, rows
  payments_csv    GET  /payments.csv               the filtered rows as a CSV download
  payment         GET  /payments/<id>              one payment, its refunds, the refund form
  refund          GET, POST /payments/<id>/refund  GET: "Refund ₹X to <patient>?" (nothing
                                                   happens yet); POST: the refund, once per key
  refunds         GET  /refunds                    every refund, filterable
  payouts         GET  /payouts                    doctor payouts by week, and the doctors whose
                                                   share cannot be transferred (and why)
  recompute       POST /payouts/recompute          recompute last week's payouts
  statement       GET  /payouts/<id>               one doctor's weekly statement: the transfers,
                                                   refunds and reversals behind its totals
                                                   (printable)
  statement_csv   GET  /payouts/<id>.csv           the same as CSV
  payout_account  GET, POST /doctors/<id>/payouts  the doctor's Razorpay Route linked account: its
                                                   status, and the form that creates it or
                                                   changes its details and bank account

The dashboard's filters are a plain GET form; HTMX swaps only the results block. The queries
are in portal/payments/reports.py and the refund rules in portal/payments/service.py.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.formatting import format_money
from portal.payments import accounts, links, reports, service, transfers
from portal.payments import payouts as payout_rules
from portal.payments.forms import (
    REFUND_SOURCE_LABELS,
    REFUND_STATUS_LABELS,
    LinkedAccountForm,
    PaymentFilterForm,
    RefundConfirmForm,
    RefundFilterForm,
    RefundForm,
)
from portal.payments.models import PaymentTransaction, RefundSource
from portal.security import admin_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("admin_payments", __name__, url_prefix="/admin")

PER_PAGE = 25



# --- filters -------------------------------------------------------------------------------


def _filters() -> tuple[PaymentFilterForm, reports.PaymentFilter]:
    """The filter form from the query string and the filter it means. A field that does not
    parse is reported on the form and left out of the filter; no dates means the last 30 days
    in the admin's zone."""
    form = PaymentFilterForm(request.args)
    form.doctor.choices = [SelectChoice("", "Any doctor"), *(
        SelectChoice(str(i), n) for i, n in reports.doctor_choices())]
    form.method.choices = [SelectChoice("", "Any method"), *(
        SelectChoice(m, label) for m, label in reports.method_choices())]
    form.validate()
    tz = current_user.timezone
    start, end = reports.default_range(tz, utcnow())
    start_ok = bool(form.start.data and not form.start.errors)
    end_ok = bool(form.end.data and not form.end.errors)
    if start_ok:
        start = form.start.data
    if end_ok:
        end = form.end.data
    elif start_ok:
        end = max(end, start)
    if end_ok and not start_ok:
        start = end - timedelta(days=29)
    # Show the range used, so the form and the results always agree.
    form.start.data, form.end.data = start, end
    doctor_id = None
    if form.doctor.data and not form.doctor.errors:
        doctor_id = uuid.UUID(form.doctor.data)
    return form, reports.PaymentFilter(
        start=start, end=end, tz=tz,
        status=form.status.data if form.status.data and not form.status.errors else None,
        doctor_id=doctor_id,
        method=form.method.data if form.method.data and not form.method.errors else None,
        channel=form.channel.data if form.channel.data and not form.channel.errors else None)


def filter_args(f: reports.PaymentFilter) -> dict[str, str]:
    """The query string of a filter, for links (CSV, pages) that keep it."""
    args = {"from": f.start.isoformat(), "to": f.end.isoformat()}
    if f.status:
        args["status"] = f.status
    if f.doctor_id:
        args["doctor"] = str(f.doctor_id)
    if f.method:
        args["method"] = f.method
    if f.channel:
        args["channel"] = f.channel
    return args


# --- the chart -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    point: reports.RevenuePoint
    label: str  # the x-axis label under it, or "" when the axis skips it


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart drawn on the server: no script, and readable as a table below it."""

    width: int
    height: int
    left: int
    top: int
    plot_height: int
    bars: list[Bar]
    max_value: int
    total: int
    peak: reports.RevenuePoint | None

    @property
    def baseline(self) -> int:
        return self.top + self.plot_height

    @property
    def gridlines(self) -> list[tuple[float, int]]:
        """(y, value) of the lines at zero, half and the top of the scale."""
        return [(self.baseline - self.plot_height * share, round(self.max_value * share))
                for share in (0, 0.5, 1)]


def bar_chart(points: list[reports.RevenuePoint], width: int = 720, height: int = 240) -> Chart:
    left, top, bottom, right = 76, 12, 30, 8
    plot_width, plot_height = width - left - right, height - top - bottom
    highest = max((p.gross for p in points), default=0)
    # A round top of the scale (whole rupees in steps of 1, 2 or 5 times a power of ten).
    scale = 100
    if highest > 0:
        magnitude = 10 ** max(0, math.floor(math.log10(highest)))
        scale = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= highest)
    slot = plot_width / max(1, len(points))
    every = max(1, math.ceil(len(points) / 8))
    bars = []
    for i, point in enumerate(points):
        bar_height = plot_height * point.gross / scale
        bar_width = max(1.0, slot * 0.7)
        bars.append(Bar(x=round(left + i * slot + (slot - bar_width) / 2, 2),
                        y=round(top + plot_height - bar_height, 2), width=round(bar_width, 2),
                        height=round(bar_height, 2), point=point,
                        label=point.label if i % every == 0 else ""))
    peak = max(points, key=lambda p: p.gross) if highest else None
    return Chart(width, height, left, top, plot_height, bars, scale,
                 sum(p.gross for p in points), peak)


# --- the dashboard -------------------------------------------------------------------------


@bp.get("/payments")
@admin_required
def dashboard():
    """Payments in a date range (the admin's zone) by status, doctor and method: totals
    (gross, refunded, net), captured revenue per day as a chart and a table, and the rows.
    HTMX gets the results block only; the same URL is a full page (shareable, no JS needed)."""
    form, f = _filters()
    page = reports.payments_page(f, page_number(), PER_PAGE)
    points = reports.revenue_series(f)
    return render_page(
        "admin/payments.html", block="results", form=form, filter=f, page=page,
        totals=reports.totals(f), points=points, chart=bar_chart(points),
        args=filter_args(f), tz=f.tz, status_labels=reports.STATUS_LABELS,
        method_label=reports.payment_method_label, channel_labels=reports.CHANNEL_LABELS,
        daily=(f.end - f.start).days + 1 <= reports.MAX_DAILY_BARS)


@bp.get("/payments.csv")
@admin_required
def payments_csv():
    """The dashboard's filtered rows as CSV: amounts in rupees (2 decimals) and in paise,
    times in the admin's zone."""
    _form, f = _filters()
    buffer = io.StringIO()
    csv.writer(buffer).writerows(reports.csv_rows(f))
    filename = f"payments-{f.start.isoformat()}-to-{f.end.isoformat()}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


# --- one payment and its refunds -----------------------------------------------------------


def _payment_page(payment: PaymentTransaction, form: RefundForm, status: int = 200):
    return render_template(
        "admin/payment_detail.html", payment=payment, appointment=payment.appointment,
        form=form, tz=current_user.timezone, status_labels=reports.STATUS_LABELS,
        refund_status_labels=REFUND_STATUS_LABELS, refund_source_labels=REFUND_SOURCE_LABELS,
        method_label=reports.payment_method_label, channel_labels=reports.CHANNEL_LABELS,
        recorded_by=reports.recorded_by_name(payment), link=links.link_for_payment(payment.id),
        tax=service.tax_included(payment.amount_paise),
        refundable=payment.status in reports.PAID_STATUSES and payment.refundable_paise > 0,
        payout_note=reports.payout_note(payment),
        transfer=transfers.transfer_for_payment(payment.id),
    ), status


@bp.get("/payments/<uuid:payment_id>")
@admin_required
def payment(payment_id: uuid.UUID):
    """One payment: patient, doctor, appointment, gateway ids, refunds, and a refund form
    whose amount defaults to what is left to refund."""
    row = service.get_payment(payment_id)
    form = RefundForm(formdata=None, amount=reports.rupees(row.refundable_paise))
    return _payment_page(row, form)


@bp.route("/payments/<uuid:payment_id>/refund", methods=["GET", "POST"])
@admin_required
def refund(payment_id: uuid.UUID):
    """GET (the detail page's form): "Refund ₹X to <patient>?" with a fresh idempotency key in
    the form; nothing is refunded yet. POST: refund, once per key: the same confirmation
    posted twice refunds once."""
    row = service.get_payment(payment_id)
    here = url_for(".payment", payment_id=row.id)
    if request.method == "GET":
        form = RefundForm(request.args)
        if not form.validate():
            return _payment_page(row, form, 422)
        if row.status not in reports.PAID_STATUSES or form.paise > row.refundable_paise:
            form.amount.errors = [_too_much(row)]
            return _payment_page(row, form, 422)
        confirm = RefundConfirmForm(formdata=None, amount=reports.rupees(form.paise),
                                    reason=form.reason.data.strip(),
                                    idempotency_key=str(uuid.uuid4()))
        return render_template("admin/payment_refund_confirm.html", payment=row,
                               appointment=row.appointment, form=confirm, paise=form.paise)

    form = RefundConfirmForm()
    if not form.validate():
        flash("The refund form was incomplete; nothing was refunded. Start again.", "error")
        return redirect(here, 303)
    key = f"admin-{row.id}-{form.idempotency_key.data}"[:80]
    if reports.refund_by_key(key) is not None:
        flash("This refund was already made; it was not repeated.", "info")
        return redirect(here, 303)
    try:
        made = service.refund(row.id, form.paise, RefundSource.ADMIN, form.reason.data.strip(),
                              idempotency_key=key, actor_id=current_user.id)
    except NotFound:
        raise
    except ValidationFailed:
        flash(f"Nothing was refunded: {_too_much(service.get_payment(row.id))}", "error")
        return redirect(here, 303)
    except DomainError as exc:
        flash(f"Nothing was refunded: {exc.message}", "error")
        return redirect(here, 303)
    money = format_money(made.amount_paise, row.currency)
    patient = row.appointment.patient.name
    if made.status == "PROCESSED":
        flash(f"Refunded {money} to {patient}.", "success")
    elif made.status == "FAILED":
        flash(f"The refund of {money} to {patient} failed: {made.error}", "error")
    else:
        flash(f"Refund of {money} to {patient} started; the gateway is processing it.",
              "success")
    return redirect(here, 303)


def _too_much(payment: PaymentTransaction) -> str:
    if payment.status not in reports.PAID_STATUSES or payment.refundable_paise <= 0:
        return "There is nothing left to refund on this payment."
    return (f"At most {format_money(payment.refundable_paise, payment.currency)} "
            "is left to refund.")


@bp.get("/refunds")
@admin_required
def refunds():
    """Every refund, newest first: manual ones, cancellations and slot-lost refunds."""
    form = RefundFilterForm(request.args)
    form.validate()
    status = form.status.data if form.status.data and not form.status.errors else None
    source = form.source.data if form.source.data and not form.source.errors else None
    page = reports.refunds_page(status, source, page_number(), PER_PAGE)
    return render_page("admin/refunds.html", block="results", form=form, page=page,
                       tz=current_user.timezone, status_labels=REFUND_STATUS_LABELS,
                       source_labels=REFUND_SOURCE_LABELS)


# --- payouts -------------------------------------------------------------------------------


@bp.get("/payouts")
@admin_required
def payouts():
    """Doctor payouts of the last 12 computed weeks (UTC weeks from Monday), by week."""
    doctor_id = None
    raw = request.args.get("doctor", "")
    if raw:
        try:
            doctor_id = uuid.UUID(raw)
        except ValueError:
            doctor_id = None
    last_week = payout_rules.week_start_of(utcnow().date()) - timedelta(days=7)
    return render_template(
        "admin/payouts.html", weeks=reports.payouts_by_week(12, doctor_id),
        doctors=reports.doctor_choices(), doctor_id=doctor_id, last_week=last_week,
        unpaid=reports.unpaid_doctors())


@bp.post("/payouts/recompute")
@admin_required
def recompute():
    """Compute (or recompute, unless already paid) every doctor's payout for last week."""
    last_week = payout_rules.week_start_of(utcnow().date()) - timedelta(days=7)
    count = payout_rules.compute_week(last_week)
    week = f"{last_week.day} {last_week.strftime('%b %Y')}"
    flash(f"Recomputed {count} payout{'' if count == 1 else 's'} for the week of {week}."
          if count else f"No payments or refunds in the week of {week}: no payouts.",
          "success")
    return redirect(url_for(".payouts"), 303)


# --- statements ----------------------------------------------------------------------------


def _statement(payout_id: uuid.UUID) -> payout_rules.Statement:
    payout = payout_rules.get_payout(payout_id)
    if payout is None:
        raise NotFound("No such payout statement.")
    return payout_rules.statement(payout, current_user.timezone, accounts.why_not_payable)


@bp.get("/payouts/<uuid:payout_id>")
@admin_required
def statement(payout_id: uuid.UUID):
    """One doctor's weekly statement, printable: the Razorpay transfers, refunds, reversals and
    desk payments behind its totals, and where each stands. Times in the admin's zone."""
    found = _statement(payout_id)
    return render_template(
        "payments/statement.html", statement=found, tz=current_user.timezone,
        back=(url_for(".payouts"), "Payouts"),
        csv_url=url_for(".statement_csv", payout_id=payout_id),
        account_url=url_for(".payout_account", doctor_id=found.doctor.id))


@bp.get("/payouts/<uuid:payout_id>.csv")
@admin_required
def statement_csv(payout_id: uuid.UUID):
    """The statement as CSV: one row per line, then the totals (rupees and paise)."""
    return statement_download(_statement(payout_id), current_user.timezone)


def statement_download(found: payout_rules.Statement, tz: str) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(payout_rules.statement_csv_rows(found, tz))
    filename = f"payout-{found.payout.week_start.isoformat()}-{found.doctor.id.hex[:8]}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


# --- a doctor's linked account (Razorpay Route) ----------------------------------------------


@bp.route("/doctors/<uuid:doctor_id>/payouts", methods=["GET", "POST"])
@admin_required
def payout_account(doctor_id: uuid.UUID):
    """The doctor's Razorpay Route linked account: its status at Razorpay (and why, when it is
    not active) and the form that creates it or changes its details and bank account. The
    account number is sent to Razorpay and never shown or kept (only its last 4 digits)."""
    doctor = doctors.get_doctor(doctor_id, include_inactive=True)
    account = accounts.account_for(doctor.id)
    form = LinkedAccountForm()
    if request.method == "GET":
        source = account or doctor.user
        form.legal_name.data = account.legal_name if account else doctor.user.name
        form.contact_name.data = account.contact_name if account else doctor.user.name
        form.email.data = source.email
        form.phone.data = source.phone
        if account:
            form.beneficiary_name.data = account.beneficiary_name
            form.ifsc.data = account.ifsc
    elif form.validate_on_submit():
        try:
            account = accounts.onboard(doctor, accounts.AccountDetails(
                legal_name=form.legal_name.data, contact_name=form.contact_name.data,
                email=form.email.data, phone=form.phone.data,
                account_number=form.account_number.data, ifsc=form.ifsc.data,
                beneficiary_name=form.beneficiary_name.data, street=form.street.data,
                city=form.city.data, state=form.state.data, postal_code=form.postal_code.data))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except accounts.OnboardingFailed as exc:
            form.form_errors.append(f"Razorpay did not take it: {exc.message}")
        else:
            flash(f"{doctor.name}'s linked account is "
                  f"{accounts.STATUS_LABELS[account.status].lower()}.", "success")
            return redirect(url_for(".payout_account", doctor_id=doctor.id), 303)
        account = accounts.account_for(doctor.id)
    form.account_number.data = ""  # never sent back to the browser
    failed = request.method == "POST"
    return render_template(
        "admin/payout_account.html", doctor=doctor, account=account, form=form,
        status_labels=accounts.STATUS_LABELS, money=payout_rules.money_on_the_way(doctor.id),
    ), 422 if failed else 200
