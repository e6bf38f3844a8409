"""JSON shapes of the doctor directory API."""

from __future__ import annotations

import uuid
from datetime import datetime

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


class DoctorPatch(BaseModel):
    """Fields to change; those left out keep their value."""

    model_config = {"extra": "forbid"}

    name: str | None = Field(default=None, max_length=120)
    specialty: str | None = Field(default=None, max_length=80)
    qualifications: str | None = Field(default=None, max_length=200)
    bio: str | None = Field(default=None, max_length=5000)
    languages: str | None = Field(default=None, max_length=200,
                                  description="Comma-separated, e.g. 'English, Hindi'")
    offers_video: bool | None = Field(default=None,
                                      description="false withdraws video consultations")
    fee_video_paise: int | None = Field(default=None, ge=0, le=10_000_000,
                                        description="Video fee in paise (offers video)")
    offers_in_person: bool | None = None
    fee_in_person_paise: int | None = Field(default=None, ge=0, le=10_000_000,
                                            description="In-person fee in paise")
    slot_minutes: int | None = Field(default=None, ge=5, le=240,
                                     description="Default slot length for new weekly hours")
    buffer_minutes: int | None = Field(default=None, ge=0, le=120)
    booking_window_days: int | None = Field(default=None, ge=1, le=366)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=20_160)
    timezone: str | None = Field(default=None, max_length=64)


class SlotConflictOut(BaseModel):
    slot_id: uuid.UUID
    start: datetime
    end: datetime
    status: str = Field(description="HELD or BOOKED")
    consultation_type: str


class DoctorSettingsOut(DoctorOut):
    buffer_minutes: int
    booking_window_days: int
    min_notice_minutes: int

    @classmethod
    def of(cls, doctor, currency: str = "INR") -> DoctorSettingsOut:
        return cls(**DoctorOut.of(doctor, currency).model_dump(),
                   buffer_minutes=doctor.buffer_minutes,
                   booking_window_days=doctor.booking_window_days,
                   min_notice_minutes=doctor.min_notice_minutes)


class DoctorUpdateOut(BaseModel):
    doctor: DoctorSettingsOut
    changed: list[str] = Field(description="The fields that changed")
    slots_created: int
    slots_removed: int
    withdrawn_types: list[str]
    conflicts: list[SlotConflictOut] = Field(
        description="Held or booked slots the new settings leave outside the hours: they "
                    "stay booked; the doctor decides whether to move or cancel them")
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
