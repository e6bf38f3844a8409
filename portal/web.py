"""Helpers shared by the HTML views: fragments for HTMX, domain errors onto form fields."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_wtf import FlaskForm
from jinja2_fragments.flask import render_block

from portal.exceptions import ValidationFailed
from portal.roles import Role


def render_page(template: str, block: str | None = None, **context):
    """The full page, or only `block` of it when HTMX asked for it (same URL, same data)."""
    wants_fragment = getattr(request, "htmx", False) and not request.htmx.boosted
    # A history restore (back button after the cache is gone) needs the whole page.
    if block and wants_fragment and not request.headers.get("HX-History-Restore-Request"):
        return render_block(template, block, **context)

    return render_template(template, **context)


def home_for(user) -> str:
    """Where each role lands after logging in (and when it opens the home page)."""
    if user.role == Role.ADMIN:
        return url_for("admin.doctors")
    if user.role == Role.DOCTOR:
        return url_for("main.dashboard")
    if user.role == Role.STAFF:
        return url_for("desk.board")
    return url_for("doctors.directory")


def apply_errors(form: FlaskForm, exc: ValidationFailed) -> None:
    """Show a service's field errors next to the form's fields (or at the top if unknown)."""
    for field_name, message in exc.errors.items():
        field = getattr(form, field_name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
        else:
            form.form_errors.append(message)


MAX_PAGE = 100_000


def page_number(raw: str | None = None) -> int:
    """The requested page (?page= unless `raw` is given), clamped; junk means page 1."""
    value = request.args.get("page", 1) if raw is None else (raw or 1)
    try:
        return max(1, min(int(value), MAX_PAGE))
    except (TypeError, ValueError):
        return 1
