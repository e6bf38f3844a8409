"""The transactional outbox: domain events recorded in the caller's database transaction.

A service calls `record_event` next to its own writes; both commit or neither does. A relay
(the notifications issue) later publishes unpublished rows to the RQ queue named by `topic`
("appointment-events", "payment-events"); consumers are idempotent by event id, so a row
published twice after a crash does no harm.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import JSON, BigInteger, Index, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.jobqueue import get_queue
from portal.transactions import write
from portal.types import UTCDateTime

log = logging.getLogger(__name__)

APPOINTMENT_EVENTS = "appointment-events"
PAYMENT_EVENTS = "payment-events"

# Once published, an event's consumers run only if its dispatch job does: a job that fails
# (the database restarting) or dies with its worker (SIGKILL; RQ's abandoned-job handling) is
# run again, at once and then after 30 s, 2, 10 and 30 minutes. Consumers are idempotent.
DISPATCH_RETRY_INTERVALS = (0, 30, 120, 600, 1800)


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
    """Add an event to the caller's unit of work (it commits or rolls back with it)."""
    event = OutboxEvent(topic=topic, event_type=event_type, aggregate_id=aggregate_id,
                        payload={"event_type": event_type, **payload},
                        created_at=utcnow())
    db.session.add(event)
    return event


class ConsumedEvent(db.Model):
    """Which consumer has handled which event: consumers are idempotent by event id."""

    __tablename__ = "consumed_events"

    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    consumed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def relay_pending(limit: int = 200) -> int:
    """Publish unpublished events, oldest first, to the RQ queue named by their topic.

    Each becomes a `jobs.events.dispatch` job. If Redis is down nothing is marked published
    and the next pass tries again (invariant 4). Rows are claimed with SKIP LOCKED on
    PostgreSQL, so several relays never publish the same rows at the same time.
    """
    published = 0
    with write():
        events = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.seq).limit(limit).with_for_update(skip_locked=True)).all()
        now = utcnow()
        try:
            for event in events:
                get_queue(event.topic).enqueue(
                    "jobs.events.dispatch", str(event.id), job_id=f"event-{event.id}",
                    retry=Retry(max=len(DISPATCH_RETRY_INTERVALS),
                                interval=DISPATCH_RETRY_INTERVALS))
                event.published_at = now
                event.attempts += 1
                published += 1
        except RedisError:
            log.warning("Redis unavailable: %d events stay in the outbox for the next pass",
                        len(events) - published)
    return published


def get_event(event_id: uuid.UUID) -> OutboxEvent | None:
    return db.session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))


def consume(event_id: uuid.UUID, consumer: str, handler) -> bool:
    """Run `handler(event)` once per consumer and event; False when it already ran.

    The handler owns its own units of work; the consumed mark is written after it succeeds,
    so a crash in between runs the handler again: handlers must be idempotent themselves too
    (they are: refunds by idempotency key, notifications by their log).
    """
    if db.session.get(ConsumedEvent, (consumer, event_id)) is not None:
        return False
    event = get_event(event_id)
    if event is None:
        return False
    handler(event)
    try:
        with write():
            db.session.add(ConsumedEvent(consumer=consumer, event_id=event_id,
                                         consumed_at=utcnow()))
    except IntegrityError:  # a concurrent consumer marked it first: same outcome
        pass
    return True
