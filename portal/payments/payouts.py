"""Weekly doctor payouts: gross captured minus platform commission minus refunds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.clock import utcnow
from portal.extensions import db
from portal.payments.models import (
    DoctorPayout,
    PaymentTransaction,
    PayoutStatus,
    Refund,
    RefundStatus,
)
from portal.transactions import write


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def compute_week(week_start: date | None = None, now: datetime | None = None) -> int:
    """Compute (or recompute, while not yet paid) every doctor's payout for one UTC week.

    Gross is what was captured that week; refunds are what was processed that week (a refund
    of last week's payment reduces this week's payout). Returns the number of payouts.
    """
    now = now or utcnow()
    week_start = week_start or week_start_of(now.date()) - timedelta(days=7)
    start = datetime.combine(week_start, time(0), tzinfo=UTC)
    end = start + timedelta(days=7)
    commission_percent = current_app.config["PLATFORM_COMMISSION_PERCENT"]

    gross = dict(db.session.execute(
        select(PaymentTransaction.doctor_id, func.sum(PaymentTransaction.amount_paise))
        .where(PaymentTransaction.captured_at >= start, PaymentTransaction.captured_at < end)
        .group_by(PaymentTransaction.doctor_id)).all())
    refunded = dict(db.session.execute(
        select(PaymentTransaction.doctor_id, func.sum(Refund.amount_paise))
        .join(Refund, Refund.payment_id == PaymentTransaction.id)
        .where(Refund.status == RefundStatus.PROCESSED, Refund.processed_at >= start,
               Refund.processed_at < end)
        .group_by(PaymentTransaction.doctor_id)).all())
    count = 0
    with write():
        for doctor_id in set(gross) | set(refunded):
            g, r = int(gross.get(doctor_id, 0)), int(refunded.get(doctor_id, 0))
            commission = g * commission_percent // 100
            payout = db.session.scalar(select(DoctorPayout).where(
                DoctorPayout.doctor_id == doctor_id, DoctorPayout.week_start == week_start))
            if payout is None:
                payout = DoctorPayout(doctor_id=doctor_id, week_start=week_start)
                db.session.add(payout)
            elif payout.status == PayoutStatus.PAID:
                continue  # paid out: history is not rewritten
            payout.gross_paise, payout.commission_paise, payout.refunds_paise = g, commission, r
            payout.net_paise = g - commission - r
            payout.computed_at = now
            count += 1
    return count


def doctor_payouts(doctor_id, limit: int = 52) -> list[DoctorPayout]:
    return list(db.session.scalars(select(DoctorPayout).where(DoctorPayout.doctor_id == doctor_id)
                                   .order_by(DoctorPayout.week_start.desc()).limit(limit)))
