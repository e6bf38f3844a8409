"""Waitlist jobs: the next batch when an offer lapses, and the sweeper."""

from __future__ import annotations

import uuid

from portal.waitlist import service


def next_batch(slot_id: str) -> int:
    """At a batch's expiry: lapse what was not taken and offer the time to the next batch."""
    return len(service.next_batch(uuid.UUID(slot_id)))


def sweep() -> dict[str, int]:
    """Every minute: end past entries; lapsed offers whose job was lost get the next batch."""
    return service.sweep()
