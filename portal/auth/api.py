"""Accounts API: register a patient, exchange credentials for a bearer token, who am I."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask_login import current_user

from portal.api import operation, parse_body, respond
from portal.auth import service
from portal.auth.schemas import RegisterRequest, TokenRequest, TokenResponse, UserOut
from portal.doctors.service import doctor_for_user
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
@operation("Exchange email and password for a bearer token", tags=("accounts",),
           body=TokenRequest, response=TokenResponse, auth=False, errors=(401, 429))
def token():
    data = parse_body(TokenRequest)
    user = service.authenticate(data.email, data.password)
    return respond(TokenResponse(access_token=service.issue_api_token(user),
                                 expires_in=current_app.config["API_TOKEN_MAX_AGE"]))


@bp.get("/me")
@login_required
@operation("The authenticated caller", tags=("accounts",), response=UserOut,
           description="For a doctor, `doctor_id` names their doctor profile: the id their "
                       "calendar, schedule and appointment routes take.")
def me():
    doctor = doctor_for_user(current_user) if current_user.role == Role.DOCTOR else None
    return respond(UserOut.of(current_user, doctor_id=doctor.id if doctor else None))
