"""JSON shapes of the accounts API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from portal.api import ApiModel


class RegisterRequest(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    email: str = Field(max_length=254)
    phone: str = Field(max_length=20, description="E.164, e.g. +919876543210")
    timezone: str = Field(max_length=64, description="IANA zone, e.g. Asia/Kolkata")
    password: str = Field(max_length=128)
    accept_terms: bool = Field(description="Must be true: the terms of service (/terms) and "
                                           "the privacy notice (/privacy) are accepted; the "
                                           "versions accepted are recorded.")
    marketing: bool = Field(default=False, description="News and offers from the clinic "
                                                       "(announcements); off unless asked for.")


class TokenRequest(ApiModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=128)
    otp: str | None = Field(
        default=None, max_length=32,
        description="For an account with two-factor sign-in: the 6-digit code of the "
                    "authenticator app, or one of the recovery codes (used up).")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class MePatch(ApiModel):
    """Fields to change; those left out keep their value."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    phone: str | None = Field(default=None, max_length=20, description="E.164")
    timezone: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=5, description="en or hi")


class EmailChangeRequest(ApiModel):
    email: str = Field(max_length=254, description="The new address")
    password: str = Field(max_length=128, description="Your current password")


class EmailChangeConfirm(ApiModel):
    token: str = Field(max_length=500, description="From the link sent to the new address")


class EmailChangeOut(BaseModel):
    pending_email: str = Field(description="Changes once the emailed link is opened")


class PasswordChange(ApiModel):
    current_password: str = Field(max_length=128)
    new_password: str = Field(max_length=128)


class UserOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    phone: str | None
    timezone: str
    role: str
    language: str
    created_at: datetime
    doctor_id: uuid.UUID | None = Field(
        default=None, description="A doctor's own profile id (null for other roles).")

    @classmethod
    def of(cls, user, doctor_id: uuid.UUID | None = None) -> UserOut:
        return cls(id=user.id, name=user.name, email=user.email, phone=user.phone,
                   timezone=user.timezone, role=user.role.value, language=user.language,
                   created_at=user.created_at,
                   doctor_id=doctor_id)
