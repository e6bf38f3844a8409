"""``create_sandbox_app``: the Razorpay stand-in as a small Flask app of its own.

It serves Razorpay's REST API under ``/v1`` and Route's linked accounts under ``/v2`` (HTTP Basic
auth with the key id and secret; Route's routes are in route_api.py), a checkout page under
``/checkout`` that stands in for checkout.js, the pages payment links' ``short_url``s open under
``/i`` (hosted_links.py), and test controls under ``/_sandbox`` (same Basic auth; not part of
Razorpay). Point the official client at it with
``razorpay.Client(auth=(key_id, key_secret), base_url="http://127.0.0.1:<port>")``: the client
appends ``/v1/...`` itself, so the base URL is the server root, without ``/v1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask, jsonify, request

from portal.sandbox import common
from portal.sandbox.razorpay import api, checkout, controls, hosted_links, route_api
from portal.sandbox.razorpay.errors import NOT_APPLICABLE, URL_NOT_FOUND, ApiError
from portal.sandbox.razorpay.state import DEFAULT_RETRY_DELAYS, EXTENSION, Sandbox

HERE = Path(__file__).resolve().parent
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' http: https:; base-uri 'none'"
)


def refuse_in_production(environ: Mapping[str, str] | None = None) -> None:
    """Raise SandboxRefused when PORTAL_ENV=production: this stand-in accepts fake payments."""
    common.refuse_in_production(
        "Razorpay",
        "it accepts fake payments. Set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET to use Razorpay "
        "itself.",
        environ,
    )


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
    auto_process_transfers: bool = True,
    background_delivery: bool = True,
    enforce_link_expiry: bool = True,
) -> Flask:
    """The Razorpay stand-in. Raises SandboxRefused when PORTAL_ENV=production.

    ``auto_capture``: captured at once (else authorized, and captured through the API), unless
    the order says otherwise with ``payment_capture``. ``auto_process_refunds``: refunds are
    ``processed`` at once (else ``pending`` until /_sandbox/payments/<id>/refund-status).
    ``auto_process_transfers``: Route transfers are ``processed`` at once (else ``pending``
    until /_sandbox/transfers/<id>/status).
    ``background_delivery``: a thread sends webhooks as they happen and retries them after each
    of ``retry_delays`` seconds; without it only /_sandbox/webhooks/deliver sends them.
    ``sandbox_of(app).close()`` stops that thread. ``enforce_link_expiry``: payment links'
    ``expire_by`` is checked and applied by the sandbox's own clock (see links.py).
    """
    refuse_in_production()
    sandbox = Sandbox(
        key_id, key_secret, webhook_url, webhook_secret,
        auto_capture=auto_capture, auto_process_refunds=auto_process_refunds,
        auto_process_transfers=auto_process_transfers,
        background_delivery=background_delivery, enforce_link_expiry=enforce_link_expiry,
        state_file=state_file, retry_delays=retry_delays,
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
    app.register_blueprint(route_api.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(controls.bp)
    app.register_blueprint(hosted_links.bp)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(exc):
        if request.path.startswith("/checkout"):
            return checkout.message_page("Page not found", "There is no such checkout page.", 404)
        if request.path.startswith("/i/"):
            return checkout.message_page("Page not found", "There is no such payment link.", 404)
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
