"""``create_twilio_sandbox``: the Twilio stand-in as a small Flask app of its own.

It serves the Messages API under ``/2010-04-01/Accounts/<AccountSid>/`` (HTTP Basic auth with
the account SID and auth token) and test controls under ``/_sandbox`` (same auth; not part of
Twilio). Point the official client at it by replacing the ``api`` domain's base URL:

    client = twilio.rest.Client(account_sid, auth_token)
    client.edge = client.region = None  # else TWILIO_EDGE / TWILIO_REGION rewrite the host name
    client.api.base_url = "http://127.0.0.1:<port>"  # the root: the client adds /2010-04-01/...
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, jsonify, request

from portal.sandbox import common
from portal.sandbox.twilio import api, controls
from portal.sandbox.twilio.errors import TwilioApiError, http_error, not_found
from portal.sandbox.twilio.state import DEFAULT_CALLBACK_DELAYS, EXTENSION, TwilioSandbox


def refuse_in_production(environ: Mapping[str, str] | None = None) -> None:
    """Raise SandboxRefused when PORTAL_ENV=production: this stand-in pretends to send SMS."""
    common.refuse_in_production(
        "Twilio",
        "it pretends to send SMS. Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to use Twilio "
        "itself.",
        environ,
    )


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
