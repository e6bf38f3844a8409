"""The JSON API's accounts: registration, bearer tokens, /me, and the problem+json errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from portal.auth.models import Role, User
from portal.auth.service import find_user_by_email
from portal.extensions import db
from tests.integration.support import PASSWORD, count, is_uuid, problem_errors, sync

REGISTRATION = {"name": "Kiran Das", "email": "Kiran.Das@Example.com", "phone": "+447911123456",
                "timezone": "Europe/London", "password": "quiet-meadow-31", "accept_terms": True}

INVALID_FIELDS = [
    ("email", "kiran.example.com", "@-sign"),
    ("phone", "07911123456", "international format"),
    ("phone", "+4479", "not a valid phone number"),
    ("timezone", "Europe/Atlantis", "Unknown time zone"),
    ("password", "short1", "at least 8 characters"),
    ("password", "password123", "too common"),
    ("password", "qwerty123", "too common"),
]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- registration ------------------------------------------------------------------------------


def test_api_registration_creates_a_patient_and_returns_it(client, app_ctx):
    response = client.post("/api/v1/auth/register", json=REGISTRATION)

    assert response.status_code == 201
    body = response.get_json()
    assert is_uuid(body["id"])
    assert body["email"] == "kiran.das@example.com"
    assert body["phone"] == "+447911123456"
    assert body["role"] == "patient"
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)
    assert "password" not in body
    assert "password_hash" not in body
    sync()
    assert find_user_by_email("kiran.das@example.com").role == Role.PATIENT


@pytest.mark.parametrize(("field", "value", "message"), INVALID_FIELDS)
def test_api_registration_names_the_invalid_field_and_writes_nothing(client, app_ctx, field,
                                                                     value, message):
    response = client.post("/api/v1/auth/register", json={**REGISTRATION, field: value})

    assert response.status_code == 422
    errors = problem_errors(response)
    assert list(errors) == [field]
    assert message in errors[field]
    assert count(User) == 0


def test_api_registration_refuses_a_registered_email_in_another_case(client, factory):
    factory.create_patient(email="kiran.das@example.com")

    response = client.post("/api/v1/auth/register",
                           json={**REGISTRATION, "email": "KIRAN.DAS@example.COM"})

    assert response.status_code == 422
    assert "already exists" in problem_errors(response)["email"]
    assert count(User) == 1


def test_api_registration_rejects_unknown_fields_by_name(client, app_ctx):
    response = client.post("/api/v1/auth/register", json={**REGISTRATION, "role": "admin"})

    assert response.status_code == 422
    assert list(problem_errors(response)) == ["role"]
    assert count(User) == 0


def test_api_registration_names_every_missing_field(client):
    response = client.post("/api/v1/auth/register", json={"name": "Kiran"})

    assert response.status_code == 422
    assert set(problem_errors(response)) == {"email", "phone", "timezone", "password",
                                             "accept_terms"}


@pytest.mark.parametrize(("data", "content_type"), [
    ("name=Kiran", "application/x-www-form-urlencoded"),
    ("not json at all", "text/plain"),
    ('{"name": "Kiran",', "application/json"),
    ('["a", "list"]', "application/json"),
])
def test_a_body_that_is_not_a_json_object_gets_400(client, data, content_type):
    response = client.post("/api/v1/auth/register", data=data, content_type=content_type)

    assert response.status_code == 400
    assert "body" in problem_errors(response)


# --- tokens --------------------------------------------------------------------------------


def test_a_token_for_email_and_password_authenticates_me(client, factory):
    patient = factory.create_patient(name="Nila Shah", timezone="Asia/Dubai")

    response = client.post("/api/v1/auth/token",
                           json={"email": patient.email.upper(), "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 24 * 3600
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["id"] == str(patient.id)
    assert me.get_json()["name"] == "Nila Shah"
    assert me.get_json()["timezone"] == "Asia/Dubai"
    assert me.get_json()["role"] == "patient"


@pytest.mark.parametrize("mistake", ["wrong password", "unknown email"])
def test_wrong_credentials_get_401_problem_json(client, factory, mistake):
    patient = factory.create_patient()
    email = patient.email if mistake == "wrong password" else "nobody@example.com"

    response = client.post("/api/v1/auth/token", json={"email": email, "password": "nope-nope-1"})

    assert response.status_code == 401
    problem_errors(response)
    assert response.get_json()["detail"] == "The email or password is not right."
    assert "access_token" not in response.get_json()


def test_the_token_endpoint_rejects_unknown_fields_by_name(client, factory):
    patient = factory.create_patient()

    response = client.post("/api/v1/auth/token",
                           json={"email": patient.email, "password": PASSWORD, "scope": "admin"})

    assert response.status_code == 422
    assert list(problem_errors(response)) == ["scope"]


@pytest.mark.parametrize("header", [
    "Bearer not-a-token",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Token abc",
])
def test_a_malformed_or_forged_token_gets_401_problem_json(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})

    assert response.status_code == 401
    problem_errors(response)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_signed_with_another_key_is_refused(client, factory, app):
    patient = factory.create_patient()
    forged = URLSafeTimedSerializer("another-key", salt="api-token").dumps(
        {"uid": str(patient.id), "ver": 1})

    response = client.get("/api/v1/me", headers=bearer(forged))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_expires_after_a_day(client, factory, frozen_clock):
    patient = factory.create_patient()
    frozen_clock.freeze(datetime(2026, 5, 4, 8, 0, tzinfo=UTC))
    token = client.api_token(patient.email)

    frozen_clock.advance(timedelta(hours=23, minutes=59))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    frozen_clock.advance(timedelta(minutes=2))
    response = client.get("/api/v1/me", headers=bearer(token))

    assert response.status_code == 401
    assert "expired" in response.get_json()["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_is_revoked_when_the_user_logs_out_in_the_browser(client, new_client, factory):
    patient = factory.create_patient()
    token = client.api_token(patient.email)
    browser = new_client()
    browser.login(patient.email)

    browser.post_form("/account/logout")
    response = client.get("/api/v1/me", headers=bearer(token))

    assert response.status_code == 401
    assert "revoked" in response.get_json()["detail"]


def test_a_token_of_a_deactivated_account_is_refused(client, factory):
    patient = factory.create_patient()
    token = client.api_token(patient.email)
    patient.active = False
    db.session.commit()

    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_bearer_token_names_the_caller_even_beside_a_session_cookie(client, new_client,
                                                                       factory):
    patient, admin = factory.create_patient(), factory.create_admin()
    token = new_client().api_token(admin.email)
    client.login(patient.email)

    response = client.get("/api/v1/me", headers=bearer(token))

    assert response.get_json()["email"] == admin.email


def test_me_works_with_the_browser_session_too(client, factory):
    patient = factory.create_patient()
    client.login(patient.email)

    response = client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.get_json()["email"] == patient.email


def test_the_token_endpoint_is_rate_limited_per_address_with_problem_json(client, app):
    assert app.config["LOGIN_RATE_LIMIT"] == "60 per minute"
    # Sixty wrong passwords from one address, four per email: no account is locked.
    statuses = [client.post("/api/v1/auth/token", json={
        "email": f"someone{n // 4}@example.com", "password": "wrong-guess-1"}).status_code
        for n in range(60)]

    response = client.post("/api/v1/auth/token", json={"email": "someone-else@example.com",
                                                      "password": "wrong-guess-1"})

    assert statuses == [401] * 60
    assert response.status_code == 429
    problem_errors(response)
    assert response.get_json()["title"] == "Too many attempts"
    assert "Wait a minute" in response.get_json()["detail"]
    assert "Retry-After" in response.headers


@pytest.mark.parametrize("account", ["known", "unknown"])
def test_a_locked_account_gets_429_problem_json_with_retry_after_from_any_address(
        app, factory, account):
    patient = factory.create_patient()
    email = patient.email if account == "known" else "nobody-here@example.com"
    for n in range(5):
        caller = app.test_client()
        caller.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        assert caller.post("/api/v1/auth/token", json={
            "email": email, "password": "wrong-guess-1"}).status_code == 401
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.99"

    response = elsewhere.post("/api/v1/auth/token", json={"email": email,
                                                          "password": PASSWORD})

    assert response.status_code == 429
    problem_errors(response)
    # The same document for an email with an account and one without.
    assert response.get_json() == {
        "type": "about:blank", "title": "Too many attempts", "status": 429,
        "detail": "Too many attempts for this account; try again in 1 minute."}
    assert 58 <= int(response.headers["Retry-After"]) <= 61
