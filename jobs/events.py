"""Event jobs: the relay publishes each outbox event as a `dispatch` job on its topic's queue;
`dispatch` runs every consumer registered for the event type (portal/consumers.py), once each."""

from __future__ import annotations

import uuid

from portal import consumers, events


def dispatch(event_id: str) -> int:
    return consumers.dispatch(uuid.UUID(event_id))


def relay() -> int:
    """Every few seconds: publish what the outbox holds."""
    return events.relay_pending()
