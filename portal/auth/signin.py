"""Signing in, step by step: the password, then the second factor where the account has one
(or must set one up first). No request here: the views keep the state between the steps in
the session; the API takes both in one request.

A sign-in is complete, and the account's failed attempts are cleared, only when every step
has passed: a right password alone does not clear the count that wrong codes made.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from portal.auth import service, throttle, twofactor
from portal.auth.models import User
from portal.exceptions import ValidationFailed


class NextStep(enum.StrEnum):
    DONE = "done"  # signed in
    CODE = "code"  # the second factor is next
    ENROL = "enrol"  # the role needs a second factor: set it up, then signed in


@dataclass(frozen=True)
class PasswordChecked:
    user: User
    next_step: NextStep


def check_password(email: str, password: str) -> PasswordChecked:
    """The first step. Raises AccountLocked or InvalidCredentials (see service.authenticate)."""
    user = service.authenticate(email, password)
    if user.two_factor_enabled:
        return PasswordChecked(user, NextStep.CODE)
    # Nothing left to guess: setting up a second factor checks a secret the person is shown.
    throttle.reset(email)
    if service.two_factor_setup_missing(user):
        return PasswordChecked(user, NextStep.ENROL)
    return PasswordChecked(user, NextStep.DONE)


def check_code(user: User, code: str) -> None:
    """The second step: a code from the app or a recovery code (see twofactor.verify)."""
    twofactor.verify(user, code)


def api_token(email: str, password: str, otp: str | None) -> str:
    """Both steps in one request, for POST /api/v1/auth/token: a bearer token, or

    AccountLocked (429), InvalidCredentials or InvalidCode (401), ValidationFailed naming
    `otp` when the account has a second factor and no code came (422), TwoFactorSetupRequired
    (403) for a role that needs a second factor not yet set up.
    """
    checked = check_password(email, password)
    if checked.next_step == NextStep.ENROL:
        raise twofactor.TwoFactorSetupRequired(
            "This account must set up two-factor sign-in (in the browser, at "
            "/account/two-factor) before it can use the API.")
    if checked.next_step == NextStep.CODE:
        if not (otp or "").strip():
            raise ValidationFailed({"otp": twofactor.CODE_REQUIRED})
        check_code(checked.user, otp)
    return service.issue_api_token(checked.user)
