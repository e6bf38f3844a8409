"""Retention: free text about health, and copies of messages, are kept only as long as needed.

- Reasons: `RETENTION_REASON_DAYS` (365) after a visit, the reason for the visit and the reason
  given for a cancellation are cleared, wherever a copy of them was written: the appointment,
  the CANCELLED row of its status history, its events in the outbox, the refund a cancellation
  caused.
- Messages: `RETENTION_NOTIFICATION_DAYS` (90) after a notification went out (or was given up
  on), its subject, body, the variables it was rendered with and the address or number it
  went to are cleared.

What the clinic needs stays: the appointment (doctor, times, status, fee), its history,
payments and refunds, and each notification's type, channel, status, attempts and times.

The periodic job (`jobs/privacy.py`, daily) runs `apply_retention`. Each batch is one bulk
UPDATE in a `write()` of its own, so the write lock is held briefly and a crash loses at most
one batch of work; a cleared row no longer matches, so running it again changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from portal.appointments.models import Appointment, AppointmentStatus, AppointmentStatusHistory
from portal.clock import utcnow
from portal.events import OutboxEvent
from portal.extensions import db
from portal.notifications.models import DeliveryStatus, NotificationLog
from portal.payments.models import PaymentTransaction, Refund, RefundSource
from portal.transactions import write

BATCH = 500
# What a cleared refund reason says instead (refunds stay: they are money).
CANCELLED_REFUND_REASON = "appointment cancelled"
FINISHED = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value,
            DeliveryStatus.FAILED.value)


@dataclass(frozen=True)
class RetentionResult:
    appointments: int  # appointments whose reasons were cleared
    notifications: int  # notifications whose words and address were cleared


def apply_retention(now: datetime | None = None, batch: int = BATCH) -> RetentionResult:
    """Clear what has been kept long enough (idempotent)."""
    now = now or utcnow()
    config = current_app.config
    return RetentionResult(
        appointments=clear_reasons(now - timedelta(days=config["RETENTION_REASON_DAYS"]),
                                   batch),
        notifications=clear_notifications(
            now - timedelta(days=config["RETENTION_NOTIFICATION_DAYS"]), batch))


# --- reasons -----------------------------------------------------------------------------------


def _with_reasons(before: datetime):
    """Appointments that ended before `before` and still hold a reason."""
    return select(Appointment.id).where(
        Appointment.end_at < before,
        or_(Appointment.reason_for_visit != "",
            and_(Appointment.cancel_reason.is_not(None), Appointment.cancel_reason != "")))


def clear_reasons(before: datetime, batch: int = BATCH) -> int:
    """Clear the reasons of appointments whose visit ended before `before`; returns how many
    appointments were cleared."""
    cleared = 0
    while True:
        with write():
            ids = list(db.session.scalars(_with_reasons(before).order_by(Appointment.id)
                                          .limit(batch)))
            if not ids:
                return cleared
            db.session.execute(update(Appointment).where(Appointment.id.in_(ids))
                               .values(reason_for_visit="", cancel_reason=None),
                               execution_options={"synchronize_session": False})
            db.session.execute(
                update(AppointmentStatusHistory)
                .where(AppointmentStatusHistory.appointment_id.in_(ids),
                       AppointmentStatusHistory.to_status == AppointmentStatus.CANCELLED)
                .values(reason=""), execution_options={"synchronize_session": False})
            _clear_refund_reasons(ids)
            _clear_event_reasons(ids)
        cleared += len(ids)


def _clear_refund_reasons(appointment_ids: list[uuid.UUID]) -> None:
    """A cancellation's refund was given the cancellation's reason: it gets a plain one."""
    payments = select(PaymentTransaction.id).where(
        PaymentTransaction.appointment_id.in_(appointment_ids))
    db.session.execute(update(Refund).where(Refund.payment_id.in_(payments),
                                            Refund.source == RefundSource.CANCELLATION,
                                            Refund.reason != CANCELLED_REFUND_REASON)
                       .values(reason=CANCELLED_REFUND_REASON),
                       execution_options={"synchronize_session": False})


def _clear_event_reasons(appointment_ids: list[uuid.UUID]) -> None:
    """A published CANCELLED event carries the cancellation's reason: emptied (the payload is
    JSON, so rewritten row by row; one event per cancelled appointment). The other events'
    reasons are the system's own words ("slot held", "rescheduled")."""
    events = db.session.scalars(select(OutboxEvent).where(
        OutboxEvent.aggregate_id.in_(appointment_ids),
        OutboxEvent.event_type == AppointmentStatus.CANCELLED.value,
        OutboxEvent.published_at.is_not(None)))
    for event in events:
        if event.payload.get("reason"):
            event.payload = {**event.payload, "reason": ""}


# --- notifications -----------------------------------------------------------------------------


def clear_notifications(before: datetime, batch: int = BATCH) -> int:
    """Clear the words, variables and address of notifications that went out (or failed for
    good) before `before`; returns how many were cleared."""
    cleared = 0
    finished_before = and_(NotificationLog.status.in_(FINISHED), or_(
        NotificationLog.sent_at < before,
        and_(NotificationLog.sent_at.is_(None), NotificationLog.created_at < before)))
    holding = or_(NotificationLog.subject != "", NotificationLog.body != "",
                  NotificationLog.body_html.is_not(None), NotificationLog.recipient != "")
    while True:
        with write():
            ids = list(db.session.scalars(select(NotificationLog.id)
                                          .where(finished_before, holding)
                                          .order_by(NotificationLog.id).limit(batch)))
            if not ids:
                return cleared
            db.session.execute(update(NotificationLog).where(NotificationLog.id.in_(ids))
                               .values(subject="", body="", body_html=None, recipient="",
                                       context={}),
                               execution_options={"synchronize_session": False})
        cleared += len(ids)
