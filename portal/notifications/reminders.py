"""Appointment reminders: scheduled at the patient's offsets (24 h, 1 h, 15 min before by
default), cancelled with the appointment, sent once when due, swept when Redis lost the job.

None is lost (invariant 4): a reminder is a `scheduled_notifications` row first, then an
`enqueue_at` job; the sweeper sends whatever is due and still SCHEDULED.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.clock import utcnow
from portal.extensions import db
from portal.jobqueue import get_queue
from portal.notifications.context import appointment_context, public_url
from portal.notifications.models import NotificationType, ReminderStatus, ScheduledNotification
from portal.notifications.notify import notify
from portal.notifications.preferences import DEFAULT_OFFSETS, preferences_for, prefs_language
from portal.transactions import write

log = logging.getLogger(__name__)

# RQ's scheduler rounds due times down to the second and hosts' clocks differ a little: a
# reminder job a few seconds early still sends.
EARLY_TOLERANCE = timedelta(seconds=5)
# The periodic sweeper leaves alone what is due so recently that its own job is still queued.
SWEEP_GRACE = timedelta(minutes=2)


def schedule_reminders(appointment: Appointment, now: datetime | None = None
                       ) -> list[ScheduledNotification]:
    """One row per offset of the patient's preferences; offsets already past are skipped."""
    now = now or utcnow()
    stored = preferences_for(appointment.patient_id).reminder_offsets
    offsets = DEFAULT_OFFSETS if stored is None else stored
    made = []
    for minutes in offsets:
        due = appointment.start_at - timedelta(minutes=minutes)
        if due <= now:
            continue
        try:
            with write():
                row = ScheduledNotification(
                    appointment_id=appointment.id, user_id=appointment.patient_id,
                    offset_minutes=minutes, due_at=due,
                    appointment_start_at=appointment.start_at,
                    status=ReminderStatus.SCHEDULED.value, created_at=now)
                db.session.add(row)
        except IntegrityError:  # made already by an earlier run of this consumer
            continue
        made.append(row)
        _enqueue_reminder(row)
    return made


def cancel_reminders(appointment_id: uuid.UUID) -> int:
    """Cancel the appointment's reminders that have not gone out."""
    with write():
        count = db.session.execute(update(ScheduledNotification).where(
            ScheduledNotification.appointment_id == appointment_id,
            ScheduledNotification.status == ReminderStatus.SCHEDULED.value)
            .values(status=ReminderStatus.CANCELLED.value)).rowcount or 0
    return count


def _enqueue_reminder(row: ScheduledNotification) -> None:
    try:
        get_queue("notifications").enqueue_at(row.due_at, "jobs.notifications.send_reminder",
                                              str(row.id), job_id=f"reminder-{row.id}")
    except Exception:  # noqa: BLE001 - Redis down: the row waits for the sweeper
        log.warning("could not schedule reminder %s; the sweeper will", row.id)


def send_reminder(reminder_id: uuid.UUID, now: datetime | None = None) -> str:
    """Send one due reminder, after re-reading the appointment: nothing for a cancelled or
    moved one. Idempotent: a reminder goes out once."""
    now = now or utcnow()
    with write():
        row = db.session.scalar(select(ScheduledNotification).where(
            ScheduledNotification.id == reminder_id).with_for_update())
        if row is None or row.status != ReminderStatus.SCHEDULED or \
                row.due_at > now + EARLY_TOLERANCE:
            return row.status if row else "MISSING"
        appointment = db.session.get(Appointment, row.appointment_id)
        if appointment.status != "CONFIRMED" or \
                appointment.start_at != row.appointment_start_at or appointment.start_at <= now:
            row.status = ReminderStatus.CANCELLED.value
            return row.status
        if now > row.due_at + timedelta(minutes=row.offset_minutes / 2):
            # "Tomorrow" is wrong an hour before: a reminder this late is skipped, not sent.
            row.status = ReminderStatus.SKIPPED.value
            return row.status
        offset = row.offset_minutes
    # Notifications first (unique per reminder, so a second runner adds nothing), then the
    # mark: a crash in between sends nothing twice and loses nothing.
    patient = db.session.get(User, appointment.patient_id)
    context = appointment_context(appointment, patient)
    context["when"] = _when(offset, prefs_language(patient.id))
    notify(patient, NotificationType.APPOINTMENT_REMINDER, context, f"reminder:{reminder_id}",
           link=public_url(f"/appointments/{appointment.id}"))
    with write():
        db.session.execute(update(ScheduledNotification).where(
            ScheduledNotification.id == reminder_id,
            ScheduledNotification.status == ReminderStatus.SCHEDULED.value)
            .values(status=ReminderStatus.SENT.value, sent_at=now))
    return ReminderStatus.SENT.value


def sweep_reminders(now: datetime | None = None, limit: int = 1000,
                    grace: timedelta = timedelta(0)) -> int:
    """Send due reminders whose job Redis lost (or never got).

    The periodic job passes SWEEP_GRACE, so it does not race the per-reminder jobs that are
    merely queued behind others; tests and manual runs sweep everything due.
    """
    now = now or utcnow()
    # A unit of work of its own so the read has ended before each reminder locks its row.
    with write():
        ids = list(db.session.scalars(select(ScheduledNotification.id).where(
            ScheduledNotification.status == ReminderStatus.SCHEDULED.value,
            ScheduledNotification.due_at <= now - grace).order_by(ScheduledNotification.due_at)
            .limit(limit)))
    return sum(send_reminder(reminder_id, now) == ReminderStatus.SENT for reminder_id in ids)


def _when(minutes: int, language: str) -> str:
    """How soon, in words the patient reads ("tomorrow", "in 1 hour")."""
    if language == "hi":
        return f"{minutes // 60} घंटे में" if minutes >= 60 else f"{minutes} मिनट में"
    if minutes >= 1440 and minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    return f"in {minutes} minutes"
