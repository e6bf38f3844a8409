"""JSON shapes of the doctor directory API."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from portal.api import Money
from portal.doctors.photos import PHOTO_SIZES, photo_urls


class DirectoryQuery(BaseModel):
    specialty: str | None = Field(default=None, max_length=80)
    q: str | None = Field(default=None, max_length=100, description="Search by name or specialty")
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class ConsultationOut(BaseModel):
    type: str = Field(description="VIDEO or IN_PERSON")
    fee: Money


class DoctorOut(BaseModel):
    id: uuid.UUID
    name: str
    specialty: str
    qualifications: str
    languages: list[str]
    bio: str
    timezone: str
    slot_minutes: int
    consultations: list[ConsultationOut]
    photo_url: str | None = Field(
        description=f"The doctor's photo, {PHOTO_SIZES[-1]} px square WebP; null when there is "
                    "none (show initials). The URL changes with every new photo.")
    photo_urls: dict[str, str] | None = Field(
        description="The photo at each size, by its width in pixels ("
                    + ", ".join(f'"{size}"' for size in PHOTO_SIZES) + "); null when none.")

    @classmethod
    def of(cls, doctor, currency: str = "INR") -> DoctorOut:
        return cls(
            id=doctor.id, name=doctor.name, specialty=doctor.specialty,
            qualifications=doctor.qualifications, languages=doctor.language_list,
            bio=doctor.bio, timezone=doctor.timezone, slot_minutes=doctor.slot_minutes,
            consultations=[ConsultationOut(type=kind.value, fee=Money(
                amount=doctor.fee_for(kind), currency=currency))
                for kind in doctor.consultation_types],
            **_photo_fields(doctor),
        )


class DoctorList(BaseModel):
    items: list[DoctorOut]
    page: int
    per_page: int
    total: int
    pages: int


class PhotoOut(BaseModel):
    """A doctor's photo after a change; the fields mean what they mean in DoctorOut."""

    doctor_id: uuid.UUID
    photo_url: str | None = Field(description="Null once the photo is removed.")
    photo_urls: dict[str, str] | None

    @classmethod
    def of(cls, doctor) -> PhotoOut:
        return cls(doctor_id=doctor.id, **_photo_fields(doctor))


def _photo_fields(doctor) -> dict:
    """photo_url and photo_urls of Doctor and Photo: absolute URLs, for apps as well."""
    urls = photo_urls(doctor, external=True)
    return {"photo_url": urls[PHOTO_SIZES[-1]] if urls else None,
            "photo_urls": {str(size): url for size, url in urls.items()} or None}
