"""JSON shapes of the appointments API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from portal.api import ApiModel, Money


class ReserveIn(ApiModel):
    slot_id: uuid.UUID
    reason: str = Field(default="", max_length=1000, description="Reason for the visit")
    for_dependent_id: uuid.UUID | None = Field(
        default=None, description="Book for one of your family members (GET /me/dependents)")


class VisitForIn(ApiModel):
    for_dependent_id: uuid.UUID | None = Field(
        description="A family member, or null for the account holder themself")


class VisitForOut(BaseModel):
    """Whom the visit is for, as the doctor sees them."""

    dependent_id: uuid.UUID | None = Field(description="null: the account holder themself")
    name: str
    age: int | None = Field(description="Completed years (known for family members)")
    relation: str | None = Field(description="How they are related to the account holder")


class ConfirmIn(ApiModel):
    payment_id: str | None = Field(default=None, max_length=64,
                                   description="Captured payment (paid consultations)")


class CancelIn(ApiModel):
    reason: str = Field(default="", max_length=500,
                        description="Required when a doctor or admin cancels")


class RescheduleIn(ApiModel):
    slot_id: uuid.UUID


class ListQuery(BaseModel):
    scope: Literal["upcoming", "past", "all"] = "upcoming"
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class QuoteOut(BaseModel):
    refund: Money
    percent: int
    explanation: str


class AppointmentOut(BaseModel):
    id: uuid.UUID
    status: str = Field(description="RESERVED, CONFIRMED, EXPIRED, CANCELLED, COMPLETED, NO_SHOW")
    patient_id: uuid.UUID = Field(description="The account holder: booked, pays, is notified")
    patient_name: str
    visit_for: VisitForOut = Field(description="Whom the visit is for")
    doctor_id: uuid.UUID
    doctor_name: str
    slot_id: uuid.UUID | None
    start: datetime
    end: datetime
    consultation_type: str
    fee: Money
    reserved_until: datetime | None
    reason_for_visit: str
    video_join_opens_at: datetime | None = Field(
        description="Video consultations: when GET .../video-join starts giving a link")
    cancelled_by: str | None
    cancel_reason: str | None
    refund: Money | None
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None


class VideoJoinOut(BaseModel):
    url: str = Field(description="The room with a token for you; open it in a browser")
    room: str
    moderator: bool = Field(description="The doctor moderates; the patient is a guest")
    opens_at: datetime
    closes_at: datetime


class AppointmentList(BaseModel):
    items: list[AppointmentOut]
    page: int
    per_page: int
    total: int
    pages: int
