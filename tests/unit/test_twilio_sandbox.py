"""The Twilio stand-in, driven through the official `twilio` client over real HTTP.

Each test serves its own stand-in with werkzeug on a free loopback port and repoints the
client's ``api`` domain at it; status callbacks go to a tiny receiver (another werkzeug server)
that records every request, and their signatures are checked with twilio's own
RequestValidator, as the portal's callback route will.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import make_server
from werkzeug.wrappers import Request

from portal.sandbox.mailbox import Mailbox
from portal.sandbox.twilio import (
    SandboxRefused,
    SandboxServer,
    create_twilio_sandbox,
    sandbox_of,
)
from portal.sandbox.twilio.__main__ import main, parse_args
from portal.sandbox.twilio.messages import num_segments

ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "unit-auth-token"
SENDER = "+15005550006"
PATIENT = "+919812345678"
ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 5.0

SID_RE = re.compile(r"^SM[0-9a-f]{32}$")
# The keys of the Message resource in Twilio's documented sample, in that order.
MESSAGE_KEYS = [
    "account_sid", "api_version", "body", "date_created", "date_sent", "date_updated",
    "direction", "error_code", "error_message", "from", "messaging_service_sid", "num_media",
    "num_segments", "price", "price_unit", "sid", "status", "subresource_uris", "to", "uri",
]  # fmt: skip
LIST_KEYS = {
    "end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri",
    "messages", "start", "uri",
}  # fmt: skip
CALLBACK_KEYS = {
    "AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid", "SmsStatus", "To",
}  # fmt: skip


def portal_client(account_sid: str, auth_token: str, base_url: str) -> Client:
    """Exactly the lines the portal needs to point the real client at the stand-in."""
    client = Client(account_sid, auth_token)
    client.edge = client.region = None  # TWILIO_EDGE/TWILIO_REGION would rewrite the host
    client.api.base_url = base_url  # the stand-in's root; the client adds /2010-04-01/...
    return client


# -- servers --------------------------------------------------------------------------------------


class Receiver:
    """A status-callback endpoint on a free port that records every request.

    ``statuses`` are answered in turn, then 200 for ever.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.changed = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/api/v1/notifications/sms/status"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self.changed:
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append({
                "url": request.url,
                "form": request.form.to_dict(),
                "pairs": parse_qsl(request.get_data(as_text=True)),
                "headers": dict(request.headers),
                "content_type": request.mimetype,
            })  # fmt: skip
            self.changed.notify_all()
        start_response(f"{status} Answer", [("Content-Type", "text/plain")])
        return [b""]

    def wait_for(self, count: int, timeout: float = POLL_SECONDS) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.requests) >= count, timeout)

    def statuses_of(self, sid: str) -> list[str]:
        return [r["form"]["MessageStatus"] for r in self.requests if r["form"]["MessageSid"] == sid]

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


class LiveSandbox:
    """The stand-in served over HTTP, the real client pointed at it and a session for /_sandbox."""

    def __init__(self, app, mailbox_dir: Path) -> None:
        self.app = app
        self.mailbox = Mailbox(mailbox_dir)
        self.server = SandboxServer(app).start()
        self.url = self.server.url
        self.client = portal_client(ACCOUNT_SID, AUTH_TOKEN, self.server.base_url)
        self.http = requests.Session()
        self.http.auth = (ACCOUNT_SID, AUTH_TOKEN)

    def send(self, to: str = PATIENT, body: str = "Your appointment is confirmed.", **extra):
        extra.setdefault("from_", SENDER)
        return self.client.messages.create(to=to, body=body, **extra)

    def control(self, path: str, body: dict | None = None, method: str = "post") -> dict:
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def deliver(self) -> list[dict]:
        return self.control("/callbacks/deliver")["callbacks"]

    def raw(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}{path}",
                                 **kwargs)  # fmt: skip

    def stop(self) -> None:
        self.server.stop()
        self.http.close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def start_sandbox(tmp_path):
    """``start_sandbox(**options)`` -> LiveSandbox. Status changes wait for
    /_sandbox/callbacks/deliver unless ``background_callbacks=True``."""
    started: list[LiveSandbox] = []

    def start(**options) -> LiveSandbox:
        options.setdefault("background_callbacks", False)
        options.setdefault("callback_delays", (0.01, 0.01))
        mailbox_dir = tmp_path / f"mailbox-{len(started)}"
        app = create_twilio_sandbox(ACCOUNT_SID, AUTH_TOKEN, str(mailbox_dir), **options)
        live = LiveSandbox(app, mailbox_dir)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def sandbox(start_sandbox) -> LiveSandbox:
    return start_sandbox()


def poll(condition, timeout: float = POLL_SECONDS, interval: float = 0.02):
    """Wait for ``condition()`` to be truthy, at most ``timeout`` seconds; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def refused_url() -> str:
    """A loopback URL where nothing listens (a port just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/status"


def rest_error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


# -- sending and reading --------------------------------------------------------------------------


def test_a_message_is_sent_and_fetched_through_the_real_client(sandbox):
    message = sandbox.send(body="Dr. Rao, Tue 10:30. Reply STOP to opt out.")

    assert SID_RE.match(message.sid)
    assert (message.account_sid, message.to, message.from_) == (ACCOUNT_SID, PATIENT, SENDER)
    assert (message.status, message.direction, message.num_segments) == (
        "queued", "outbound-api", "1",
    )  # fmt: skip
    assert message.error_code is None
    assert message.price is None
    assert message.date_sent is None
    assert message.date_created.tzinfo is not None
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"
    assert message.subresource_uris["media"].endswith(f"/Messages/{message.sid}/Media.json")

    fetched = sandbox.client.messages(message.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (message.sid, message.body, "queued")


def test_the_wire_format_is_twilios(sandbox):
    response = sandbox.raw("POST", "/Messages.json", data={
        "To": PATIENT, "From": SENDER, "Body": "hello",
    })  # fmt: skip
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == MESSAGE_KEYS
    assert (body["api_version"], body["num_media"], body["price_unit"]) == (
        "2010-04-01",
        "0",
        "USD",
    )
    created = parsedate_to_datetime(body["date_created"])  # RFC 2822, GMT
    assert body["date_created"].endswith(" +0000")
    assert created.utcoffset().total_seconds() == 0


def test_the_portal_snippet_points_the_client_at_the_stand_in(monkeypatch, tmp_path):
    # Even with an edge/region in the environment the requests reach the stand-in.
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    app = create_twilio_sandbox(ACCOUNT_SID, AUTH_TOKEN, str(tmp_path))
    with SandboxServer(app) as server:
        client = portal_client(ACCOUNT_SID, AUTH_TOKEN, server.base_url)
        message = client.messages.create(to=PATIENT, from_=SENDER, body="Reminder: 10:30 today")
        assert client.messages(message.sid).fetch().body == "Reminder: 10:30 today"
        assert client.api.v2010.account.messages.list(limit=5)[0].sid == message.sid


def test_list_pages_newest_first_and_filters_by_to(sandbox):
    sent = [sandbox.send(to=PATIENT if i % 2 else "+14155550123", body=f"m{i}") for i in range(7)]

    everything = sandbox.client.messages.list(page_size=2)
    assert [m.sid for m in everything] == [m.sid for m in reversed(sent)]
    to_patient = sandbox.client.messages.list(to=PATIENT, page_size=2)
    assert [m.body for m in to_patient] == ["m5", "m3", "m1"]
    assert [m.body for m in sandbox.client.messages.list(limit=2)] == ["m6", "m5"]

    page = sandbox.raw("GET", "/Messages.json", params={"To": PATIENT, "PageSize": 2}).json()
    assert set(page) == LIST_KEYS
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["previous_page_uri"] is None
    assert "To=%2B919812345678" in page["next_page_uri"]
    assert "PageToken=PA" + page["messages"][1]["sid"] in page["next_page_uri"]
    second = sandbox.http.get(sandbox.url + page["next_page_uri"], timeout=10).json()
    assert [m["body"] for m in second["messages"]] == ["m1"]
    assert second["next_page_uri"] is None
    assert second["previous_page_uri"] is not None


def test_gsm_and_unicode_bodies_are_counted_in_segments():
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("a" * 306) == 2
    assert num_segments("a" * 307) == 3
    assert num_segments("[" * 80) == 1
    assert num_segments("[" * 81) == 2
    assert num_segments("₹" * 70) == 1
    assert num_segments("₹" * 71) == 2
    assert num_segments("नमस्ते " * 20) == 3  # 140 UTF-16 units


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["+15005550001", "9812345678", "+0123", "+91 98123 45678"])
def test_an_invalid_to_number_is_refused_with_21211(sandbox, to):
    error = rest_error(lambda: sandbox.send(to=to))
    assert (error.status, error.code) == (400, 21211)
    assert f"The 'To' number {to} is not a valid phone number." in error.msg
    assert len(sandbox.mailbox) == 0
    assert sandbox.control("/messages", method="get")["count"] == 0


@pytest.mark.parametrize(
    ("to", "sender", "code"),
    [
        ("+15005550002", SENDER, 21612),
        ("+15005550003", SENDER, 21408),
        ("+15005550004", SENDER, 21610),  # unsubscribed: the patient replied STOP
        ("+15005550009", SENDER, 21614),
        (PATIENT, "+15005550001", 21212),
        (PATIENT, "+15005550007", 21606),
        (PATIENT, "+15005550008", 21611),
        (PATIENT, "not a sender!", 21212),
    ],
)
def test_twilios_magic_numbers_answer_twilios_errors(sandbox, to, sender, code):
    error = rest_error(lambda: sandbox.send(to=to, from_=sender))
    assert (error.status, error.code) == (400, code)
    assert len(sandbox.mailbox) == 0


def test_missing_or_oversized_fields_are_refused(sandbox):
    cases = [
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": PATIENT, "Body": "x"}, 21603),
        ({"To": PATIENT, "From": SENDER}, 21602),
        ({"To": PATIENT, "From": SENDER, "Body": "x" * 1601}, 21617),
        ({"To": PATIENT, "MessagingServiceSid": "MG123", "Body": "x"}, 21701),
    ]
    for data, code in cases:
        response = sandbox.raw("POST", "/Messages.json", data=data)
        body = response.json()
        assert (response.status_code, body["code"]) == (400, code), data
        assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
        assert body["status"] == 400
    assert sandbox.send(body="x" * 1600).num_segments == "11"


def test_wrong_credentials_are_refused_with_20003(sandbox):
    wrong_token = portal_client(ACCOUNT_SID, "not-the-token", sandbox.url)
    error = rest_error(lambda: wrong_token.messages.create(to=PATIENT, from_=SENDER, body="x"))
    assert (error.status, error.code) == (401, 20003)
    error = rest_error(lambda: wrong_token.messages("SM" + "0" * 32).fetch())
    assert (error.status, error.code) == (401, 20003)

    response = requests.get(f"{sandbox.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                            timeout=10)  # fmt: skip
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003, "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
    }  # fmt: skip
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{sandbox.url}/_sandbox/messages", timeout=10).status_code == 401


def test_unknown_messages_and_other_accounts_are_not_found(sandbox):
    error = rest_error(lambda: sandbox.client.messages("SM" + "0" * 32).fetch())
    assert (error.status, error.code) == (404, 20404)
    other = "AC" + "1" * 32
    response = sandbox.http.get(f"{sandbox.url}/2010-04-01/Accounts/{other}/Messages.json",
                                timeout=10)  # fmt: skip
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_fail_next_makes_create_answer_500_then_recovers(sandbox):
    assert sandbox.control("/fail-next", {"count": 2, "status": 500}) == {"fail_next": [500, 500]}
    for _ in range(2):
        error = rest_error(lambda: sandbox.send())
        assert (error.status, error.code) == (500, 20500)
    message = sandbox.send()  # the retry that works
    assert message.status == "queued"
    assert [m.sid for m in sandbox.client.messages.list()] == [message.sid]
    assert len(sandbox.mailbox) == 1

    sandbox.control("/fail-next", {"status": 503})
    assert rest_error(lambda: sandbox.send()).code == 20503
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/fail-next", json={"status": 200},
                                 timeout=10)  # fmt: skip
    assert response.status_code == 400


# -- status callbacks -----------------------------------------------------------------------------


def test_callbacks_arrive_signed_in_order_in_the_background(start_sandbox, receiver):
    sandbox = start_sandbox(background_callbacks=True, callback_delays=(0.01, 0.02))
    message = sandbox.send(status_callback=receiver.url)

    assert receiver.wait_for(2), "two status callbacks within 5 s"
    assert receiver.statuses_of(message.sid) == ["sent", "delivered"]
    validator = RequestValidator(AUTH_TOKEN)
    for request in receiver.requests:
        assert request["content_type"] == "application/x-www-form-urlencoded"
        assert request["url"] == receiver.url
        form, signature = request["form"], request["headers"]["X-Twilio-Signature"]
        assert validator.validate(request["url"], form, signature)
        assert not RequestValidator("another-token").validate(request["url"], form, signature)
        assert not validator.validate(request["url"], {**form, "MessageStatus": "failed"},
                                      signature)  # fmt: skip
        assert set(form) == CALLBACK_KEYS
        assert (form["MessageSid"], form["SmsSid"], form["AccountSid"]) == (
            message.sid, message.sid, ACCOUNT_SID,
        )  # fmt: skip
        assert (form["To"], form["From"], form["ApiVersion"]) == (PATIENT, SENDER, "2010-04-01")
        assert request["headers"]["User-Agent"] == "TwilioProxy/1.1"
        assert request["headers"]["I-Twilio-Idempotency-Token"]
    fetched = poll(lambda: (m := sandbox.client.messages(message.sid).fetch()).status
                   == "delivered" and m)  # fmt: skip
    assert fetched
    assert fetched.date_sent is not None


def test_a_callback_url_with_a_query_string_is_signed_as_given(sandbox, receiver):
    url = f"{receiver.url}?notification_id=42&attempt=1"
    message = sandbox.send(status_callback=url)
    assert [c["state"] for c in sandbox.deliver()] == ["posted", "posted"]
    assert [r["url"] for r in receiver.requests] == [url, url]
    validator = RequestValidator(AUTH_TOKEN)
    for request in receiver.requests:
        assert validator.validate(url, request["form"], request["headers"]["X-Twilio-Signature"])
        assert request["form"]["MessageSid"] == message.sid


def test_an_undelivered_message_reports_30003(sandbox, receiver):
    message = sandbox.send(to="+15005550010", status_callback=receiver.url)
    assert message.status == "queued"  # accepted: the trouble comes later
    assert sandbox.client.messages(message.sid).fetch().status == "queued"  # nothing until deliver

    changes = sandbox.deliver()
    assert [(c["status"], c["state"]) for c in changes] == [
        ("sent", "posted"), ("undelivered", "posted"),
    ]  # fmt: skip
    sent, undelivered = (r["form"] for r in receiver.requests)
    assert "ErrorCode" not in sent
    assert (undelivered["MessageStatus"], undelivered["ErrorCode"]) == ("undelivered", "30003")
    assert RequestValidator(AUTH_TOKEN).validate(
        receiver.url, undelivered, receiver.requests[1]["headers"]["X-Twilio-Signature"]
    )
    fetched = sandbox.client.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code, fetched.error_message) == (
        "undelivered", 30003, "Unreachable destination handset",
    )  # fmt: skip


def test_a_failed_message_goes_straight_to_failed(sandbox, receiver):
    message = sandbox.send(to="+15005550011", status_callback=receiver.url)
    sandbox.deliver()
    assert [r["form"]["MessageStatus"] for r in receiver.requests] == ["failed"]
    assert receiver.requests[0]["form"]["ErrorCode"] == "30008"
    fetched = sandbox.client.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code, fetched.date_sent) == ("failed", 30008, None)


def test_outcome_next_forces_an_outcome_for_any_number(sandbox, receiver):
    sandbox.control("/outcome-next", {"status": "undelivered", "error_code": 30006})
    first = sandbox.send(status_callback=receiver.url)
    second = sandbox.send(status_callback=receiver.url)
    sandbox.deliver()
    assert receiver.statuses_of(first.sid) == ["sent", "undelivered"]
    assert receiver.statuses_of(second.sid) == ["sent", "delivered"]
    assert sandbox.client.messages(first.sid).fetch().error_code == 30006


def test_a_failing_callback_endpoint_is_logged_not_retried(sandbox, receiver):
    receiver.statuses = [500]
    message = sandbox.send(status_callback=receiver.url)
    states = [(c["status"], c["state"], c["attempt"]["status_code"]) for c in sandbox.deliver()]
    assert states == [("sent", "failed", 500), ("delivered", "posted", 200)]
    assert sandbox.client.messages(message.sid).fetch().status == "delivered"

    other = sandbox.send(status_callback=refused_url())
    changes = sandbox.deliver()
    assert [c["state"] for c in changes] == ["failed", "failed"]
    assert changes[0]["attempt"]["error"].startswith("ConnectionError")
    assert sandbox.client.messages(other.sid).fetch().status == "delivered"
    assert sandbox.deliver() == []  # nothing is retried
    assert len(receiver.requests) == 2


def test_without_a_status_callback_the_status_still_moves(sandbox):
    message = sandbox.send()
    changes = sandbox.deliver()
    assert [(c["status"], c["state"]) for c in changes] == [
        ("sent", "skipped"), ("delivered", "skipped"),
    ]  # fmt: skip
    assert sandbox.client.messages(message.sid).fetch().status == "delivered"


def test_a_messaging_service_assigns_the_sender_later(sandbox, receiver):
    service = "MG" + "ab" * 16
    message = sandbox.client.messages.create(
        to=PATIENT, messaging_service_sid=service, body="hi", status_callback=receiver.url
    )
    assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
    assert message.messaging_service_sid == service
    sandbox.deliver()
    form = receiver.requests[0]["form"]
    assert (form["MessagingServiceSid"], form["From"]) == (service, SENDER)
    assert sandbox.client.messages(message.sid).fetch().from_ == SENDER


# -- mailbox, controls ----------------------------------------------------------------------------


def test_every_accepted_sms_lands_in_the_dev_mailbox(sandbox):
    message = sandbox.send(body="Your OTP is 4821")
    rest_error(lambda: sandbox.send(to="+15005550001"))  # refused: not in the mailbox

    [stored] = sandbox.mailbox.list(channel="sms")
    assert (stored.channel, stored.sender, stored.to) == ("sms", SENDER, [PATIENT])
    assert (stored.subject, stored.text, stored.html) == (f"SMS to {PATIENT}", "Your OTP is 4821",
                                                          None)  # fmt: skip
    assert stored.meta["sid"] == message.sid
    assert stored.meta["status"] == "queued"
    assert sandbox.mailbox.list(channel="email") == []


def test_no_mailbox_directory_writes_nowhere(tmp_path):
    app = create_twilio_sandbox(ACCOUNT_SID, AUTH_TOKEN, None, background_callbacks=False)
    with SandboxServer(app) as server:
        client = portal_client(ACCOUNT_SID, AUTH_TOKEN, server.base_url)
        assert client.messages.create(to=PATIENT, from_=SENDER, body="x").status == "queued"
    assert list(tmp_path.iterdir()) == []


def test_the_sandbox_message_log_and_reset(sandbox, receiver):
    message = sandbox.send(status_callback=receiver.url)
    log = sandbox.control("/messages", method="get")
    assert log["count"] == 1
    entry = log["messages"][0]
    assert (entry["sid"], entry["status_callback"]) == (message.sid, receiver.url)
    assert [c["state"] for c in entry["callbacks"]] == ["pending", "pending"]
    assert (
        sandbox.control(f"/messages?to={PATIENT}".replace("+", "%2B"), method="get")["count"] == 1
    )
    assert sandbox.control("/messages?to=%2B10000000000", method="get")["count"] == 0

    sandbox.control("/fail-next", {"count": 3})
    assert sandbox.control("/reset") == {"reset": True}
    assert sandbox.control("/messages", method="get")["count"] == 0
    assert sandbox.deliver() == []
    assert receiver.requests == []
    assert sandbox.send().status == "queued"  # fail-next was forgotten too


def test_a_final_message_can_be_deleted(sandbox):
    message = sandbox.send()
    response = sandbox.raw("DELETE", f"/Messages/{message.sid}.json")
    assert (response.status_code, response.json()["code"]) == (400, 20009)  # still queued
    sandbox.deliver()
    assert sandbox.client.messages(message.sid).delete() is True
    assert sandbox.client.messages.list() == []


# -- running it -----------------------------------------------------------------------------------


def test_the_sandbox_refuses_to_start_in_production(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    with pytest.raises(SandboxRefused, match="PORTAL_ENV=production"):
        create_twilio_sandbox(ACCOUNT_SID, AUTH_TOKEN, None)


def test_the_command_line_refuses_production(monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_ENV", "production")
    assert main(["--port", "0"]) == 2
    assert "PORTAL_ENV=production" in capsys.readouterr().err


def test_credentials_must_look_like_twilios():
    with pytest.raises(ValueError, match="account SID"):
        create_twilio_sandbox("not-an-account", AUTH_TOKEN, None)
    with pytest.raises(ValueError, match="auth token"):
        create_twilio_sandbox(ACCOUNT_SID, "", None)


def test_the_command_line_flags():
    args = parse_args([
        "--port", "5055", "--account-sid", ACCOUNT_SID, "--auth-token", "t", "--mailbox",
        "instance/mailbox", "--callback-delays", "0.1,0.3", "--manual-callbacks",
    ])  # fmt: skip
    assert (args.port, args.account_sid, args.auth_token, args.mailbox) == (
        5055, ACCOUNT_SID, "t", "instance/mailbox",
    )  # fmt: skip
    assert (args.callback_delays, args.background_callbacks) == ((0.1, 0.3), False)
    defaults = parse_args([])
    assert (defaults.port, defaults.callback_delays, defaults.background_callbacks) == (
        5002, (0.2, 0.5), True,
    )  # fmt: skip


def test_python_m_runs_the_sandbox_and_stops_on_sigterm(tmp_path, receiver):
    env = {**os.environ, "PORTAL_ENV": "development", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.sandbox.twilio", "--port", "0", "--account-sid",
         ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--mailbox", str(tmp_path),
         "--callback-delays", "0.01,0.01"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)  # bounded wait for the banner
        assert ready, "the sandbox printed nothing within 60 s"
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", process.stdout.readline()).group(1)
        client = portal_client(ACCOUNT_SID, AUTH_TOKEN, url)
        message = client.messages.create(to=PATIENT, from_=SENDER, body="hi",
                                         status_callback=receiver.url)  # fmt: skip
        assert receiver.wait_for(2)
        assert receiver.statuses_of(message.sid) == ["sent", "delivered"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()
    assert Mailbox(tmp_path).list()[0].meta["sid"] == message.sid


def test_stopping_the_server_stops_the_callback_thread(tmp_path):
    app = create_twilio_sandbox(ACCOUNT_SID, AUTH_TOKEN, None, callback_delays=(5.0,))
    with SandboxServer(app) as server:
        portal_client(ACCOUNT_SID, AUTH_TOKEN, server.base_url).messages.create(
            to=PATIENT, from_=SENDER, body="x"
        )
        thread = sandbox_of(app).callbacks._thread
        assert thread is not None
        assert thread.is_alive()
    assert not thread.is_alive()
