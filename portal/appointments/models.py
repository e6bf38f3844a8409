"""Appointments and their status history."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.family.models import Dependent
from portal.types import UTCDateTime, str_enum


class AppointmentStatus(enum.StrEnum):
    RESERVED = "RESERVED"
    CONFIRMED = "CONFIRMED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"

    @property
    def label(self) -> str:
        return {"RESERVED": "Held", "NO_SHOW": "No-show"}.get(self.value,
                                                              self.value.title())


ACTIVE_STATUSES = (AppointmentStatus.RESERVED.value, AppointmentStatus.CONFIRMED.value)
_ACTIVE_SQL = "status IN ('RESERVED', 'CONFIRMED')"


class Appointment(db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="end_after_start"),
        CheckConstraint("fee_paise >= 0", name="fee"),
        CheckConstraint("status IN ('RESERVED', 'CONFIRMED', 'EXPIRED', 'CANCELLED', "
                        "'COMPLETED', 'NO_SHOW')", name="status"),
        # At most one active (held or confirmed) appointment per slot (invariant 1), on both
        # databases; PostgreSQL adds an exclusion constraint over the doctor's time ranges.
        Index("uq_appointments_active_slot", "slot_id", unique=True,
              postgresql_where=text(_ACTIVE_SQL), sqlite_where=text(_ACTIVE_SQL)),
        Index("ix_appointments_patient_start", "patient_id", "start_at"),
        Index("ix_appointments_doctor_start", "doctor_id", "start_at"),
        Index("ix_appointments_status_reserved_until", "status", "reserved_until"),
        UniqueConstraint("patient_id", "idempotency_key", name="uq_appointments_idempotency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The account holder: who booked, pays and is notified.
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # Whom the visit is for, when not the account holder themself.
    for_dependent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dependents.id"),
                                                               index=True)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"))
    # SET NULL: a slot freed by a cancellation may later be withdrawn by regeneration; the
    # appointment keeps its own copy of the times.
    slot_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("available_slots.id", ondelete="SET NULL"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consultation_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[AppointmentStatus] = mapped_column(str_enum(AppointmentStatus, 16))
    reserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fee_paise: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    reason_for_visit: Mapped[str] = mapped_column(Text, default="")
    video_room_url: Mapped[str | None] = mapped_column(String(300))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    cancelled_by: Mapped[str | None] = mapped_column(String(16))  # patient / doctor / admin
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    refund_paise: Mapped[int | None]
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    patient: Mapped[User] = relationship(lazy="joined", foreign_keys=[patient_id])
    doctor: Mapped[Doctor] = relationship(lazy="joined")
    for_dependent: Mapped[Dependent | None] = relationship(lazy="joined")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def visit_for_name(self) -> str:
        """Whom the visit is for: the dependent, else the account holder."""
        return self.for_dependent.name if self.for_dependent else self.patient.name


class AppointmentStatusHistory(db.Model):
    """Every state change: who (None = the system), when, why (invariant 5)."""

    __tablename__ = "appointment_status_history"

    # Internal rows, never addressed from outside: an increasing id orders changes made
    # within the same instant.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id"), index=True)
    from_status: Mapped[AppointmentStatus | None] = mapped_column(
        str_enum(AppointmentStatus, 16))
    to_status: Mapped[AppointmentStatus] = mapped_column(str_enum(AppointmentStatus, 16))
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    # A reschedule keeps where the appointment was (the new place is on the appointment).
    old_slot_id: Mapped[uuid.UUID | None] = mapped_column()
    old_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    old_end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
