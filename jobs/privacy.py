"""Privacy jobs: the daily retention pass."""

from __future__ import annotations

from dataclasses import asdict

from portal.privacy import retention


def apply_retention() -> dict:
    """Daily: clear reasons for visits past RETENTION_REASON_DAYS and the words and addresses
    of notifications past RETENTION_NOTIFICATION_DAYS (idempotent)."""
    return asdict(retention.apply_retention())
