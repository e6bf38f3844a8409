"""JSON shapes of the privacy API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from portal.api import ApiModel

WITHDRAW_BY_ERASURE = ("The clinic cannot keep an account without the terms and the privacy "
                       "notice: to withdraw them, ask for your account to be erased.")


class ConsentOut(BaseModel):
    kind: str = Field(description="TERMS, PRIVACY or MARKETING (news and offers)")
    label: str
    given: bool = Field(description="Given and not withdrawn")
    version: str | None = Field(description="Version of the text of the latest grant")
    granted_at: datetime | None
    withdrawn_at: datetime | None = Field(description="When the latest grant was withdrawn")
    current_version: str = Field(description="The version a grant accepts now")
    outdated: bool = Field(description="Given for an older version than the current one")

    @classmethod
    def of(cls, state) -> ConsentOut:
        return cls(kind=state.kind.value, label=state.label, given=state.given,
                   version=state.version, granted_at=state.granted_at,
                   withdrawn_at=state.withdrawn_at, current_version=state.current_version,
                   outdated=state.outdated)


class ConsentList(BaseModel):
    items: list[ConsentOut]


class ConsentsIn(ApiModel):
    """What to change; fields left out stay as they are."""

    marketing: bool | None = Field(
        default=None, description="true: receive news and offers (announcements); false: "
                                  "stop them, from now on (a queued one is not sent).")
    terms: bool | None = Field(
        default=None, description="true: accept the current version of the terms of service.")
    privacy: bool | None = Field(
        default=None, description="true: accept the current version of the privacy notice.")

    @field_validator("terms", "privacy")
    @classmethod
    def _accept_only(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError(WITHDRAW_BY_ERASURE)
        return value


class AccessEntryOut(BaseModel):
    at: datetime
    reader_id: str | None = Field(description="Who read (a user id)")
    reader_name: str | None
    reader_role: str = Field(description="doctor, staff or admin")
    kind: str = Field(description="APPOINTMENT, PROFILE, DEPENDENTS or PAYMENT")
    object_id: str | None = Field(description="The appointment or payment read")
    route: str = Field(description="Which page or API operation")
    via: str = Field(description="web, api or cli")


class AccessLogOut(BaseModel):
    items: list[AccessEntryOut]
    page: int
    per_page: int
    total: int
    pages: int


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=100)


class ExportOut(BaseModel):
    id: str
    status: str = Field(description="PENDING, READY, FAILED or EXPIRED")
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    json_url: str | None = Field(description="While READY: download the data (expires)")
    html_url: str | None = Field(description="While READY: the readable page (expires)")


class EraseIn(ApiModel):
    password: str = Field(max_length=128, description="Your password, again")


class EraseOut(BaseModel):
    cancelled: int = Field(description="Future appointments cancelled (refunds by the policy)")
