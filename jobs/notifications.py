"""Notification jobs: one delivery attempt, one reminder, and the sweepers."""

from __future__ import annotations

import uuid

from portal.notifications import service


def deliver(log_id: str) -> str:
    return service.deliver(uuid.UUID(log_id))


def send_reminder(reminder_id: str) -> str:
    return service.send_reminder(uuid.UUID(reminder_id))


def sweep() -> dict:
    """Every minute: due reminders and deliveries that Redis or a dead worker dropped."""
    return {"reminders": service.sweep_reminders(grace=service.SWEEP_GRACE),
            "deliveries": service.sweep_deliveries()}
