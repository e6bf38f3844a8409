"""The dependents table: people an account holder books for."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime, str_enum


class Relation(enum.StrEnum):
    CHILD = "CHILD"
    SPOUSE = "SPOUSE"
    PARENT = "PARENT"
    SIBLING = "SIBLING"
    GRANDPARENT = "GRANDPARENT"
    OTHER = "OTHER"

    @property
    def label(self) -> str:
        return self.value.title()


class Sex(enum.StrEnum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    OTHER = "OTHER"

    @property
    def label(self) -> str:
        return self.value.title()


class Dependent(db.Model):
    """Someone an account holder books for. The holder pays and is notified; the visit is the
    dependent's. Removing one who has past visits keeps the row (`removed_at`) for history."""

    __tablename__ = "dependents"
    __table_args__ = (
        CheckConstraint("relation IN ('CHILD', 'SPOUSE', 'PARENT', 'SIBLING', 'GRANDPARENT', "
                        "'OTHER')", name="relation"),
        CheckConstraint("sex IN ('FEMALE', 'MALE', 'OTHER')", name="sex"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_holder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    relation: Mapped[Relation] = mapped_column(str_enum(Relation, 20))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, 10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def age_on(self, day: date) -> int:
        """Completed years on `day`."""
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
