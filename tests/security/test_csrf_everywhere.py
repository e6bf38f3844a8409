"""CSRF on every state-changing route of `app.url_map`, not only the ones someone remembered.

For each rule with POST, PUT, PATCH or DELETE whose endpoint is not CSRF-exempt, the person the
route is for (the owner, from the authorization matrix's table) sends the request the matrix
sends, from a browser with a session cookie but without the CSRF token: it is refused with 400
(the CSRF problem document under /api/) and changes nothing. The matrix itself proves the same
requests *with* the token get past the check, so the token is the only thing missing here.

The only exempt routes are the two signed callbacks, and they check their signature instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from portal import CSRF_EXEMPT_ENDPOINTS
from tests.factories import MONDAY_MORNING, PASSWORD
from tests.security.test_authz_matrix import (
    ACTORS,
    OK,
    TABLE,
    World,
    build_url,
    fingerprint,
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
STALE = "Your session has expired or the form is stale. Reload the page and try again."
EXEMPT = {"api.payments_api.webhook", "api.notifications_api.sms_status"}


def unsafe_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every state-changing route, exempt ones included."""
    return sorted({(rule.endpoint, method, rule.rule) for rule in app.url_map.iter_rules()
                   for method in (rule.methods or set()) & UNSAFE})


@pytest.fixture
def world(app, factory, frozen_clock, razorpay, mailbox, monkeypatch):
    frozen_clock.freeze(MONDAY_MORNING)
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    return World(factory, razorpay, mailbox)


def _owner(endpoint: str, method: str) -> str:
    """Whom the route is for: the first signed-in person the matrix lets through."""
    expect = TABLE[(endpoint, method)].expect
    return next((a for a in ACTORS[1:] if expect[a] == OK), "patient")


def _send(client, method: str, url: str, endpoint: str, world: World, **headers):
    access = TABLE[(endpoint, method)]
    if url.startswith("/api/"):
        body = access.json(world) if callable(access.json) else access.json
        return client.open(url, method=method, json=body if body is not None else {},
                           headers=headers)
    form = access.form(world) if callable(access.form) else (access.form or {})
    return client.open(url, method=method, data=form, headers=headers)


def _is_csrf_refusal(response, url: str) -> bool:
    if response.status_code != 400:
        return False
    if url.startswith("/api/"):
        return (response.mimetype == "application/problem+json"
                and response.get_json()["title"] == "CSRF check failed")
    return STALE in response.get_data(as_text=True)


def test_the_exempt_set_is_exactly_the_two_signed_callbacks(app):
    assert EXEMPT == CSRF_EXEMPT_ENDPOINTS
    exempt_rules = {e for e, _m, _r in unsafe_routes(app) if e in CSRF_EXEMPT_ENDPOINTS}
    assert exempt_rules == EXEMPT, "an exempt endpoint no longer exists"


def test_every_state_changing_route_refuses_a_session_without_the_csrf_token(app, world):
    sessions = {}
    for name, user in world.people.items():
        sessions[name] = app.test_client()
        sessions[name].login(user.email, PASSWORD)
    routes = [(e, m) for e, m, _r in unsafe_routes(app) if e not in CSRF_EXEMPT_ENDPOINTS]
    urls = {(e, m): build_url(app, e, TABLE[(e, m)], world) for e, m in routes}
    before = fingerprint()
    wrong = []
    for endpoint, method in routes:
        url = urls[(endpoint, method)]
        client = sessions[_owner(endpoint, method)]
        for headers in ({}, {"X-CSRFToken": "forged"}):
            response = _send(client, method, url, endpoint, world, **headers)
            if not _is_csrf_refusal(response, url):
                wrong.append(f"{method} {url} ({endpoint}) {headers or 'no token'}: "
                             f"{response.status_code} {response.get_data(as_text=True)[:120]}")
    assert not wrong, "state-changing requests got past the CSRF check:\n" + "\n".join(wrong)
    assert fingerprint() == before, "a request without a CSRF token changed the database"
    assert len(routes) >= 50  # the url_map was really walked


def test_every_browser_form_needs_the_token_even_before_logging_in(app, world):
    """Login CSRF and friends: a visitor's forms (log in, register, reset) are protected too."""
    visitor = app.test_client()
    routes = [(e, m) for e, m, r in unsafe_routes(app)
              if e not in CSRF_EXEMPT_ENDPOINTS and not r.startswith("/api/")]
    urls = {(e, m): build_url(app, e, TABLE[(e, m)], world) for e, m in routes}
    before = fingerprint()
    wrong = []
    for endpoint, method in routes:
        url = urls[(endpoint, method)]
        response = _send(visitor, method, url, endpoint, world)
        if not _is_csrf_refusal(response, url):
            wrong.append(f"{method} {url}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert fingerprint() == before


def test_a_session_cookie_does_not_make_the_credential_less_api_calls_forgeable(app, world):
    """With a session, even register and token need the token (a logged-in browser must not
    be made to mint a token or an account); without one they are plain API calls."""
    patient = world.people["patient"]
    browser = app.test_client()
    browser.login(patient.email, PASSWORD)
    body = {"email": patient.email, "password": PASSWORD}
    assert _is_csrf_refusal(browser.post("/api/v1/auth/token", json=body),
                            "/api/v1/auth/token")
    assert _is_csrf_refusal(browser.post("/api/v1/auth/register", json={}),
                            "/api/v1/auth/register")
    assert app.test_client().post("/api/v1/auth/token", json=body).status_code == 200


# --- the exempt routes check a signature instead -------------------------------------------


def _razorpay_signature(app, raw: bytes) -> str:
    return hmac.new(app.config["RAZORPAY_WEBHOOK_SECRET"].encode(), raw,
                    hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "with-a-session"])
def test_the_razorpay_webhook_needs_its_signature_not_a_session(app, world, signed_in):
    client = app.test_client()
    if signed_in:
        client.login(world.people["admin"].email, PASSWORD)
    raw = json.dumps({"event": "payment.captured", "payload": {}}).encode()
    before = fingerprint()

    unsigned = client.post("/api/v1/payments/webhook", data=raw,
                           content_type="application/json")
    forged = client.post("/api/v1/payments/webhook", data=raw, content_type="application/json",
                         headers={"X-Razorpay-Signature": "0" * 64})
    signed_by_another_key = client.post(
        "/api/v1/payments/webhook", data=raw, content_type="application/json",
        headers={"X-Razorpay-Signature": hmac.new(b"other", raw, hashlib.sha256).hexdigest()})

    assert [r.status_code for r in (unsigned, forged, signed_by_another_key)] == [400] * 3
    assert fingerprint() == before
    genuine = client.post("/api/v1/payments/webhook", data=raw, content_type="application/json",
                          headers={"X-Razorpay-Signature": _razorpay_signature(app, raw),
                                   "x-razorpay-event-id": "evt_csrf_test"})
    assert genuine.status_code == 200  # no CSRF token, and none needed: the signature is it


def _twilio_signature(app, url: str, params: dict) -> str:
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    mac = hmac.new(app.config["TWILIO_AUTH_TOKEN"].encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "with-a-session"])
def test_the_twilio_status_callback_needs_its_signature_not_a_session(app, world, signed_in):
    client = app.test_client()
    if signed_in:
        client.login(world.people["admin"].email, PASSWORD)
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    before = fingerprint()

    unsigned = client.post("/api/v1/notifications/sms-status", data=params)
    forged = client.post("/api/v1/notifications/sms-status", data=params,
                         headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})

    assert [unsigned.status_code, forged.status_code] == [403, 403]
    assert fingerprint() == before
    url = "http://localhost/api/v1/notifications/sms-status"
    genuine = client.post(url, data=params,
                          headers={"X-Twilio-Signature": _twilio_signature(app, url, params)})
    assert genuine.status_code == 204
