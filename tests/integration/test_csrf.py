"""CSRF: every cookie-authenticated POST needs the token, in a form field or the HTMX header;
bearer-token API calls and credential-less API calls do not."""

from __future__ import annotations

import time
from types import SimpleNamespace

import itsdangerous.timed
import pytest
from flask import jsonify
from flask_login import current_user

from portal.auth.models import User
from portal.security import login_required
from tests.conftest import PortalClient
from tests.integration.support import (
    PASSWORD,
    build_app,
    count,
    dispose,
    logged_in,
    page_text,
    problem_errors,
    reload,
)

STALE = "Your session has expired or the form is stale. Reload the page and try again."
REGISTRATION = {"name": "Uma Iyer", "email": "uma@example.com", "phone": "+919812345678",
                "timezone": "Asia/Kolkata", "password": "silver-kettle-8", "accept_terms": "y"}


@pytest.fixture(scope="module")
def probe_app(app):
    """The portal plus a state-changing API route that needs a logged-in caller."""
    probe = build_app(app)

    @login_required
    def echo():
        return jsonify(email=current_user.email)

    probe.add_url_rule("/api/v1/probe/echo", "probe_echo", echo, methods=["POST"])
    yield probe
    dispose(probe)


@pytest.fixture
def probe(probe_app) -> PortalClient:
    return PortalClient(probe_app, probe_app.response_class, use_cookies=True)


def test_a_form_post_without_the_csrf_token_is_refused_with_a_clear_message(client, app_ctx):
    client.get("/account/register")

    response = client.post("/account/register", data=REGISTRATION)

    assert response.status_code == 400
    assert "Please reload the page" in page_text(response)
    assert STALE in page_text(response)
    assert count(User) == 0


def test_a_form_post_with_a_forged_token_is_refused(client, app_ctx):
    client.get("/account/register")

    response = client.post("/account/register", data={**REGISTRATION, "csrf_token": "forged"})

    assert response.status_code == 400
    assert count(User) == 0


def test_a_token_from_another_browser_does_not_work(client, new_client, app_ctx):
    attacker_token = new_client().csrf_token()
    client.get("/account/register")

    response = client.post("/account/register",
                           data={**REGISTRATION, "csrf_token": attacker_token})

    assert response.status_code == 400
    assert count(User) == 0


def test_an_htmx_post_carrying_the_csrf_header_works(client, factory):
    doctor = factory.create_doctor(hours=())
    client.login(factory.create_admin().email)

    response = client.post(f"/admin/doctors/{doctor.id}/active", data={"active": "0"},
                           headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()})

    assert response.status_code == 302
    assert reload(doctor).active is False


def test_an_htmx_post_without_the_header_gets_an_error_fragment(client, factory):
    doctor = factory.create_doctor(hours=())
    client.login(factory.create_admin().email)

    response = client.post(f"/admin/doctors/{doctor.id}/active", data={"active": "0"},
                           headers={"HX-Request": "true"})

    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#messages"
    assert "<html" not in page_text(response)
    assert STALE in page_text(response)
    assert reload(doctor).active is True


def test_a_page_left_open_for_hours_still_posts(client, factory, monkeypatch):
    patient = factory.create_patient()
    token = client.csrf_token()
    # Flask-WTF stamps and checks tokens with itsdangerous, which reads time.time.
    twelve_hours_later = time.time() + 12 * 3600
    monkeypatch.setattr(itsdangerous.timed, "time",
                        SimpleNamespace(time=lambda: twelve_hours_later))

    response = client.post("/account/login", data={
        "email": patient.email, "password": PASSWORD, "csrf_token": token})

    assert response.status_code == 302
    assert logged_in(client)


def test_a_browser_session_call_to_a_state_changing_api_route_needs_the_token(probe, factory):
    patient = factory.create_patient()
    probe.login(patient.email)

    refused = probe.post("/api/v1/probe/echo")
    accepted = probe.post("/api/v1/probe/echo", headers={"X-CSRFToken": probe.csrf_token()})

    assert refused.status_code == 400
    problem_errors(refused)
    assert refused.get_json()["title"] == "CSRF check failed"
    assert accepted.status_code == 200
    assert accepted.get_json() == {"email": patient.email}


def test_a_logged_in_browser_cannot_mint_a_token_without_the_csrf_token(client, factory):
    patient = factory.create_patient()
    client.login(patient.email)

    response = client.post("/api/v1/auth/token", json={"email": patient.email,
                                                       "password": PASSWORD})

    assert response.status_code == 400
    assert "access_token" not in response.get_json()


def test_api_calls_with_a_bearer_token_need_no_csrf_token(probe, factory):
    patient = factory.create_patient()
    token = probe.api_token(patient.email)

    response = probe.post("/api/v1/probe/echo", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.get_json() == {"email": patient.email}


def test_an_api_call_with_neither_session_nor_token_is_unauthenticated(probe):
    response = probe.post("/api/v1/probe/echo")

    assert response.status_code == 401
    problem_errors(response)
