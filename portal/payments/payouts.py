"""Weekly doctor payout statements and what is on its way to each doctor. No request here.

A statement covers one doctor's UTC week (Monday to Sunday):
- gross: what patients paid that week (captured, every channel);
- commission: the clinic's share of it (PLATFORM_COMMISSION_PERCENT, as fixed on each transfer);
- refunds: the doctor's share of the refunds processed that week (what was reversed from their
  transfers, or the same share of a payment that had none), and whole transfers taken back
  that week because of a visit's outcome (a no-show, with PAYOUT_ON_NO_SHOW off);
- net = gross - commission - refunds.

Behind the totals are lines: the Razorpay Route transfers of that week's payments (held until
the visit is completed, then released and settled to the doctor's bank), the refunds and
reversals, payments taken at the front desk (no Razorpay payment to transfer from: the
doctor's share is *owed by the clinic* and paid outside the portal) and online payments that
could not be transferred (no activated linked account). A statement is PAID once its week is
over and every transfer on it has settled (or was reversed in full); a paid statement is not
recomputed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal.appointments.models import Appointment
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.payments.models import (
    DoctorPayout,
    PaymentChannel,
    PaymentTransaction,
    PayoutStatus,
    Refund,
    RefundStatus,
    Transfer,
    TransferReversal,
    TransferStatus,
)
from portal.transactions import write

T = TransferStatus
# Transfers whose money is (or is becoming) the doctor's.
LIVE_TRANSFERS = (T.PENDING, T.PROCESSED, T.PARTIALLY_REVERSED)


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_bounds(week_start: date) -> tuple[datetime, datetime]:
    start = datetime.combine(week_start, time(0), tzinfo=UTC)
    return start, start + timedelta(days=7)


def commission_of(amount_paise: int) -> int:
    """The clinic's commission on a payment, in whole paise (rounded down)."""
    return amount_paise * current_app.config["PLATFORM_COMMISSION_PERCENT"] // 100


def share_of(amount_paise: int) -> int:
    """The doctor's share of a payment: the fee less the clinic's commission."""
    return amount_paise - commission_of(amount_paise)


def refund_share(refund_paise: int, payment_paise: int, share_paise: int) -> int:
    """The doctor's part of a refund: the refund in the proportion of their share."""
    return refund_paise * share_paise // payment_paise


# --- computing statements ----------------------------------------------------------------------


def compute_week(week_start: date | None = None, now: datetime | None = None) -> int:
    """Compute (or recompute, while not yet paid) every doctor's statement for one UTC week
    (last week by default). Returns the number of statements with activity."""
    now = now or utcnow()
    week_start = week_start or week_start_of(now.date()) - timedelta(days=7)
    start, end = week_bounds(week_start)
    doctors = set(db.session.scalars(select(PaymentTransaction.doctor_id).where(
        PaymentTransaction.captured_at >= start, PaymentTransaction.captured_at < end)))
    doctors |= set(db.session.scalars(
        select(PaymentTransaction.doctor_id)
        .join(Refund, Refund.payment_id == PaymentTransaction.id)
        .where(Refund.status == RefundStatus.PROCESSED, Refund.processed_at >= start,
               Refund.processed_at < end)))
    doctors |= set(db.session.scalars(
        select(Transfer.doctor_id).join(TransferReversal).where(
            TransferReversal.refund_id.is_(None), TransferReversal.created_at >= start,
            TransferReversal.created_at < end)))
    for doctor_id in doctors:
        refresh_statement(doctor_id, week_start, now)
    return len(doctors)


def refresh_statement(doctor_id: uuid.UUID, week_start: date,
                      now: datetime | None = None) -> DoctorPayout:
    """The doctor's statement of that week, (re)computed unless paid, its transfers attached,
    and marked PAID when its week is over and they have all settled."""
    now = now or utcnow()
    payout = db.session.scalar(select(DoctorPayout).where(
        DoctorPayout.doctor_id == doctor_id, DoctorPayout.week_start == week_start))
    if payout is None:
        try:
            with write():
                payout = DoctorPayout(doctor_id=doctor_id, week_start=week_start, gross_paise=0,
                                      commission_paise=0, refunds_paise=0, net_paise=0,
                                      computed_at=now)
                db.session.add(payout)
        except IntegrityError:  # made concurrently: that one is this one
            payout = db.session.scalar(select(DoctorPayout).where(
                DoctorPayout.doctor_id == doctor_id, DoctorPayout.week_start == week_start))
    return _refresh(payout.id, now)


def refresh_payouts(payout_ids: set[uuid.UUID], now: datetime | None = None) -> None:
    """Recompute these statements (their transfers settled, say)."""
    for payout_id in payout_ids:
        _refresh(payout_id, now or utcnow())


def _refresh(payout_id: uuid.UUID, now: datetime) -> DoctorPayout:
    with write():
        payout = db.session.scalar(select(DoctorPayout).where(DoctorPayout.id == payout_id)
                                   .with_for_update().execution_options(populate_existing=True))
        if payout.status == PayoutStatus.PAID:
            return payout  # paid out: history is not rewritten
        start, end = week_bounds(payout.week_start)
        week_payments = select(PaymentTransaction.id).where(
            PaymentTransaction.doctor_id == payout.doctor_id,
            PaymentTransaction.captured_at >= start, PaymentTransaction.captured_at < end)
        db.session.execute(update(Transfer).where(
            Transfer.payment_id.in_(week_payments), Transfer.payout_id.is_(None))
            .values(payout_id=payout.id))
        gross, commission, refunds = totals(payout.doctor_id, start, end)
        payout.gross_paise, payout.commission_paise, payout.refunds_paise = (gross, commission,
                                                                             refunds)
        payout.net_paise = gross - commission - refunds
        payout.computed_at = now
        transfers = list(db.session.scalars(select(Transfer).where(
            Transfer.payout_id == payout.id)))
        pending_reversals = db.session.scalar(
            select(func.count()).select_from(TransferReversal).join(Transfer).where(
                Transfer.payout_id == payout.id, TransferReversal.gateway_reversal_id.is_(None)))
        if now >= end and transfers and not pending_reversals and all(
                t.settled_at is not None or t.status == T.REVERSED for t in transfers):
            payout.status = PayoutStatus.PAID
            payout.paid_at = max((t.settled_at for t in transfers if t.settled_at),
                                 default=now)
    return payout


def totals(doctor_id: uuid.UUID, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(gross, commission, refunds) of the doctor's money from `start` until before `end`; see
    the module's docstring."""
    payments = db.session.execute(
        select(PaymentTransaction.amount_paise, Transfer.commission_paise)
        .outerjoin(Transfer, Transfer.payment_id == PaymentTransaction.id)
        .where(PaymentTransaction.doctor_id == doctor_id,
               PaymentTransaction.captured_at >= start,
               PaymentTransaction.captured_at < end)).all()
    gross = sum(amount for amount, _ in payments)
    commission = sum(commission_of(amount) if fixed is None else fixed
                     for amount, fixed in payments)
    refunds = sum(line.amount for line in _refund_lines(doctor_id, start, end))
    refunds += sum(r.amount_paise for r in _outcome_reversals(doctor_id, start, end))
    return gross, commission, refunds


@dataclass(frozen=True)
class RefundLine:
    refund: Refund
    payment: PaymentTransaction
    reversal: TransferReversal | None
    amount: int  # the doctor's part


def _refund_lines(doctor_id: uuid.UUID, start: datetime, end: datetime) -> list[RefundLine]:
    rows = db.session.execute(
        select(Refund, PaymentTransaction, Transfer, TransferReversal)
        .join(PaymentTransaction, Refund.payment_id == PaymentTransaction.id)
        .outerjoin(Transfer, Transfer.payment_id == PaymentTransaction.id)
        .outerjoin(TransferReversal, TransferReversal.refund_id == Refund.id)
        .where(PaymentTransaction.doctor_id == doctor_id,
               Refund.status == RefundStatus.PROCESSED, Refund.processed_at >= start,
               Refund.processed_at < end)
        .order_by(Refund.processed_at)).all()
    lines = []
    for refund, payment, transfer, reversal in rows:
        if reversal is not None:
            amount = reversal.amount_paise
        else:
            share = transfer.amount_paise if transfer is not None else share_of(
                payment.amount_paise)
            amount = refund_share(refund.amount_paise, payment.amount_paise, share)
        lines.append(RefundLine(refund, payment, reversal, amount))
    return lines


def _outcome_reversals(doctor_id: uuid.UUID, start: datetime,
                       end: datetime) -> list[TransferReversal]:
    """Whole transfers taken back that week because of the visit's outcome (no refund)."""
    return list(db.session.scalars(select(TransferReversal).join(Transfer).where(
        Transfer.doctor_id == doctor_id, TransferReversal.refund_id.is_(None),
        TransferReversal.created_at >= start, TransferReversal.created_at < end)
        .order_by(TransferReversal.created_at)))


# --- reading statements ------------------------------------------------------------------------


def doctor_payouts(doctor_id, limit: int = 52) -> list[DoctorPayout]:
    return list(db.session.scalars(select(DoctorPayout).where(DoctorPayout.doctor_id == doctor_id)
                                   .order_by(DoctorPayout.week_start.desc()).limit(limit)))


def get_payout(payout_id: uuid.UUID) -> DoctorPayout | None:
    return db.session.get(DoctorPayout, payout_id)


@dataclass(frozen=True)
class StatementLine:
    """One row behind a statement's totals; `amount` is the doctor's (negative: taken back)."""

    kind: str  # transfer | desk | not_transferred | refund | reversal
    at: datetime
    appointment_start: datetime | None
    patient: str
    fee: int
    commission: int
    amount: int
    status: str
    reference: str
    routed: bool = False  # money moved through Razorpay Route (a transfer or its reversal)


@dataclass
class Statement:
    payout: DoctorPayout
    doctor: Doctor
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def week_end(self) -> date:
        return self.payout.week_start + timedelta(days=6)

    def total(self, *kinds: str) -> int:
        return sum(line.amount for line in self.lines if line.kind in kinds)

    @property
    def through_route(self) -> int:
        """Transferred through Razorpay Route, less what was reversed from it."""
        return sum(line.amount for line in self.lines if line.routed)

    @property
    def owed_at_desk(self) -> int:
        return self.total("desk")

    @property
    def not_transferred(self) -> int:
        return self.total("not_transferred")


TRANSFER_LABELS = {T.PENDING: "Waiting for Razorpay", T.FAILED: "Failed",
                   T.REVERSED: "Reversed in full"}


def transfer_state(transfer: Transfer, tz: str) -> str:
    """Where the doctor's money stands, in words."""
    if transfer.settled_at is not None:
        when = transfer.settled_at.astimezone(ZoneInfo(tz)).strftime("%d %b %Y")
        return f"Settled {when}"
    if transfer.status in TRANSFER_LABELS:
        label = TRANSFER_LABELS[transfer.status]
        return f"{label}: {transfer.error}" if transfer.status == T.FAILED and \
            transfer.error else label
    if transfer.on_hold:
        return "Held until the visit is completed"
    return "Released; settling to the bank"


def statement(payout: DoctorPayout, tz: str, why_not_transferred) -> Statement:
    """Every line behind the payout's totals, oldest first. `why_not_transferred(doctor)` says
    why an online payment has no transfer (accounts.why_not_payable)."""
    doctor = db.session.get(Doctor, payout.doctor_id)
    start, end = week_bounds(payout.week_start)
    out = Statement(payout, doctor)
    payments = db.session.execute(
        select(PaymentTransaction, Transfer)
        .outerjoin(Transfer, Transfer.payment_id == PaymentTransaction.id)
        .where(PaymentTransaction.doctor_id == payout.doctor_id,
               PaymentTransaction.captured_at >= start, PaymentTransaction.captured_at < end)
        .order_by(PaymentTransaction.captured_at)).all()
    reason = None
    for payment, transfer in payments:
        appointment: Appointment = payment.appointment
        common = {"at": payment.captured_at, "appointment_start": appointment.start_at,
                  "patient": appointment.patient.name, "fee": payment.amount_paise}
        if transfer is not None:
            out.lines.append(StatementLine(
                kind="transfer", commission=transfer.commission_paise,
                amount=transfer.amount_paise, status=transfer_state(transfer, tz),
                reference=transfer.gateway_transfer_id or "", routed=True, **common))
        elif payment.channel == PaymentChannel.OFFLINE:
            out.lines.append(StatementLine(
                kind="desk", commission=commission_of(payment.amount_paise),
                amount=share_of(payment.amount_paise),
                status="Paid at the desk: owed by the clinic, outside Razorpay",
                reference=payment.offline_reference or "", **common))
        else:
            reason = reason or why_not_transferred(doctor) or "Not transferred yet."
            out.lines.append(StatementLine(
                kind="not_transferred", commission=commission_of(payment.amount_paise),
                amount=share_of(payment.amount_paise), status=reason,
                reference=payment.gateway_payment_id or "", **common))
    for line in _refund_lines(payout.doctor_id, start, end):
        appointment = line.payment.appointment
        reversal = line.reversal
        if reversal is not None:
            status = ("Reversed from the transfer" if reversal.gateway_reversal_id
                      else "Reversal waiting for Razorpay")
        elif line.payment.channel == PaymentChannel.OFFLINE:
            status = "Handed back at the desk"
        else:
            status = "Refunded before any transfer"
        out.lines.append(StatementLine(
            kind="refund", at=line.refund.processed_at,
            appointment_start=appointment.start_at, patient=appointment.patient.name,
            fee=-line.refund.amount_paise, commission=0, amount=-line.amount,
            status=f"{status} ({line.refund.reason[:80]})" if line.refund.reason else status,
            reference=(reversal.gateway_reversal_id or "") if reversal else "",
            routed=reversal is not None))
    for reversal in _outcome_reversals(payout.doctor_id, start, end):
        appointment = reversal.transfer.payment.appointment
        out.lines.append(StatementLine(
            kind="reversal", at=reversal.created_at, appointment_start=appointment.start_at,
            patient=appointment.patient.name, fee=0, commission=0,
            amount=-reversal.amount_paise, status=reversal.reason or "Reversed",
            reference=reversal.gateway_reversal_id or "", routed=True))
    out.lines.sort(key=lambda line: line.at)
    return out


STATEMENT_CSV_HEADER = [
    "line", "date", "appointment", "patient", "fee_rupees", "commission_rupees",
    "doctor_share_rupees", "doctor_share_paise", "status", "razorpay_reference",
]
KIND_LABELS = {"transfer": "Transfer", "desk": "Desk payment", "not_transferred":
               "Not transferred", "refund": "Refund", "reversal": "Reversal"}


def rupees(paise: int) -> str:
    """Rupees with two decimals and no grouping, for spreadsheets: 50000 -> 500.00."""
    sign = "-" if paise < 0 else ""
    whole, rest = divmod(abs(paise), 100)
    return f"{sign}{whole}.{rest:02d}"


def _cell(value: str) -> str:
    """Text a spreadsheet will not run as a formula (names are typed by patients)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def statement_csv_rows(s: Statement, tz: str) -> Iterator[list[str]]:
    """The header, one row per line, then the totals; times in `tz`."""
    zone = ZoneInfo(tz)
    yield STATEMENT_CSV_HEADER
    for line in s.lines:
        yield [KIND_LABELS[line.kind], line.at.astimezone(zone).isoformat(timespec="seconds"),
               line.appointment_start.astimezone(zone).isoformat(timespec="minutes")
               if line.appointment_start else "", _cell(line.patient), rupees(line.fee),
               rupees(line.commission), rupees(line.amount), str(line.amount),
               _cell(line.status), line.reference]
    p = s.payout
    for label, paise in (("Gross", p.gross_paise), ("Commission", -p.commission_paise),
                         ("Refunds and reversals", -p.refunds_paise), ("Net", p.net_paise),
                         ("Through Razorpay Route", s.through_route),
                         ("Owed for desk payments", s.owed_at_desk),
                         ("Not transferred", s.not_transferred)):
        yield ["Total", "", "", label, "", "", rupees(paise), str(paise), p.status, ""]


# --- what is on its way ------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyOnTheWay:
    """A doctor's transferred shares by where they stand."""

    held: int  # waiting for the visit to be completed
    released: int  # released, not yet settled to the bank
    settled: int  # in the doctor's bank account
    failed: int  # transfers Razorpay refused or failed


def money_on_the_way(doctor_id: uuid.UUID) -> MoneyOnTheWay:
    net = Transfer.amount_paise - Transfer.reversed_paise
    live = Transfer.status.in_(LIVE_TRANSFERS)

    def total(*conditions) -> int:
        return int(db.session.scalar(select(func.coalesce(func.sum(net), 0)).where(
            Transfer.doctor_id == doctor_id, *conditions)) or 0)

    return MoneyOnTheWay(
        held=total(live, Transfer.on_hold.is_(True), Transfer.settled_at.is_(None)),
        released=total(live, Transfer.on_hold.is_(False), Transfer.settled_at.is_(None)),
        settled=total(Transfer.settled_at.is_not(None)),
        failed=int(db.session.scalar(select(func.coalesce(func.sum(Transfer.amount_paise), 0))
                                     .where(Transfer.doctor_id == doctor_id,
                                            Transfer.status == T.FAILED)) or 0))


def recent_transfers(doctor_id: uuid.UUID, limit: int = 20) -> list[Transfer]:
    return list(db.session.scalars(select(Transfer).where(Transfer.doctor_id == doctor_id)
                                   .order_by(Transfer.created_at.desc()).limit(limit)))
