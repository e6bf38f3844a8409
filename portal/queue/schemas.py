"""JSON shapes of the queue API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from portal.api import ApiModel, in_calendar


class QueueQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    day: date | None = Field(default=None, alias="date",
                             description="The doctor's local date; default today")

    @field_validator("day")
    @classmethod
    def _computable(cls, value: date | None) -> date | None:
        return None if value is None else in_calendar(value)


class TokenOut(BaseModel):
    id: uuid.UUID
    number: int
    kind: str = Field(description="BOOKED or WALK_IN")
    status: str = Field(description="WAITING, IN_CONSULTATION, DONE, NO_SHOW or LEFT")
    doctor_id: uuid.UUID
    day: date
    appointment_id: uuid.UUID | None
    name: str | None = Field(description="Only for the desk and the doctor")
    arrived_at: datetime
    called_at: datetime | None
    finished_at: datetime | None


class PlaceOut(BaseModel):
    token: TokenOut
    position: int = Field(description="1: next to be called")
    wait_minutes: int = Field(description="Estimated minutes until they are called")


class QueueOut(BaseModel):
    doctor_id: uuid.UUID
    day: date
    now_serving: int | None = Field(description="The token with the doctor")
    waiting_count: int
    pace_minutes: float = Field(description="Average consultation today (or the slot length)")
    delay_minutes: int = Field(description="An announced delay still in force")
    places: list[PlaceOut] = Field(description="Everyone waiting for the desk and the doctor; "
                                               "a patient sees only their own places")


class RunningLateIn(ApiModel):
    minutes: int = Field(ge=0, le=480)
    note: str = Field(default="", max_length=200)


class RunningLateOut(BaseModel):
    minutes: int
    told: int = Field(description="How many patients were told")
