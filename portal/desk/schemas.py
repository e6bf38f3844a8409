"""JSON shapes of the front-desk API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from portal.api import ApiModel


class PatientQuery(BaseModel):
    q: str = Field(max_length=100, description="At least 3 characters of a name, phone or email")
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class PatientOut(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None = Field(description="null while the account is unclaimed")
    claimed: bool = Field(description="false: registered by the desk, no password set yet")
    created_at: datetime


class PatientList(BaseModel):
    items: list[PatientOut]
    page: int
    per_page: int
    total: int
    pages: int


class NewPersonIn(ApiModel):
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20, description="E.164, e.g. +919876543210")
    email: str = Field(default="", max_length=254)


class DeskBookingIn(ApiModel):
    """Book a slot for an existing patient (`patient_id`) or a new person (`new_patient`)."""

    slot_id: uuid.UUID
    patient_id: uuid.UUID | None = None
    new_patient: NewPersonIn | None = None
    for_dependent_id: uuid.UUID | None = None
    reason: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _one_person(self) -> DeskBookingIn:
        if (self.patient_id is None) == (self.new_patient is None):
            raise ValueError("Give either patient_id or new_patient.")
        return self


class WalkInIn(ApiModel):
    doctor_id: uuid.UUID
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20, description="E.164")
    email: str = Field(default="", max_length=254)


class StaffInviteIn(ApiModel):
    name: str = Field(max_length=120)
    email: str = Field(max_length=254)
