"""Privacy tables: the access log (append-only), consents, and prepared data exports."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime, str_enum


class AccessKind(enum.StrEnum):
    """What was read."""

    APPOINTMENT = "APPOINTMENT"  # an appointment's details (incl. the reason for the visit)
    PROFILE = "PROFILE"  # a patient's account details (name, phone, email)
    DEPENDENTS = "DEPENDENTS"  # a patient's family members
    PAYMENT = "PAYMENT"  # a payment or receipt naming the patient

    @property
    def label(self) -> str:
        return {"APPOINTMENT": "An appointment", "PROFILE": "Your contact details",
                "DEPENDENTS": "Your family members", "PAYMENT": "A payment"}[self.value]


class AccessLogEntry(db.Model):
    """One read of a patient's records by someone else. Append-only: the application has no
    update or delete path, and on PostgreSQL a trigger refuses UPDATE and DELETE."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_subject_at", "subject_id", "at"),
        Index("ix_access_log_actor_at", "actor_id", "at"),
        Index("ix_access_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Ids, never names: an erased patient's log stays, and names nobody.
    actor_id: Mapped[uuid.UUID | None] = mapped_column()  # None: an API client unknown
    actor_role: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID] = mapped_column()  # the patient (account holder)
    kind: Mapped[AccessKind] = mapped_column(str_enum(AccessKind, 12))
    object_id: Mapped[uuid.UUID | None] = mapped_column()
    route: Mapped[str] = mapped_column(String(120), default="")  # endpoint name
    via: Mapped[str] = mapped_column(String(8), default="web")  # web, api


class ConsentKind(enum.StrEnum):
    TERMS = "TERMS"  # the terms of service
    PRIVACY = "PRIVACY"  # the privacy notice
    MARKETING = "MARKETING"  # news and offers (announcements), a separate opt-in

    @property
    def label(self) -> str:
        return {"TERMS": "Terms of service", "PRIVACY": "Privacy notice",
                "MARKETING": "News and offers from the clinic"}[self.value]


class Consent(db.Model):
    """A consent given (with the version of the text accepted) and, later, withdrawn."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_user_kind", "user_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[ConsentKind] = mapped_column(str_enum(ConsentKind, 12))
    version: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExportStatus(enum.StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


class DataExport(db.Model):
    """A large export, built by a job and downloaded through a link that expires."""

    __tablename__ = "data_exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[ExportStatus] = mapped_column(str_enum(ExportStatus, 8),
                                                 default=ExportStatus.PENDING)
    path: Mapped[str | None] = mapped_column(String(300))  # under EXPORT_ROOT
    size_bytes: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
