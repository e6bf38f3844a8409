"""Waitlist tables: who waits for which doctor and when, and the offers made to them."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime, str_enum


class DayPart(enum.StrEnum):
    """Preferred times of day, in the doctor's zone (the booking page's parts of the day)."""

    MORNING = "MORNING"  # before 12:00
    AFTERNOON = "AFTERNOON"  # 12:00 - 17:00
    EVENING = "EVENING"  # from 17:00

    @property
    def hours(self) -> tuple[int, int]:
        return {"MORNING": (0, 12), "AFTERNOON": (12, 17), "EVENING": (17, 24)}[self.value]

    @property
    def label(self) -> str:
        return self.value.title()


class EntryStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    BOOKED = "BOOKED"  # took an offer
    LEFT = "LEFT"  # the patient left the list
    ENDED = "ENDED"  # its date range passed


class OfferStatus(enum.StrEnum):
    OFFERED = "OFFERED"
    TAKEN = "TAKEN"
    GONE = "GONE"  # someone else took the time first
    LAPSED = "LAPSED"  # not taken in time: the next batch is offered
    WITHDRAWN = "WITHDRAWN"  # the time stopped being bookable, or the entry was left


class WaitlistEntry(db.Model):
    """A patient waiting for a doctor between two dates (the doctor's local dates)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("date_to >= date_from", name="range"),
        CheckConstraint("status IN ('ACTIVE', 'BOOKED', 'LEFT', 'ENDED')", name="status"),
        Index("ix_waitlist_entries_doctor_status_created", "doctor_id", "status",
              "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    for_dependent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dependents.id"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    # Comma-separated DayPart values; empty: any time of day.
    day_parts: Mapped[str] = mapped_column(String(40), default="")
    consultation_type: Mapped[str | None] = mapped_column(String(16))  # None: either
    status: Mapped[EntryStatus] = mapped_column(str_enum(EntryStatus, 8),
                                                default=EntryStatus.ACTIVE)
    # Join order: offers go to entries by this number (several can join in one instant).
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def parts(self) -> list[DayPart]:
        return [DayPart(p) for p in self.day_parts.split(",") if p]


class WaitlistOffer(db.Model):
    """A freed time offered to one entry. An entry is offered a given slot at most once."""

    __tablename__ = "waitlist_offers"
    __table_args__ = (
        UniqueConstraint("entry_id", "slot_id", name="uq_waitlist_offers_entry_slot"),
        CheckConstraint("status IN ('OFFERED', 'TAKEN', 'GONE', 'LAPSED', 'WITHDRAWN')",
                        name="status"),
        Index("ix_waitlist_offers_slot_status", "slot_id", "status"),
        Index("ix_waitlist_offers_patient_offered", "patient_id", "offered_at"),
        Index("ix_waitlist_offers_status_expires", "status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("waitlist_entries.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"))
    # SET NULL: regeneration may withdraw the slot; the offer keeps its own copy of the time.
    slot_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("available_slots.id", ondelete="SET NULL"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    batch: Mapped[int]
    status: Mapped[OfferStatus] = mapped_column(str_enum(OfferStatus, 10),
                                                default=OfferStatus.OFFERED)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointments.id"))

    entry: Mapped[WaitlistEntry] = relationship(lazy="joined")
