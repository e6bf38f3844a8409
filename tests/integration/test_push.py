"""Push notifications through the real clients against local stand-ins over HTTP.

Web Push: pywebpush posts to a push service run here, which checks the VAPID signature
against the app's public key and decrypts the aes128gcm body with the subscription's own
private key, as a browser's push service and the browser would. FCM: the HTTP v1 send API
and Google's OAuth token endpoint, stood in for by a server that verifies the service
account's RS256 assertion and the bearer token.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import quote

import http_ece
import jwt
import pytest
import urllib3.util.connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from py_vapid import Vapid01
from py_vapid import jwt as vapid_jwt
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.extensions import db
from portal.notifications import devices
from portal.notifications.delivery import deliver
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    NotificationLog,
    NotificationType,
    UserDevice,
)
from portal.notifications.notify import notify
from portal.transactions import write

REGISTER = "/api/v1/notifications/devices/register"
SUBJECT = "mailto:push-test@example.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class StandIn:
    """A WSGI app on a free loopback port, in a thread; stopped by the fixture that made it."""

    def __init__(self, wsgi) -> None:
        self._server = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# --- Web Push -------------------------------------------------------------------------------


class Browser:
    """What a browser keeps for one push subscription: its ECDH key pair and auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)

    @property
    def keys(self) -> dict[str, str]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(public), "auth": b64url(self.auth_secret)}

    def registration(self) -> dict:
        return {"kind": "WEBPUSH", "token": self.endpoint, **self.keys}


class PushService:
    """A push service: checks VAPID, decrypts with the subscriber's keys, answers `status`."""

    def __init__(self, vapid_public_key: str) -> None:
        self.vapid_public_key = vapid_public_key
        self.browsers: dict[str, Browser] = {}
        self.received: list[dict] = []
        self.refused: list[str] = []
        self.status = 201
        self.server = StandIn(self._wsgi)
        self.url = self.server.url

    def browser(self) -> Browser:
        browser = Browser(f"{self.url}/wpush/v2/{uuid.uuid4().hex}")
        self.browsers[browser.endpoint] = browser
        return browser

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(status=405)
        if request.base_url not in self.browsers:
            return Response("", status=410)  # as push services answer a dropped subscription
        try:
            message = self._accept(request)
        except Exception as exc:  # noqa: BLE001 - any fault is the client's: report and refuse
            self.refused.append(f"{type(exc).__name__}: {exc}")
            return Response(str(exc), status=400)
        if self.status >= 300:
            # A redirect names a place to go: here, the same service's metadata-like path.
            location = {"Location": f"{self.url}/latest/meta-data/"} if self.status < 400 else {}
            return Response("", status=self.status, headers=location)
        self.received.append(message)
        return Response("", status=201, headers={"Location": f"{request.url}/m/1"})

    def _accept(self, request: Request) -> dict:
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        assert scheme.lower() == "vapid", f"Authorization scheme {scheme!r}"
        parts = dict(part.split("=", 1) for part in params.split(","))
        assert parts["k"] == self.vapid_public_key, "k is not the app's VAPID public key"
        # Verifies the ES256 signature against the app's public key, not just the header's k.
        claims = vapid_jwt.decode(parts["t"], self.vapid_public_key)
        assert claims["aud"] == self.url, claims
        assert claims["sub"] == SUBJECT, claims
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
        assert request.headers["Content-Encoding"] == "aes128gcm"
        assert int(request.headers["TTL"]) > 0
        browser = self.browsers[request.base_url]
        plaintext = http_ece.decrypt(request.get_data(), private_key=browser.private_key,
                                     auth_secret=browser.auth_secret, version="aes128gcm")
        return {"endpoint": request.base_url, "claims": claims,
                "payload": json.loads(plaintext), "ttl": int(request.headers["TTL"])}


class Dns:
    """Stands in for DNS (socket.getaddrinfo): the names in `answers` resolve to the addresses
    given there, any other name is looked up as usual (IP literals, localhost)."""

    # A public address that no test connects to: it only has to pass the address check.
    PUBLIC = "142.250.183.10"

    def __init__(self, real) -> None:
        self._real = real
        self.answers: dict[str, list[str]] = {
            "fcm.googleapis.com": [self.PUBLIC],
            "updates.push.services.mozilla.com": [self.PUBLIC],
        }
        self.asked: list[str] = []

    def getaddrinfo(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.asked.append(name)
        if name.lower() in self.answers:
            return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM,
                     6, "", (address, port or 443) if ":" not in address else
                     (address, port or 443, 0, 0)) for address in self.answers[name.lower()]]
        return self._real(host, port, *args, **kwargs)


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> Dns:
    """No test here depends on real DNS: the push services' names resolve to a public address."""
    stand_in = Dns(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", stand_in.getaddrinfo)
    return stand_in


@pytest.fixture
def no_connections(monkeypatch) -> list:
    """Every outgoing TCP connection urllib3 (so requests, so pywebpush) would open, refused
    and recorded: a test asserts the list stays empty."""
    attempts: list = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"the test refuses connections (to {address})")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    return attempts


@pytest.fixture
def vapid_keys(app, monkeypatch) -> dict[str, str]:
    """A fresh VAPID pair in the session app's config (restored afterwards).

    The private key in the raw form pywebpush accepts as a string (py_vapid's from_string:
    the 32-byte secret, base64url); the public key as browsers take applicationServerKey.
    """
    signer = Vapid01()
    signer.generate_keys()
    private = b64url(signer.private_key.private_numbers().private_value.to_bytes(32, "big"))
    public = b64url(signer.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", private)
    monkeypatch.setitem(app.config, "VAPID_PUBLIC_KEY", public)
    monkeypatch.setitem(app.config, "VAPID_SUBJECT", SUBJECT)
    monkeypatch.setitem(app.config, "PUSH_ALLOW_HTTP_ENDPOINTS", True)
    return {"private": private, "public": public}


@pytest.fixture
def push_service(vapid_keys):
    service_ = PushService(vapid_keys["public"])
    yield service_
    service_.server.stop()


@pytest.fixture
def patient(factory):
    """A patient who asked for news and offers: the announcements below are sent to her."""
    return factory.create_patient(marketing=True)


def register(client, token: str, body: dict):
    return client.post(REGISTER, json=body, headers={"Authorization": f"Bearer {token}"})


def announce(user, key: str = "test:push") -> NotificationLog:
    rows = notify(user, NotificationType.ANNOUNCEMENT,
                  {"title": "Hi", "message": "There"}, key, only={Channel.PUSH})
    assert len(rows) == 1, "a user with a push device gets one PUSH notification"
    return rows[0]


def reload(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def test_a_push_reaches_the_browser_signed_and_encrypted(client, patient, push_service):
    browser = push_service.browser()
    token = client.api_token(patient.email)
    response = register(client, token, browser.registration())
    assert response.status_code == 201, response.get_json()

    row = announce(patient)
    assert deliver(row.id) == DeliveryStatus.SENT

    assert push_service.refused == []
    [message] = push_service.received
    assert message["endpoint"] == browser.endpoint
    assert message["payload"] == {"title": "Hi", "body": "There", "url": "/"}
    row = reload(row)
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 1
    assert row.provider_id == response.get_json()["id"]
    # Sending again (a retried job) sends nothing more.
    assert deliver(row.id) == DeliveryStatus.SENT
    assert len(push_service.received) == 1


def test_a_gone_subscription_is_deactivated_and_the_message_fails(client, patient,
                                                                   push_service):
    browser = push_service.browser()
    assert register(client, client.api_token(patient.email),
                    browser.registration()).status_code == 201
    row = announce(patient)
    push_service.status = 410

    assert deliver(row.id) == DeliveryStatus.FAILED

    row = reload(row)
    assert row.status == DeliveryStatus.FAILED
    assert "410" in row.error
    assert "no push device left" in row.error
    device = db.session.scalar(select(UserDevice).where(UserDevice.token == browser.endpoint))
    assert device.active is False
    assert devices.active_devices(patient.id) == []
    # With no device left, later notifications make no PUSH row at all.
    assert notify(patient, NotificationType.ANNOUNCEMENT,
                  {"title": "Hi", "message": "Again"}, "test:push:2",
                  only={Channel.PUSH}) == []


def test_a_busy_push_service_leaves_the_message_pending_for_a_retry(client, patient,
                                                                    push_service):
    browser = push_service.browser()
    assert register(client, client.api_token(patient.email),
                    browser.registration()).status_code == 201
    row = announce(patient)
    push_service.status = 503

    assert deliver(row.id) == DeliveryStatus.PENDING

    row = reload(row)
    assert row.status == DeliveryStatus.PENDING
    assert "503" in row.error
    assert row.next_attempt_at is not None
    assert devices.active_devices(patient.id), "a busy service does not unsubscribe anyone"
    assert push_service.received == []

    push_service.status = 201
    assert deliver(row.id, now=row.next_attempt_at) == DeliveryStatus.SENT
    assert len(push_service.received) == 1
    assert reload(row).attempts == 2


def test_one_gone_device_does_not_stop_the_others(client, patient, push_service):
    token = client.api_token(patient.email)
    kept, gone = push_service.browser(), push_service.browser()
    for browser in (kept, gone):
        assert register(client, token, browser.registration()).status_code == 201
    # The push service forgot one subscription.
    del push_service.browsers[gone.endpoint]
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.SENT

    assert [m["endpoint"] for m in push_service.received] == [kept.endpoint]
    assert [d.token for d in devices.active_devices(patient.id)] == [kept.endpoint]


def test_without_vapid_keys_push_is_off_and_no_device_is_dropped(client, patient, push_service,
                                                                 app, monkeypatch):
    browser = push_service.browser()
    assert register(client, client.api_token(patient.email),
                    browser.registration()).status_code == 201
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", "")
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED

    assert "VAPID_PRIVATE_KEY" in reload(row).error
    assert devices.active_devices(patient.id), "a configuration gap must not unsubscribe"
    assert push_service.received == []


# --- the service worker and the key ---------------------------------------------------------


def test_the_service_worker_is_served_from_the_root_for_the_whole_site(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response.headers["Cache-Control"]
    script = response.get_data(as_text=True)
    assert "showNotification" in script
    assert "notificationclick" in script


def test_the_vapid_public_key_is_published(client, vapid_keys, app, monkeypatch):
    response = client.get("/push/vapid-public-key")
    assert response.status_code == 200
    assert response.get_json() == {"key": vapid_keys["public"]}
    # A public key from another pair never reaches browsers: the private key decides.
    monkeypatch.setitem(app.config, "VAPID_PUBLIC_KEY", "not-the-right-key")
    assert client.get("/push/vapid-public-key").get_json() == {"key": vapid_keys["public"]}
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", "")
    assert client.get("/push/vapid-public-key").get_json() == {"key": None}


# --- the device API -------------------------------------------------------------------------

ENDPOINT = "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH"


def a_registration(endpoint: str = ENDPOINT) -> dict:
    return Browser(endpoint).registration()


def test_registering_twice_keeps_one_device(client, patient):
    token = client.api_token(patient.email)
    first = register(client, token, a_registration())
    latest = a_registration()
    second = register(client, token, latest)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert db.session.scalar(select(db.func.count()).select_from(UserDevice)) == 1
    # The keys of the latest registration win (a browser that re-subscribed).
    device = db.session.scalar(select(UserDevice))
    assert (device.p256dh, device.auth) == (latest["p256dh"], latest["auth"])


def test_delete_removes_the_device_by_its_encoded_endpoint(client, patient):
    token = client.api_token(patient.email)
    assert register(client, token, a_registration()).status_code == 201
    # As push.js sends it: encodeURIComponent(endpoint).
    response = client.delete(f"/api/v1/notifications/devices/{quote(ENDPOINT, safe='')}",
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204
    assert db.session.scalar(select(db.func.count()).select_from(UserDevice)) == 0
    again = client.delete(f"/api/v1/notifications/devices/{quote(ENDPOINT, safe='')}",
                          headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 404


def test_nobody_deletes_another_users_device(client, factory, patient):
    assert register(client, client.api_token(patient.email), a_registration()).status_code == 201
    other = factory.create_patient()
    response = client.delete(f"/api/v1/notifications/devices/{quote(ENDPOINT, safe='')}",
                             headers={"Authorization": f"Bearer {client.api_token(other.email)}"})
    assert response.status_code == 404
    assert db.session.scalar(select(UserDevice)).user_id == patient.id


@pytest.mark.parametrize("endpoint", [
    "http://push.example.com/wpush/abc",
    "https://127.0.0.1/wpush/abc",
    "https://10.1.2.3/wpush/abc",
    "https://[::1]/wpush/abc",
    "https://localhost/wpush/abc",
    "ftp://push.example.com/abc",
])
def test_endpoints_that_are_not_public_https_are_refused(client, patient, endpoint):
    response = register(client, client.api_token(patient.email), a_registration(endpoint))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "token"
    assert db.session.scalar(select(db.func.count()).select_from(UserDevice)) == 0


@pytest.mark.parametrize("allowed", ["the push services", "any host"])
@pytest.mark.parametrize(("endpoint", "resolves_to"), [
    ("https://127.0.0.1/wpush/abc", None),
    ("https://updates.push.services.mozilla.com/wpush/v2/abc", "10.0.0.1"),
    ("https://updates.push.services.mozilla.com/wpush/v2/abc", "169.254.169.254"),
    ("https://updates.push.services.mozilla.com/wpush/v2/abc", "::ffff:10.0.0.1"),
    ("https://updates.push.services.mozilla.com/wpush/v2/abc", "fd00::1"),
])
def test_a_push_subscription_to_a_local_or_private_address_is_refused(
        client, patient, app, monkeypatch, dns, endpoint, resolves_to, allowed):
    if allowed == "any host":  # the address rule holds even when every host is allowed
        monkeypatch.setitem(app.config, "PUSH_ALLOWED_HOSTS", ("*",))
    if resolves_to:
        # One public address and one private one: every address must be public.
        dns.answers["updates.push.services.mozilla.com"] = [Dns.PUBLIC, resolves_to]

    response = register(client, client.api_token(patient.email), a_registration(endpoint))

    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["field"] == "token"
    assert "public push service" in error["message"]
    assert db.session.scalar(select(db.func.count()).select_from(UserDevice)) == 0


def test_only_the_known_push_services_are_accepted_by_default(client, patient, app, dns,
                                                               monkeypatch):
    token = client.api_token(patient.email)
    dns.answers.update({"push.example.com": [Dns.PUBLIC], "web.push.apple.com": [Dns.PUBLIC],
                        "wns2-par02p.notify.windows.com": [Dns.PUBLIC]})

    unknown = register(client, token, a_registration("https://push.example.com/wpush/abc"))
    apple = register(client, token, a_registration("https://web.push.apple.com/QGs1dA"))
    windows = register(client, token,
                       a_registration("https://wns2-par02p.notify.windows.com/w/?token=AQE"))

    assert unknown.status_code == 422
    assert "push.example.com is not one of the allowed push services" in \
        unknown.get_json()["errors"][0]["message"]
    assert apple.status_code == windows.status_code == 201
    # PUSH_ALLOWED_HOSTS adds a self-hosted push service.
    monkeypatch.setitem(app.config, "PUSH_ALLOWED_HOSTS", ("push.example.com",))
    assert register(client, token, a_registration(
        "https://push.example.com/wpush/abc")).status_code == 201


def test_a_push_endpoint_whose_name_cannot_be_resolved_is_refused_at_registration(
        client, patient, dns):
    dns.answers["updates.push.services.mozilla.com"] = []

    response = register(client, client.api_token(patient.email), a_registration(
        "https://updates.push.services.mozilla.com/wpush/v2/abc"))

    assert response.status_code == 422
    assert "could not be found" in response.get_json()["errors"][0]["message"]


def _subscribed(client, patient, endpoint: str) -> None:
    response = register(client, client.api_token(patient.email), a_registration(endpoint))
    assert response.status_code == 201, response.get_json()


MOZILLA = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk"


def test_a_name_that_resolves_to_a_private_address_at_send_time_is_not_fetched(
        client, patient, vapid_keys, app, monkeypatch, dns, no_connections):
    monkeypatch.setitem(app.config, "PUSH_ALLOW_HTTP_ENDPOINTS", False)
    _subscribed(client, patient, MOZILLA)  # public when registered...
    dns.answers["updates.push.services.mozilla.com"] = ["10.0.0.1"]  # ...private now
    dns.asked.clear()
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED

    row = reload(row)
    assert "refused, nothing was sent" in row.error
    assert "10.0.0.1" in row.error
    assert dns.asked == ["updates.push.services.mozilla.com"], "resolved again to send"
    assert no_connections == []
    assert devices.active_devices(patient.id), "a refused endpoint is kept, not deleted"


def test_a_stored_subscription_to_a_loopback_address_is_not_fetched(
        client, patient, vapid_keys, app, monkeypatch, no_connections):
    """A row from before this rule (the old check let names like localtest.me through)."""
    monkeypatch.setitem(app.config, "PUSH_ALLOW_HTTP_ENDPOINTS", False)
    browser = Browser("https://127.0.0.1/wpush/v2/abc")
    with write():
        db.session.add(UserDevice(user_id=patient.id, kind="WEBPUSH", token=browser.endpoint,
                                  active=True, **browser.keys))
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED

    assert "is not one of the allowed push services" in reload(row).error
    assert no_connections == []


def test_the_send_goes_to_the_address_checked_not_to_a_second_lookup(
        client, patient, vapid_keys, app, monkeypatch, dns, no_connections):
    """DNS rebinding: the check sees a public address, and the connection is made to that
    address; no second lookup by the HTTP client could lead it elsewhere."""
    monkeypatch.setitem(app.config, "PUSH_ALLOW_HTTP_ENDPOINTS", False)
    _subscribed(client, patient, MOZILLA)
    dns.asked.clear()
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.PENDING  # the (refused) connection failed

    assert dns.asked == ["updates.push.services.mozilla.com"]
    assert [address[0] for address in no_connections] == [Dns.PUBLIC]


def test_a_redirect_from_a_push_service_is_not_followed(client, patient, push_service):
    browser = push_service.browser()
    assert register(client, client.api_token(patient.email),
                    browser.registration()).status_code == 201
    push_service.status = 307  # to wherever Location says: never followed
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED

    assert "307" in reload(row).error  # followed, it would have been the 410 of that path
    assert push_service.received == []


def test_a_subscription_with_broken_keys_is_refused(client, patient):
    body = {**a_registration(), "p256dh": b64url(os.urandom(65))}
    response = register(client, client.api_token(patient.email), body)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "keys"


def test_the_browser_registers_with_its_session_and_the_csrf_token(client, patient):
    client.login(patient.email)
    refused = client.post(REGISTER, json=a_registration())
    assert refused.status_code in (400, 403)
    accepted = client.post(REGISTER, json=a_registration(),
                           headers={"X-CSRFToken": client.csrf_token()})
    assert accepted.status_code == 201, accepted.get_json()
    removed = client.delete(f"/api/v1/notifications/devices/{quote(ENDPOINT, safe='')}",
                            headers={"X-CSRFToken": client.csrf_token()})
    assert removed.status_code == 204


# --- FCM HTTP v1 ----------------------------------------------------------------------------


class FcmStandIn:
    """Google's OAuth token endpoint and FCM's v1 send API, for one service account."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = StandIn(self._wsgi)
        self.url = self.server.url
        self.token_uri = f"{self.url}/token"
        self.issued: list[str] = []
        self.assertions: list[dict] = []
        self.messages: list[dict] = []
        self.unregistered: set[str] = set()
        self.send_status = 200

    def service_account(self, key=None) -> dict:
        pem = (key or self.private_key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": "clinic-test",
                "private_key_id": "key-1", "private_key": pem,
                "client_email": "push@clinic-test.iam.gserviceaccount.com",
                "client_id": "1234567890", "token_uri": self.token_uri}

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        prefix, suffix = "/v1/projects/", "/messages:send"
        if request.path.startswith(prefix) and request.path.endswith(suffix) and \
                request.method == "POST":
            return self._send(request, request.path[len(prefix):-len(suffix)])
        return Response("", status=404)

    def _token(self, request: Request) -> Response:
        if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._json({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(request.form["assertion"], self.private_key.public_key(),
                                algorithms=["RS256"], audience=self.token_uri)
        except jwt.PyJWTError as exc:
            return self._json({"error": "invalid_grant", "error_description": str(exc)}, 400)
        header = jwt.get_unverified_header(request.form["assertion"])
        if claims.get("scope") != "https://www.googleapis.com/auth/firebase.messaging" or \
                claims.get("iss") != "push@clinic-test.iam.gserviceaccount.com" or \
                header.get("kid") != "key-1":
            return self._json({"error": "invalid_scope"}, 400)
        self.assertions.append(claims)
        token = f"ya29.{uuid.uuid4().hex}"
        self.issued.append(token)
        return self._json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _send(self, request: Request, project: str) -> Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued:
            return self._json({"error": {"code": 401, "status": "UNAUTHENTICATED",
                                         "message": "Request had invalid credentials."}}, 401)
        message = request.get_json()["message"]
        if message["token"] in self.unregistered:
            return self._json({"error": {
                "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                             "errorCode": "UNREGISTERED"}]}}, 404)
        if self.send_status != 200:
            return self._json({"error": {"code": self.send_status, "status": "UNAVAILABLE",
                                         "message": "The service is currently unavailable."}},
                              self.send_status)
        self.messages.append({"project": project, "bearer": bearer, **message})
        return self._json({"name": f"projects/{project}/messages/{len(self.messages)}"})

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")


@pytest.fixture
def fcm(app, monkeypatch, tmp_path):
    stand_in = FcmStandIn()
    account_file = tmp_path / "service-account.json"
    account_file.write_text(json.dumps(stand_in.service_account()))
    monkeypatch.setitem(app.config, "FCM_PROJECT_ID", "clinic-test")
    monkeypatch.setitem(app.config, "FCM_SERVICE_ACCOUNT_FILE", str(account_file))
    monkeypatch.setitem(app.config, "FCM_BASE_URL", stand_in.url)
    stand_in.account_file = account_file
    devices._tokens.clear()
    yield stand_in
    devices._tokens.clear()
    stand_in.server.stop()


APP_TOKEN = "fcm-app-token:APA91bE_example_token_of_an_android_app"


def register_app(client, user) -> dict:
    response = register(client, client.api_token(user.email),
                        {"kind": "FCM", "token": APP_TOKEN})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_app_token_gets_the_message_through_fcm(client, patient, fcm, frozen_clock):
    register_app(client, patient)
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.SENT

    [message] = fcm.messages
    assert message["project"] == "clinic-test"
    assert message["token"] == APP_TOKEN
    assert message["notification"] == {"title": "Hi", "body": "There"}
    assert message["data"] == {"url": "/"}
    [claims] = fcm.assertions
    assert claims["exp"] - claims["iat"] == 3600
    # The access token is cached: the next message buys no new one.
    assert deliver(announce(patient, "test:push:2").id) == DeliveryStatus.SENT
    assert len(fcm.messages) == 2
    assert len(fcm.issued) == 1
    assert fcm.messages[1]["bearer"] == fcm.issued[0]
    # ...until it is about to expire.
    frozen_clock.freeze(frozen_clock.now() + timedelta(seconds=3599 - 30))
    assert deliver(announce(patient, "test:push:3").id) == DeliveryStatus.SENT
    assert len(fcm.issued) == 2
    assert fcm.messages[2]["bearer"] == fcm.issued[1]


def test_an_unregistered_app_token_is_deactivated(client, patient, fcm):
    register_app(client, patient)
    fcm.unregistered.add(APP_TOKEN)
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED

    assert "UNREGISTERED" in reload(row).error
    assert devices.active_devices(patient.id) == []
    assert fcm.messages == []


def test_fcm_unavailable_is_retried(client, patient, fcm):
    register_app(client, patient)
    fcm.send_status = 503
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.PENDING
    assert devices.active_devices(patient.id)

    fcm.send_status = 200
    assert deliver(row.id, now=reload(row).next_attempt_at) == DeliveryStatus.SENT
    assert len(fcm.messages) == 1


def test_a_rejected_access_token_is_dropped_and_bought_again(client, patient, fcm):
    register_app(client, patient)
    assert deliver(announce(patient).id) == DeliveryStatus.SENT
    fcm.issued.clear()  # FCM no longer honours the cached token
    row = announce(patient, "test:push:2")

    assert deliver(row.id) == DeliveryStatus.PENDING
    assert deliver(row.id, now=reload(row).next_attempt_at) == DeliveryStatus.SENT
    assert len(fcm.issued) == 1
    assert fcm.messages[-1]["bearer"] == fcm.issued[0]


def test_a_service_account_the_token_endpoint_refuses_fails_but_keeps_devices(
        client, patient, fcm):
    register_app(client, patient)
    # Signed with a key Google does not know for this account.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fcm.account_file.write_text(json.dumps(fcm.service_account(stranger)))
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED

    assert "invalid_grant" in reload(row).error
    assert fcm.issued == []
    assert devices.active_devices(patient.id), "a configuration mistake must not unsubscribe"


def test_without_a_service_account_fcm_is_off(client, patient, app, monkeypatch):
    monkeypatch.setitem(app.config, "FCM_SERVICE_ACCOUNT_FILE", "")
    register_app(client, patient)
    row = announce(patient)

    assert deliver(row.id) == DeliveryStatus.FAILED
    assert "FCM_SERVICE_ACCOUNT_FILE" in reload(row).error
    assert devices.active_devices(patient.id)
