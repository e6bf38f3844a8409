"""Event consumers: the outbox relay publishes each event as a `dispatch` job on its topic's
queue; `dispatch` runs every consumer registered for the event type, once each."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from portal import events
from portal.events import OutboxEvent
from portal.extensions import db


def _refund_cancelled(event: OutboxEvent) -> None:
    from portal.payments import service as payments

    payload = event.payload
    payments.refund_for_cancellation(uuid.UUID(payload["appointment_id"]),
                                     int(payload.get("refund_paise") or 0),
                                     payload.get("reason") or "appointment cancelled")


def _notify_appointment(event: OutboxEvent) -> None:
    from portal.notifications import service as notifications

    notifications.on_appointment_event(event)


def _notify_payment(event: OutboxEvent) -> None:
    from portal.notifications import service as notifications

    notifications.on_payment_event(event)


NOTIFY_APPOINTMENT = ("notifications.appointment", _notify_appointment)
NOTIFY_PAYMENT = ("notifications.payment", _notify_payment)

# event type -> [(consumer name, handler)]
CONSUMERS: dict[str, list[tuple[str, Callable[[OutboxEvent], None]]]] = {
    "RESERVED": [NOTIFY_APPOINTMENT],
    "CONFIRMED": [NOTIFY_APPOINTMENT],
    "CANCELLED": [("payments.refund-on-cancel", _refund_cancelled), NOTIFY_APPOINTMENT],
    "RESCHEDULED": [NOTIFY_APPOINTMENT],
    "PAYMENT_COMPLETED": [NOTIFY_PAYMENT],
    "PAYMENT_FAILED": [NOTIFY_PAYMENT],
    "REFUND_INITIATED": [NOTIFY_PAYMENT],
    "REFUND_COMPLETED": [NOTIFY_PAYMENT],
    "PAYMENT_LINK_SENT": [NOTIFY_PAYMENT],  # the desk's payment link, by SMS and email
}


def dispatch(event_id: str) -> int:
    """Run each consumer of this event that has not run yet; returns how many ran."""
    event_uuid = uuid.UUID(event_id)
    event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_uuid))
    if event is None:
        return 0
    return sum(events.consume(event_uuid, name, handler)
               for name, handler in CONSUMERS.get(event.event_type, []))


def relay() -> int:
    """Every few seconds: publish what the outbox holds."""
    return events.relay_pending()
