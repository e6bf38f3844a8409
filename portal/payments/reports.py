"""Admin reports over payments, refunds and payouts: plain queries, no request here.

Every report of the payments dashboard starts from one `PaymentFilter`, so the table, the
totals, the chart and the CSV export always describe the same rows. Dates are calendar days in
the admin's own time zone (`PaymentFilter.tz`); a payment's day is when it was captured, or
when it was started for one that never was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, select

from portal.auth.models import User
from portal.clock import utcnow
from portal.doctors.models import ConsultationType, Doctor
from portal.extensions import db
from portal.pagination import Page, paginate
from portal.payments import accounts, service, transfers
from portal.payments.models import (
    DoctorPayout,
    OfflineMethod,
    PaymentChannel,
    PaymentStatus,
    PaymentTransaction,
    Refund,
    Transfer,
)
from portal.payments.payouts import commission_of, transfer_state, week_start_of
from portal.payments.payouts import totals as payout_totals

P = PaymentStatus
# Statuses in which the patient's money was taken (and so count towards revenue).
PAID_STATUSES = (P.CAPTURED.value, P.PARTIALLY_REFUNDED.value, P.REFUNDED.value)
STATUS_LABELS = {
    P.PENDING: "Not started", P.CREATED: "Awaiting payment", P.FAILED: "Failed",
    P.AUTHORIZED: "Authorised", P.CAPTURED: "Paid", P.PARTIALLY_REFUNDED: "Partly refunded",
    P.REFUNDED: "Refunded",
}
METHOD_LABELS = {"card": "Card", "upi": "UPI", "netbanking": "Netbanking", "wallet": "Wallet",
                 "emi": "EMI", "paylater": "Pay later", "cash": "Cash"}
CHANNEL_LABELS = {PaymentChannel.CHECKOUT: "Online", PaymentChannel.LINK: "Payment link",
                  PaymentChannel.OFFLINE: "At the desk"}
# How a receipt names money taken at the counter: "Paid at the desk: cash, receipt no. 4411".
OFFLINE_NOUNS = {OfflineMethod.CASH: "cash", OfflineMethod.UPI: "UPI",
                 OfflineMethod.CARD: "card machine"}
# Longer ranges are charted per month, so the chart stays readable.
MAX_DAILY_BARS = 92

# When a payment happened, for filters, ordering and the chart.
payment_time = func.coalesce(PaymentTransaction.captured_at, PaymentTransaction.created_at)


def method_label(method: str | None) -> str:
    if not method:
        return "—"
    return METHOD_LABELS.get(method, method.replace("_", " ").title())


def payment_method_label(payment: PaymentTransaction) -> str:
    """The method as staff say it: "UPI at the counter" for the desk's, "UPI" for Razorpay's."""
    if payment.channel == PaymentChannel.OFFLINE and \
            payment.method in {m.value for m in OfflineMethod}:
        return OfflineMethod(payment.method).label
    return method_label(payment.method)


def paid_how(payment: PaymentTransaction) -> str:
    """One line for the receipt: where and how the money was taken."""
    if payment.channel == PaymentChannel.OFFLINE:
        noun = OFFLINE_NOUNS.get(payment.method, payment.method or "")
        return f"Paid at the desk: {noun}, receipt no. {payment.offline_reference}"
    where = "by payment link" if payment.channel == PaymentChannel.LINK else "online"
    return f"Paid {where} through Razorpay ({method_label(payment.method)})"


def recorded_by_name(payment: PaymentTransaction) -> str | None:
    """Who at the desk recorded an offline payment."""
    if payment.recorded_by_id is None:
        return None
    user = db.session.get(User, payment.recorded_by_id)
    return user.name if user else None


@dataclass(frozen=True)
class PaymentFilter:
    """What the admin asked to see. `end` is inclusive; both are days in zone `tz`."""

    start: date
    end: date
    tz: str
    status: str | None = None
    doctor_id: uuid.UUID | None = None
    method: str | None = None
    channel: str | None = None

    @property
    def utc_range(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.tz)
        return (datetime.combine(self.start, time(0), tzinfo=zone).astimezone(UTC),
                datetime.combine(self.end + timedelta(days=1), time(0),
                                 tzinfo=zone).astimezone(UTC))


def default_range(tz: str, now: datetime, days: int = 30) -> tuple[date, date]:
    """The last `days` days up to today, in zone `tz`."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return today - timedelta(days=days - 1), today


# --- payments --------------------------------------------------------------------------------


def patient_payments(patient_id: uuid.UUID, page: int, per_page: int) -> Page[PaymentTransaction]:
    """One page of a patient's payments, newest first."""
    return paginate(patient_payments_query(patient_id), page, per_page)


def payments_page(f: PaymentFilter, page: int, per_page: int) -> Page[PaymentTransaction]:
    """One page of the payments `f` selects, newest first."""
    return paginate(payment_query(f), page, per_page)


def patient_payments_query(patient_id: uuid.UUID) -> Select:
    """A patient's payments, newest first (every attempt at paying an appointment)."""
    return (select(PaymentTransaction).where(PaymentTransaction.patient_id == patient_id)
            .order_by(PaymentTransaction.created_at.desc(), PaymentTransaction.id))


def payment_query(f: PaymentFilter) -> Select:
    """The payments `f` selects, newest first."""
    start, end = f.utc_range
    query = select(PaymentTransaction).where(payment_time >= start, payment_time < end)
    if f.status:
        query = query.where(PaymentTransaction.status == f.status)
    if f.doctor_id:
        query = query.where(PaymentTransaction.doctor_id == f.doctor_id)
    if f.method:
        query = query.where(PaymentTransaction.method == f.method)
    if f.channel:
        query = query.where(PaymentTransaction.channel == f.channel)
    return query.order_by(payment_time.desc(), PaymentTransaction.id)


def totals(f: PaymentFilter) -> dict[str, int]:
    """Gross (money taken), refunded and net of the selected payments, and how many.

    Orders never paid (created, failed, authorised only) select rows but add no money.
    """
    paid = payment_query(f).where(PaymentTransaction.status.in_(PAID_STATUSES))
    result = service.totals_for(paid.order_by(None))
    result["count"] = db.session.scalar(
        select(func.count()).select_from(payment_query(f).order_by(None).subquery())) or 0
    result["paid_count"] = db.session.scalar(
        select(func.count()).select_from(paid.order_by(None).subquery())) or 0
    return result


@dataclass(frozen=True)
class RevenuePoint:
    """Money captured in one bucket (a day, or a month for long ranges) of the range."""

    start: date
    label: str  # "Mon 07 Dec" or "Dec 2026"
    gross: int
    count: int


def revenue_series(f: PaymentFilter) -> list[RevenuePoint]:
    """Gross captured per day of the range in the admin's zone (per month over 92 days).

    Every day (or month) of the range has a point, zero included, so gaps show.
    """
    zone = ZoneInfo(f.tz)
    paid = payment_query(f).where(PaymentTransaction.status.in_(PAID_STATUSES)).order_by(None)
    sub = paid.subquery()
    monthly = (f.end - f.start).days + 1 > MAX_DAILY_BARS
    sums: dict[date, list[int]] = {}
    for at, amount in db.session.execute(
            select(func.coalesce(sub.c.captured_at, sub.c.created_at), sub.c.amount_paise)):
        if at.tzinfo is None:  # SQLite: coalesce() loses the column type
            at = at.replace(tzinfo=UTC)
        day = at.astimezone(zone).date()
        key = day.replace(day=1) if monthly else day
        bucket = sums.setdefault(key, [0, 0])
        bucket[0] += amount
        bucket[1] += 1
    points = []
    if monthly:
        month = f.start.replace(day=1)
        while month <= f.end:
            gross, count = sums.get(month, (0, 0))
            points.append(RevenuePoint(month, month.strftime("%b %Y"), gross, count))
            month = (month + timedelta(days=32)).replace(day=1)
    else:
        day = f.start
        while day <= f.end:
            gross, count = sums.get(day, (0, 0))
            points.append(RevenuePoint(day, day.strftime("%a %d %b"), gross, count))
            day += timedelta(days=1)
    return points


CSV_HEADER = [
    "payment_id", "date", "status", "method", "patient", "patient_email", "doctor", "specialty",
    "appointment_start", "consultation_type", "currency", "amount", "amount_paise", "refunded",
    "refunded_paise", "net", "net_paise", "gst_included", "gst_included_paise",
    "gateway_order_id", "gateway_payment_id", "channel", "offline_method", "offline_reference",
]


def rupees(paise: int) -> str:
    """Rupees with two decimals and no grouping, for spreadsheets: 50000 -> 500.00."""
    sign = "-" if paise < 0 else ""
    whole, rest = divmod(abs(paise), 100)
    return f"{sign}{whole}.{rest:02d}"


def _cell(value: str) -> str:
    """Text a spreadsheet will not run as a formula (names are typed by patients)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(f: PaymentFilter, batch: int = 500) -> Iterator[list[str]]:
    """The header, then one row per selected payment, newest first; times in the admin's zone."""
    zone = ZoneInfo(f.tz)
    yield CSV_HEADER
    query = payment_query(f)
    offset = 0
    while True:
        chunk = list(db.session.scalars(query.limit(batch).offset(offset)).unique())
        for payment in chunk:
            appointment = payment.appointment
            net = payment.amount_paise - payment.refunded_paise
            tax = service.tax_included(payment.amount_paise)
            at = payment.captured_at or payment.created_at
            offline = payment.channel == PaymentChannel.OFFLINE
            yield [
                str(payment.id), at.astimezone(zone).isoformat(timespec="seconds"),
                payment.status, payment.method or "", _cell(appointment.patient.name),
                _cell(appointment.patient.email), _cell(appointment.doctor.name),
                _cell(appointment.doctor.specialty),
                appointment.start_at.astimezone(zone).isoformat(timespec="minutes"),
                ConsultationType(appointment.consultation_type).label, payment.currency,
                rupees(payment.amount_paise), str(payment.amount_paise),
                rupees(payment.refunded_paise), str(payment.refunded_paise), rupees(net),
                str(net), rupees(tax), str(tax), payment.gateway_order_id or "",
                payment.gateway_payment_id or "", payment.channel,
                payment.method or "" if offline else "",
                _cell(payment.offline_reference or "") if offline else "",
            ]
        if len(chunk) < batch:
            return
        offset += batch


# --- choices for the filters ---------------------------------------------------------------


def doctor_choices() -> list[tuple[uuid.UUID, str]]:
    """Every doctor (active or not: old payments stay findable), by name."""
    return [(doctor_id, name) for doctor_id, name in db.session.execute(
        select(Doctor.id, User.name).join(User, Doctor.user_id == User.id).order_by(User.name))]


def method_choices() -> list[tuple[str, str]]:
    """The methods Razorpay offers plus any other one payments were made with."""
    used = set(db.session.scalars(select(PaymentTransaction.method).distinct().where(
        PaymentTransaction.method.is_not(None))))
    methods = ["card", "upi", "netbanking", "wallet", *sorted(used - {"card", "upi",
                                                                      "netbanking", "wallet"})]
    return [(m, method_label(m)) for m in methods]


# --- refunds ---------------------------------------------------------------------------------


def refunds_query(status: str | None = None, source: str | None = None) -> Select:
    """Refunds, newest first, optionally of one status and source."""
    query = select(Refund)
    if status:
        query = query.where(Refund.status == status)
    if source:
        query = query.where(Refund.source == source)
    return query.order_by(Refund.created_at.desc(), Refund.id)


def refunds_page(status: str | None, source: str | None, page: int,
                 per_page: int) -> Page[Refund]:
    """One page of refunds, newest first, optionally of one status and source."""
    return paginate(refunds_query(status, source), page, per_page)


def refund_by_key(idempotency_key: str) -> Refund | None:
    return db.session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))


# --- payouts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutWeek:
    week_start: date
    rows: list[tuple[DoctorPayout, str]]  # the payout and the doctor's name

    @property
    def total_net(self) -> int:
        return sum(p.net_paise for p, _ in self.rows)

    @property
    def total_gross(self) -> int:
        return sum(p.gross_paise for p, _ in self.rows)


def payouts_by_week(weeks: int = 12, doctor_id: uuid.UUID | None = None) -> list[PayoutWeek]:
    """The payouts of the last `weeks` computed weeks, newest week first, doctors by name."""
    week_starts = select(DoctorPayout.week_start).distinct()
    if doctor_id:
        week_starts = week_starts.where(DoctorPayout.doctor_id == doctor_id)
    recent = list(db.session.scalars(week_starts.order_by(DoctorPayout.week_start.desc())
                                      .limit(weeks)))
    if not recent:
        return []
    query = (select(DoctorPayout, User.name).join(Doctor, Doctor.id == DoctorPayout.doctor_id)
             .join(User, User.id == Doctor.user_id).where(DoctorPayout.week_start.in_(recent))
             .order_by(DoctorPayout.week_start.desc(), User.name))
    if doctor_id:
        query = query.where(DoctorPayout.doctor_id == doctor_id)
    grouped: dict[date, list[tuple[DoctorPayout, str]]] = {}
    for payout, name in db.session.execute(query):
        grouped.setdefault(payout.week_start, []).append((payout, name))
    return [PayoutWeek(week, rows) for week, rows in grouped.items()]


@dataclass(frozen=True)
class WeekToDate:
    """A doctor's current payout week so far (UTC weeks, as payouts are computed)."""

    week_start: date
    gross: int
    commission: int
    refunds: int
    count: int

    @property
    def net(self) -> int:
        return self.gross - self.commission - self.refunds


def week_to_date(doctor_id: uuid.UUID, now: datetime) -> WeekToDate:
    """What the doctor's payout for the week containing `now` would be if computed now (the
    statement's rules: `portal.payments.payouts`)."""
    week_start = week_start_of(now.astimezone(UTC).date())
    start = datetime.combine(week_start, time(0), tzinfo=UTC)
    end = now + timedelta(microseconds=1)
    count = db.session.scalar(select(func.count()).select_from(PaymentTransaction).where(
        PaymentTransaction.doctor_id == doctor_id, PaymentTransaction.captured_at >= start,
        PaymentTransaction.captured_at < end))
    gross, commission, refunds = payout_totals(doctor_id, start, end)
    return WeekToDate(week_start, gross, commission, refunds, int(count))


# --- the doctors' shares (Razorpay Route) ------------------------------------------------------


def payout_note(payment: PaymentTransaction) -> str | None:
    """What happens to the doctor's share of this payment, in words for the admin."""
    if payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED):
        return None
    transfer = transfers.transfer_for_payment(payment.id)
    if transfer is not None:
        return transfer_state(transfer, "UTC")
    if payment.channel == PaymentChannel.OFFLINE:
        return "Paid at the desk: the doctor's share is owed by the clinic, outside Razorpay."
    if payment.status == P.REFUNDED:
        return "Refunded in full before any transfer: nothing to pay."
    return accounts.why_not_payable(payment.appointment.doctor) or \
        "Not transferred yet; the next reconciliation makes the transfer."


def unpaid_doctors(now: datetime | None = None) -> list[tuple[Doctor, int, int, str]]:
    """Doctors with online payments of the last 30 days and no transfer because of their linked
    account: (doctor, payments, doctor's share in paise, why), by name."""
    now = now or utcnow()
    rows = db.session.execute(
        select(PaymentTransaction.doctor_id, func.count(), func.sum(
            PaymentTransaction.amount_paise))
        .where(PaymentTransaction.status.in_(transfers.TRANSFERABLE),
               PaymentTransaction.channel != PaymentChannel.OFFLINE,
               PaymentTransaction.captured_at >= now - timedelta(days=30),
               ~exists().where(Transfer.payment_id == PaymentTransaction.id))
        .group_by(PaymentTransaction.doctor_id)).all()
    found = []
    for doctor_id, count, gross in rows:
        doctor = db.session.get(Doctor, doctor_id)
        why = accounts.why_not_payable(doctor)
        if why:
            found.append((doctor, int(count), int(gross) - commission_of(int(gross)),
                          why))
    return sorted(found, key=lambda row: row[0].name)
