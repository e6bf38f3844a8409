"""Data export jobs: build a large export; delete the files of expired ones."""

from __future__ import annotations

import uuid

from portal.privacy import export


def build(export_id: str) -> str:
    done = export.build(uuid.UUID(export_id))
    return done.status.value if done else "MISSING"


def expire() -> int:
    """Hourly: exports whose link has expired lose their files."""
    return export.expire_old()
