"""JSON shapes of the doctor directory API."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from portal.api import Money


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

    @classmethod
    def of(cls, doctor, currency: str = "INR") -> DoctorOut:
        return cls(
            id=doctor.id, name=doctor.name, specialty=doctor.specialty,
            qualifications=doctor.qualifications, languages=doctor.language_list,
            bio=doctor.bio, timezone=doctor.timezone, slot_minutes=doctor.slot_minutes,
            consultations=[ConsultationOut(type=kind.value, fee=Money(
                amount=doctor.fee_for(kind), currency=currency))
                for kind in doctor.consultation_types],
        )


class DoctorList(BaseModel):
    items: list[DoctorOut]
    page: int
    per_page: int
    total: int
    pages: int
