"""JSON shapes of the family API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from portal.api import ApiModel, in_calendar

CalendarDate = Annotated[date, AfterValidator(in_calendar)]


class DependentIn(ApiModel):
    name: str = Field(max_length=120)
    relation: str = Field(description="CHILD, SPOUSE, PARENT, SIBLING, GRANDPARENT or OTHER",
                          max_length=20)
    date_of_birth: CalendarDate
    sex: str = Field(description="FEMALE, MALE or OTHER", max_length=10)


class DependentPatch(ApiModel):
    name: str | None = Field(default=None, max_length=120)
    relation: str | None = Field(default=None, max_length=20)
    date_of_birth: CalendarDate | None = None
    sex: str | None = Field(default=None, max_length=10)


class DependentOut(BaseModel):
    id: uuid.UUID
    name: str
    relation: str
    date_of_birth: date
    age: int
    sex: str
    created_at: datetime

    @classmethod
    def of(cls, dependent, today: date) -> DependentOut:
        return cls(id=dependent.id, name=dependent.name, relation=dependent.relation.value,
                   date_of_birth=dependent.date_of_birth, age=dependent.age_on(today),
                   sex=dependent.sex.value, created_at=dependent.created_at)


class DependentList(BaseModel):
    items: list[DependentOut]
