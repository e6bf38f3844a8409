"""Account rules: registration, credentials, sessions, reset and API tokens. No request here."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.auth import throttle
from portal.auth.models import Role, User
from portal.clock import utcnow
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.privacy import consents
from portal.transactions import write
from portal.validation import check_password, check_timezone, normalise_email, normalise_phone

_HASHERS = {
    "default": PasswordHasher(),  # RFC 9106 low-memory profile, argon2-cffi's default
    # Only for the test suite (PASSWORD_HASH_PROFILE=test), where hundreds of users are made.
    "test": PasswordHasher.from_parameters(profiles.CHEAPEST),
}
_DUMMY_PASSWORD = "not-a-real-password-0"  # noqa: S105 - hashed to equalise timing


class InvalidCredentials(DomainError):
    status = 401
    title = "Invalid credentials"


class InvalidToken(DomainError):
    status = 401
    title = "Invalid or expired token"


EMAIL_TAKEN = "An account with this email already exists; log in or reset your password."
TERMS_NEEDED = "Accept the terms of service and the privacy notice to create an account."


@dataclass(frozen=True)
class Registration:
    name: str
    email: str
    phone: str
    timezone: str
    password: str
    # Self-registration only: the terms and privacy notice accepted (required), and whether
    # the person asked for news and offers (never assumed).
    accept_terms: bool = False
    marketing: bool = False


def _hasher() -> PasswordHasher:
    return _HASHERS[current_app.config.get("PASSWORD_HASH_PROFILE", "default")]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists, so timing does not reveal emails."""
    hasher = _hasher()
    try:
        return hasher.verify(password_hash or hasher.hash(_DUMMY_PASSWORD), password) and (
            password_hash is not None)
    except (VerificationError, InvalidHashError):
        return False


def password_matches(user: User, password: str) -> bool:
    """The user's current password (in constant work, as at login)."""
    return _verify(user.password_hash, password)


def validate_registration(data: Registration, *, terms_required: bool = False) -> Registration:
    """Check every field at once so the form shows all problems together; with
    `terms_required` (a person registering themself), the terms must be accepted too."""
    errors: dict[str, str] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = "Enter your name."
    elif len(name) > 120:
        errors["name"] = "Use at most 120 characters."
    email = phone = ""
    try:
        email = normalise_email(data.email)
    except ValueError as exc:
        errors["email"] = str(exc)
    try:
        phone = normalise_phone(data.phone)
    except ValueError as exc:
        errors["phone"] = str(exc)
    try:
        check_timezone(data.timezone)
    except ValueError as exc:
        errors["timezone"] = str(exc)
    try:
        check_password(data.password, email=email or None)
    except ValueError as exc:
        errors["password"] = str(exc)
    if email and "email" not in errors and find_user_by_email(email) is not None:
        errors["email"] = EMAIL_TAKEN
    if terms_required and data.accept_terms is not True:
        errors["accept_terms"] = TERMS_NEEDED
    if errors:
        raise ValidationFailed(errors)
    return Registration(name, email, phone, data.timezone, data.password, data.accept_terms,
                        data.marketing)


def build_user(data: Registration, role: Role = Role.PATIENT, *,
               terms_required: bool = False) -> User:
    """A validated new user with its password hashed, not yet added to any transaction.

    Hashing happens here, before the caller's `write()`, so the write lock is not held for
    the tens of milliseconds argon2 takes.
    """
    clean = validate_registration(data, terms_required=terms_required)
    return User(name=clean.name, email=clean.email, phone=clean.phone, timezone=clean.timezone,
                password_hash=hash_password(clean.password), role=role)


def add_user(user: User) -> User:
    """Add a built user inside the caller's `write()`; a concurrent sign-up with the same
    email loses with the same message as a sequential one."""
    try:
        with write():  # a savepoint: the caller's transaction survives the duplicate
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed({"email": EMAIL_TAKEN}) from None
    return user


def create_user(data: Registration, role: Role = Role.PATIENT) -> User:
    """Register a user of any role, in a transaction of its own."""
    user = build_user(data, role)
    with write():
        return add_user(user)


def register_patient(data: Registration) -> User:
    """A person registering themself: the terms of service and the privacy notice must be
    accepted; the versions accepted, and news and offers when asked for, are recorded with
    the account in the same transaction."""
    user = build_user(data, Role.PATIENT, terms_required=True)
    with write():
        add_user(user)
        consents.record_registration(user, marketing=data.marketing is True)
    return user


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def get_user(user_id: uuid.UUID) -> User | None:
    return db.session.get(User, user_id)


def check_patient_visible(user: User, patient_id: uuid.UUID) -> None:
    """A patient's records are theirs, the desk's and the clinic's admins': anyone else gets
    NotFound."""
    if user.role not in (Role.ADMIN, Role.STAFF) and user.id != patient_id:
        raise NotFound("No such patient.")


def authenticate(email: str, password: str) -> User:
    """Return the active user with these credentials or raise InvalidCredentials.

    Per account (the email as typed, known or not): raises AccountLocked without checking
    anything while the account is locked, and counts a failure towards the lock. Clearing the
    count is the caller's, once the whole sign-in (second factor included) has succeeded.
    """
    throttle.check(email)
    user = find_user_by_email(email) if email else None
    if not _verify(user.password_hash if user else None, password):
        user = None
    if user is None or not user.active:
        throttle.record_failure(email)
        raise InvalidCredentials("The email or password is not right.")
    if _hasher().check_needs_rehash(user.password_hash):
        new_hash = hash_password(password)
        with write():
            user.password_hash = new_hash
    return user


def two_factor_required(user: User) -> bool:
    """Whether the user's role must sign in with a second factor (TWO_FACTOR_REQUIRED_ROLES)."""
    return user.role.value in current_app.config.get("TWO_FACTOR_REQUIRED_ROLES", ())


def two_factor_setup_missing(user: User) -> bool:
    """A role that needs a second factor and no second factor yet: such a user is never signed
    in (no session, no API token) until they have set one up."""
    return two_factor_required(user) and not user.two_factor_enabled


def load_session_user(session_id: str) -> User | None:
    """Resolve Flask-Login's `id:version`; a stale version means the session was revoked.

    A user whose role now needs a second factor they have not set up is not signed in either
    (sessions from before the rule included): the login page sends them to set it up.
    """
    user_id, _, version = session_id.partition(":")
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or not user.active or str(user.session_version) != version:
        return None
    if two_factor_setup_missing(user):
        return None
    return user


def revoke_sessions(user: User) -> None:
    """End every browser session and API token of this user (logout, password change)."""
    with write():
        user.session_version += 1


def change_password(user: User, current: str, new: str) -> None:
    if not _verify(user.password_hash, current):
        raise ValidationFailed({"current_password": "Your current password is not right."})
    _set_password(user, new)


def _set_password(user: User, new: str) -> None:
    try:
        check_password(new, email=user.email)
    except ValueError as exc:
        raise ValidationFailed({"password": str(exc)}) from None
    new_hash = hash_password(new)
    with write():
        user.password_hash = new_hash
        user.session_version += 1


class _ClockSigner(TimestampSigner):
    """Stamps and ages tokens by the portal's clock, so their expiry follows it in tests too."""

    def get_timestamp(self) -> int:
        return int(utcnow().timestamp())


def token_serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt,
                                  signer=_ClockSigner)


def _hash_fingerprint(user: User) -> str:
    # Ties a reset token to the current password hash, so the token works once.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def make_reset_token(user: User) -> str:
    return token_serializer("password-reset").dumps({"uid": str(user.id),
                                                     "fp": _hash_fingerprint(user)})


def user_for_reset_token(token: str) -> User:
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    try:
        data = token_serializer("password-reset").loads(token, max_age=max_age)
        user = db.session.get(User, uuid.UUID(data["uid"]))
    except SignatureExpired:
        raise InvalidToken("This reset link has expired; ask for a new one.") from None
    except (BadSignature, KeyError, ValueError, TypeError):
        raise InvalidToken("This reset link is not valid; ask for a new one.") from None
    if user is None or not user.active or data.get("fp") != _hash_fingerprint(user):
        raise InvalidToken("This reset link has already been used; ask for a new one.")
    return user


def reset_password(token: str, new: str) -> User:
    """Set a new password from a reset link; the account's failed sign-ins are forgiven (its
    owner just proved they read its mail)."""
    user = user_for_reset_token(token)
    _set_password(user, new)
    throttle.reset(user.email)
    return user


# --- invitations: an account the clinic made, claimed by setting a password ------------------
# A cousin of the reset link with a salt of its own (one never works as the other) and a
# longer life (INVITE_MAX_AGE, a week by default): the person may read the SMS days later.
# Like a reset link it is tied to the current password hash, so it works once.

INVITE_SALT = "account-invite"


def make_invite_token(user: User) -> str:
    return token_serializer(INVITE_SALT).dumps({"uid": str(user.id),
                                                "fp": _hash_fingerprint(user)})


def user_for_invite_token(token: str) -> User:
    """The invited account, or InvalidToken (expired, forged, or already used)."""
    max_age = current_app.config["INVITE_MAX_AGE"]
    try:
        data = token_serializer(INVITE_SALT).loads(token, max_age=max_age)
        user = db.session.get(User, uuid.UUID(data["uid"]))
    except SignatureExpired:
        raise InvalidToken("This invitation has expired; ask the clinic to send a new one."
                           ) from None
    except (BadSignature, KeyError, ValueError, TypeError):
        raise InvalidToken("This invitation link is not valid; ask the clinic for a new one."
                           ) from None
    if user is None or not user.active or data.get("fp") != _hash_fingerprint(user):
        raise InvalidToken("This invitation has already been used: log in, or reset your "
                           "password if you have forgotten it.")
    return user


def claim_link(user: User) -> str:
    """The absolute link of the claim page for `user`, from PUBLIC_URL (never a request's
    Host header). Works without a request too (the worker sending the invitation)."""
    path = current_app.url_map.bind("localhost").build(
        "auth.claim", {"token": make_invite_token(user)})
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def claim_account(token: str, password: str, email: str | None = None) -> User:
    """Set the first password of an invited account from its invitation link, and its email
    address when `email` is given (the clinic had none). The link then stops working."""
    user = user_for_invite_token(token)
    errors: dict[str, str] = {}
    clean = None
    if email is not None:
        try:
            clean = normalise_email(email)
        except ValueError as exc:
            errors["email"] = str(exc)
        else:
            holder = find_user_by_email(clean)
            if holder is not None and holder.id != user.id:
                errors["email"] = EMAIL_TAKEN
    try:
        check_password(password, email=clean or user.email)
    except ValueError as exc:
        errors["password"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    new_hash = hash_password(password)
    try:
        with write():
            if clean is not None:
                user.email = clean
            user.password_hash = new_hash
            user.session_version += 1
    except IntegrityError:  # the address was taken meanwhile
        raise ValidationFailed({"email": EMAIL_TAKEN}) from None
    return user


def issue_api_token(user: User) -> str:
    return token_serializer("api-token").dumps({"uid": str(user.id), "ver": user.session_version})


def user_for_api_token(token: str) -> User:
    max_age = current_app.config["API_TOKEN_MAX_AGE"]
    try:
        data = token_serializer("api-token").loads(token, max_age=max_age)
        user = db.session.get(User, uuid.UUID(data["uid"]))
    except SignatureExpired:
        raise InvalidToken("The token has expired; request a new one.") from None
    except (BadSignature, KeyError, ValueError, TypeError):
        raise InvalidToken("The token is not valid.") from None
    if user is None or not user.active or data.get("ver") != user.session_version:
        raise InvalidToken("The token has been revoked; request a new one.")
    if two_factor_setup_missing(user):
        raise InvalidToken("This account must set up two-factor sign-in before it can use "
                           "the API.")
    return user
