"""``create_twilio_sandbox``: the Twilio stand-in as a small Flask app of its own.

It serves the Messages API under ``/2010-04-01/Accounts/<AccountSid>/`` (HTTP Basic auth with
the account SID and auth token) and test controls under ``/_sandbox`` (same auth; not part of
Twilio). Point the official client at it by replacing the ``api`` domain's base URL:

    client = twilio.rest.Client(account_sid, auth_token)
    client.edge = client.region = None  # else TWILIO_EDGE / TWILIO_REGION rewrite the host name
    client.api.base_url = "http://127.0.0.1:<port>"  # the root: the client adds /2010-04-01/...
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Mapping, Sequence

from flask import Flask, jsonify, request

from portal.sandbox.mailbox import Mailbox
from portal.sandbox.twilio.callbacks import CallbackDispatcher
from portal.sandbox.twilio.errors import TwilioApiError, http_error, not_found
from portal.sandbox.twilio.messages import magic_outcome, new_record, validate
from portal.sandbox.twilio.store import Store

log = logging.getLogger(__name__)

EXTENSION = "twilio_sandbox"
DEFAULT_CALLBACK_DELAYS = (0.2, 0.5)
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
OUTCOME_STATUSES = ("delivered", "undelivered", "failed")


class SandboxRefused(RuntimeError):
    """The Twilio sandbox was asked to run with PORTAL_ENV=production."""


def refuse_in_production(environ: Mapping[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    if environ.get("PORTAL_ENV", "").strip().lower() == "production":
        raise SandboxRefused(
            "The Twilio sandbox refuses to run with PORTAL_ENV=production: it pretends to send "
            "SMS. Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to use Twilio itself."
        )


class TwilioSandbox:
    """The stand-in's parts: credentials, store, status-change dispatcher and mailbox."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        mailbox_dir: str | os.PathLike | None,
        *,
        background_callbacks: bool = True,
        callback_delays: Sequence[float] = DEFAULT_CALLBACK_DELAYS,
    ) -> None:
        if not ACCOUNT_SID_RE.match(account_sid or ""):
            raise ValueError("The Twilio sandbox needs an account SID: AC and 32 hex digits.")
        if not auth_token:
            raise ValueError("The Twilio sandbox needs an auth token.")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.mailbox = Mailbox(mailbox_dir) if mailbox_dir else None
        self.store = Store()
        self.callbacks = CallbackDispatcher(
            self.store, auth_token, background=background_callbacks, delays=callback_delays
        )

    def authorized(self) -> bool:
        """Does the current request carry this account's SID and auth token (HTTP Basic)?"""
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        username, password = auth.username or "", auth.password or ""
        return hmac.compare_digest(
            username.encode(), self.account_sid.encode()
        ) & hmac.compare_digest(password.encode(), self.auth_token.encode())

    def create_message(self, params: Mapping[str, str]) -> dict:
        """Accept a message (or raise TwilioApiError as Twilio would): store it, write it to the
        dev mailbox and schedule its status changes. Returns the stored record."""
        with self.store.lock:
            if self.store.fail_next:
                status = self.store.fail_next.pop(0)
                raise http_error(status)
        fields = validate(params)
        with self.store.lock:
            forced = self.store.outcome_next.pop(0) if self.store.outcome_next else None
        outcome = (
            (forced["status"], forced["error_code"]) if forced else magic_outcome(fields["to"])
        )
        record = new_record(self.account_sid, fields, outcome)
        if self.mailbox is not None:
            # Before the message counts as accepted: what the API accepted, the mailbox shows.
            self.mailbox.add(
                "sms",
                record["from"] or record["messaging_service_sid"],
                [record["to"]],
                subject=f"SMS to {record['to']}",
                text=record["body"],
                html=None,
                meta={
                    "sid": record["sid"],
                    "status": record["status"],
                    "num_segments": record["num_segments"],
                    "status_callback": record["status_callback"],
                },
            )
        with self.store.lock:
            self.store.messages[record["sid"]] = record
            self.callbacks.schedule(record)
        return record

    def fail_next(self, count: int, status: int) -> list[int]:
        with self.store.lock:
            self.store.fail_next.extend([status] * count)
            return list(self.store.fail_next)

    def force_outcome_next(self, count: int, status: str, error_code: int | None) -> list[dict]:
        with self.store.lock:
            self.store.outcome_next.extend(
                {"status": status, "error_code": error_code} for _ in range(count)
            )
            return [dict(o) for o in self.store.outcome_next]

    def reset(self) -> None:
        self.store.reset()

    def close(self) -> None:
        """Stop the status-callback thread."""
        self.callbacks.stop()


def sandbox_of(app: Flask) -> TwilioSandbox:
    return app.extensions[EXTENSION]


def create_twilio_sandbox(
    account_sid: str,
    auth_token: str,
    mailbox_dir: str | None,
    *,
    background_callbacks: bool = True,
    callback_delays: tuple[float, ...] = DEFAULT_CALLBACK_DELAYS,
) -> Flask:
    """The Twilio stand-in. Raises SandboxRefused when PORTAL_ENV=production.

    ``mailbox_dir``: every accepted SMS is written there (channel "sms") for /dev/mailbox;
    None writes nowhere. ``background_callbacks``: a thread moves messages to sent, then
    delivered/undelivered (or failed), ``callback_delays`` seconds apart, POSTing signed status
    callbacks; without it only /_sandbox/callbacks/deliver does. ``sandbox_of(app).close()``
    stops that thread.
    """
    refuse_in_production()
    from portal.sandbox.twilio import api, controls

    sandbox = TwilioSandbox(
        account_sid, auth_token, mailbox_dir,
        background_callbacks=background_callbacks, callback_delays=callback_delays,
    )  # fmt: skip
    app = Flask(__name__)
    app.json.sort_keys = False  # Twilio's key order
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions[EXTENSION] = sandbox
    app.register_blueprint(api.bp)
    app.register_blueprint(controls.bp)

    @app.errorhandler(TwilioApiError)
    def api_error(exc: TwilioApiError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(404)
    def unknown_url(exc):
        return jsonify(not_found(request.path).body()), 404

    @app.errorhandler(405)
    def wrong_method(exc):
        return jsonify(http_error(405).body()), 405

    @app.errorhandler(500)
    def internal_error(exc):
        return jsonify(http_error(500).body()), 500

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
