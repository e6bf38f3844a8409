"""The transactional outbox: domain events recorded in the caller's database transaction.

A service calls `record_event` next to its own writes; both commit or neither does. A relay
(the notifications issue) later publishes unpublished rows to the RQ queue named by `topic`
("appointment-events", "payment-events"); consumers are idempotent by event id, so a row
published twice after a crash does no harm.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime

APPOINTMENT_EVENTS = "appointment-events"
PAYMENT_EVENTS = "payment-events"


class OutboxEvent(db.Model):
    __tablename__ = "outbox_events"
    __table_args__ = (
        # The relay reads unpublished events in the order they were recorded.
        Index("ix_outbox_events_unpublished", "published_at", "seq"),
    )

    # `seq` orders events (several can share an instant); `id` is the event id consumers
    # de-duplicate by.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    topic: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    aggregate_id: Mapped[uuid.UUID] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)


def record_event(topic: str, event_type: str, aggregate_id: uuid.UUID,
                 payload: dict[str, Any]) -> OutboxEvent:
    """Add an event to the current transaction (the caller commits)."""
    event = OutboxEvent(topic=topic, event_type=event_type, aggregate_id=aggregate_id,
                        payload={"event_type": event_type, **payload},
                        created_at=utcnow())
    db.session.add(event)
    return event
