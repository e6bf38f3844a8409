"""JSON shapes of the availability API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from portal.api import ApiModel, Instant, Money, WallTime, in_calendar

ConsultationTypeField = Literal["VIDEO", "IN_PERSON"]


class RangeIn(ApiModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")
    start: WallTime
    end: WallTime
    consultation_type: ConsultationTypeField
    slot_minutes: int = Field(ge=5, le=240)
    buffer_minutes: int = Field(default=0, ge=0, le=240)


class WeeklyScheduleIn(ApiModel):
    doctor_id: uuid.UUID | None = Field(default=None,
                                        description="Admins name the doctor; doctors omit it.")
    effective_from: date | None = Field(default=None,
                                        description="First day of the new hours (default: today)")
    ranges: list[RangeIn] = Field(max_length=100)
    booking_window_days: int | None = Field(
        default=None, description="How many days ahead patients may book (1-366; default 30)")
    min_notice_minutes: int | None = Field(
        default=None, description="No slot starts sooner than this after now (default 120)")


class BlockIn(ApiModel):
    doctor_id: uuid.UUID | None = None
    start: Instant
    end: Instant
    reason: str = Field(default="", max_length=200)


class OverrideIn(ApiModel):
    doctor_id: uuid.UUID | None = None
    start_date: date
    end_date: date
    kind: Literal["OFF", "CUSTOM"]
    reason: str = Field(default="", max_length=200)
    start: WallTime | None = None
    end: WallTime | None = None
    consultation_type: ConsultationTypeField | None = None
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    buffer_minutes: int = Field(default=0, ge=0, le=240)


class SlotQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    from_: AwareDatetime | date | None = Field(
        default=None, alias="from", description="Start (date in `tz`, or a time with offset)")
    to: AwareDatetime | date | None = Field(
        default=None, description="End, exclusive (default: 14 days after `from`)")
    tz: str | None = Field(default=None, max_length=64,
                           description="IANA zone for dates and the returned times")

    @field_validator("from_", "to")
    @classmethod
    def _computable(cls, value: datetime | date | None) -> datetime | date | None:
        return None if value is None else in_calendar(value)


class RangeOut(BaseModel):
    id: uuid.UUID
    weekday: int
    start: WallTime
    end: WallTime
    consultation_type: str
    slot_minutes: int
    buffer_minutes: int
    effective_from: date
    effective_to: date | None


class OverrideOut(BaseModel):
    id: uuid.UUID
    start_date: date
    end_date: date
    kind: str
    start: WallTime | None
    end: WallTime | None
    consultation_type: str | None
    slot_minutes: int | None
    reason: str | None = Field(description="Only shown to the doctor and admins")


class BlockOut(BaseModel):
    id: uuid.UUID
    start: datetime
    end: datetime
    reason: str


class ScheduleOut(BaseModel):
    doctor_id: uuid.UUID
    timezone: str
    booking_window_days: int
    min_notice_minutes: int
    weekly: list[RangeOut]
    upcoming: list[RangeOut] = Field(description="Weekly hours that start on a later date")
    overrides: list[OverrideOut]
    blocks: list[BlockOut] = Field(description="Only shown to the doctor and admins")


class ConflictOut(BaseModel):
    slot_id: uuid.UUID
    start: datetime
    end: datetime
    status: str


class RegenerationOut(BaseModel):
    created: int
    removed: int
    kept: int
    conflicts: list[ConflictOut] = Field(
        description="Held or booked slots that the new schedule no longer covers")


class SlotOut(BaseModel):
    id: uuid.UUID
    start: datetime
    end: datetime
    consultation_type: str
    fee: Money


class SlotList(BaseModel):
    doctor_id: uuid.UUID
    timezone: str
    range_start: datetime
    range_end: datetime
    slots: list[SlotOut]


class OverrideCreated(BaseModel):
    override: OverrideOut
    regeneration: RegenerationOut
