"""A person's own account details: name, phone, time zone, language, email and password.

Every change is validated as at registration. An email change takes effect only when the
link sent to the new address is opened (the old address is told); a password change needs the
current password and ends every other session and API token, as logging out does.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy.exc import IntegrityError

from portal.auth.models import User
from portal.auth.service import (
    EMAIL_TAKEN,
    InvalidToken,
    find_user_by_email,
    get_user,
    password_matches,
    token_serializer,
)
from portal.exceptions import ValidationFailed
from portal.mailer import send_templated_email
from portal.transactions import write
from portal.validation import check_timezone, normalise_email, normalise_phone

LANGUAGES = ("en", "hi")
WRONG_PASSWORD = "Your current password is not right."  # noqa: S105 - a message, not a secret
EMAIL_CHANGE_MAX_AGE = 24 * 3600  # seconds a confirmation link lives


@dataclass(frozen=True)
class AccountChanges:
    """Fields to change; None keeps a field's value."""

    name: str | None = None
    phone: str | None = None
    timezone: str | None = None
    language: str | None = None


def update_account(user: User, changes: AccountChanges) -> User:
    """Change name, phone (E.164), time zone or preferred language; all fields checked."""
    errors: dict[str, str] = {}
    new: dict[str, str] = {}
    if changes.name is not None:
        name = changes.name.strip()
        if not name:
            errors["name"] = "Enter your name."
        elif len(name) > 120:
            errors["name"] = "Use at most 120 characters."
        else:
            new["name"] = name
    if changes.phone is not None:
        try:
            new["phone"] = normalise_phone(changes.phone)
        except ValueError as exc:
            errors["phone"] = str(exc)
    if changes.timezone is not None:
        try:
            new["timezone"] = check_timezone(changes.timezone)
        except ValueError as exc:
            errors["timezone"] = str(exc)
    if changes.language is not None:
        if changes.language not in LANGUAGES:
            errors["language"] = "Choose English (en) or Hindi (hi)."
        else:
            new["language"] = changes.language
    if errors:
        raise ValidationFailed(errors)
    with write():
        for name, value in new.items():
            setattr(user, name, value)
    return user


def _email_fingerprint(user: User) -> str:
    # Ties a link to the address it replaces: once the email changed, older links are void.
    return hashlib.sha256(user.email.lower().encode()).hexdigest()[:16]


def request_email_change(user: User, new_email: str, password: str,
                         confirm_link: Callable[[str], str]) -> str:
    """Check the password and the new address, then email the new address a confirmation
    link (`confirm_link(token)` builds it) and tell the old one. Returns the normalised
    new address. Nothing changes until the link is opened."""
    errors: dict[str, str] = {}
    email = ""
    try:
        email = normalise_email(new_email)
    except ValueError as exc:
        errors["email"] = str(exc)
    if not password_matches(user, password):
        errors["password"] = WRONG_PASSWORD
    if email and "email" not in errors:
        if email.lower() == user.email.lower():
            errors["email"] = "That is already your email address."
        elif find_user_by_email(email) is not None:
            errors["email"] = EMAIL_TAKEN
    if errors:
        raise ValidationFailed(errors)
    token = token_serializer("email-change").dumps(
        {"uid": str(user.id), "email": email, "fp": _email_fingerprint(user)})
    hours = EMAIL_CHANGE_MAX_AGE // 3600
    send_templated_email(email, "Confirm your new email address", "email_change_confirm",
                         user=user, link=confirm_link(token), hours=hours)
    send_templated_email(user.email, "Your email address is being changed",
                         "email_change_notice", user=user, new_email=email, hours=hours)
    return email


def pending_email_change(token: str) -> tuple[User, str]:
    """The account and the new address a confirmation link names, changing nothing (for the
    page that asks to confirm: a GET must not change state). Raises InvalidToken."""
    try:
        data = token_serializer("email-change").loads(token, max_age=EMAIL_CHANGE_MAX_AGE)
        user = get_user(uuid.UUID(data["uid"]))
        new_email = data["email"]
    except SignatureExpired:
        raise InvalidToken("This confirmation link has expired; ask for a new one.") from None
    except (BadSignature, KeyError, ValueError, TypeError):
        raise InvalidToken("This confirmation link is not valid.") from None
    if user is None or not user.active or data.get("fp") != _email_fingerprint(user):
        raise InvalidToken("This confirmation link has already been used.")
    return user, new_email


def confirm_email_change(token: str) -> User:
    """Make the address in a confirmation link the account's email."""
    user, new_email = pending_email_change(token)
    if find_user_by_email(new_email) is not None:
        raise ValidationFailed({"email": EMAIL_TAKEN})
    try:
        with write():
            user.email = new_email
    except IntegrityError:
        raise ValidationFailed({"email": EMAIL_TAKEN}) from None
    current_app.logger.info("email address changed for user %s", user.id)
    return user
