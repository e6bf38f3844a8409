"""Two-factor sign-in: time-based codes from an authenticator app (TOTP, RFC 6238, via pyotp)
and ten single-use recovery codes. No request here.

- The TOTP secret is stored encrypted (Fernet: AES-128-CBC with an HMAC-SHA256 tag), with a
  key derived from SECRET_KEY by HKDF, so a copy of the database alone does not let anyone
  make codes. Changing SECRET_KEY therefore makes the stored secrets (and recovery codes)
  unusable: `flask auth two-factor-off EMAIL` turns a person's second factor off, as for
  someone who lost both their phone and their recovery codes.
- A code is accepted for the current 30-second step and the one either side (clocks drift),
  and only once: the step of the last code accepted is kept, and a code of that step or an
  earlier one is refused (RFC 6238, section 5.2), by a conditional UPDATE that concurrent
  requests cannot both win.
- Recovery codes are ten random characters (about 50 bits each) shown once; the table keeps
  an HMAC-SHA256 of each with a pepper derived from SECRET_KEY. They are random, not chosen
  by people, so a slow hash (argon2) would add nothing but a verification cost of ten hashes
  per attempt; the keyed hash also means the table alone cannot be checked against guesses.
- Wrong codes count towards the account's lock (portal.auth.throttle) like wrong passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update

from portal.auth import throttle
from portal.auth.models import RecoveryCode, User
from portal.auth.service import password_matches
from portal.clock import utcnow
from portal.exceptions import Conflict, DomainError, ValidationFailed
from portal.extensions import db
from portal.transactions import write

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud, typed back
RECOVERY_LENGTH = 10
STEP = timedelta(seconds=30)  # pyotp's default interval, the one authenticator apps use
WRONG_CODE = "That code is not right. Check your authenticator app and try again."
CODE_REQUIRED = "A code from your authenticator app is required."


class InvalidCode(DomainError):
    """The second factor was wrong (or already used)."""

    status = 401
    title = "Invalid credentials"


class TwoFactorSetupRequired(DomainError):
    """The account's role needs two-factor sign-in, and it has not been set up yet."""

    status = 403
    title = "Two-factor sign-in needed"


# --- secrets ---------------------------------------------------------------------------------


def _derived_key(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"careconnect " + purpose).derive(current_app.config["SECRET_KEY"].encode())


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived_key(b"totp-secret v1")))


def seal(secret: str) -> str:
    """The secret encrypted for storage (in the database, or the session while setting up)."""
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The secret back, or None when it cannot be read (another SECRET_KEY, tampering)."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def new_secret() -> str:
    """A fresh TOTP secret: 160 random bits in base32, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email,
                                               issuer_name=current_app.config["CLINIC_NAME"])


def _digits(code: str) -> str:
    return "".join((code or "").split()).replace("-", "")


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step (now, or one either side) whose code is `code`, later than `after`."""
    code = _digits(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(utcnow())
    for step in (now - 1, now, now + 1):
        if (after is None or step > after) and hmac.compare_digest(
                totp.generate_otp(step), code):
            return step
    return None


def _recovery_hash(code: str) -> str:
    normal = _digits(code).lower()
    return hmac.new(_derived_key(b"recovery-code pepper v1"), normal.encode(),
                    hashlib.sha256).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


# --- turning it on and off ---------------------------------------------------------------


def enable(user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor sign-in on with `secret`, once `code` proves the app has it.

    Returns the ten recovery codes, to be shown once. Every other session and API token of the
    user ends (the caller starts a fresh session for this one).
    """
    if user.two_factor_enabled:
        raise Conflict("Two-factor sign-in is already on.")
    step = _matching_step(secret, code, None)
    if step is None:
        raise ValidationFailed({"code": WRONG_CODE})
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    hashes_ = [_recovery_hash(c) for c in codes]
    with write():
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        db.session.add_all(RecoveryCode(user_id=user.id, code_hash=h) for h in hashes_)
        user.totp_secret = seal(secret)
        user.totp_enabled_at = utcnow()
        user.totp_last_step = step
        user.session_version += 1
    current_app.logger.info("two-factor sign-in turned on for user %s", user.id)
    return codes


def disable(user: User, password: str, code: str) -> None:
    """Turn two-factor sign-in off; needs the password and a code (or a recovery code).

    Wrong ones count towards the account's lock. Every other session and token ends.
    """
    if not user.two_factor_enabled:
        raise Conflict("Two-factor sign-in is not on.")
    throttle.check(user.email)
    errors = {}
    if not password_matches(user, password):
        errors["password"] = "Your password is not right."  # noqa: S105 - a message
    if not errors and not _accept(user, code):
        errors["code"] = WRONG_CODE
    if errors:
        throttle.record_failure(user.email)
        raise ValidationFailed(errors)
    with write():
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        user.totp_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.session_version += 1
    current_app.logger.info("two-factor sign-in turned off for user %s", user.id)


def turn_off(user: User) -> None:
    """Turn two-factor sign-in off without a code (an operator's command, for someone who lost
    their phone and their recovery codes). Every session and token of the user ends."""
    with write():
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        user.totp_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.session_version += 1
    current_app.logger.info("two-factor sign-in turned off by an operator for user %s", user.id)


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


# --- signing in --------------------------------------------------------------------------------


def _accept(user: User, code: str) -> bool:
    """Use up `code` if it is the user's current TOTP code or an unused recovery code."""
    secret = unseal(user.totp_secret or "")
    if secret is not None:
        step = _matching_step(secret, code, user.totp_last_step)
        if step is not None:
            with write():
                # Only one of two requests with the same code gets past this.
                won = db.session.execute(update(User).where(
                    User.id == user.id, or_(User.totp_last_step.is_(None),
                                            User.totp_last_step < step))
                    .values(totp_last_step=step)).rowcount
            return won == 1
    digits = _digits(code)
    if len(digits) != RECOVERY_LENGTH:
        return False
    with write():
        used = db.session.execute(update(RecoveryCode).where(and_(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_hash(code),
            RecoveryCode.used_at.is_(None))).values(used_at=utcnow())).rowcount
    if used:
        current_app.logger.info("a recovery code was used by user %s", user.id)
    return used == 1


def verify(user: User, code: str) -> None:
    """The second step of signing in: accept a code or a recovery code, or raise.

    Raises AccountLocked while the account is locked, InvalidCode for a wrong code (counted
    towards the lock). A right one completes the sign-in and clears the account's count.
    """
    throttle.check(user.email)
    if not _digits(code):
        raise ValidationFailed({"otp": CODE_REQUIRED})
    if not _accept(user, code):
        throttle.record_failure(user.email)
        raise InvalidCode(WRONG_CODE, "otp")
    throttle.reset(user.email)
