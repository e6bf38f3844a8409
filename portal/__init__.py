"""The clinic booking portal: `create_app` builds the Flask app for web, worker and CLI."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, g, request
from flask.cli import with_appcontext
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from portal.config import ConfigError, load_config, production_problems
from portal.extensions import csrf, db, htmx, limiter, login_manager, mail, migrate

# Endpoints that take POSTs without a CSRF token because their callers authenticate otherwise.
CSRF_EXEMPT_ENDPOINTS: set[str] = set()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app from the environment, overridden by `test_config` in tests.

    Raises ConfigError, naming the setting, when PORTAL_ENV=production and the
    configuration is unsafe.
    """
    app = PortalFlask(__name__, instance_relative_config=False,
                      template_folder="../templates", static_folder="../static")
    app.session_interface = PortalSessionInterface()
    app.config.from_mapping(load_config())
    if test_config:
        app.config.update(test_config)
    problems = production_problems(app.config)
    if problems:
        raise ConfigError("Refusing to start in production:\n- " + "\n- ".join(problems))

    from portal.notifications.vapid import ensure_dev_vapid_keys

    ensure_dev_vapid_keys(app)  # development only: a key pair in instance/vapid.json

    from portal.logging_filters import install_log_filters
    from portal.logging_setup import configure_logging

    # JSON lines with the request id in production, text in development (LOG_FORMAT).
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    install_log_filters()  # reset-link tokens never reach werkzeug's or gunicorn's logs
    _bound_database_connects(app)
    if app.config["TRUSTED_PROXIES"]:
        # Behind N proxies, take the client address and scheme from their X-Forwarded headers
        # (rate limits are per client address; url_for must build https links).
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    _init_extensions(app)
    _import_models()
    _register_blueprints(app)
    _register_operations(app)  # first: request ids and timing cover every other hook
    _register_request_hooks(app)
    _register_template_helpers(app)

    from portal.errors import register_error_handlers

    register_error_handlers(app)

    from portal.availability.cli import regenerate_slots
    from portal.cli import register_cli

    register_cli(app)
    app.cli.add_command(regenerate_slots)
    app.cli.add_command(cron_command)

    return app


class PortalFlask(Flask):
    """Flask, minus a cost every request paid: Flask asks `inspect` whether each hook and view
    is a coroutine function on every call (a dozen times a request here); the answer is
    remembered per function instead."""

    def ensure_sync(self, func: Callable) -> Callable:
        return _sync_version(self, func)


@functools.lru_cache(maxsize=4096)
def _is_coroutine(func: Callable) -> bool:
    return inspect.iscoroutinefunction(func)


def _sync_version(app: Flask, func: Callable) -> Callable:
    try:
        coroutine = _is_coroutine(func)
    except TypeError:  # an unhashable callable: ask every time, as Flask does
        coroutine = inspect.iscoroutinefunction(func)
    return app.async_to_sync(func) if coroutine else func


# Paths that never read or write the session cookie: the probes, asked every few seconds.
SESSIONLESS_PATHS = frozenset({"/healthz", "/readyz"})


class PortalSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with two costs taken off every request: the probes get
    no session at all (Flask's null session: reading works, writing raises), and the signing
    serializer is built once per secret key instead of once per request."""

    def __init__(self) -> None:
        self._serializers: dict[tuple, Any] = {}

    def open_session(self, app: Flask, request):
        if request.path in SESSIONLESS_PATHS:
            return None  # Flask then uses make_null_session: nothing is read or saved
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer


def _bound_database_connects(app: Flask) -> None:
    """A PostgreSQL that does not answer fails a connection attempt after
    DATABASE_CONNECT_TIMEOUT seconds, not after the kernel's TCP timeout (minutes)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", app.config["DATABASE_CONNECT_TIMEOUT"])
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


# Probe and scrape routes: no access-log line for them (they come every few seconds).
QUIET_ENDPOINTS = {"healthz", "readyz", "metrics"}


def _register_operations(app: Flask) -> None:
    """Request ids, the access log, request metrics, /healthz, /readyz and /metrics."""
    import time

    from portal.health import healthz, readyz
    from portal.jobqueue import redis_connection
    from portal.logging_filters import redact
    from portal.logging_setup import accept_request_id, request_id_var
    from portal.metrics import elapsed_ms, init_request_metrics
    from portal.metrics_scrape import metrics_view

    access_log = logging.getLogger("portal.access")

    @app.before_request
    def request_id():
        """Keep the caller's X-Request-ID (a proxy's) or make one; logs and jobs carry it."""
        g.request_id = accept_request_id(request.headers.get("X-Request-ID"))
        g.request_id_token = request_id_var.set(g.request_id)
        g.request_started_at = time.time()

    init_request_metrics(app)

    @app.after_request
    def return_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id") or accept_request_id(None)
        if app.config["LOG_FORMAT"] == "json" and request.endpoint not in QUIET_ENDPOINTS:
            # The access log of JSON mode (gunicorn's own is off then; see gunicorn_conf.py).
            access_log.info("%s %s %s", request.method, redact(request.path),
                            response.status_code, extra={
                                "method": request.method, "path": redact(request.path),
                                "endpoint": request.endpoint, "status": response.status_code,
                                "duration_ms": elapsed_ms(), "remote_addr": request.remote_addr,
                                "user_agent": request.user_agent.string[:200]})
        return response

    @app.teardown_request
    def forget_request_id(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)

    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/metrics", "metrics", lambda: metrics_view(redis_connection))


@click.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run the scheduler of periodic jobs (jobs/cron.py); run one per deployment."""
    from flask import current_app

    from portal.jobqueue import run_cron

    run_cron(current_app._get_current_object())


def _init_extensions(app: Flask) -> None:
    db.init_app(app)

    @app.teardown_appcontext
    def remove_session(_exc):
        # Runs before Flask-SQLAlchemy's own teardown (reverse order): a connection that died
        # mid-request (database restarted) must not turn the answer into a bare 500.
        try:
            db.session.remove()
        except Exception:
            logging.getLogger(__name__).warning("session cleanup failed", exc_info=True)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)
    htmx.init_app(app)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from portal.sqlite import configure_sqlite

        with app.app_context():
            configure_sqlite(db.engine)

    from portal.auth.bearer import load_bearer_user
    from portal.auth.service import load_session_user

    login_manager.user_loader(load_session_user)
    login_manager.request_loader(load_bearer_user)


def _import_models() -> None:
    """Every table, so metadata (migrations, test clean-up) sees them all."""
    import portal.appointments.models
    import portal.auth.models
    import portal.availability.models
    import portal.doctors.models
    import portal.events
    import portal.family.models
    import portal.notifications.models
    import portal.payments.models
    import portal.privacy.models
    import portal.queue.models
    import portal.waitlist.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from portal.admin.jobs import bp as admin_jobs_bp
    from portal.admin.notifications import bp as admin_notifications_bp
    from portal.admin.payments import bp as admin_payments_bp
    from portal.admin.views import bp as admin_bp
    from portal.admin.waitlist import bp as admin_waitlist_bp
    from portal.api import bp as api_bp
    from portal.appointments.api import bp as appointments_api_bp
    from portal.appointments.booking import bp as booking_bp
    from portal.appointments.views import bp as appointments_bp
    from portal.auth.api import bp as auth_api_bp
    from portal.auth.views import bp as auth_bp
    from portal.availability.api import bp as availability_api_bp
    from portal.availability.views import bp as availability_bp
    from portal.desk.api import bp as desk_api_bp
    from portal.desk.views import bp as desk_bp
    from portal.doctors.api import bp as doctors_api_bp
    from portal.doctors.views import bp as doctors_bp
    from portal.doctors.views import profile_bp as doctor_profile_bp
    from portal.family.api import bp as family_api_bp
    from portal.family.views import bp as family_bp
    from portal.main import bp as main_bp
    from portal.media.views import bp as media_bp
    from portal.notifications.api import bp as notifications_api_bp
    from portal.notifications.push_views import bp as push_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.payments.api import bp as payments_api_bp
    from portal.payments.desk_api import bp as desk_payments_api_bp
    from portal.payments.views import bp as payments_bp
    from portal.privacy.api import bp as privacy_api_bp
    from portal.privacy.views import bp as privacy_bp
    from portal.queue.api import bp as queue_api_bp
    from portal.queue.views import bp as queue_bp
    from portal.waitlist.api import bp as waitlist_api_bp
    from portal.waitlist.views import bp as waitlist_bp

    for blueprint in (main_bp, auth_bp, family_bp, doctors_bp, doctor_profile_bp, booking_bp,
                      availability_bp, appointments_bp, waitlist_bp, payments_bp, notifications_bp,
                      push_bp, admin_bp, admin_payments_bp, admin_notifications_bp,
                      admin_waitlist_bp, admin_jobs_bp, desk_bp, queue_bp, privacy_bp):
        app.register_blueprint(blueprint)
    # Domain APIs nest under the shared /api/v1 blueprint (OpenAPI, docs, bearer auth).
    for blueprint in (auth_api_bp, family_api_bp, doctors_api_bp, availability_api_bp,
                      appointments_api_bp, payments_api_bp, desk_payments_api_bp,
                      notifications_api_bp, desk_api_bp, queue_api_bp, waitlist_api_bp,
                      privacy_api_bp):
        api_bp.register_blueprint(blueprint)
    # Razorpay signs its webhooks; it cannot send our CSRF token (the only exempt form route).
    CSRF_EXEMPT_ENDPOINTS.add("api.payments_api.webhook")
    # Twilio's status callback is signed by Twilio (X-Twilio-Signature) in the same way.
    CSRF_EXEMPT_ENDPOINTS.add("api.notifications_api.sms_status")
    app.register_blueprint(api_bp)
    app.register_blueprint(media_bp)  # uploaded files (doctors' photos) at /media

    if app.config["PORTAL_ENV"] != "production":
        from portal.sandbox.dev_views import bp as dev_bp

        app.register_blueprint(dev_bp)


def _register_request_hooks(app: Flask) -> None:
    from portal.auth.bearer import authenticate_bearer
    from portal.privacy import access

    @app.after_request
    def log_record_reads(response):
        """Who read whose records in this request: one INSERT for all of them. A failure to
        log is reported, not turned into an error for the person who read."""
        try:
            access.flush()
        except Exception:
            logging.getLogger(__name__).exception("could not write the access log")
        return response

    @app.before_request
    def bearer_and_csrf():
        """Bearer tokens authenticate API calls; everything cookie-based needs a CSRF token."""
        g.bearer = False
        if request.path.startswith("/api/") and request.headers.get("Authorization"):
            failure = authenticate_bearer()
            if failure is not None:
                return failure
            g.bearer = True
            return None
        if request.method in {"GET", "HEAD", "OPTIONS", "TRACE"}:
            return None
        if request.endpoint in CSRF_EXEMPT_ENDPOINTS:
            return None
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            # No ambient authority to abuse: credential-less API calls (token, register).
            return None
        csrf.protect()
        return None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        for name, value in (
                ("Content-Security-Policy",
                 content_security_policy_for(app.config["RAZORPAY_CHECKOUT_URL"])),
                *FIXED_SECURITY_HEADERS):
            if name not in headers:
                headers[name] = value
        # Pages vary with HTMX requests (fragment or full page); caches must key on it.
        response.vary.add("HX-Request")
        if app.config["PORTAL_ENV"] == "production" and request.is_secure:
            # The gateway (ingress-nginx, Caddy) sends it too; this covers any other front.
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        return response


FIXED_SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"),
                          ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY"))


def content_security_policy(config) -> str:
    """Only our own scripts, styles and frames, plus Razorpay's Checkout with real keys."""
    return content_security_policy_for(config["RAZORPAY_CHECKOUT_URL"])


@functools.lru_cache(maxsize=8)
def content_security_policy_for(checkout_url: str | None) -> str:
    """The policy for a sandbox checkout URL (or none), worked out once per URL, not per
    request.

    With the sandbox, the payment form's redirect goes to the stand-in's checkout page, so its
    origin is allowed as a form target (browsers apply form-action to that redirect).
    """

    # The same rule as the payment pages: a sandbox checkout URL means the stand-in's page,
    # none means Razorpay's own checkout.js.
    scripts, frames, forms = ["'self'"], ["'self'"], ["'self'"]
    if checkout_url:
        parts = urlsplit(checkout_url)
        forms.append(f"{parts.scheme}://{parts.netloc}")
    else:
        scripts.append("https://checkout.razorpay.com")
        frames += ["https://api.razorpay.com", "https://checkout.razorpay.com"]
    return "; ".join([
        "default-src 'self'", f"script-src {' '.join(scripts)}", "style-src 'self'",
        "img-src 'self' data:", "font-src 'self'", "connect-src 'self'",
        f"frame-src {' '.join(frames)}", f"form-action {' '.join(forms)}",
        "frame-ancestors 'none'", "base-uri 'self'", "object-src 'none'",
    ])


def _register_template_helpers(app: Flask) -> None:
    from portal.formatting import register_filters

    register_filters(app)
