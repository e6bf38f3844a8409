"""Notification tables: templates, the delivery log, scheduled reminders, preferences, devices."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime


class Channel(enum.StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"
    IN_APP = "IN_APP"


class NotificationType(enum.StrEnum):
    APPOINTMENT_RESERVED = "APPOINTMENT_RESERVED"
    APPOINTMENT_CONFIRMED = "APPOINTMENT_CONFIRMED"
    APPOINTMENT_CANCELLED = "APPOINTMENT_CANCELLED"
    APPOINTMENT_RESCHEDULED = "APPOINTMENT_RESCHEDULED"
    APPOINTMENT_REMINDER = "APPOINTMENT_REMINDER"
    PAYMENT_RECEIPT = "PAYMENT_RECEIPT"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_LINK = "PAYMENT_LINK"  # the desk sent a payment link
    REFUND_INITIATED = "REFUND_INITIATED"
    REFUND_COMPLETED = "REFUND_COMPLETED"
    DOCTOR_NEW_BOOKING = "DOCTOR_NEW_BOOKING"
    DOCTOR_BOOKING_CANCELLED = "DOCTOR_BOOKING_CANCELLED"
    DOCTOR_BOOKING_MOVED = "DOCTOR_BOOKING_MOVED"
    ANNOUNCEMENT = "ANNOUNCEMENT"  # sent by an admin
    WAITLIST_OFFER = "WAITLIST_OFFER"  # a freed time, with a "Take it" link
    WAITLIST_GONE = "WAITLIST_GONE"  # someone else took it first
    RUNNING_LATE = "RUNNING_LATE"  # the doctor is running late today


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for its (next) attempt
    SENDING = "SENDING"  # an attempt is under way (or crashed: see the sweeper)
    SENT = "SENT"  # the provider accepted it
    DELIVERED = "DELIVERED"  # the provider confirmed delivery (SMS status callback)
    FAILED = "FAILED"  # permanently; admins see it and may resend


class ReminderStatus(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    SENT = "SENT"
    CANCELLED = "CANCELLED"  # the appointment was cancelled or moved
    SKIPPED = "SKIPPED"  # found too late to be useful (a closer reminder follows)


class NotificationTemplate(db.Model):
    """The words of one notification type on one channel in one language (editable)."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("type", "channel", "language",
                                       name="uq_notification_templates_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # Minimum necessary: SMS and push never carry the specialty, the reason for the visit or a
    # diagnosis; an email does only when its template says so.
    include_details: Mapped[bool] = mapped_column(default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class NotificationLog(db.Model):
    """One notification to one user on one channel: the delivery log and the in-app inbox.

    `dedupe_key` is unique: the same event (or reminder) never makes a second notification,
    however often its consumer runs.
    """

    __tablename__ = "notification_logs"
    __table_args__ = (
        Index("ix_notification_logs_user_channel_created", "user_id", "channel", "created_at"),
        Index("ix_notification_logs_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING.value)
    recipient: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(default=0)
    provider_id: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduledNotification(db.Model):
    """A reminder due at a time before an appointment (absorbs the seed's scheduled_reminders)."""

    __tablename__ = "scheduled_notifications"
    __table_args__ = (
        Index("ix_scheduled_notifications_status_due", "status", "due_at"),
        UniqueConstraint("appointment_id", "offset_minutes", "due_at",
                         name="uq_scheduled_notifications_reminder"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    offset_minutes: Mapped[int]
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The appointment start this reminder was made for: a moved appointment makes it stale.
    appointment_start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), default=ReminderStatus.SCHEDULED.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserNotificationPreferences(db.Model):
    """Per user: language, reminder offsets, and which types go out on which channels."""

    __tablename__ = "user_notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    language: Mapped[str] = mapped_column(String(5), default="en")
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=lambda: [1440, 60, 15])
    # {"SMS": {"APPOINTMENT_REMINDER": false}, ...}: anything not listed is on.
    channels: Mapped[dict[str, dict[str, bool]]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UserDevice(db.Model):
    """A browser (Web Push subscription) or an app (FCM token) that receives push messages."""

    __tablename__ = "user_devices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # WEBPUSH or FCM
    token: Mapped[str] = mapped_column(String(600), unique=True)  # endpoint URL or FCM token
    p256dh: Mapped[str | None] = mapped_column(String(200))
    auth: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
