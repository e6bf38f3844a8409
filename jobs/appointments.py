"""Appointment jobs: hold expiry, one job per hold plus a sweeper."""

from __future__ import annotations

import uuid

from portal.appointments import service


def expire_hold(appointment_id: str) -> bool:
    """At the hold's end: expire it unless it was confirmed or cancelled meanwhile."""
    return service.expire_hold(uuid.UUID(appointment_id))


def sweep_lapsed_holds() -> int:
    """Every minute: expire holds whose own job was lost (Redis down, worker killed)."""
    return service.expire_lapsed_holds()
