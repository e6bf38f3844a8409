"""JSON shapes of the waitlist API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from portal.api import ApiModel, in_calendar

CalendarDate = Annotated[date, AfterValidator(in_calendar)]


class EntryIn(ApiModel):
    doctor_id: uuid.UUID
    date_from: CalendarDate = Field(description="The doctor's local date")
    date_to: CalendarDate = Field(description="Up to the doctor's booking window")
    day_parts: list[Literal["MORNING", "AFTERNOON", "EVENING"]] = Field(
        default_factory=list, max_length=3, description="Preferred times of day; empty: any")
    consultation_type: Literal["VIDEO", "IN_PERSON"] | None = Field(
        default=None, description="null: either")
    for_dependent_id: uuid.UUID | None = Field(default=None,
                                               description="Wait for a family member")


class EntryOut(BaseModel):
    id: uuid.UUID
    doctor_id: uuid.UUID
    doctor_name: str
    date_from: date
    date_to: date
    day_parts: list[str]
    consultation_type: str | None
    for_dependent_id: uuid.UUID | None
    status: str = Field(description="ACTIVE, BOOKED, LEFT or ENDED")
    created_at: datetime


class EntryList(BaseModel):
    items: list[EntryOut]


class OfferOut(BaseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    doctor_id: uuid.UUID
    slot_id: uuid.UUID | None
    start: datetime
    end: datetime
    status: str = Field(description="OFFERED, TAKEN, GONE, LAPSED or WITHDRAWN")
    expires_at: datetime
    appointment_id: uuid.UUID | None


class OfferList(BaseModel):
    items: list[OfferOut]


class DayCount(BaseModel):
    date: date
    waiting: int


class DayCounts(BaseModel):
    doctor_id: uuid.UUID
    days: list[DayCount]


class ConversionQuery(BaseModel):
    days: int = Field(default=30, ge=1, le=366, description="The last N days")


class ConversionOut(BaseModel):
    offers: int
    taken: int
    lapsed: int
    gone: int
    rate: float = Field(description="taken / offers")
    median_seconds_to_take: float | None
