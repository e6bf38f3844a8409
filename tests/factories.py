"""Builders for test data, going through the same services the portal uses."""

from __future__ import annotations

import itertools

from portal.auth.models import Role, User
from portal.auth.service import Registration, create_user
from portal.doctors.models import Doctor
from portal.doctors.service import DoctorProfile, create_doctor
from portal.extensions import db

PASSWORD = "correct-horse-9"
_numbers = itertools.count(1)


def _unique() -> int:
    return next(_numbers)


def user(role: Role = Role.PATIENT, *, name: str | None = None, email: str | None = None,
         timezone: str = "Asia/Kolkata", password: str = PASSWORD) -> User:
    n = _unique()
    created = create_user(Registration(
        name=name or f"Test {role.value.title()} {n}",
        email=email or f"{role.value}{n}@example.com",
        phone=f"+9198{n:08d}", timezone=timezone, password=password), role)
    db.session.commit()
    return created


def patient(**kwargs) -> User:
    return user(Role.PATIENT, **kwargs)


def admin(**kwargs) -> User:
    return user(Role.ADMIN, **kwargs)


def doctor(*, name: str | None = None, email: str | None = None, specialty: str = "Cardiology",
           timezone: str = "Asia/Kolkata", fee_video_paise: int | None = 50_000,
           fee_in_person_paise: int | None = 80_000, slot_minutes: int = 30,
           password: str = PASSWORD) -> Doctor:
    n = _unique()
    return create_doctor(
        Registration(name=name or f"Dr. Test {n}", email=email or f"doctor{n}@example.com",
                     phone=f"+9197{n:08d}", timezone=timezone, password=password),
        DoctorProfile(specialty=specialty, timezone=timezone, fee_video_paise=fee_video_paise,
                      fee_in_person_paise=fee_in_person_paise, slot_minutes=slot_minutes))
