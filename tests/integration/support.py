"""Helpers shared by the integration tests: page text, form errors, problem documents, rows."""

from __future__ import annotations

import html
import re
import uuid

from sqlalchemy import func, select

from portal import create_app
from portal.errors import PROBLEM_JSON
from portal.extensions import db
from tests.factories import PASSWORD

__all__ = ["PASSWORD", "count", "field_error", "is_uuid", "logged_in", "page_text",
           "problem_errors", "reload", "sync"]


def page_text(response) -> str:
    """The response body with HTML entities decoded, for message checks."""
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field: str) -> str | None:
    """The error message the form macro renders under `field`, or None."""
    match = re.search(rf'id="{re.escape(field)}-error"[^>]*>(.*?)</small>', page_text(response),
                      re.S)
    return match.group(1).strip() if match else None


def problem_errors(response) -> dict[str, str]:
    """{field: message} of a problem+json response, after checking it is one."""
    assert response.mimetype == PROBLEM_JSON, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["status"] == response.status_code
    assert body["title"]
    return {error["field"]: error["message"] for error in body.get("errors") or []}


def sync() -> None:
    """Let the test's own session see what requests committed since it last read.

    Ends the test's transaction: on SQLite a transaction keeps reading the snapshot it started
    with (PostgreSQL's READ COMMITTED would show new rows anyway), and expires cached objects.
    """
    db.session.commit()


def count(model) -> int:
    """Rows of `model` now (needs an app context)."""
    sync()
    return db.session.scalar(select(func.count()).select_from(model))


def reload(obj):
    """`obj` as the database has it now, after requests changed it."""
    sync()
    db.session.refresh(obj)
    return obj


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError):
        return False


def logged_in(client) -> bool:
    """Whether the client's session is authenticated (a login-only page answers 200)."""
    status = client.get("/account/password").status_code
    assert status in (200, 302)
    return status == 200


# Settings of the suite's app that a second app on the same services needs.
_SHARED_SETTINGS = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RATELIMIT_STORAGE_URI",
                    "MAIL_SERVER", "MAIL_PORT", "MAIL_SUPPRESS_SEND", "MAILBOX_DIR",
                    "PASSWORD_HASH_PROFILE")


def build_app(app, **overrides):
    """A second app from `create_app`, on the suite's database, for routes tests add.

    It is not in testing mode, so errors are handled as in production.
    """

    return create_app({**{key: app.config[key] for key in _SHARED_SETTINGS},
                       "TESTING": False, **overrides})


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()
