"""Queue tables: a token per person waiting for a doctor on a day, and announced delays."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime, str_enum


class TokenKind(enum.StrEnum):
    BOOKED = "BOOKED"  # a checked-in appointment
    WALK_IN = "WALK_IN"  # someone who came without a booking


class TokenStatus(enum.StrEnum):
    WAITING = "WAITING"
    IN_CONSULTATION = "IN_CONSULTATION"
    DONE = "DONE"
    NO_SHOW = "NO_SHOW"  # called and not there
    LEFT = "LEFT"  # took back their place (a walk-in who went home, a cancellation)

    @property
    def label(self) -> str:
        return {"IN_CONSULTATION": "With the doctor", "NO_SHOW": "Did not come"}.get(
            self.value, self.value.title())


class QueueToken(db.Model):
    """One place in a doctor's queue on one day (the doctor's local date).

    Token numbers count up from 1 per doctor and day, in order of arrival; the order of
    calling is the queue's rule (booked patients by slot time, walk-ins interleaved)."""

    __tablename__ = "queue_tokens"
    __table_args__ = (
        UniqueConstraint("doctor_id", "day", "number", name="uq_queue_tokens_number"),
        CheckConstraint("number > 0", name="number"),
        CheckConstraint("kind IN ('BOOKED', 'WALK_IN')", name="kind"),
        CheckConstraint("status IN ('WAITING', 'IN_CONSULTATION', 'DONE', 'NO_SHOW', 'LEFT')",
                        name="status"),
        CheckConstraint("(kind = 'BOOKED') = (appointment_id IS NOT NULL)", name="booked"),
        Index("ix_queue_tokens_doctor_day_status", "doctor_id", "day", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"))
    day: Mapped[date] = mapped_column(Date)
    number: Mapped[int]
    kind: Mapped[TokenKind] = mapped_column(str_enum(TokenKind, 8))
    status: Mapped[TokenStatus] = mapped_column(str_enum(TokenStatus, 16),
                                                default=TokenStatus.WAITING)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointments.id"),
                                                             unique=True)
    # Whom to notify: the account holder of a booking, or the walk-in's own account.
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))  # shown to the desk and the doctor only
    # A booked patient's slot start: the order of calling among booked patients.
    slot_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class QueueDelay(db.Model):
    """A "running late" announcement: the doctor is `minutes` behind from `created_at` on."""

    __tablename__ = "queue_delays"
    __table_args__ = (CheckConstraint("minutes BETWEEN 0 AND 480", name="minutes"),
                      Index("ix_queue_delays_doctor_day", "doctor_id", "day"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"))
    day: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int]
    note: Mapped[str] = mapped_column(String(200), default="")
    announced_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
