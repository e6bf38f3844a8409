"""Who someone is to the clinic. A module of its own so that access checks
(`portal.security`) and every domain can name roles without importing the users table."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    STAFF = "staff"  # the front desk: every appointment and patient, no payouts or settings
    ADMIN = "admin"
