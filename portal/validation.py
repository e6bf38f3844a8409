"""Validators shared by forms, API schemas and services: one definition of each rule."""

from __future__ import annotations

import functools
import zoneinfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@functools.cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from leaked sets; maintained upstream.
    return frozenset(FREQUENCY_LISTS["passwords"])


@functools.cache
def available_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def normalise_email(value: str) -> str:
    """Return the normalised address or raise ValueError with a readable reason."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return result.normalized.lower()


def normalise_phone(value: str) -> str:
    """Return the number in E.164 (+919876543210) or raise ValueError."""
    raw = value.strip()
    if not raw.startswith("+"):
        raise ValueError(
            "Enter the number in international format, starting with + and the country code.")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("This is not a valid phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("This is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError(f"Unknown time zone {value!r}; use an IANA name such as Asia/Kolkata.")
    return value


def check_password(value: str, *, email: str | None = None) -> str:
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = value.lower()
    if lowered in _common_passwords() or (email and lowered == email.lower()):
        raise ValueError("This password is too common; choose one that is harder to guess.")
    return value
