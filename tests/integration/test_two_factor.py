"""Two-factor sign-in: setting it up (QR code, secret, first code, recovery codes shown once),
logging in with a code or a recovery code, wrong and reused codes, roles that must have it
(TWO_FACTOR_REQUIRED_ROLES), the API token's `otp`, and turning it off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pyotp
import pytest
import segno
from sqlalchemy import select

from portal.auth import service as auth
from portal.auth import twofactor
from portal.auth.cli import two_factor_off
from portal.auth.models import RecoveryCode, Role
from portal.clock import clock
from portal.desk import service as desk
from tests.factories import PASSWORD
from tests.integration.support import (
    count,
    field_error,
    logged_in,
    page_text,
    problem_errors,
    reload,
)

NOON = datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)  # 5 s into a 30-second step


@pytest.fixture
def clock_at_noon(frozen_clock):
    frozen_clock.freeze(NOON)
    return frozen_clock


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def words(response) -> str:
    return " ".join(page_text(response).split())


def shown_secret(page) -> str:
    match = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page_text(page))
    assert match, "the setup page shows the secret as text"
    return match.group(1).replace(" ", "")


def shown_codes(page) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page_text(page))


def set_up(client, clock) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on in a logged-in browser; returns the secret and the codes."""
    secret = shown_secret(client.get("/account/two-factor"))
    done = client.post_form("/account/two-factor", {"code": code_at(secret, clock.now())})
    assert done.status_code == 200, page_text(done)[:500]
    return secret, shown_codes(done)


@pytest.fixture
def enrolled(client, factory, clock_at_noon):
    """A patient with two-factor sign-in on, logged out again; (user, secret, codes)."""
    patient = factory.create_patient()
    client.login(patient.email)
    secret, codes = set_up(client, clock_at_noon)
    client.post_form("/account/logout")
    # Two steps on: the code of the step before (which clocks that drift may send) is unused.
    clock_at_noon.advance(timedelta(seconds=60))
    return reload(patient), secret, codes


def current_code(secret: str) -> str:
    return code_at(secret, clock.now())


def password_step(client, email: str, **query):
    return client.post_form("/account/login", {"email": email, "password": PASSWORD},
                            query_string=query)


# --- setting it up ---------------------------------------------------------------------------


def test_setting_up_shows_a_qr_code_and_the_secret_then_ten_recovery_codes_once(
        client, new_client, factory, clock_at_noon):
    patient = factory.create_patient(email="nila@example.com")
    elsewhere = new_client()
    elsewhere.login(patient.email)
    client.login(patient.email)

    page = client.get("/account/two-factor")

    assert page.status_code == 200
    qr = re.search(r'<img src="(data:image/svg\+xml[^"]+)"\s+alt="([^"]+)"', page_text(page))
    assert qr, "a QR code as an SVG image with a text alternative"
    assert "authenticator app" in qr.group(2)
    secret = shown_secret(page)
    assert len(secret) == 32
    assert unquote(qr.group(1)).split(",", 1)[1].startswith("<svg")
    # The QR code is the otpauth URI of that secret, for this account, named by the clinic.
    uri = "otpauth://totp/CareConnect%20Clinic:nila%40example.com?secret=" + secret + \
        "&issuer=CareConnect%20Clinic"
    assert qr.group(1) == segno.make(uri, error="m").svg_data_uri(scale=4, dark="#000",
                                                                  light="#fff")
    # The same secret until it is confirmed (a reload does not make a new one).
    assert shown_secret(client.get("/account/two-factor")) == secret

    done = client.post_form("/account/two-factor", {"code": code_at(secret, NOON)})

    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    codes = shown_codes(done)
    assert len(codes) == len(set(codes)) == 10
    user = reload(patient)
    assert user.totp_enabled_at == NOON
    # Stored encrypted, readable with the key derived from SECRET_KEY.
    assert secret not in user.totp_secret
    assert twofactor.unseal(user.totp_secret) == secret
    stored = [r.code_hash for r in reload_codes(user)]
    assert len(stored) == 10
    assert not any(code.replace("-", "") in h or code in h for code in codes for h in stored)
    # This browser stays logged in; the other session ended.
    assert logged_in(client)
    assert not logged_in(elsewhere)
    # Shown once: the page now says it is on, with no codes.
    status = client.get("/account/two-factor")
    assert "is <strong>on</strong>" in words(status)
    assert shown_codes(status) == []
    assert "10</strong> unused recovery codes" in words(status)


def reload_codes(user) -> list[RecoveryCode]:
    count(RecoveryCode)  # ends the test's transaction, to see the requests' writes
    from_db = select(RecoveryCode).where(RecoveryCode.user_id == user.id)
    return list(twofactor.db.session.scalars(from_db))


def test_a_wrong_first_code_turns_nothing_on(client, factory, clock_at_noon):
    patient = factory.create_patient()
    client.login(patient.email)
    secret = shown_secret(client.get("/account/two-factor"))
    wrong = code_at(secret, NOON + timedelta(minutes=5))

    response = client.post_form("/account/two-factor", {"code": wrong})

    assert response.status_code == 422
    assert "not right" in field_error(response, "code")
    assert reload(patient).totp_enabled_at is None
    assert count(RecoveryCode) == 0


def test_a_visitor_is_sent_to_log_in_from_the_setup_page(client):
    response = client.get("/account/two-factor")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


# --- logging in with it ----------------------------------------------------------------------


def test_the_password_alone_does_not_log_in_and_the_code_does(client, enrolled):
    patient, secret, _codes = enrolled

    first = password_step(client, patient.email, next="/account/profile")

    assert first.status_code == 302
    assert first.headers["Location"] == "/account/login/verify"
    assert not logged_in(client)
    assert "Enter your code" in page_text(client.get("/account/login/verify"))

    done = client.post_form("/account/login/verify",
                            {"code": current_code(secret)})

    assert done.status_code == 302
    assert done.headers["Location"] == "/account/profile"
    assert logged_in(client)


def test_a_code_from_the_step_before_is_accepted_but_never_twice(client, new_client, enrolled):
    patient, secret, _codes = enrolled
    code = code_at(secret, clock.now() - timedelta(seconds=30))  # a phone a little behind
    password_step(client, patient.email)
    assert client.post_form("/account/login/verify", {"code": code}).status_code == 302

    replay = new_client()
    password_step(replay, patient.email)
    again = replay.post_form("/account/login/verify", {"code": code})

    assert again.status_code == 422
    assert not logged_in(replay)


def test_a_wrong_code_is_refused_and_counts_towards_the_lock(client, enrolled):
    patient, secret, _codes = enrolled
    password_step(client, patient.email)

    wrong = client.post_form("/account/login/verify", {"code": "000000"})

    assert wrong.status_code == 422
    assert "That code is not right" in field_error(wrong, "code")
    assert not logged_in(client)
    for _ in range(4):
        client.post_form("/account/login/verify", {"code": "000000"})
    locked = client.post_form("/account/login/verify",
                              {"code": current_code(secret)})
    assert locked.status_code == 429
    assert "Too many attempts for this account; try again in 1 minute." in page_text(locked)
    assert "Retry-After" in locked.headers
    assert not logged_in(client)
    # The password again does not clear what the wrong codes counted.
    assert password_step(client, patient.email).status_code == 429


def test_a_recovery_code_logs_in_once(client, new_client, enrolled):
    patient, _secret, codes = enrolled
    password_step(client, patient.email)

    done = client.post_form("/account/login/verify", {"code": codes[3].upper()})

    assert done.status_code == 302
    assert logged_in(client)
    assert sum(r.used_at is not None for r in reload_codes(patient)) == 1
    assert "9</strong> unused recovery codes" in words(client.get("/account/two-factor"))

    second = new_client()
    password_step(second, patient.email)
    reused = second.post_form("/account/login/verify", {"code": codes[3]})
    assert reused.status_code == 422
    assert not logged_in(second)
    assert second.post_form("/account/login/verify", {"code": codes[4].replace("-", " ")
                                                      }).status_code == 302


def test_the_code_page_needs_the_password_first(client, enrolled):
    response = client.get("/account/login/verify")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/login"
    posted = client.post_form("/account/login/verify", {"code": "123456"})
    assert posted.headers["Location"] == "/account/login"


def test_the_step_after_the_password_lapses_after_ten_minutes(client, enrolled, frozen_clock):
    patient, secret, _codes = enrolled
    password_step(client, patient.email)
    frozen_clock.advance(timedelta(minutes=11))

    late = client.post_form("/account/login/verify",
                            {"code": code_at(secret, frozen_clock.now())})

    assert late.status_code == 302
    assert late.headers["Location"] == "/account/login"
    assert not logged_in(client)


# --- roles that must have it -------------------------------------------------------------------


@pytest.fixture
def staff_need_it(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", ("doctor", "staff", "admin"))


def test_a_staff_login_without_its_second_factor_is_refused(client, factory, staff_need_it,
                                                            clock_at_noon):
    staff = factory.create_user(Role.STAFF)

    response = password_step(client, staff.email)

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/two-factor"
    assert not logged_in(client)
    for path in ("/account/profile", "/admin/", "/notifications/"):
        assert client.get(path).headers["Location"].startswith("/account/login")
    assert client.get("/api/v1/me").status_code == 401

    # Setting it up is what they can do; then they are logged in.
    page = client.get("/account/two-factor")
    assert "Your account must use two-factor sign-in" in page_text(page)
    done = client.post_form("/account/two-factor",
                            {"code": code_at(shown_secret(page), clock_at_noon.now())})
    assert done.status_code == 200
    assert len(shown_codes(done)) == 10
    assert logged_in(client)


def test_a_receptionist_claiming_an_invitation_sets_up_the_second_factor_first(
        client, factory, staff_need_it, clock_at_noon):
    admin = factory.create_admin()
    staff = desk.invite_staff(admin, "Nina Newdesk", "nina@example.com")
    path = f"/account/claim/{auth.make_invite_token(staff)}"

    done = client.post_form(path, {"password": "blue-harbour-42", "confirm": "blue-harbour-42"})

    assert done.status_code == 302
    assert done.headers["Location"] == "/account/two-factor"
    assert not logged_in(client)
    assert client.get("/desk").headers["Location"].startswith("/account/login")
    page = client.get("/account/two-factor")
    set_up = client.post_form("/account/two-factor",
                              {"code": code_at(shown_secret(page), clock_at_noon.now())})
    assert set_up.status_code == 200
    assert logged_in(client)


def test_a_session_from_before_the_rule_no_longer_counts(client, factory, app, monkeypatch):
    doctor = factory.create_doctor(hours=())
    client.login(doctor.user.email)
    assert logged_in(client)

    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", ("doctor",))

    assert not logged_in(client)


def test_an_api_token_is_refused_until_the_second_factor_is_set_up(client, factory, app,
                                                                    monkeypatch):
    admin = factory.create_admin()
    token = client.api_token(admin.email)
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", ("admin",))

    old = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    new = client.post("/api/v1/auth/token", json={"email": admin.email, "password": PASSWORD})

    assert old.status_code == 401
    assert "two-factor" in old.get_json()["detail"]
    assert new.status_code == 403
    problem_errors(new)
    assert "/account/two-factor" in new.get_json()["detail"]


def test_patients_may_go_without_it_when_staff_must_have_it(client, factory, staff_need_it):
    patient = factory.create_patient()
    assert client.login(patient.email).headers["Location"] == "/doctors/"
    assert logged_in(client)


# --- the API token -----------------------------------------------------------------------------


def test_the_token_of_an_account_with_two_factor_needs_otp(client, enrolled):
    patient, secret, codes = enrolled
    body = {"email": patient.email, "password": PASSWORD}

    missing = client.post("/api/v1/auth/token", json=body)
    wrong = client.post("/api/v1/auth/token", json={**body, "otp": "000000"})
    right = client.post("/api/v1/auth/token", json={
        **body, "otp": current_code(secret)})
    recovery = client.post("/api/v1/auth/token", json={**body, "otp": codes[0]})

    assert missing.status_code == 422
    assert problem_errors(missing) == {"otp": "A code from your authenticator app is required."}
    assert wrong.status_code == 401
    assert "not right" in problem_errors(wrong)["otp"]
    assert right.status_code == 200
    assert recovery.status_code == 200
    me = client.get("/api/v1/me",
                    headers={"Authorization": f"Bearer {right.get_json()['access_token']}"})
    assert me.get_json()["email"] == patient.email


def test_the_token_of_an_account_without_two_factor_ignores_otp(client, factory):
    patient = factory.create_patient()
    response = client.post("/api/v1/auth/token", json={"email": patient.email,
                                                       "password": PASSWORD, "otp": "123456"})
    assert response.status_code == 200


# --- turning it off ----------------------------------------------------------------------------


def test_turning_it_off_needs_the_password_and_a_code(client, new_client, enrolled,
                                                      frozen_clock):
    patient, secret, _codes = enrolled
    for browser in (client, other := new_client()):
        password_step(browser, patient.email)
        assert browser.post_form("/account/login/verify",
                                 {"code": current_code(secret)}).status_code == 302
        frozen_clock.advance(timedelta(seconds=30))

    no_password = client.post_form("/account/two-factor/disable", {
        "password": "wrong-guess-1", "code": current_code(secret)})
    no_code = client.post_form("/account/two-factor/disable", {"password": PASSWORD,
                                                               "code": "000000"})

    assert no_password.status_code == no_code.status_code == 422
    assert "password is not right" in field_error(no_password, "password")
    assert "not right" in field_error(no_code, "code")
    assert reload(patient).totp_enabled_at is not None

    off = client.post_form("/account/two-factor/disable", {"password": PASSWORD,
                                                           "code": current_code(secret)})

    assert off.status_code == 303
    assert "Off: your password alone logs you in" in words(client.get("/account/profile"))
    user = reload(patient)
    assert (user.totp_enabled_at, user.totp_secret) == (None, None)
    assert count(RecoveryCode) == 0
    assert logged_in(client)
    assert not logged_in(other)
    client.post_form("/account/logout")
    assert client.login(patient.email).headers["Location"] == "/doctors/"


def test_a_role_that_must_have_it_sets_it_up_again_after_turning_it_off(
        client, factory, staff_need_it, clock_at_noon):
    staff = factory.create_user(Role.STAFF)
    password_step(client, staff.email)
    page = client.get("/account/two-factor")
    secret = shown_secret(page)
    client.post_form("/account/two-factor", {"code": code_at(secret, NOON)})
    clock_at_noon.advance(timedelta(seconds=30))

    off = client.post_form("/account/two-factor/disable", {
        "password": PASSWORD, "code": code_at(secret, clock_at_noon.now())})

    assert off.headers["Location"] == "/account/two-factor"
    assert not logged_in(client)
    again = client.get("/account/two-factor")
    assert "Your account must use two-factor sign-in" in page_text(again)
    assert shown_secret(again) != secret


def test_an_operator_can_turn_it_off_for_someone_who_lost_everything(app, enrolled):
    patient, _secret, _codes = enrolled

    result = app.test_cli_runner().invoke(two_factor_off, [patient.email])

    assert result.exit_code == 0, result.output
    assert "is off" in result.output
    assert reload(patient).totp_enabled_at is None
    assert count(RecoveryCode) == 0
