"""Notification rules: what to send whom on which channel, delivery with a log, reminders.

None is lost (invariant 4): a notification is a `notification_logs` row first (unique per
event, user and channel), then a job; a reminder is a `scheduled_notifications` row first,
then an `enqueue_at` job. Sweepers pick up whatever Redis or a crashed worker dropped, and
the delivery job re-checks the row, so nothing goes out twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.formatting import format_money
from portal.notifications import channels
from portal.notifications.defaults import LANGUAGES
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    NotificationLog,
    NotificationTemplate,
    NotificationType,
    ReminderStatus,
    ScheduledNotification,
    UserNotificationPreferences,
)
from portal.transactions import begin_write

log = logging.getLogger(__name__)

T = NotificationType
MAX_ATTEMPTS = 5
BACKOFF = (60, 300, 900, 3600)  # seconds before attempts 2..5
STUCK_AFTER = timedelta(minutes=10)  # a SENDING row this old: its worker died
# RQ's scheduler rounds due times down to the second and hosts' clocks differ a little: a
# reminder job a few seconds early still sends.
EARLY_TOLERANCE = timedelta(seconds=5)
# The periodic sweeper leaves alone what is due so recently that its own job is still queued.
SWEEP_GRACE = timedelta(minutes=2)
DEFAULT_OFFSETS = [1440, 60, 15]
# Never switched off: a receipt is a record of money (the issue: "receipts always go by email").
ALWAYS_ON = {(Channel.EMAIL, T.PAYMENT_RECEIPT)}

_sandbox = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False,
                                trim_blocks=True, keep_trailing_newline=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


# --- templates ---------------------------------------------------------------------------------


def template_source(kind: str, channel: str, language: str) -> tuple[str, str] | None:
    """(subject, body), most specific first: the stored words in the language, the built-in
    ones in the language, then the same two in English. None: not sent on this channel."""
    from portal.notifications.defaults import DEFAULTS

    for lang in dict.fromkeys((language, "en")):
        row = db.session.scalar(select(NotificationTemplate).where(
            NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
            NotificationTemplate.language == lang))
        if row is not None:
            return row.subject, row.body_text
        builtin = DEFAULTS.get(lang, {}).get(kind, {}).get(channel)
        if builtin is not None:
            return builtin
    return None


def reset_template(kind: str, channel: str, language: str) -> bool:
    """Forget the stored words of one key (the built-in default applies again)."""
    removed = db.session.execute(delete(NotificationTemplate).where(
        NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
        NotificationTemplate.language == language)).rowcount
    db.session.commit()
    return bool(removed)


def render_source(subject: str, body: str, context: dict[str, Any]) -> Rendered:
    """Render admin-editable templates in Jinja's sandbox (no attribute tricks, no imports)."""
    try:
        return Rendered(_sandbox.from_string(subject).render(context).strip(),
                        _sandbox.from_string(body).render(context).strip())
    except TemplateError as exc:
        raise ValidationFailed({"body_text": f"The template does not render: {exc}"}) from None


def validate_template(subject: str, body: str) -> None:
    if not body.strip():
        raise ValidationFailed({"body_text": "Write the message."})
    if len(subject) > 200:
        raise ValidationFailed({"subject": "Use at most 200 characters."})
    render_source(subject, body, sample_context())


def save_template(kind: str, channel: str, language: str, subject: str, body: str,
                  editor: User) -> NotificationTemplate:
    if kind not in T.__members__ or channel not in Channel.__members__ or \
            language not in LANGUAGES:
        raise NotFound("No such template.")
    validate_template(subject, body)
    row = db.session.scalar(select(NotificationTemplate).where(
        NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
        NotificationTemplate.language == language))
    if row is None:
        row = NotificationTemplate(type=kind, channel=channel, language=language)
        db.session.add(row)
    row.subject, row.body_text, row.updated_by_id = subject.strip(), body, editor.id
    db.session.commit()
    return row


def seed_default_templates() -> int:
    """Write the built-in defaults for every key not in the database yet (idempotent)."""
    from portal.notifications.defaults import DEFAULTS

    added = 0
    for language, kinds in DEFAULTS.items():
        for kind, by_channel in kinds.items():
            for channel, (subject, body) in by_channel.items():
                exists = db.session.scalar(select(NotificationTemplate.id).where(
                    NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
                    NotificationTemplate.language == language))
                if exists is None:
                    db.session.add(NotificationTemplate(type=kind, channel=channel,
                                                        language=language, subject=subject,
                                                        body_text=body))
                    added += 1
    db.session.commit()
    return added


def sample_context() -> dict[str, Any]:
    """Realistic sample data for the template editor's preview."""
    return {"clinic_name": current_app.config["CLINIC_NAME"], "patient_name": "Pat Kumar",
            "doctor_name": "Dr. Asha Mehta", "specialty": "General Medicine",
            "start": "Mon 07 Dec 2026, 09:00", "old_start": "Fri 04 Dec 2026, 17:30",
            "timezone": "Asia/Kolkata", "consultation_label": "video",
            "video_link": "https://meet.example.com/room/abc123", "amount": "₹500",
            "tax": "₹76.27", "refund_amount": "₹250", "reason": "Doctor unavailable",
            "visit_reason": "Cough for a week", "hold_until": "09:05",
            "when": "in 1 hour", "gateway_payment_id": "pay_29QQoUBi66xm2f",
            "appointment_url": public_url("/appointments/"),
            "doctor_url": public_url("/doctors/"), "receipt_url": public_url("/payments/"),
            "practice_url": public_url("/appointments/practice"), "error": "Card declined",
            "title": "Clinic closed on Friday", "message": "The clinic is closed on Friday.",
            "link_url": "https://rzp.io/i/nxrHnLJ", "link_expires": "Mon 07 Dec, 09:16"}


def public_url(path: str) -> str:
    """An absolute link for messages, from PUBLIC_URL (never from a request's Host header)."""
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


# --- preferences -------------------------------------------------------------------------------


def preferences_for(user_id: uuid.UUID) -> UserNotificationPreferences:
    prefs = db.session.get(UserNotificationPreferences, user_id)
    if prefs is None:
        prefs = UserNotificationPreferences(user_id=user_id, language="en",
                                            reminder_offsets=list(DEFAULT_OFFSETS), channels={})
    return prefs


def channel_enabled(prefs: UserNotificationPreferences, channel: str, kind: str) -> bool:
    if (channel, kind) in ALWAYS_ON:
        return True
    return bool((prefs.channels or {}).get(channel, {}).get(kind, True))


def update_preferences(user: User, *, language: str | None = None,
                       reminder_offsets: list[int] | None = None,
                       channels_: dict[str, dict[str, bool]] | None = None
                       ) -> UserNotificationPreferences:
    errors: dict[str, str] = {}
    if language is not None and language not in LANGUAGES:
        errors["language"] = f"Choose one of: {', '.join(LANGUAGES)}."
    if reminder_offsets is not None:
        if len(reminder_offsets) > 5:
            errors["reminder_offsets"] = "Choose at most 5 reminders."
        elif any(not 5 <= m <= 7 * 1440 for m in reminder_offsets):
            errors["reminder_offsets"] = "Each reminder is between 5 minutes and 7 days before."
    for channel, kinds in (channels_ or {}).items():
        if channel not in Channel.__members__:
            errors[f"channels.{channel}"] = "Unknown channel."
            continue
        for kind in kinds:
            if kind not in T.__members__:
                errors[f"channels.{channel}.{kind}"] = "Unknown notification type."
            elif (channel, kind) in ALWAYS_ON and not kinds[kind]:
                errors[f"channels.{channel}.{kind}"] = "Receipts always go by email."
    if errors:
        raise ValidationFailed(errors)
    prefs = db.session.get(UserNotificationPreferences, user.id)
    if prefs is None:
        prefs = UserNotificationPreferences(user_id=user.id, language="en",
                                            reminder_offsets=list(DEFAULT_OFFSETS), channels={})
        db.session.add(prefs)
    if language is not None:
        prefs.language = language
    if reminder_offsets is not None:
        prefs.reminder_offsets = sorted(set(reminder_offsets), reverse=True)
    if channels_ is not None:
        merged = {c: dict(v) for c, v in (prefs.channels or {}).items()}
        for channel, kinds in channels_.items():
            merged.setdefault(channel, {}).update({k: bool(v) for k, v in kinds.items()})
        prefs.channels = merged
    db.session.commit()
    return prefs


# --- making notifications -------------------------------------------------------------------


def notify(user: User, kind: NotificationType, context: dict[str, Any], dedupe_base: str, *,
           link: str | None = None, only: set[Channel] | None = None) -> list[NotificationLog]:
    """Record one notification per enabled channel and queue the deliveries.

    `dedupe_base` names the cause (an event id, a reminder id): running this again for the
    same cause adds nothing. In-app notifications are "sent" by being recorded.
    """
    prefs = preferences_for(user.id)
    context = {"clinic_name": current_app.config["CLINIC_NAME"], **context}
    made: list[NotificationLog] = []
    for channel in Channel:
        if only is not None and channel not in only:
            continue
        if not channel_enabled(prefs, channel.value, kind.value):
            continue
        source = template_source(kind.value, channel.value, prefs.language)
        recipient = _recipient(user, channel)
        if source is None or recipient is None:
            continue
        rendered = render_source(*source, context)
        row = NotificationLog(
            user_id=user.id, type=kind.value, channel=channel.value,
            dedupe_key=f"{dedupe_base}:{user.id}:{channel.value}"[:200], recipient=recipient,
            subject=rendered.subject[:200], body=rendered.text, context=_jsonable(context),
            link=link, created_at=utcnow())
        if channel == Channel.IN_APP:
            row.status, row.sent_at = DeliveryStatus.SENT.value, utcnow()
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # this cause already notified this user on this channel
            db.session.rollback()
            continue
        made.append(row)
        if channel != Channel.IN_APP:
            _enqueue_delivery(row.id)
    return made


def _recipient(user: User, channel: Channel) -> str | None:
    if channel == Channel.EMAIL:
        return user.email
    if channel == Channel.SMS:
        return user.phone or None
    if channel == Channel.PUSH:
        from portal.notifications.devices import active_devices

        return "devices" if active_devices(user.id) else None
    return "in-app"


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if not isinstance(v, (str, int, float, bool, type(None))) else v)
            for k, v in context.items()}


def _enqueue_delivery(log_id: uuid.UUID, at: datetime | None = None) -> None:
    """Queue a delivery; without Redis the sweeper finds the PENDING row later."""
    try:
        from portal.jobqueue import get_queue

        queue = get_queue("notifications")
        if at is None:
            # Ahead of queued reminder jobs: a notification already made should not wait
            # behind the ones still to be made (measured in bench/reminders.py).
            queue.enqueue("jobs.notifications.deliver", str(log_id), at_front=True)
        else:
            queue.enqueue_at(at, "jobs.notifications.deliver", str(log_id))
    except Exception:  # noqa: BLE001 - Redis down: the row waits for the sweeper
        log.warning("could not queue notification %s; the sweeper will", log_id)


# --- delivering --------------------------------------------------------------------------------


def deliver(log_id: uuid.UUID, now: datetime | None = None) -> str:
    """One delivery attempt of a recorded notification; never sends a SENT one again.

    The row is marked SENDING (committed) before the provider is called. A retry that finds
    it SENDING and fresh leaves it alone (another worker has it); one stuck past STUCK_AFTER
    belonged to a worker that died, and is attempted again.
    """
    now = now or utcnow()
    begin_write()
    row = db.session.scalar(select(NotificationLog).where(NotificationLog.id == log_id)
                            .with_for_update())
    if row is None:
        db.session.rollback()
        return "MISSING"
    if row.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        db.session.rollback()
        return row.status
    if row.status == DeliveryStatus.SENDING and row.last_attempt_at and \
            now - row.last_attempt_at < STUCK_AFTER:
        db.session.rollback()
        return row.status
    if row.next_attempt_at and row.next_attempt_at > now:
        db.session.rollback()
        return row.status
    row.status = DeliveryStatus.SENDING.value
    row.attempts += 1
    row.last_attempt_at = now
    db.session.commit()

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
        _enqueue_delivery(row.id, at=retry_at)
        return DeliveryStatus.PENDING.value
    return _finish(row.id, DeliveryStatus.SENT, provider_id=provider_id, now=now)


def _send(row: NotificationLog, user: User) -> str:
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
        from portal.notifications.devices import push_to_user

        return push_to_user(user.id, row.subject, row.body, row.link)
    return "in-app"


def _attachments(row: NotificationLog) -> list[tuple[str, str, bytes]]:
    appointment_id = row.context.get("ics_appointment_id")
    if not appointment_id:
        return []
    from portal.appointments.ics import calendar_for
    from portal.appointments.models import Appointment

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
    begin_write()
    row = db.session.get(NotificationLog, log_id)
    row.status = status.value
    row.error = (error or "")[:500] or None
    row.next_attempt_at = retry_at
    if provider_id:
        row.provider_id = provider_id[:300]
    if status == DeliveryStatus.SENT:
        row.sent_at = now
    db.session.commit()
    if status == DeliveryStatus.FAILED:
        log.error("notification %s (%s, %s) failed for good: %s", row.id, row.type, row.channel,
                  row.error)
    return status.value


def sweep_deliveries(now: datetime | None = None, limit: int = 500) -> int:
    """Queue again what Redis lost: PENDING rows now due, and SENDING rows of dead workers."""
    now = now or utcnow()
    ids = list(db.session.scalars(select(NotificationLog.id).where(or_(
        (NotificationLog.status == DeliveryStatus.PENDING.value)
        & or_(NotificationLog.next_attempt_at.is_(None), NotificationLog.next_attempt_at <= now)
        & (NotificationLog.created_at <= now - timedelta(seconds=30)),
        (NotificationLog.status == DeliveryStatus.SENDING.value)
        & (NotificationLog.last_attempt_at <= now - STUCK_AFTER))).limit(limit)))
    db.session.rollback()
    for log_id in ids:
        _enqueue_delivery(log_id)
    return len(ids)


def resend(log_id: uuid.UUID, admin: User) -> NotificationLog:
    """An admin sends a failed notification again (a fresh set of attempts)."""
    row = db.session.get(NotificationLog, log_id)
    if row is None:
        raise NotFound("No such notification.")
    if row.status != DeliveryStatus.FAILED:
        from portal.exceptions import Conflict

        raise Conflict("Only a failed notification can be sent again.")
    row.status, row.attempts, row.next_attempt_at = DeliveryStatus.PENDING.value, 0, None
    row.error = f"resent by {admin.email}"
    db.session.commit()
    _enqueue_delivery(row.id)
    return row


def record_sms_status(provider_id: str, status: str, error_code: str | None) -> bool:
    """Twilio's status callback: delivered, or failed/undelivered (visible to admins)."""
    row = db.session.scalar(select(NotificationLog).where(NotificationLog.provider_id ==
                                                          provider_id))
    if row is None:
        return False
    if status == "delivered" and row.status == DeliveryStatus.SENT:
        row.status = DeliveryStatus.DELIVERED.value
    elif status in ("failed", "undelivered") and row.status in (DeliveryStatus.SENT,
                                                                 DeliveryStatus.DELIVERED):
        row.status = DeliveryStatus.FAILED.value
        row.error = f"Twilio reported {status}" + (f" (error {error_code})" if error_code else "")
    db.session.commit()
    return True


# --- in-app inbox ------------------------------------------------------------------------------


def inbox(user_id: uuid.UUID, limit: int = 20, offset: int = 0) -> list[NotificationLog]:
    return list(db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == user_id, NotificationLog.channel == Channel.IN_APP.value)
        .order_by(NotificationLog.created_at.desc(), NotificationLog.id)
        .limit(limit).offset(offset)))


def unread_count(user_id: uuid.UUID) -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(NotificationLog).where(
        NotificationLog.user_id == user_id, NotificationLog.channel == Channel.IN_APP.value,
        NotificationLog.read_at.is_(None))) or 0


def get_in_app(user_id: uuid.UUID, log_id: uuid.UUID) -> NotificationLog:
    """One of the user's own in-app notifications; NotFound for anyone else's."""
    row = db.session.get(NotificationLog, log_id)
    if row is None or row.user_id != user_id or row.channel != Channel.IN_APP:
        raise NotFound("No such notification.")
    return row


def mark_read(user_id: uuid.UUID, log_id: uuid.UUID | None = None) -> int:
    """Mark one (or every) in-app notification of the user read."""
    stmt = update(NotificationLog).where(NotificationLog.user_id == user_id,
                                         NotificationLog.channel == Channel.IN_APP.value,
                                         NotificationLog.read_at.is_(None))
    if log_id is not None:
        stmt = stmt.where(NotificationLog.id == log_id)
    count = db.session.execute(stmt.values(read_at=utcnow())).rowcount or 0
    db.session.commit()
    return count


# --- reminders ---------------------------------------------------------------------------------


def schedule_reminders(appointment, now: datetime | None = None) -> list[ScheduledNotification]:
    """One row per offset of the patient's preferences; offsets already past are skipped."""
    now = now or utcnow()
    stored = preferences_for(appointment.patient_id).reminder_offsets
    offsets = DEFAULT_OFFSETS if stored is None else stored
    made = []
    for minutes in offsets:
        due = appointment.start_at - timedelta(minutes=minutes)
        if due <= now:
            continue
        row = ScheduledNotification(appointment_id=appointment.id,
                                    user_id=appointment.patient_id, offset_minutes=minutes,
                                    due_at=due, appointment_start_at=appointment.start_at,
                                    status=ReminderStatus.SCHEDULED.value, created_at=now)
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # made already by an earlier run of this consumer
            db.session.rollback()
            continue
        made.append(row)
        _enqueue_reminder(row)
    return made


def cancel_reminders(appointment_id: uuid.UUID) -> int:
    count = db.session.execute(update(ScheduledNotification).where(
        ScheduledNotification.appointment_id == appointment_id,
        ScheduledNotification.status == ReminderStatus.SCHEDULED.value)
        .values(status=ReminderStatus.CANCELLED.value)).rowcount or 0
    db.session.commit()
    return count


def _enqueue_reminder(row: ScheduledNotification) -> None:
    try:
        from portal.jobqueue import get_queue

        get_queue("notifications").enqueue_at(row.due_at, "jobs.notifications.send_reminder",
                                              str(row.id), job_id=f"reminder-{row.id}")
    except Exception:  # noqa: BLE001 - Redis down: the row waits for the sweeper
        log.warning("could not schedule reminder %s; the sweeper will", row.id)


def send_reminder(reminder_id: uuid.UUID, now: datetime | None = None) -> str:
    """Send one due reminder, after re-reading the appointment: nothing for a cancelled or
    moved one. Idempotent: a reminder goes out once."""
    from portal.appointments.models import Appointment

    now = now or utcnow()
    begin_write()
    row = db.session.scalar(select(ScheduledNotification).where(
        ScheduledNotification.id == reminder_id).with_for_update())
    if row is None or row.status != ReminderStatus.SCHEDULED or \
            row.due_at > now + EARLY_TOLERANCE:
        db.session.rollback()
        return row.status if row else "MISSING"
    appointment = db.session.get(Appointment, row.appointment_id)
    if appointment.status != "CONFIRMED" or appointment.start_at != row.appointment_start_at \
            or appointment.start_at <= now:
        row.status = ReminderStatus.CANCELLED.value
        db.session.commit()
        return row.status
    if now > row.due_at + timedelta(minutes=row.offset_minutes / 2):
        # "Tomorrow" is wrong an hour before: a reminder this late is skipped, not sent.
        row.status = ReminderStatus.SKIPPED.value
        db.session.commit()
        return row.status
    offset = row.offset_minutes
    db.session.commit()
    # Notifications first (unique per reminder, so a second runner adds nothing), then the
    # mark: a crash in between sends nothing twice and loses nothing.
    patient = db.session.get(User, appointment.patient_id)
    context = appointment_context(appointment, patient)
    context["when"] = _when(offset, prefs_language(patient.id))
    notify(patient, T.APPOINTMENT_REMINDER, context, f"reminder:{reminder_id}",
           link=public_url(f"/appointments/{appointment.id}"))
    db.session.execute(update(ScheduledNotification).where(
        ScheduledNotification.id == reminder_id,
        ScheduledNotification.status == ReminderStatus.SCHEDULED.value)
        .values(status=ReminderStatus.SENT.value, sent_at=now))
    db.session.commit()
    return ReminderStatus.SENT.value


def sweep_reminders(now: datetime | None = None, limit: int = 1000,
                    grace: timedelta = timedelta(0)) -> int:
    """Send due reminders whose job Redis lost (or never got).

    The periodic job passes SWEEP_GRACE, so it does not race the per-reminder jobs that are
    merely queued behind others; tests and manual runs sweep everything due.
    """
    now = now or utcnow()
    ids = list(db.session.scalars(select(ScheduledNotification.id).where(
        ScheduledNotification.status == ReminderStatus.SCHEDULED.value,
        ScheduledNotification.due_at <= now - grace).order_by(ScheduledNotification.due_at)
        .limit(limit)))
    db.session.rollback()
    return sum(send_reminder(reminder_id, now) == ReminderStatus.SENT for reminder_id in ids)


def prefs_language(user_id: uuid.UUID) -> str:
    return preferences_for(user_id).language


def _when(minutes: int, language: str) -> str:
    if language == "hi":
        return f"{minutes // 60} घंटे में" if minutes >= 60 else f"{minutes} मिनट में"
    if minutes >= 1440 and minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    return f"in {minutes} minutes"


# --- what each event says -------------------------------------------------------------------


def appointment_context(appointment, recipient: User) -> dict[str, Any]:
    """Template variables about an appointment, with times in the recipient's zone."""
    from portal.doctors.models import ConsultationType

    zone = ZoneInfo(recipient.timezone)
    doctor = appointment.doctor
    return {
        "patient_name": appointment.patient.name,
        "doctor_name": doctor.name,
        "specialty": doctor.specialty,
        "start": appointment.start_at.astimezone(zone).strftime("%a %d %b %Y, %H:%M"),
        "timezone": recipient.timezone,
        "consultation_label": ConsultationType(appointment.consultation_type).label.lower(),
        "video_link": appointment.video_room_url or "",
        "visit_reason": appointment.reason_for_visit,
        "hold_until": appointment.reserved_until.astimezone(zone).strftime("%H:%M")
        if appointment.reserved_until else "",
        "appointment_url": public_url(f"/appointments/{appointment.id}"),
        "doctor_url": public_url(f"/doctors/{doctor.id}"),
        "practice_url": public_url("/appointments/practice"),
    }


def on_appointment_event(event) -> None:
    """React to an appointment event from the outbox (a consumer: idempotent per event)."""
    from portal.appointments.models import Appointment

    payload = event.payload
    appointment = db.session.get(Appointment, uuid.UUID(payload["appointment_id"]))
    if appointment is None:
        return
    patient = db.session.get(User, appointment.patient_id)
    doctor_user = appointment.doctor.user
    kind = event.event_type
    base = f"event:{event.id}"
    link = public_url(f"/appointments/{appointment.id}")
    patient_ctx = appointment_context(appointment, patient)
    doctor_ctx = appointment_context(appointment, doctor_user)
    if kind == "RESERVED":
        notify(patient, T.APPOINTMENT_RESERVED, patient_ctx, base, link=link,
               only={Channel.IN_APP})
    elif kind == "CONFIRMED":
        notify(patient, T.APPOINTMENT_CONFIRMED,
               {**patient_ctx, "ics_appointment_id": str(appointment.id)}, base, link=link)
        notify(doctor_user, T.DOCTOR_NEW_BOOKING, doctor_ctx, base, link=link)
        schedule_reminders(appointment)
    elif kind == "CANCELLED":
        cancel_reminders(appointment.id)
        refund = int(payload.get("refund_paise") or 0)
        notify(patient, T.APPOINTMENT_CANCELLED, {
            **patient_ctx, "reason": payload.get("reason") if payload.get("cancelled_by")
            != "patient" else "", "refund_amount": format_money(refund) if refund else ""},
            base, link=link)
        if payload.get("cancelled_by") == "patient":
            notify(doctor_user, T.DOCTOR_BOOKING_CANCELLED, doctor_ctx, base, link=link)
    elif kind == "RESCHEDULED":
        cancel_reminders(appointment.id)
        old = datetime.fromisoformat(payload["old_start_at"])
        notify(patient, T.APPOINTMENT_RESCHEDULED, {
            **patient_ctx, "ics_appointment_id": str(appointment.id),
            "old_start": old.astimezone(ZoneInfo(patient.timezone)).strftime(
                "%a %d %b %Y, %H:%M")}, base, link=link)
        notify(doctor_user, T.DOCTOR_BOOKING_MOVED, {
            **doctor_ctx, "old_start": old.astimezone(ZoneInfo(doctor_user.timezone)).strftime(
                "%a %d %b %Y, %H:%M")}, base, link=link)
        schedule_reminders(appointment)


def on_payment_event(event) -> None:
    """React to a payment event: receipt, failure with how to retry, refunds."""
    from portal.payments.models import PaymentTransaction
    from portal.payments.service import tax_included

    payload = event.payload
    payment = db.session.get(PaymentTransaction, uuid.UUID(payload["payment_id"]))
    if payment is None:
        return
    patient = db.session.get(User, payment.patient_id)
    appointment = payment.appointment
    ctx = {**appointment_context(appointment, patient),
           "amount": format_money(payment.amount_paise, payment.currency),
           "tax": format_money(tax_included(payment.amount_paise), payment.currency),
           "gateway_payment_id": payment.gateway_payment_id or "",
           "receipt_url": public_url(f"/payments/{payment.id}/receipt"),
           "error": payload.get("error") or "",
           "refund_amount": format_money(int(payload.get("amount_paise") or 0),
                                         payment.currency),
           "reason": payload.get("reason") or "",
           "link_url": payload.get("short_url") or "",
           "link_expires": datetime.fromisoformat(payload["expires_at"]).astimezone(
               ZoneInfo(patient.timezone)).strftime("%a %d %b, %H:%M")
           if payload.get("expires_at") else ""}
    base = f"event:{event.id}"
    kinds = {"PAYMENT_COMPLETED": T.PAYMENT_RECEIPT, "PAYMENT_FAILED": T.PAYMENT_FAILED,
             "REFUND_INITIATED": T.REFUND_INITIATED, "REFUND_COMPLETED": T.REFUND_COMPLETED,
             "PAYMENT_LINK_SENT": T.PAYMENT_LINK}
    kind = kinds.get(event.event_type)
    if kind is not None:
        notify(patient, kind, ctx, base, link=ctx["receipt_url"] if kind == T.PAYMENT_RECEIPT
               else ctx["appointment_url"])


def send_announcement(users: list[User], title: str, message: str, channels_: set[Channel],
                      sender: User) -> int:
    """An admin's message to some users (POST /api/v1/notifications/send)."""
    if not title.strip() or not message.strip():
        raise ValidationFailed({"message": "Write a title and a message."})
    base = f"announcement:{uuid.uuid4()}"
    return sum(len(notify(user, T.ANNOUNCEMENT, {"title": title, "message": message}, base,
                          only=channels_)) for user in users)
