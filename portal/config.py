"""Configuration read from environment variables, with safe defaults for development.

Every setting is documented in the README's configuration table. `load_config` turns an
environment into a plain dict for `app.config`; `production_problems` lists what is unsafe
about it when PORTAL_ENV=production, so the app can refuse to start and say which setting
is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from portal.roles import Role

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

# Settings that pick the sandbox stand-in when the real credentials are absent.
SANDBOX_SWITCHES = {
    "RAZORPAY_SANDBOX": "RAZORPAY_KEY_ID",
    "TWILIO_SANDBOX": "TWILIO_ACCOUNT_SID",
    "MAIL_SANDBOX": "MAIL_SERVER",
}


# The browsers' push services: Chrome's (FCM), Firefox's, Safari's and Edge's.
DEFAULT_PUSH_HOSTS = ("fcm.googleapis.com", "updates.push.services.mozilla.com",
                      "*.push.services.mozilla.com", "*.push.apple.com", "*.notify.windows.com")


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the message names the setting."""


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _list(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated setting as a tuple of its non-empty items; unset means `default`."""
    if value is None or not value.strip():
        return default
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _roles(value: str | None, portal_env: str) -> tuple[str, ...]:
    """TWO_FACTOR_REQUIRED_ROLES as role values; unset: the clinic's people in production."""
    if value is None:
        return ("doctor", "staff", "admin") if portal_env == "production" else ()
    roles = tuple(item.strip().lower() for item in value.split(",") if item.strip())
    unknown = sorted(set(roles) - {role.value for role in Role})
    if unknown:
        raise ConfigError(f"TWO_FACTOR_REQUIRED_ROLES names unknown roles {unknown}; use "
                          f"{', '.join(role.value for role in Role)}, comma-separated.")
    return roles


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs (as hosting providers hand them out)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def parse_policy(text: str) -> list[tuple[int, int]]:
    """'24:100,2:50,0:0' -> [(24, 100), (2, 50), (0, 0)]: refund percent by hours before."""
    rules = []
    try:
        for part in text.split(","):
            hours, percent = part.split(":")
            rules.append((int(hours), int(percent)))
    except ValueError as exc:
        raise ConfigError(f"CANCELLATION_POLICY must look like '24:100,2:50,0:0', got {text!r}"
                          ) from exc
    if any(not 0 <= percent <= 100 or hours < 0 for hours, percent in rules):
        raise ConfigError("CANCELLATION_POLICY percentages are 0-100 and hours are >= 0.")
    return sorted(rules, reverse=True)


def load_config(env: Mapping[str, str] | None = None) -> dict:
    """Build the app config from an environment mapping (os.environ by default)."""
    env = os.environ if env is None else env
    portal_env = env.get("PORTAL_ENV", "development").strip().lower()
    database_url = normalise_database_url(
        env.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'portal.db'}"
    )
    redis_url = env.get("REDIS_URL", "")
    # A blank or whitespace-only key is no key: it would sign sessions with nothing secret.
    secret_key = (env.get("SECRET_KEY") or "").strip()
    config: dict = {
        "PORTAL_ENV": portal_env,
        "SECRET_KEY": secret_key or "dev-only-insecure-secret-key",
        "SECRET_KEY_SET": bool(secret_key),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "CLINIC_NAME": env.get("CLINIC_NAME", "CareConnect Clinic"),
        # The portal's address as people reach it, for links in emails: a request's Host header
        # can be forged (a reset link pointing elsewhere), and workers have no request at all.
        "PUBLIC_URL": (env.get("PUBLIC_URL", "").strip()
                       or f"http://127.0.0.1:{env.get('PORT') or 5000}").rstrip("/"),
        "PUBLIC_URL_SET": bool(env.get("PUBLIC_URL", "").strip()),
        "CURRENCY": "INR",
        "DEFAULT_TIMEZONE": env.get("DEFAULT_TIMEZONE", "Asia/Kolkata"),
        # Sessions: signed cookies; HttpOnly always, Secure in production.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": portal_env == "production",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": portal_env == "production",
        # CSRF tokens live as long as the session, so a page left open for hours still posts.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_CHECK_DEFAULT": False,
        "API_TOKEN_MAX_AGE": _int(env, "API_TOKEN_MAX_AGE", 24 * 3600),
        "PASSWORD_RESET_MAX_AGE": _int(env, "PASSWORD_RESET_MAX_AGE", 3600),
        # An invitation to claim an account (staff, or someone the desk registered).
        "INVITE_MAX_AGE": _int(env, "INVITE_MAX_AGE", 7 * 24 * 3600),
        # Per client address, for every request that checks a credential. Generous: a clinic's
        # staff share one address; guessing one account is stopped by the per-account lock.
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "60 per minute"),
        # Per account, whatever the address: this many failed sign-ins (password or code) in
        # the window lock the account for a minute, doubling with each failure after, up to
        # the cap. Unknown emails are counted the same way.
        "ACCOUNT_LOCK_AFTER": _int(env, "ACCOUNT_LOCK_AFTER", 5),
        "ACCOUNT_LOCK_WINDOW_MINUTES": _int(env, "ACCOUNT_LOCK_WINDOW_MINUTES", 15),
        "ACCOUNT_LOCK_MAX_MINUTES": _int(env, "ACCOUNT_LOCK_MAX_MINUTES", 60),
        # Roles that must sign in with a second factor (TOTP); none in development, so the demo
        # accounts of `make run` log straight in.
        "TWO_FACTOR_REQUIRED_ROLES": _roles(env.get("TWO_FACTOR_REQUIRED_ROLES"), portal_env),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # With Redis down, count in memory for a while rather than refusing every login.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Mail (Flask-Mail). Without MAIL_SERVER the development SMTP sink is used.
        "MAIL_SERVER": env.get("MAIL_SERVER") or "127.0.0.1",
        "MAIL_PORT": _int(env, "MAIL_PORT", 1025),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _flag(env.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _flag(env.get("MAIL_USE_SSL")),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "CareConnect <no-reply@example.com>"),
        "MAILBOX_DIR": env.get("MAILBOX_DIR") or str(INSTANCE / "mailbox"),
        # Uploaded files (doctors' photos), served at /media; every web process must see the
        # same directory (a shared volume when there are several). Absolute, so writing and
        # serving agree whatever the working directory.
        "MEDIA_ROOT": os.path.abspath(env.get("MEDIA_ROOT") or INSTANCE / "media"),
        # Data exports: larger than this many rows, a job builds them into files under
        # EXPORT_ROOT, downloaded through a link that lasts EXPORT_LINK_HOURS.
        "EXPORT_ROOT": os.path.abspath(env.get("EXPORT_ROOT") or INSTANCE / "exports"),
        "EXPORT_LINK_HOURS": _int(env, "EXPORT_LINK_HOURS", 24),
        "EXPORT_INLINE_MAX_ROWS": _int(env, "EXPORT_INLINE_MAX_ROWS", 500),
        "PHOTO_MAX_BYTES": _int(env, "PHOTO_MAX_BYTES", 5 * 1024 * 1024),
        # Razorpay; without keys the sandbox stand-in is used (with these fixed sandbox keys).
        "RAZORPAY_KEY_ID": env.get("RAZORPAY_KEY_ID") or "rzp_test_sandbox0001",
        "RAZORPAY_KEY_SECRET": env.get("RAZORPAY_KEY_SECRET") or "sandbox-key-secret",
        "RAZORPAY_WEBHOOK_SECRET": env.get("RAZORPAY_WEBHOOK_SECRET") or "sandbox-webhook-secret",
        # Empty: the client's own default (api.razorpay.com). `make run` and the tests point
        # it at the sandbox root, e.g. http://127.0.0.1:5001 (the client appends /v1/...).
        "RAZORPAY_BASE_URL": env.get("RAZORPAY_BASE_URL", ""),
        # Sandbox checkout page; with real keys the page loads Razorpay's checkout.js instead.
        "RAZORPAY_CHECKOUT_URL": env.get("RAZORPAY_CHECKOUT_URL", ""),
        "PLATFORM_COMMISSION_PERCENT": _int(env, "PLATFORM_COMMISSION_PERCENT", 10),
        # GST included in consultation fees, shown as a line on receipts.
        "GST_PERCENT": _int(env, "GST_PERCENT", 18),
        "RECONCILE_AFTER_MINUTES": _int(env, "RECONCILE_AFTER_MINUTES", 5),
        # How soon reconciliation asks the gateway about a fresh unpaid order (seconds).
        "RECONCILE_FRESH_SECONDS": _int(env, "RECONCILE_FRESH_SECONDS", 60),
        # Razorpay Route: is the doctor paid for a no-show (their share released) or not (the
        # transfer reversed; the clinic keeps the money)? A late cancellation's kept fee too.
        "PAYOUT_ON_NO_SHOW": _flag(env.get("PAYOUT_ON_NO_SHOW"), default=True),
        # How long a payment link the desk sends stays payable (the slot is held as long).
        "PAYMENT_LINK_MINUTES": _int(env, "PAYMENT_LINK_MINUTES", 15),
        # Twilio; without an account SID the sandbox stand-in is used.
        "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID")
        or "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN") or "sandbox-auth-token",
        "TWILIO_FROM_NUMBER": env.get("TWILIO_FROM_NUMBER") or "+15005550006",
        # Empty: Twilio itself. `make run` and the tests point it at portal/sandbox/twilio.
        "TWILIO_BASE_URL": env.get("TWILIO_BASE_URL", ""),
        # Web Push (VAPID).
        "VAPID_PUBLIC_KEY": env.get("VAPID_PUBLIC_KEY", ""),
        "VAPID_PRIVATE_KEY": env.get("VAPID_PRIVATE_KEY", ""),
        "VAPID_SUBJECT": env.get("VAPID_SUBJECT", "mailto:admin@example.com"),
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        # Booking rules.
        "HOLD_MINUTES": _int(env, "HOLD_MINUTES", 5),
        "MAX_ACTIVE_HOLDS": _int(env, "MAX_ACTIVE_HOLDS", 2),
        "RESCHEDULE_CUTOFF_HOURS": _int(env, "RESCHEDULE_CUTOFF_HOURS", 4),
        # The waitlist: how many are offered a freed time at once, for how long, and how
        # many offers a patient gets in a day at most.
        "WAITLIST_BATCH": _int(env, "WAITLIST_BATCH", 3),
        "WAITLIST_OFFER_MINUTES": _int(env, "WAITLIST_OFFER_MINUTES", 15),
        "WAITLIST_MAX_OFFERS_PER_DAY": _int(env, "WAITLIST_MAX_OFFERS_PER_DAY", 5),
        # The desk and the queue.
        "CHECK_IN_EARLY_MINUTES": _int(env, "CHECK_IN_EARLY_MINUTES", 180),
        # Call one walk-in after every N booked patients (0: walk-ins only when nobody
        # booked is waiting).
        "QUEUE_WALK_IN_EVERY": _int(env, "QUEUE_WALK_IN_EVERY", 2),
        # Consultations averaged for the pace (the last N finished today).
        "QUEUE_PACE_WINDOW": _int(env, "QUEUE_PACE_WINDOW", 5),
        # Privacy: the versions of the terms of service and the privacy notice a new account
        # accepts (recorded with its consents; a new version asks for acceptance again), and
        # how long free text about health and copies of messages are kept.
        "TERMS_VERSION": (env.get("TERMS_VERSION") or "2026-12").strip(),
        "PRIVACY_VERSION": (env.get("PRIVACY_VERSION") or "2026-12").strip(),
        # Days after the visit before reasons for a visit and for a cancellation are cleared.
        "RETENTION_REASON_DAYS": _int(env, "RETENTION_REASON_DAYS", 365),
        # Days after sending before a notification's subject, body and address are cleared.
        "RETENTION_NOTIFICATION_DAYS": _int(env, "RETENTION_NOTIFICATION_DAYS", 90),
        "CANCELLATION_POLICY": parse_policy(env.get("CANCELLATION_POLICY", "24:100,2:50,0:0")),
        # Firebase Cloud Messaging (HTTP v1) for app tokens; without a service account FCM is off.
        "FCM_PROJECT_ID": env.get("FCM_PROJECT_ID", ""),  # empty: the service account's project
        "FCM_SERVICE_ACCOUNT_FILE": env.get("FCM_SERVICE_ACCOUNT_FILE", ""),
        "FCM_BASE_URL": (env.get("FCM_BASE_URL") or "https://fcm.googleapis.com").rstrip("/"),
        "PUSH_ALLOW_HTTP_ENDPOINTS": False,  # tests only: a local push service
        # Video consultations: "jitsi" (a self-hosted Jitsi Meet with token authentication)
        # or "none" (video consultations are not offered).
        "VIDEO_PROVIDER": _choice(env, "VIDEO_PROVIDER", ("jitsi", "none"), "jitsi"),
        "JITSI_DOMAIN": env.get("JITSI_DOMAIN", "meet.example.com").strip(),
        "JITSI_APP_ID": env.get("JITSI_APP_ID", "careconnect").strip(),
        "JITSI_APP_SECRET": env.get("JITSI_APP_SECRET") or "dev-jitsi-secret-not-for-production",
        "JITSI_APP_SECRET_SET": bool(env.get("JITSI_APP_SECRET", "").strip()),
        # Hosts Web Push endpoints may name (the worker POSTs to them): exact names, "*.name"
        # for the names below one, "*" for any public host. Addresses are checked regardless.
        "PUSH_ALLOWED_HOSTS": _list(env.get("PUSH_ALLOWED_HOSTS"), DEFAULT_PUSH_HOSTS),
        "RQ_QUEUES": ["default", "appointment-events", "payment-events", "notifications"],
        # Operations (docs/deployment.md): logs, probes, metrics, workers.
        # json: one JSON object per line with the request id (the default in production).
        "LOG_FORMAT": (env.get("LOG_FORMAT")
                       or ("json" if portal_env == "production" else "text")).strip().lower(),
        "LOG_LEVEL": (env.get("LOG_LEVEL") or "INFO").strip().upper(),
        # Seconds /readyz waits for PostgreSQL and for Redis before calling each one down.
        "READINESS_TIMEOUT": float(env.get("READINESS_TIMEOUT") or 2),
        # Seconds a new PostgreSQL connection may take (psycopg connect_timeout).
        "DATABASE_CONNECT_TIMEOUT": _int(env, "DATABASE_CONNECT_TIMEOUT", 5),
        # When set, /metrics also wants `Authorization: Bearer <token>`.
        "METRICS_TOKEN": env.get("METRICS_TOKEN", "").strip(),
        # Port on which `flask worker` serves its job metrics (0: not served).
        "WORKER_METRICS_PORT": _int(env, "WORKER_METRICS_PORT", 0),
        # The longest an RQ job may run before RQ stops it; the worker's SIGTERM grace period
        # (terminationGracePeriodSeconds, stop_grace_period) is this plus 30 seconds.
        "RQ_JOB_TIMEOUT": _int(env, "RQ_JOB_TIMEOUT", 180),
        # Cache-Control max-age of /static files (not fingerprinted: keep it short).
        "SEND_FILE_MAX_AGE_DEFAULT": _int(env, "STATIC_MAX_AGE",
                                          3600 if portal_env == "production" else 0) or None,
    }
    for name in ("TERMS_VERSION", "PRIVACY_VERSION"):
        if len(config[name]) > 20:  # consents.version is 20 characters
            raise ConfigError(f"{name} must be at most 20 characters, got {config[name]!r}")
    for name in ("RETENTION_REASON_DAYS", "RETENTION_NOTIFICATION_DAYS"):
        if config[name] < 1:
            raise ConfigError(f"{name} must be a number of days of at least 1, got "
                              f"{config[name]}")
    for switch, credential in SANDBOX_SWITCHES.items():
        # Explicit switch wins; otherwise the sandbox is on when the real credential is missing.
        config[switch] = _flag(env.get(switch), default=not env.get(credential))
    return config


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def production_problems(config: Mapping) -> list[str]:
    """What makes this configuration unfit for production, one sentence per setting."""
    if config.get("PORTAL_ENV") != "production":
        return []
    problems = []
    if not config.get("SECRET_KEY_SET"):
        problems.append("SECRET_KEY must be set to a long random value in production.")
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        problems.append("DATABASE_URL must point to PostgreSQL in production, not SQLite.")
    if not config.get("REDIS_URL"):
        problems.append("REDIS_URL must be set in production.")
    if not config.get("PUBLIC_URL_SET"):
        problems.append("PUBLIC_URL must be set in production to the portal's https address "
                        "(links in emails use it).")
    if config.get("RAZORPAY_CHECKOUT_URL") or config.get("RAZORPAY_BASE_URL"):
        problems.append("RAZORPAY_CHECKOUT_URL / RAZORPAY_BASE_URL point at the sandbox; leave "
                        "them empty in production so Razorpay itself is used.")
    if config.get("LOG_FORMAT") not in ("json", "text"):
        problems.append("LOG_FORMAT must be json or text.")
    if config.get("PUSH_ALLOW_HTTP_ENDPOINTS"):
        problems.append("PUSH_ALLOW_HTTP_ENDPOINTS is for tests; turn it off in production.")
    problems.extend(video_problems(config))
    for switch, credential in SANDBOX_SWITCHES.items():
        if config.get(switch):
            problems.append(
                f"{switch} is on: the sandbox is refused in production; set {credential} "
                "and the other real credentials of that service."
            )
    return problems


def video_problems(config: Mapping) -> list[str]:
    """Why the video configuration may not run in production (portal.video explains)."""
    if config.get("VIDEO_PROVIDER") != "jitsi":
        return []
    problems = []
    if config.get("JITSI_DOMAIN") in ("", "meet.example.com"):
        problems.append("JITSI_DOMAIN must name your Jitsi Meet server (not the placeholder "
                        "meet.example.com), or set VIDEO_PROVIDER=none.")
    if not config.get("JITSI_APP_SECRET_SET"):
        problems.append("JITSI_APP_SECRET must be set to the secret of your Jitsi's token "
                        "authentication, or set VIDEO_PROVIDER=none.")
    elif len(config.get("JITSI_APP_SECRET", "").encode()) < 32:
        # RFC 7518 3.2: an HS256 key shorter than the hash is guessable offline from one token.
        problems.append("JITSI_APP_SECRET must be at least 32 bytes long (it signs the "
                        "video tokens with HS256).")
    return problems
