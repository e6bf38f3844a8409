"""The doctors table: a profile attached to a user with the doctor role."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime

# Left out of a doctor's initials.
_TITLES = {"dr", "prof", "mr", "mrs", "ms", "mx"}


class ConsultationType(enum.StrEnum):
    VIDEO = "VIDEO"
    IN_PERSON = "IN_PERSON"

    @property
    def label(self) -> str:
        return "Video" if self is ConsultationType.VIDEO else "In person"


class Doctor(db.Model):
    __tablename__ = "doctors"
    __table_args__ = (
        CheckConstraint("fee_video_paise IS NULL OR fee_video_paise >= 0", name="fee_video"),
        CheckConstraint("fee_in_person_paise IS NULL OR fee_in_person_paise >= 0",
                        name="fee_in_person"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 240", name="slot_minutes"),
        CheckConstraint("buffer_minutes BETWEEN 0 AND 120", name="buffer_minutes"),
        CheckConstraint("fee_video_paise IS NOT NULL OR fee_in_person_paise IS NOT NULL",
                        name="offers_a_consultation"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), unique=True)
    specialty: Mapped[str] = mapped_column(String(80), index=True)
    qualifications: Mapped[str] = mapped_column(String(200), default="")
    # Comma-separated, as entered ("English, Hindi"); shown and searched as a list.
    languages: Mapped[str] = mapped_column(String(200), default="English")
    bio: Mapped[str] = mapped_column(Text, default="")
    # A fee per consultation type; NULL means the type is not offered.
    fee_video_paise: Mapped[int | None]
    fee_in_person_paise: Mapped[int | None]
    timezone: Mapped[str] = mapped_column(String(64))
    slot_minutes: Mapped[int] = mapped_column(default=30)
    # Rest between consultations, the default for new weekly ranges.
    buffer_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    booking_window_days: Mapped[int] = mapped_column(default=30)
    min_notice_minutes: Mapped[int] = mapped_column(default=120)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    # Bumped with each new photo; part of the photo's URL, so it can be cached for a year.
    # NULL: no photo (pages show the doctor's initials).
    photo_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def initials(self) -> str:
        """What pages show without a photo: "AM" for "Dr. Asha Mehta" (titles skipped)."""
        words = [w for w in self.user.name.split() if w.lower().strip("().,") not in _TITLES]
        letters = [next((c for c in w if c.isalnum()), "") for w in (words[:1] + words[1:][-1:])]
        return "".join(letters).upper() or "?"

    @property
    def language_list(self) -> list[str]:
        return [part.strip() for part in self.languages.split(",") if part.strip()]

    @property
    def consultation_types(self) -> list[ConsultationType]:
        offered = []
        if self.fee_video_paise is not None:
            offered.append(ConsultationType.VIDEO)
        if self.fee_in_person_paise is not None:
            offered.append(ConsultationType.IN_PERSON)
        return offered

    def fee_for(self, kind: ConsultationType) -> int | None:
        """The fee in paise for a consultation type, or None when it is not offered."""
        return self.fee_video_paise if kind is ConsultationType.VIDEO else self.fee_in_person_paise
