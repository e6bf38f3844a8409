"""Notification jobs: one delivery attempt, one reminder, and the sweepers."""

from __future__ import annotations

import uuid

from portal.notifications import delivery, reminders


def deliver(log_id: str) -> str:
    return delivery.deliver(uuid.UUID(log_id))


def send_reminder(reminder_id: str) -> str:
    return reminders.send_reminder(uuid.UUID(reminder_id))


def sweep() -> dict:
    """Every minute: due reminders and deliveries that Redis or a dead worker dropped."""
    return {"reminders": reminders.sweep_reminders(grace=reminders.SWEEP_GRACE),
            "deliveries": delivery.sweep_deliveries()}
