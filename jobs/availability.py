"""Availability jobs."""

from __future__ import annotations

import logging

from portal.availability import service

log = logging.getLogger(__name__)


def extend_windows() -> dict:
    """Daily: move every active doctor's rolling window forward (and drop lapsed free slots)."""
    report = service.regenerate_doctors(service.active_doctor_ids())
    log.info("slot windows extended: %d doctors, %d created, %d removed, %d conflicts",
             report.doctors, report.created, report.removed, len(report.conflicts))
    return {"doctors": report.doctors, "created": report.created, "removed": report.removed,
            "conflicts": len(report.conflicts)}
