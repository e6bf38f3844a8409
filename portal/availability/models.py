"""Availability tables: weekly hours, overrides, blocks, and the generated bookable slots."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    String,
    Time,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime, str_enum

# Consultation types are stored as text and checked against this list.
CONSULTATION_CHECK = "consultation_type IN ('VIDEO', 'IN_PERSON')"


class SlotStatus(enum.StrEnum):
    FREE = "FREE"
    HELD = "HELD"
    BOOKED = "BOOKED"


class OverrideKind(enum.StrEnum):
    OFF = "OFF"
    CUSTOM = "CUSTOM"


class WeeklyAvailability(db.Model):
    """One range of a weekday in the doctor's local wall time, in force between two dates."""

    __tablename__ = "weekly_availability"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("end_time > start_time", name="end_after_start"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 240", name="slot_minutes"),
        CheckConstraint("buffer_minutes >= 0", name="buffer_minutes"),
        CheckConstraint(CONSULTATION_CHECK, name="consultation_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), index=True)
    weekday: Mapped[int]  # 0 = Monday
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    consultation_type: Mapped[str] = mapped_column(String(16))
    slot_minutes: Mapped[int]
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AvailabilityOverride(db.Model):
    """Dates off (holiday, vacation) or custom hours replacing the weekly ones on some dates.

    A CUSTOM override holds one range; several rows for the same dates give several ranges.
    """

    __tablename__ = "availability_overrides"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="end_after_start"),
        CheckConstraint("kind IN ('OFF', 'CUSTOM')", name="kind"),
        CheckConstraint(
            "(kind = 'OFF' AND start_time IS NULL AND end_time IS NULL) OR "
            "(kind = 'CUSTOM' AND start_time IS NOT NULL AND end_time > start_time "
            "AND slot_minutes IS NOT NULL AND consultation_type IS NOT NULL)",
            name="custom_has_hours"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    slot_minutes: Mapped[int | None]
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    consultation_type: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BlockedSlot(db.Model):
    """An ad-hoc interval the doctor is not available, with a reason."""

    __tablename__ = "blocked_slots"
    __table_args__ = (CheckConstraint("end_at > start_at", name="end_after_start"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AvailableSlot(db.Model):
    """A concrete bookable interval in UTC.

    `status` moves FREE -> HELD -> BOOKED by conditional UPDATEs in the booking service; a HELD
    slot whose `held_until` has passed counts as free for every read and new reservation.
    """

    __tablename__ = "available_slots"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="end_after_start"),
        CheckConstraint("status IN ('FREE', 'HELD', 'BOOKED')", name="status"),
        CheckConstraint(CONSULTATION_CHECK, name="consultation_type"),
        # One slot per doctor and start: regeneration is idempotent by this key.
        Index("uq_available_slots_doctor_start", "doctor_id", "start_at", unique=True),
        Index("ix_available_slots_doctor_status_start", "doctor_id", "status", "start_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consultation_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[SlotStatus] = mapped_column(str_enum(SlotStatus, 8),
                                               default=SlotStatus.FREE,
                                               server_default=text("'FREE'"))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def is_free(self, now: datetime) -> bool:
        return self.status == SlotStatus.FREE or (
            self.status == SlotStatus.HELD and self.held_until is not None
            and self.held_until <= now)

    @classmethod
    def open_at(cls, now: datetime) -> ColumnElement[bool]:
        """Nobody has it: free, or held by a hold that has lapsed (it counts as free)."""
        return or_(cls.status == SlotStatus.FREE,
                   (cls.status == SlotStatus.HELD) & (cls.held_until <= now))

    @classmethod
    def bookable(cls, now: datetime, notice: timedelta = timedelta(0)) -> ColumnElement[bool]:
        """THE bookable-slot rule: open, and starting after `now` plus the doctor's notice.

        Listing, reserving, rescheduling and waitlist offers all use this one expression, so
        a slot id from a stale page can never be held inside the notice period.
        """
        return (cls.start_at > now) & (cls.start_at >= now + notice) & cls.open_at(now)


class SlotVersion(db.Model):
    """A counter per doctor, bumped in the same transaction as every change to the doctor's
    slots (a hold, a booking, a release, regeneration, a block): the slot listing's ETag is made
    from it, so a cached listing is never served after a slot in it was taken.

    Bumped last in each transaction (after the slot rows), so its row lock is held briefly and
    always after the slot locks: no lock-order cycle with other writers of the same doctor.
    """

    __tablename__ = "slot_versions"

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"),
                                                 primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
