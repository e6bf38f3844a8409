"""Column types shared by the domain models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime: `timestamptz` on PostgreSQL, and aware again when read on SQLite.

    SQLite has no time zone type and hands back naive values; every datetime we store is UTC,
    so reading it back as UTC keeps comparisons with aware values correct on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_cls: type[enum.StrEnum], length: int) -> Enum:
    """A StrEnum column stored as its value in a VARCHAR (checked by the table's CHECK).

    Rows read back as enum members, so code compares and switches on members, not strings;
    members are still `str`, so JSON payloads and templates need no conversion.
    """
    return Enum(enum_cls, native_enum=False, length=length, create_constraint=False,
                validate_strings=True, values_callable=lambda members: [m.value for m in members])
