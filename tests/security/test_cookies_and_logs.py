"""Session cookies, rate limits on the credential endpoints, and no secret in any log line.

- The session cookie and the "remember me" cookie are HttpOnly and SameSite=Lax, and Secure in
  production (a real production app from `create_app` on the suite's PostgreSQL and Redis).
- Every endpoint that takes a password, mints a token or sends a reset link is rate-limited per
  address (per account too: tests/integration/test_accounts.py).
- A realistic flow at DEBUG (register, wrong and right logins, an API token, a password reset
  by email, a Razorpay payment with its webhook, an SMS with Twilio's status callback), served
  partly by a real HTTP server so access logs are written, leaves no password, token, cookie,
  gateway secret or payment instrument in any log record. A real gunicorn with
  --access-logfile (as the Dockerfile runs it) does not print reset tokens either.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from rq import Queue

from portal import create_app
from portal.auth import service as auth
from portal.events import relay_pending
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.notifications.models import NotificationLog
from portal.notifications.preferences import update_preferences
from portal.payments import gateway
from tests.conftest import CSRF_RE, PortalClient
from tests.factories import MONDAY_MORNING, PASSWORD
from tests.integration.support import page_text, problem_errors

ROOT = Path(__file__).resolve().parents[2]


def _cookie_headers(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def _attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]} | {
        part.strip().lower() for part in set_cookie.split(";")[1:]}


# --- cookies ---------------------------------------------------------------------------------


def test_session_and_remember_cookies_are_http_only_and_same_site_lax(client, factory):
    patient = factory.create_patient()
    response = client.post_form("/account/login", {"email": patient.email, "password": PASSWORD,
                                                    "remember": "y"})

    assert response.status_code == 302
    cookies = _cookie_headers(response)
    for name in ("session", "remember_token"):
        attributes = _attributes(cookies[name])
        assert "httponly" in attributes, cookies[name]
        assert "samesite=lax" in attributes, cookies[name]
        assert "secure" not in attributes, "plain http in development: Secure would drop it"


@pytest.fixture
def production_app(app, database_url, redis_url, smtp_sink, monkeypatch):
    """The portal as PORTAL_ENV=production builds it: real-looking keys, the suite's PostgreSQL
    and Redis (production refuses SQLite and the sandboxes)."""
    if database_url.startswith("sqlite"):
        pytest.skip("production refuses SQLite; this needs the suite's PostgreSQL")

    env = {
        "PORTAL_ENV": "production", "SECRET_KEY": "p" * 48, "DATABASE_URL": database_url,
        "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_URL": "https://clinic.example.com",
        "RAZORPAY_KEY_ID": "rzp_live_0000000000", "RAZORPAY_KEY_SECRET": "live-key-secret",
        "RAZORPAY_WEBHOOK_SECRET": "live-webhook-secret",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "live-auth-token",
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_sink.port),
        "JITSI_DOMAIN": "meet.clinic.example.com", "JITSI_APP_ID": "clinic",
        "JITSI_APP_SECRET": "live-jitsi-secret-of-at-least-32-bytes",
    }
    for name in ("RAZORPAY_BASE_URL", "RAZORPAY_CHECKOUT_URL", "TWILIO_BASE_URL",
                 "RAZORPAY_SANDBOX", "TWILIO_SANDBOX", "MAIL_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    production = create_app()
    assert production.config["PORTAL_ENV"] == "production"
    yield production
    with production.app_context():
        db.engine.dispose()


def test_production_cookies_are_also_secure(production_app, factory):
    patient = factory.create_patient()
    browser = PortalClient(production_app, production_app.response_class, use_cookies=True)
    browser.environ_base["wsgi.url_scheme"] = "https"  # as behind the TLS-terminating proxy

    response = browser.post_form("/account/login", {"email": patient.email,
                                                    "password": PASSWORD, "remember": "y"})

    assert response.status_code == 302, page_text(response)[:300]
    cookies = _cookie_headers(response)
    for name in ("session", "remember_token"):
        assert {"secure", "httponly", "samesite=lax"} <= _attributes(cookies[name]), cookies[name]


def test_production_serves_no_sandbox_pages_and_only_razorpay_scripts(production_app):
    browser = production_app.test_client()

    assert browser.get("/dev/mailbox").status_code == 404
    assert browser.get("/dev/mailbox.json").status_code == 404
    policy = browser.get("/doctors/").headers["Content-Security-Policy"]
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["script-src"] == "'self' https://checkout.razorpay.com"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in policy


# --- rate limits -------------------------------------------------------------------------------


def _html_post(path_of):
    def post(client, factory):
        path, data = path_of(factory)
        token = client.csrf_token()
        return lambda: client.post(path, data={**data, "csrf_token": token})
    return post


def _json_post(path, body):
    def post(client, factory):
        return lambda: client.post(path, json=body)
    return post


def _html_posts(path_of):
    """Like _html_post, for a form whose fields change per attempt (`path_of(factory, n)`)."""
    def post(client, factory):
        token = client.csrf_token()
        numbers = itertools.count()

        def attempt():
            path, data = path_of(factory, next(numbers))
            return client.post(path, data={**data, "csrf_token": token})
        return attempt
    return post


def _json_posts(path, body_of):
    def post(client, factory):
        numbers = itertools.count()
        return lambda: client.post(path, json=body_of(next(numbers)))
    return post


# Wrong passwords spread over accounts (four each), so the per-account lock stays out of this.
LIMITED = {
    "login": _html_posts(lambda f, n: ("/account/login", {"email": f"someone{n // 4}@example.com",
                                                          "password": "wrong-guess-1"})),
    "register": _html_post(lambda f: ("/account/register", {"name": "Uma", "email": "bad"})),
    "forgot": _html_post(lambda f: ("/account/forgot", {"email": "nobody@example.com"})),
    "reset": _html_post(lambda f: (f"/account/reset/{auth.make_reset_token(f.create_patient())}",
                                   {"password": "short", "confirm": "short"})),
    "api-token": _json_posts("/api/v1/auth/token", lambda n: {
        "email": f"someone{n // 4}@example.com", "password": "wrong-guess-1"}),
    "api-register": _json_post("/api/v1/auth/register", {}),
}


@pytest.mark.parametrize("name", LIMITED)
def test_every_credential_endpoint_allows_sixty_tries_a_minute_per_address(client, factory, app,
                                                                         name):
    assert app.config["LOGIN_RATE_LIMIT"] == "60 per minute"
    attempt = LIMITED[name](client, factory)
    statuses = [attempt().status_code for _ in range(60)]

    refused = attempt()

    assert 429 not in statuses, statuses
    assert refused.status_code == 429, (name, refused.status_code)
    assert "Retry-After" in refused.headers
    if refused.mimetype == "application/problem+json":
        problem_errors(refused)
    else:
        assert "Too many attempts" in page_text(refused)


# --- no secret in any log line ---------------------------------------------------------------

UNIT_SECRETS = ("RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN",
                "SECRET_KEY")


def _csrf(page: str) -> str:
    return CSRF_RE.search(page).group(1)


def _run_jobs(app) -> None:
    connection = redis_connection(app.config["REDIS_URL"])
    worker = AppWorker([Queue(n, connection=connection) for n in app.config["RQ_QUEUES"]],
                       connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


def _settle(app) -> None:
    for _ in range(3):
        relay_pending()
        _run_jobs(app)


def _leaks(records, secrets: dict[str, str], portal_url: str) -> list[str]:
    formatter = logging.Formatter()
    found = []
    for record in records:
        text = record.getMessage()
        if record.name.startswith("urllib3") and portal_url in text:
            # A client of the portal logging its own request (this test's browser, and the
            # gateways' stand-ins calling back): not a log line of the portal.
            continue
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        found += [f"{what} in {record.name}: {text[:200]}" for what, secret in secrets.items()
                  if secret and secret in text]
    return found


def test_no_secret_in_any_log_line(app, client, factory, live_server, razorpay, twilio, mailbox,
                                   frozen_clock, caplog):
    caplog.set_level(logging.DEBUG)
    frozen_clock.freeze(MONDAY_MORNING)
    razorpay.control("POST", "/settings", {"auto_capture": True})
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"),
                                   booking_window_days=3)
    slot = factory.first_free_slot(doctor)
    db.session.commit()
    secrets = {name: app.config[name] for name in UNIT_SECRETS}
    secrets["Razorpay basic auth"] = base64.b64encode(
        f"{app.config['RAZORPAY_KEY_ID']}:{app.config['RAZORPAY_KEY_SECRET']}".encode()).decode()
    secrets["Twilio basic auth"] = base64.b64encode(
        f"{app.config['TWILIO_ACCOUNT_SID']}:{app.config['TWILIO_AUTH_TOKEN']}".encode()).decode()
    first, wrong, new = "amber-falcon-Q7x", "amber-falcon-Q8y", "cobalt-meadow-Z3k"
    secrets |= {"password": first, "mistyped password": wrong, "new password": new}
    email = "lena.logcheck@example.com"

    # Register, log out, a wrong then a right password (remembered), in the browser.
    registered = client.post_form("/account/register", {
        "name": "Lena Logcheck", "email": email, "phone": "+919812340001",
        "timezone": "Asia/Kolkata", "password": first, "accept_terms": "y"})
    assert registered.status_code == 302
    secrets["first session cookie"] = client.get_cookie("session").value
    client.post_form("/account/logout")
    assert client.post_form("/account/login", {"email": email, "password": wrong}
                            ).status_code == 422
    assert client.post_form("/account/login", {"email": email, "password": first,
                                               "remember": "y"}).status_code == 302
    secrets["session cookie"] = client.get_cookie("session").value
    secrets["remember cookie"] = client.get_cookie("remember_token").value

    # An API token over real HTTP, used once.
    web = requests.Session()
    issued = web.post(f"{live_server.url}/api/v1/auth/token",
                      json={"email": email, "password": first}, timeout=10)
    assert issued.status_code == 200, issued.text
    secrets["bearer token"] = issued.json()["access_token"]
    assert web.get(f"{live_server.url}/api/v1/me", timeout=10, headers={
        "Authorization": f"Bearer {secrets['bearer token']}"}).status_code == 200

    # A password reset by email, following the link over real HTTP (access-logged).
    page = web.get(f"{live_server.url}/account/forgot", timeout=10).text
    assert web.post(f"{live_server.url}/account/forgot", timeout=10, allow_redirects=False,
                    data={"email": email, "csrf_token": _csrf(page)}).status_code == 302
    link = re.search(r"https?://\S+/account/reset/[^\s\"<>]+",
                     mailbox.list(limit=1)[0].text).group(0)
    secrets["reset token"] = link.rsplit("/", 1)[1]
    form = web.get(link, timeout=10)
    assert form.status_code == 200
    web.get(f"{live_server.url}/static/css/app.css", headers={"Referer": link}, timeout=10)
    done = web.post(link, timeout=10, allow_redirects=False, data={
        "password": new, "confirm": new, "csrf_token": _csrf(form.text)})
    assert done.status_code == 302, done.text[:300]

    # Log in again, hold a slot, pay by UPI in the Razorpay sandbox, verify, webhook.
    client.post_form("/account/login", {"email": email, "password": new})
    user = auth.find_user_by_email(email)
    update_preferences(user, channels_={"SMS": {"APPOINTMENT_CONFIRMED": True}})
    held = client.post_form("/appointments/reserve", {"slot_id": str(slot.id),
                                                      "doctor_id": str(doctor.id)})
    appointment_id = held.location.rstrip("/").rsplit("/", 1)[1]
    checkout = urlsplit(client.post_form(f"/payments/start/{appointment_id}").location)
    order_id = checkout.path.rsplit("/", 1)[1]
    payment_id = urlsplit(parse_qs(checkout.query)["callback_url"][0]).path.split("/")[2]
    fields = razorpay.pay(order_id, method="upi")
    entity = gateway.fetch_payment(fields["razorpay_payment_id"])
    secrets["UPI address"] = entity.get("vpa") or ""
    assert secrets["UPI address"]
    verified = client.post_form(f"/payments/{payment_id}/verify", fields)
    assert verified.status_code == 303
    assert razorpay.deliver_webhooks()

    # The confirmation goes out (email, in-app, SMS); Twilio calls back, signed.
    _settle(app)
    sms = db.session.query(NotificationLog).filter_by(user_id=user.id, channel="SMS").one()
    assert sms.status == "SENT", sms.error
    twilio("POST", "/callbacks/deliver")

    records = list(caplog.records)
    lines = [r.getMessage() for r in records]
    # The flow really went through the access logs and the gateways' servers.
    assert any("/account/reset/" in line for line in lines)
    assert any("POST /api/v1/payments/webhook" in line for line in lines)
    assert any("POST /api/v1/notifications/sms-status" in line for line in lines)
    leaks = _leaks(records, secrets, live_server.url)
    assert not leaks, "secrets in log records:\n" + "\n".join(leaks)


def test_the_redaction_covers_gunicorn_access_lines_referers_and_error_logs(app, caplog):
    """gunicorn logs `%(r)s` (request line) and `%(f)s` (Referer) from a dict of atoms; the
    app's error logs name the request path."""
    caplog.set_level(logging.INFO)
    access = logging.getLogger("gunicorn.access")
    access.info('%(h)s "%(r)s" %(s)s "%(f)s"', {
        "h": "203.0.113.9", "r": "GET /account/reset/SeCrEtToKeN.abc HTTP/1.1", "s": "200",
        "f": "https://clinic.example.com/account/reset/SeCrEtToKeN.abc"})
    logging.getLogger("werkzeug").info('"GET /account/reset/SeCrEtToKeN.abc?x=1 HTTP/1.1" 200')
    logging.getLogger("portal.errors").error("Unhandled error on %s %s", "POST",
                                             "/account/reset/SeCrEtToKeN.abc")
    logging.getLogger("portal").error("Exception on /account/reset/SeCrEtToKeN.abc [POST]")

    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4
    assert not [line for line in lines if "SeCrEtToKeN" in line], lines
    assert "/account/reset/[redacted]" in lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_access_log_prints_no_reset_token(app, tmp_path, factory):
    """The Dockerfile's command line, on a loopback port: the access log has the request
    lines, but not the token of a reset link (in the path, or as the Referer)."""
    token = auth.make_reset_token(factory.create_patient())
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ, "SECRET_KEY": app.config["SECRET_KEY"],
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"], "RATELIMIT_STORAGE_URI": "memory://",
           "MAILBOX_DIR": str(tmp_path / "mailbox"), "PORTAL_ENV": "development"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", str(access_log), "--no-control-socket", "portal:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "gunicorn did not answer within 90 s"
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        page = requests.get(f"{base}/account/reset/{token}", timeout=10)
        assert page.status_code == 200
        requests.get(f"{base}/static/css/app.css", timeout=10,
                     headers={"Referer": f"{base}/account/reset/{token}"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = access_log.read_text()
    assert "/account/reset/[redacted]" in log
    assert token not in log
