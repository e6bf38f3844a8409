"""Delivering recorded notifications: one attempt with retries and backoff, the sweeper for
what Redis or a dead worker dropped, an admin's resend, and Twilio's delivery reports.

The delivery job re-checks its row under a lock, so a notification never goes out twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import or_, select

from portal.appointments.ics import calendar_for
from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import Conflict, NotFound
from portal.extensions import db
from portal.notifications import channels
from portal.notifications.announcements import NOT_OPTED_IN, may_receive
from portal.notifications.context import public_url
from portal.notifications.devices import push_to_user
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    NotificationLog,
    NotificationType,
)
from portal.notifications.notify import enqueue_delivery
from portal.transactions import write

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF = (60, 300, 900, 3600)  # seconds before attempts 2..5
STUCK_AFTER = timedelta(minutes=10)  # a SENDING row this old: its worker died


def deliver(log_id: uuid.UUID, now: datetime | None = None) -> str:
    """One delivery attempt of a recorded notification; never sends a SENT one again.

    The row is marked SENDING (committed) before the provider is called. A retry that finds
    it SENDING and fresh leaves it alone (another worker has it); one stuck past STUCK_AFTER
    belonged to a worker that died, and is attempted again.
    """
    now = now or utcnow()
    with write():
        row = db.session.scalar(select(NotificationLog).where(NotificationLog.id == log_id)
                                .with_for_update())
        if row is None:
            return "MISSING"
        if row.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
            return row.status
        if row.status == DeliveryStatus.SENDING and row.last_attempt_at and \
                now - row.last_attempt_at < STUCK_AFTER:
            return row.status
        if row.next_attempt_at and row.next_attempt_at > now:
            return row.status
        if row.type == NotificationType.ANNOUNCEMENT and \
                not may_receive(db.session.get(User, row.user_id)):
            # Withdrawn since it was queued: a withdrawal is honoured at once. Final, like a
            # failure, so no sweeper or retry picks it up again.
            row.status, row.error = DeliveryStatus.FAILED.value, NOT_OPTED_IN
            row.next_attempt_at = None
            log.info("announcement %s dropped: %s", row.id, NOT_OPTED_IN)
            return row.status
        row.status = DeliveryStatus.SENDING.value
        row.attempts += 1
        row.last_attempt_at = now

    user = db.session.get(User, row.user_id)
    try:
        provider_id = _send(row, user)
    except channels.PermanentFailure as exc:
        return _finish(row.id, DeliveryStatus.FAILED, error=str(exc), now=now)
    except channels.TransientFailure as exc:
        if row.attempts >= MAX_ATTEMPTS:
            return _finish(row.id, DeliveryStatus.FAILED, error=str(exc), now=now)
        delay = BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
        retry_at = now + timedelta(seconds=delay)
        _finish(row.id, DeliveryStatus.PENDING, error=str(exc), now=now, retry_at=retry_at)
        enqueue_delivery(row.id, at=retry_at)
        return DeliveryStatus.PENDING.value
    return _finish(row.id, DeliveryStatus.SENT, provider_id=provider_id, now=now)


def _send(row: NotificationLog, user: User) -> str:
    """Hand the message to its channel's provider; returns the provider's id."""
    channel = Channel(row.channel)
    if channel == Channel.EMAIL:
        html = render_template("emails/notification.html", subject=row.subject,
                               paragraphs=row.body.split("\n\n"), link=row.link,
                               clinic_name=current_app.config["CLINIC_NAME"])
        attachments = _attachments(row)
        return channels.send_email(row.recipient, row.subject, row.body, html, attachments,
                                   message_id=f"<{row.id}@{_mail_domain()}>")
    if channel == Channel.SMS:
        return channels.send_sms(row.recipient, row.body,
                                 status_callback=public_url("/api/v1/notifications/sms-status"))
    if channel == Channel.PUSH:
        return push_to_user(user.id, row.subject, row.body, row.link)
    return "in-app"


def _attachments(row: NotificationLog) -> list[tuple[str, str, bytes]]:
    """The calendar invitation, for messages that carry an appointment to put in a diary."""
    appointment_id = row.context.get("ics_appointment_id")
    if not appointment_id:
        return []
    appointment = db.session.get(Appointment, uuid.UUID(appointment_id))
    if appointment is None:
        return []
    return [("appointment.ics", "text/calendar; method=PUBLISH",
             calendar_for(appointment, public_url(f"/appointments/{appointment.id}"),
                          _mail_domain()))]


def _mail_domain() -> str:
    return urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"


def _finish(log_id: uuid.UUID, status: DeliveryStatus, *, now: datetime, error: str | None = None,
            provider_id: str | None = None, retry_at: datetime | None = None) -> str:
    """Record how an attempt ended."""
    with write():
        row = db.session.get(NotificationLog, log_id)
        row.status = status.value
        row.error = (error or "")[:500] or None
        row.next_attempt_at = retry_at
        if provider_id:
            row.provider_id = provider_id[:300]
        if status == DeliveryStatus.SENT:
            row.sent_at = now
    if status == DeliveryStatus.FAILED:
        log.error("notification %s (%s, %s) failed for good: %s", row.id, row.type, row.channel,
                  row.error)
    return status.value


def sweep_deliveries(now: datetime | None = None, limit: int = 500) -> int:
    """Queue again what Redis lost: PENDING rows now due, and SENDING rows of dead workers."""
    now = now or utcnow()
    # A unit of work of its own so the read has ended before Redis is called (it may hang).
    with write():
        ids = list(db.session.scalars(select(NotificationLog.id).where(or_(
            (NotificationLog.status == DeliveryStatus.PENDING.value)
            & or_(NotificationLog.next_attempt_at.is_(None),
                  NotificationLog.next_attempt_at <= now)
            & (NotificationLog.created_at <= now - timedelta(seconds=30)),
            (NotificationLog.status == DeliveryStatus.SENDING.value)
            & (NotificationLog.last_attempt_at <= now - STUCK_AFTER))).limit(limit)))
    for log_id in ids:
        enqueue_delivery(log_id)
    return len(ids)


def resend(log_id: uuid.UUID, admin: User) -> NotificationLog:
    """An admin sends a failed notification again (a fresh set of attempts).
    NotFound for an unknown id, Conflict unless it FAILED (or for an announcement to a patient
    who has not opted in to news and offers)."""
    with write():
        row = db.session.get(NotificationLog, log_id)
        if row is None:
            raise NotFound("No such notification.")
        if row.status != DeliveryStatus.FAILED:
            raise Conflict("Only a failed notification can be sent again.")
        if row.type == NotificationType.ANNOUNCEMENT and \
                not may_receive(db.session.get(User, row.user_id)):
            raise Conflict("This patient has not opted in to news and offers: the announcement "
                           "cannot be sent again.")
        row.status, row.attempts, row.next_attempt_at = DeliveryStatus.PENDING.value, 0, None
        row.error = f"resent by {admin.email}"
    enqueue_delivery(row.id)
    return row


def record_sms_status(provider_id: str, status: str, error_code: str | None) -> bool:
    """Twilio's status callback: delivered, or failed/undelivered (visible to admins).
    False when no notification has this provider id."""
    with write():
        row = db.session.scalar(select(NotificationLog).where(NotificationLog.provider_id ==
                                                              provider_id))
        if row is None:
            return False
        if status == "delivered" and row.status == DeliveryStatus.SENT:
            row.status = DeliveryStatus.DELIVERED.value
        elif status in ("failed", "undelivered") and row.status in (DeliveryStatus.SENT,
                                                                     DeliveryStatus.DELIVERED):
            row.status = DeliveryStatus.FAILED.value
            row.error = (f"Twilio reported {status}"
                         + (f" (error {error_code})" if error_code else ""))
    return True
