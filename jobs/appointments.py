"""Appointment jobs: hold expiry, one job per hold plus a sweeper.

Both go through the payments service: a hold whose payment was started asks the gateway
before it lapses (appointments cannot import payments; payments imports appointments).
"""

from __future__ import annotations

import uuid

from portal.payments import service


def expire_hold(appointment_id: str) -> bool:
    """At the hold's end: confirm it if its payment was captured meanwhile (lost webhooks),
    else expire it unless it was confirmed or cancelled meanwhile."""
    return service.expire_hold(uuid.UUID(appointment_id))


def sweep_lapsed_holds() -> int:
    """Every minute: expire holds whose own job was lost (Redis down, worker killed)."""
    return service.expire_lapsed_holds()
