"""Accounts API: register a patient, exchange credentials for a bearer token, who am I."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user

from portal.api import operation, parse_body, respond
from portal.auth import profile, service, signin, throttle
from portal.auth.schemas import (
    EmailChangeConfirm,
    EmailChangeOut,
    EmailChangeRequest,
    MePatch,
    PasswordChange,
    RegisterRequest,
    TokenRequest,
    TokenResponse,
    UserOut,
)
from portal.doctors.service import doctor_for_user
from portal.errors import problem, wants_json
from portal.exceptions import ValidationFailed
from portal.extensions import limiter
from portal.roles import Role
from portal.security import login_required

bp = Blueprint("auth_api", __name__)


@bp.post("/auth/register")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@operation("Register a patient account", tags=("accounts",), body=RegisterRequest,
           response=UserOut, status=201, auth=False, errors=(429,))
def register():
    data = parse_body(RegisterRequest)
    user = service.register_patient(service.Registration(**data.model_dump()))
    return respond(UserOut.of(user), 201)


@bp.post("/auth/token")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@operation("Exchange email and password (and a code) for a bearer token", tags=("accounts",),
           body=TokenRequest, response=TokenResponse, auth=False, errors=(401, 403, 429),
           description="An account with two-factor sign-in also sends `otp`, a code from its "
                       "authenticator app or a recovery code; without it the answer is 422 "
                       "naming `otp`. A role that must use two-factor sign-in and has not set "
                       "it up gets 403. Failed attempts lock the account for a while, "
                       "whatever the caller's address: 429 with Retry-After.")
def token():
    data = parse_body(TokenRequest)
    access_token = signin.api_token(data.email, data.password, data.otp)
    return respond(TokenResponse(access_token=access_token,
                                 expires_in=current_app.config["API_TOKEN_MAX_AGE"]))


@bp.app_errorhandler(throttle.AccountLocked)
def account_locked(exc: throttle.AccountLocked):
    """A locked account: 429 with Retry-After, as problem+json or a page. (The login forms
    show it on the form instead.)"""
    headers = {"Retry-After": str(exc.retry_after)}
    if wants_json():
        return problem(exc.status, exc.title, exc.message, headers=headers)
    return render_template("errors/error.html", status=exc.status, title=exc.title,
                           message=exc.message), exc.status, headers


@bp.get("/me")
@login_required
@operation("The authenticated caller", tags=("accounts",), response=UserOut,
           description="For a doctor, `doctor_id` names their doctor profile: the id their "
                       "calendar, schedule and appointment routes take.")
def me():
    return respond(_me_out(current_user))


def _me_out(user) -> UserOut:
    doctor = doctor_for_user(user) if user.role == Role.DOCTOR else None
    return UserOut.of(user, doctor_id=doctor.id if doctor else None)


@bp.patch("/me")
@login_required
@operation("Change your name, phone, time zone or language", tags=("accounts",), body=MePatch,
           response=UserOut)
def update_me():
    data = parse_body(MePatch)
    user = profile.update_account(current_user._get_current_object(), profile.AccountChanges(
        name=data.name, phone=data.phone, timezone=data.timezone, language=data.language))
    return respond(_me_out(user))


def email_confirm_link(token: str) -> str:
    """From PUBLIC_URL, never the request's Host header, which the asker controls."""
    return current_app.config["PUBLIC_URL"] + url_for("auth.confirm_email", token=token)


@bp.post("/me/email")
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@operation("Change your email address (confirmed by a link sent to it)", tags=("accounts",),
           body=EmailChangeRequest, response=EmailChangeOut, status=202, errors=(429,),
           description="Needs your current password. The old address is told; the change "
                       "happens when the link in the email to the new address is opened.")
def change_email():
    data = parse_body(EmailChangeRequest)
    pending = profile.request_email_change(current_user._get_current_object(), data.email,
                                           data.password, email_confirm_link)
    return respond(EmailChangeOut(pending_email=pending), 202)


@bp.post("/me/email/confirm")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@operation("Confirm a new email address with the emailed token", tags=("accounts",),
           body=EmailChangeConfirm, response=UserOut, auth=False, errors=(401, 429))
def confirm_email():
    data = parse_body(EmailChangeConfirm)
    return respond(_me_out(profile.confirm_email_change(data.token)))


@bp.post("/me/password")
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@operation("Change your password", tags=("accounts",), body=PasswordChange, status=204,
           errors=(429,), description="Needs the current password. Every other session and "
                                      "API token ends (this token too: request a new one).")
def change_password():
    data = parse_body(PasswordChange)
    try:
        service.change_password(current_user._get_current_object(), data.current_password,
                                data.new_password)
    except ValidationFailed as exc:  # the service names the new password "password"
        raise ValidationFailed({"new_password" if name == "password" else name: message
                                for name, message in exc.errors.items()}) from None
    return "", 204
