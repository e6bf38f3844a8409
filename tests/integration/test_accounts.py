"""Accounts in the browser: registration, login and logout, sessions, password change and reset,
the login rate limit and role checks."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import flask_limiter._extension
import limits.storage
import limits.storage.memory
import pytest
from redis import Redis

from portal.auth import throttle
from portal.auth.models import Role, User
from portal.auth.service import find_user_by_email
from portal.extensions import db
from tests.integration.support import (
    PASSWORD,
    count,
    field_error,
    logged_in,
    page_text,
    reload,
    sync,
)

VALID = {"name": "Asha Verma", "email": "Asha.Verma@Example.COM", "phone": "+91 98765 43210",
         "timezone": "Europe/London", "password": "tulip-harbour-42", "accept_terms": "y"}

INVALID_FIELDS = [
    ("email", "asha.example.com", "@-sign"),
    ("phone", "9876543210", "international format"),
    ("phone", "+91123", "not a valid phone number"),
    ("timezone", "Mars/Olympus_Mons", "Unknown time zone"),
    ("password", "tulip42", "at least 8 characters"),
    ("password", "password123", "too common"),
    ("password", "qwerty123", "too common"),
]


# --- registration ----------------------------------------------------------------------------


def test_registration_creates_a_patient_with_normalised_details_and_logs_them_in(client, app_ctx):
    response = client.post_form("/account/register", VALID)

    assert response.status_code == 302
    assert response.headers["Location"] == "/doctors/"
    sync()
    user = find_user_by_email("asha.verma@example.com")
    assert user.role == Role.PATIENT
    assert user.email == "asha.verma@example.com"
    assert user.phone == "+919876543210"
    assert user.timezone == "Europe/London"
    assert user.password_hash.startswith("$argon2")
    assert "tulip-harbour-42" not in user.password_hash
    assert logged_in(client)


@pytest.mark.parametrize(("field", "value", "message"), INVALID_FIELDS)
def test_registration_form_names_the_invalid_field_and_writes_nothing(client, app_ctx, field,
                                                                      value, message):
    response = client.post_form("/account/register", {**VALID, field: value})

    assert response.status_code == 422
    assert message in field_error(response, field)
    assert count(User) == 0
    assert not logged_in(client)


def test_registration_form_shows_every_invalid_field_at_once(client, app_ctx):
    response = client.post_form("/account/register", {**VALID, "phone": "12", "password": "x"})

    assert response.status_code == 422
    assert field_error(response, "phone")
    assert field_error(response, "password")
    assert field_error(response, "email") is None


def test_registration_refuses_an_email_already_registered_in_another_case(client, factory):
    factory.create_patient(email="ravi@example.com")

    response = client.post_form("/account/register", {**VALID, "email": "RAVI@Example.com"})

    assert response.status_code == 422
    assert "already exists" in field_error(response, "email")
    assert count(User) == 1


def test_registration_form_keeps_what_was_typed_except_the_password(client):
    response = client.post_form("/account/register", {**VALID, "phone": "12"})

    body = page_text(response)
    assert 'value="Asha Verma"' in body
    assert "tulip-harbour-42" not in body


# --- login, logout and sessions --------------------------------------------------------------


def test_login_sends_each_role_to_its_home(client, new_client, factory):
    patient, admin = factory.create_patient(), factory.create_admin()
    doctor = factory.create_doctor(hours=())

    assert client.login(patient.email).headers["Location"] == "/doctors/"
    assert new_client().login(admin.email).headers["Location"] == "/admin/"
    assert new_client().login(doctor.user.email).headers["Location"] == "/dashboard"


def test_login_accepts_the_email_in_any_case(client, factory):
    patient = factory.create_patient(email="meena@example.com")

    client.login("  Meena@EXAMPLE.com ")

    assert logged_in(client)
    assert patient.email == "meena@example.com"


@pytest.mark.parametrize("mistake", ["unknown email", "wrong password"])
def test_login_with_wrong_credentials_gives_one_message_for_unknown_email_and_wrong_password(
        client, factory, mistake):
    patient = factory.create_patient()
    email = "nobody@example.com" if mistake == "unknown email" else patient.email

    response = client.post_form("/account/login", {"email": email, "password": "not-the-one-1"})

    assert response.status_code == 422
    assert "The email or password is not right." in page_text(response)
    assert not logged_in(client)


def test_a_deactivated_account_cannot_log_in(client, factory):
    patient = factory.create_patient()
    patient.active = False
    db.session.commit()

    response = client.post_form("/account/login", {"email": patient.email, "password": PASSWORD})

    assert response.status_code == 422
    assert not logged_in(client)


def test_login_renews_the_session(client, factory):
    patient = factory.create_patient()
    client.get("/account/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    before = client.get_cookie("session").value

    client.login(patient.email)

    assert client.get_cookie("session").value != before
    with client.session_transaction() as session:
        assert "planted" not in session


def test_logout_invalidates_every_session_of_the_user(client, new_client, factory):
    patient = factory.create_patient()
    client.login(patient.email)
    copied = new_client()  # a stolen copy of the same session cookie
    copied.set_cookie("session", client.get_cookie("session").value)
    other_device = new_client()
    other_device.login(patient.email)
    assert logged_in(copied)
    assert logged_in(other_device)

    response = client.post_form("/account/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/login"
    assert reload(patient).session_version == 2
    assert not logged_in(client)
    assert not logged_in(copied)
    assert not logged_in(other_device)


def test_a_remember_me_cookie_stops_working_after_logout(client, new_client, factory):
    patient = factory.create_patient()
    client.post_form("/account/login", {"email": patient.email, "password": PASSWORD,
                                        "remember": "y"})
    remembered = new_client()  # the browser restarted: only the long-lived cookie is left
    remembered.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert logged_in(remembered)

    client.post_form("/account/logout")
    restarted = new_client()
    restarted.set_cookie("remember_token", remembered.get_cookie("remember_token").value)

    assert not logged_in(restarted)


def test_session_cookies_are_http_only_and_same_site(client, factory):
    response = client.login(factory.create_patient().email)

    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie


def test_logout_needs_a_post_with_the_csrf_token(client, factory):
    patient = factory.create_patient()
    client.login(patient.email)

    assert client.get("/account/logout").status_code == 405
    assert client.post("/account/logout").status_code == 400

    assert logged_in(client)
    assert reload(patient).session_version == 1


def test_changing_the_password_ends_other_sessions_and_tokens_but_keeps_this_one(
        client, new_client, factory):
    patient = factory.create_patient()
    token = new_client().api_token(patient.email)
    other_device = new_client()
    other_device.login(patient.email)
    client.login(patient.email)

    response = client.post_form("/account/password", {
        "current_password": PASSWORD, "password": "new-lantern-77", "confirm": "new-lantern-77"})

    assert response.status_code == 302
    assert logged_in(client)
    assert not logged_in(other_device)
    assert new_client().get("/api/v1/me", headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    assert new_client().login(patient.email, "new-lantern-77")
    refused = new_client().post_form("/account/login", {"email": patient.email,
                                                        "password": PASSWORD})
    assert refused.status_code == 422


def test_changing_the_password_needs_the_current_one(client, factory):
    patient = factory.create_patient()
    client.login(patient.email)

    response = client.post_form("/account/password", {
        "current_password": "wrong-guess-1", "password": "new-lantern-77",
        "confirm": "new-lantern-77"})

    assert response.status_code == 422
    assert "current password is not right" in field_error(response, "current_password")
    assert reload(patient).session_version == 1


def test_changing_the_password_refuses_a_common_one(client, factory):
    patient = factory.create_patient()
    client.login(patient.email)

    response = client.post_form("/account/password", {
        "current_password": PASSWORD, "password": "password123", "confirm": "password123"})

    assert response.status_code == 422
    assert "too common" in field_error(response, "password")


@pytest.mark.parametrize("target", ["/admin/doctors", "/doctors/?specialty=Cardiology&page=2"])
def test_login_returns_to_a_same_site_next_path(client, factory, target):
    admin = factory.create_admin()

    response = client.post_form(f"/account/login?next={target.replace('&', '%26')}",
                                {"email": admin.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", [
    "https://evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "/\t/evil.example/phish",
    "javascript:alert(1)",
    "http:/evil.example",
])
def test_login_ignores_a_next_that_leaves_the_site(client, factory, target):
    patient = factory.create_patient()

    response = client.post("/account/login", query_string={"next": target}, data={
        "email": patient.email, "password": PASSWORD, "csrf_token": client.csrf_token()})

    assert response.status_code == 302
    assert response.headers["Location"] == "/doctors/"


# --- rate limits: per address and per account ----------------------------------------------


class LimitClock:
    """Moves the time that the rate-limit storage (limits' MemoryStorage, as in the suite),
    Flask-Limiter's headers and the account throttle read, together."""

    def __init__(self, monkeypatch) -> None:
        self.now = float(int(time.time()))
        clock_ = SimpleNamespace(time=lambda: self.now)
        monkeypatch.setattr(limits.storage.memory, "time", clock_)
        monkeypatch.setattr(flask_limiter._extension, "time", clock_)
        monkeypatch.setattr(throttle, "time", clock_)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def limit_clock(monkeypatch) -> LimitClock:
    return LimitClock(monkeypatch)


def _from(client, address: str):
    """The client as a browser at another address."""
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _attempt(client, email: str, password: str = "wrong-guess-1", token: str | None = None):
    return client.post("/account/login", data={
        "email": email, "password": password, "csrf_token": token or client.csrf_token()})


def _error(response) -> str:
    match = re.search(r'class="form-errors" role="alert">\s*<p>(.*?)</p>', page_text(response))
    return match.group(1) if match else ""


def test_the_sixty_first_login_attempt_from_one_address_in_a_minute_is_refused_with_429(
        client, factory, app):
    assert app.config["LOGIN_RATE_LIMIT"] == "60 per minute"
    # 60 wrong passwords from one address, four per account: no account is locked.
    emails = [factory.create_patient().email for _ in range(15)]
    token = client.csrf_token()
    statuses = [_attempt(client, email, token=token).status_code
                for email in emails for _ in range(4)]

    response = _attempt(client, emails[0], PASSWORD, token)

    assert statuses == [422] * 60
    assert response.status_code == 429
    assert "Wait a minute and try again" in page_text(response)
    assert "Retry-After" in response.headers
    assert not logged_in(client)


def test_the_address_limit_lifts_after_a_minute(client, factory, limit_clock):
    emails = [factory.create_patient().email for _ in range(16)]
    token = client.csrf_token()
    for email in emails[:15]:
        for _ in range(4):
            _attempt(client, email, token=token)
    assert _attempt(client, emails[15], PASSWORD, token).status_code == 429

    limit_clock.advance(61)

    assert _attempt(client, emails[15], PASSWORD, token).status_code == 302


def test_a_clinics_shared_connection_does_not_lock_its_staff_out(new_client, factory):
    """The whole front desk behind one address: one account locked, everyone else logs in."""
    staff = [factory.create_user(Role.STAFF) for _ in range(12)]
    locked = staff[0]
    desk = [_from(new_client(), "203.0.113.7") for _ in staff]
    for _ in range(5):
        _attempt(desk[0], locked.email)
    for person, browser in zip(staff[1:], desk[1:], strict=True):
        _attempt(browser, person.email, "typo-password-1")  # a typo or two each
        _attempt(browser, person.email, "typo-password-2")

    answers = [_attempt(browser, person.email, PASSWORD)
               for person, browser in zip(staff, desk, strict=True)]

    assert answers[0].status_code == 429
    assert [a.status_code for a in answers[1:]] == [302] * 11
    assert all(logged_in(browser) for browser in desk[1:])


def test_one_account_cannot_be_guessed_from_many_addresses(new_client, factory):
    patient = factory.create_patient()
    statuses = [_attempt(_from(new_client(), f"198.51.100.{n}"), patient.email).status_code
                for n in range(1, 6)]
    elsewhere = _from(new_client(), "192.0.2.200")

    response = _attempt(elsewhere, patient.email, PASSWORD)

    assert statuses == [422] * 5
    assert response.status_code == 429
    assert _error(response) == "Too many attempts for this account; try again in 1 minute."
    assert 58 <= int(response.headers["Retry-After"]) <= 61
    assert 'name="email"' in page_text(response)  # the form, to try again later
    assert not logged_in(elsewhere)


def test_the_account_lock_doubles_with_each_failure_after_it_up_to_the_cap(
        client, factory, limit_clock, app, monkeypatch):
    monkeypatch.setitem(app.config, "ACCOUNT_LOCK_MAX_MINUTES", 10)
    patient = factory.create_patient()
    for _ in range(5):
        _attempt(client, patient.email)
    waits = []
    for _ in range(5):
        refused = _attempt(client, patient.email, PASSWORD)
        retry_after = int(refused.headers["Retry-After"])
        waits.append((_error(refused), retry_after))
        limit_clock.advance(retry_after + 1)
        assert _attempt(client, patient.email).status_code == 422  # wrong again: locked again

    assert [message for message, _ in waits] == [
        f"Too many attempts for this account; try again in {n}."
        for n in ("1 minute", "2 minutes", "4 minutes", "8 minutes", "10 minutes")]
    # Retry-After is the account's wait (the address limit's own window may add a second).
    assert [wait in (seconds, seconds + 1) for (_, wait), seconds in zip(
        waits, (60, 120, 240, 480, 600), strict=True)] == [True] * 5


def test_the_account_lock_lifts_after_its_time_and_a_login_clears_the_count(
        client, new_client, factory, limit_clock):
    patient = factory.create_patient()
    for _ in range(5):
        _attempt(client, patient.email)
    assert _attempt(client, patient.email, PASSWORD).status_code == 429
    limit_clock.advance(59)
    assert "try again in 1 minute" in _error(_attempt(client, patient.email, PASSWORD))

    limit_clock.advance(2)
    assert _attempt(client, patient.email, PASSWORD).status_code == 302

    # The successful login forgot the failures: four more are not a lock.
    again = new_client()
    for _ in range(4):
        assert _attempt(again, patient.email).status_code == 422
    assert _attempt(again, patient.email, PASSWORD).status_code == 302


def test_failures_older_than_the_window_are_forgotten(client, factory, limit_clock):
    patient = factory.create_patient()
    for _ in range(4):
        _attempt(client, patient.email)
    limit_clock.advance(15 * 60 + 1)
    for _ in range(4):
        assert _attempt(client, patient.email).status_code == 422
    assert _attempt(client, patient.email, PASSWORD).status_code == 302


def test_a_locked_unknown_email_gets_the_same_answer_as_a_locked_known_one(new_client,
                                                                           factory):
    patient = factory.create_patient()
    answers = {}
    for email in (patient.email, "nobody-here@example.com"):
        browser = new_client()
        before = [_attempt(browser, email) for _ in range(5)]
        answers[email] = (before, _attempt(browser, email, PASSWORD))

    (known_before, known), (unknown_before, unknown) = answers.values()
    assert [_error(r) for r in known_before] == [_error(r) for r in unknown_before] == [
        "The email or password is not right."] * 5
    assert (known.status_code, _error(known)) == (unknown.status_code, _error(unknown))
    assert known.status_code == 429
    # The same wait (measured a moment apart: a second may tick between them).
    assert abs(int(known.headers["Retry-After"]) - int(unknown.headers["Retry-After"])) <= 1


def test_the_account_lock_keeps_its_counts_in_redis_as_in_production(app_ctx, redis_url,
                                                                       monkeypatch):
    """The suite's limiter counts in memory; production's in Redis, through the same calls."""
    storage = limits.storage.storage_from_string(redis_url)
    monkeypatch.setattr(throttle, "_storage", lambda: storage)
    email = "Someone@Example.com"

    assert [throttle.record_failure(email) for _ in range(5)] == [0, 0, 0, 0, 60]
    with pytest.raises(throttle.AccountLocked) as locked:
        throttle.check("someone@example.com ")  # the same account, however typed
    assert 59 <= locked.value.retry_after <= 60
    keys = list(Redis.from_url(redis_url).scan_iter("LIMITS:account-throttle/*"))
    assert len(keys) == 2  # the count and the lock, under a hash: no email in Redis
    assert not any(b"someone" in key.lower() for key in keys)

    storage.clear(throttle._key("lock", email))  # as if the minute had passed
    assert throttle.record_failure(email) == 120  # the count outlived the lock: doubled
    throttle.reset(email)
    throttle.check(email)
    assert throttle.record_failure(email) == 0


def test_a_password_reset_lifts_the_account_lock(client, factory, mailbox):
    patient = factory.create_patient()
    for _ in range(5):
        _attempt(client, patient.email)
    _request_reset(client, patient.email)
    path = _reset_path(mailbox, patient.email)

    client.post_form(path, {"password": "brand-new-pass-5", "confirm": "brand-new-pass-5"})

    assert _attempt(client, patient.email, "brand-new-pass-5").status_code == 302


# --- password reset ----------------------------------------------------------------------------

RESET_LINK = re.compile(r"https?://[^\s\"<>]+/account/reset/[^\s\"<>]+")


def _request_reset(client, email: str):
    return client.post_form("/account/forgot", {"email": email})


def _reset_path(mailbox, email: str) -> str:
    messages = mailbox.list()
    assert len(messages) == 1
    message = messages[0]
    assert message.to == [email]
    assert message.subject == "Reset your password"
    link = RESET_LINK.search(message.text).group(0)
    assert link in message.html
    return urlsplit(link).path


def test_password_reset_emails_a_link_that_sets_a_new_password(client, new_client, factory,
                                                                mailbox):
    patient = factory.create_patient()
    token = new_client().api_token(patient.email)
    elsewhere = new_client()
    elsewhere.login(patient.email)

    response = _request_reset(client, patient.email)

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/login"
    path = _reset_path(mailbox, patient.email)
    form = client.get(path)
    assert form.status_code == 200
    assert "Choose a new password" in page_text(form)
    done = client.post_form(path, {"password": "brand-new-pass-5", "confirm": "brand-new-pass-5"})
    assert done.status_code == 302
    assert done.headers["Location"] == "/account/login"
    assert new_client().login(patient.email, "brand-new-pass-5")
    assert not logged_in(elsewhere)
    assert new_client().get("/api/v1/me", headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    assert new_client().post_form("/account/login", {
        "email": patient.email, "password": PASSWORD}).status_code == 422


def test_the_reset_link_points_to_the_portal_whatever_host_the_request_named(
        client, factory, mailbox, app):
    patient = factory.create_patient()

    evil = "http://evil.example"  # the asker's Host header, not the portal's address
    page = client.get("/account/forgot", base_url=evil).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    response = client.post("/account/forgot", base_url=evil,
                           data={"email": patient.email, "csrf_token": token})

    assert response.status_code == 302

    link = RESET_LINK.search(mailbox.list()[0].text).group(0)
    assert link.startswith(app.config["PUBLIC_URL"] + "/account/reset/")
    assert "evil.example" not in mailbox.list()[0].html


def test_a_password_reset_link_works_only_once(client, factory, mailbox):
    patient = factory.create_patient()
    _request_reset(client, patient.email)
    path = _reset_path(mailbox, patient.email)
    client.post_form(path, {"password": "brand-new-pass-5", "confirm": "brand-new-pass-5"})

    again = client.get(path, follow_redirects=True)
    reuse = client.post_form(path, {"password": "other-new-pass-6", "confirm": "other-new-pass-6"})

    assert "already been used" in page_text(again)
    assert again.request.path == "/account/forgot"
    assert reuse.status_code == 302
    assert reuse.headers["Location"] == "/account/forgot"
    assert client.login(patient.email, "brand-new-pass-5")


def test_a_password_reset_link_expires_after_an_hour(client, factory, mailbox, frozen_clock):
    patient = factory.create_patient()
    frozen_clock.freeze(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    _request_reset(client, patient.email)
    path = _reset_path(mailbox, patient.email)

    frozen_clock.advance(timedelta(minutes=59))
    assert client.get(path).status_code == 200
    frozen_clock.advance(timedelta(minutes=2))
    expired = client.get(path, follow_redirects=True)

    assert expired.request.path == "/account/forgot"
    assert "expired" in page_text(expired)
    refused = client.post_form(path, {"password": "brand-new-pass-5",
                                      "confirm": "brand-new-pass-5"})
    assert refused.headers["Location"] == "/account/forgot"
    assert client.login(patient.email, PASSWORD)


def test_a_tampered_reset_link_is_refused(client, factory, mailbox):
    patient = factory.create_patient()
    _request_reset(client, patient.email)
    path = _reset_path(mailbox, patient.email)

    response = client.get(path[:-3] + "xyz", follow_redirects=True)

    assert response.request.path == "/account/forgot"
    assert "not valid" in page_text(response)


def test_a_reset_to_a_common_password_is_refused_and_the_link_still_works(client, factory,
                                                                           mailbox):
    patient = factory.create_patient()
    _request_reset(client, patient.email)
    path = _reset_path(mailbox, patient.email)

    response = client.post_form(path, {"password": "password123", "confirm": "password123"})

    assert response.status_code == 422
    assert "too common" in field_error(response, "password")
    assert client.get(path).status_code == 200


def test_password_reset_for_an_unknown_email_answers_the_same_and_sends_nothing(
        new_client, factory, mailbox):
    patient = factory.create_patient()
    known = _request_reset(new_client(), patient.email)
    mailbox.clear()
    visitor = new_client()

    unknown = _request_reset(visitor, "nobody@example.com")

    assert (unknown.status_code, unknown.headers["Location"]) == (
        known.status_code, known.headers["Location"])
    assert "If an account exists for that address" in page_text(visitor.get("/account/login"))
    assert len(mailbox) == 0


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/", "/admin/doctors", "/admin/doctors/new"])
def test_patients_cannot_open_admin_pages(client, factory, path):
    client.login(factory.create_patient().email)

    response = client.get(path)

    assert response.status_code == 403
    assert "You do not have access to this page." in page_text(response)


def test_a_patient_cannot_deactivate_a_doctor(client, factory):
    doctor = factory.create_doctor(hours=())
    client.login(factory.create_patient().email)

    response = client.post_form(f"/admin/doctors/{doctor.id}/active", {"active": "0"})

    assert response.status_code == 403
    assert reload(doctor).active is True


def test_visitors_are_sent_to_login_and_back(client, factory):
    admin = factory.create_admin()

    response = client.get("/admin/doctors")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/account/login"
    assert parse_qs(location.query) == {"next": ["/admin/doctors"]}
    after = client.post_form(response.headers["Location"], {"email": admin.email,
                                                            "password": PASSWORD})
    assert after.headers["Location"] == "/admin/doctors"


def test_the_login_redirect_keeps_the_query_string(client):
    response = client.get("/admin/doctors?q=mehta")

    assert parse_qs(urlsplit(response.headers["Location"]).query) == {
        "next": ["/admin/doctors?q=mehta"]}


def test_an_htmx_request_of_a_visitor_is_told_to_go_to_login(client):
    response = client.get("/admin/doctors", headers={"HX-Request": "true"})

    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/account/login?next=")


def test_doctors_get_their_dashboard_and_others_do_not(client, new_client, factory):
    doctor = factory.create_doctor(name="Dr. Lata Rao", specialty="Dermatology", hours=())
    client.login(doctor.user.email)
    patient_client = new_client()
    patient_client.login(factory.create_patient().email)

    page = client.get("/dashboard")

    assert page.status_code == 200
    assert "Dr. Lata Rao" in page_text(page)
    assert 'data-nav="doctor-dashboard"' in page_text(page)
    assert patient_client.get("/dashboard").status_code == 403
    assert client.get("/admin/doctors").status_code == 403


def test_the_api_answers_an_unauthenticated_call_with_401_problem_json(client):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["title"] == "Log in needed"
