"""``create_sandbox_app``: the Razorpay stand-in as a small Flask app of its own.

It serves Razorpay's REST API under ``/v1`` (HTTP Basic auth with the key id and secret), a
checkout page under ``/checkout`` that stands in for checkout.js, and test controls under
``/_sandbox`` (same Basic auth; not part of Razorpay). Point the official client at it with
``razorpay.Client(auth=(key_id, key_secret), base_url="http://127.0.0.1:<port>")``: the client
appends ``/v1/...`` itself, so the base URL is the server root, without ``/v1``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from flask import Flask, jsonify, request

from portal.sandbox.razorpay.errors import NOT_APPLICABLE, URL_NOT_FOUND, ApiError
from portal.sandbox.razorpay.ledger import Ledger
from portal.sandbox.razorpay.store import Store
from portal.sandbox.razorpay.webhooks import WebhookDispatcher, account_id_for

EXTENSION = "razorpay_sandbox"
DEFAULT_RETRY_DELAYS = (1, 2, 4, 8, 16)
HERE = Path(__file__).resolve().parent
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' http: https:; base-uri 'none'"
)


class SandboxRefused(RuntimeError):
    """The Razorpay sandbox was asked to run with PORTAL_ENV=production."""


def refuse_in_production(environ: Mapping[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    if environ.get("PORTAL_ENV", "").strip().lower() == "production":
        raise SandboxRefused(
            "The Razorpay sandbox refuses to run with PORTAL_ENV=production: it accepts fake "
            "payments. Set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET to use Razorpay itself."
        )


class Sandbox:
    """The sandbox's parts: settings, store, ledger and webhook dispatcher."""

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_url: str | None,
        webhook_secret: str,
        *,
        auto_capture: bool = True,
        auto_process_refunds: bool = True,
        background_delivery: bool = True,
        state_file: str | os.PathLike | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        if not key_id or not key_secret:
            raise ValueError("The Razorpay sandbox needs a key id and a key secret.")
        self.key_id = key_id
        self.key_secret = key_secret
        settings = {
            "webhook_url": webhook_url or None,
            "auto_capture": bool(auto_capture),
            "auto_process_refunds": bool(auto_process_refunds),
            "background_delivery": bool(background_delivery),
        }
        self.store = Store(settings, state_file)
        self.webhooks = WebhookDispatcher(
            self.store,
            account_id=account_id_for(key_id),
            webhook_secret=webhook_secret,
            retry_delays=retry_delays,
        )
        self.ledger = Ledger(self.store, key_secret, emit=self.webhooks.record)

    @property
    def settings(self) -> dict:
        return dict(self.store.settings)

    def update_settings(self, changes: Mapping) -> dict:
        """Change settings at run time; unknown names or wrong types raise ApiError."""
        with self.store.lock:
            for name, value in changes.items():
                if name not in self.store.settings:
                    raise ApiError(f"Unknown setting {name!r}", field=name, origin=NOT_APPLICABLE)
                if name == "webhook_url":
                    if value is not None and not isinstance(value, str):
                        raise ApiError("webhook_url must be a URL or null", field=name,
                                       origin=NOT_APPLICABLE)  # fmt: skip
                    value = value or None
                elif not isinstance(value, bool):
                    raise ApiError(f"{name} must be true or false", field=name,
                                   origin=NOT_APPLICABLE)  # fmt: skip
                self.store.settings[name] = value
            self.webhooks.wake()
            return self.settings

    def authorized(self) -> bool:
        """Does the current request carry this sandbox's key id and secret (HTTP Basic)?"""
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        username, password = auth.username or "", auth.password or ""
        return hmac.compare_digest(username.encode(), self.key_id.encode()) and hmac.compare_digest(
            password.encode(), self.key_secret.encode()
        )

    def close(self) -> None:
        """Stop the webhook delivery thread."""
        self.webhooks.stop()


def sandbox_of(app: Flask) -> Sandbox:
    return app.extensions[EXTENSION]


def create_sandbox_app(
    key_id: str,
    key_secret: str,
    webhook_url: str | None,
    webhook_secret: str,
    *,
    auto_capture: bool = True,
    state_file: str | None = None,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    auto_process_refunds: bool = True,
    background_delivery: bool = True,
) -> Flask:
    """The Razorpay stand-in. Raises SandboxRefused when PORTAL_ENV=production.

    ``auto_capture``: captured at once (else authorized, and captured through the API), unless
    the order says otherwise with ``payment_capture``. ``auto_process_refunds``: refunds are
    ``processed`` at once (else ``pending`` until /_sandbox/payments/<id>/refund-status).
    ``background_delivery``: a thread sends webhooks as they happen and retries them after each
    of ``retry_delays`` seconds; without it only /_sandbox/webhooks/deliver sends them.
    ``sandbox_of(app).close()`` stops that thread.
    """
    refuse_in_production()
    from portal.sandbox.razorpay import api, checkout, controls

    sandbox = Sandbox(
        key_id, key_secret, webhook_url, webhook_secret,
        auto_capture=auto_capture, auto_process_refunds=auto_process_refunds,
        background_delivery=background_delivery, state_file=state_file,
        retry_delays=retry_delays,
    )  # fmt: skip
    app = Flask(
        __name__,
        root_path=str(HERE),
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    app.json.sort_keys = False  # Razorpay's key order, as documented
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions[EXTENSION] = sandbox
    app.register_blueprint(api.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(controls.bp)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(exc):
        if request.path.startswith("/checkout"):
            return checkout.message_page("Page not found", "There is no such checkout page.", 404)
        description = URL_NOT_FOUND
        if request.path.startswith("/v1/v1/"):
            description += (
                " The razorpay client adds /v1 itself: its base_url must be the sandbox's root,"
                f" {request.host_url.rstrip('/')}, not .../v1."
            )
        return jsonify(ApiError(description, origin=NOT_APPLICABLE).body()), 400

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
