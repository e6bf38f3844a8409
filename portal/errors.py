"""Turning errors into responses, once: problem+json for the API, pages or fragments for HTML."""

from __future__ import annotations

import logging

from flask import Flask, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from portal.exceptions import DomainError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class NulCharacter(DomainError):
    status = 400
    title = "Malformed request"


def _nul_field(value, name: str) -> str | None:
    """The name of the first string (or key) in `value` holding a NUL character, or None."""
    if isinstance(value, str):
        return name if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return name
        found = _nul_field(item, f"{name}.{key}" if name else str(key))
        if found is not None:
            return found
    return None


def reject_nul_bytes() -> None:
    """Refuse, with one 400, any request carrying a NUL character (U+0000) in its path, query
    string, headers, form fields or JSON body.

    No text the portal takes (names, reasons, emails, tokens, search words) can hold one, and
    PostgreSQL cannot store one in a text column ("string literal cannot contain NUL"): without
    this, each such field was a 500. Rejecting at the edge covers every route, present and
    future, once; stripping instead would silently change what was sent (a token, a search).
    """
    environ = request.environ
    quiet = ("\x00" not in request.path and "%00" not in environ.get("QUERY_STRING", "")
             and not any("\x00" in value for key, value in environ.items()
                         if key.startswith("HTTP_") and isinstance(value, str)))
    if quiet and request.content_length in (None, 0):
        return  # the common case, from the raw values: nothing to decode and walk
    sources = [("path", request.path), ("query", request.args.to_dict(flat=False)),
               ("header", dict(request.headers))]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(("form", request.form.to_dict(flat=False)))
    elif request.is_json:
        sources.append(("body", request.get_json(silent=True)))
    for where, value in sources:
        field = _nul_field(value, "")
        if field is not None:
            # A repeated field is a list: name it, not its position ("q", not "q.0").
            name = field.split(".", 1)[0] if where in ("query", "form") else field
            raise NulCharacter("Text may not contain NUL characters (U+0000); remove them and "
                               "try again.", name or where)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def problem(status: int, title: str, detail: str | None = None, errors: list | None = None,
            headers: dict | None = None):
    """An RFC 9457 problem document; `errors` lists {field, message} for input at fault."""
    body: dict = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def pydantic_errors(exc: ValidationError) -> list[dict]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        errors.append({"field": field, "message": message})
    return errors


def _html_error(status: int, title: str, message: str):
    """A full error page, or for HTMX a fragment swapped into the page's message area."""
    if getattr(request, "htmx", False):
        response = render_template("errors/_error.html", status=status, title=title,
                                   message=message)
        return response, status, {"HX-Retarget": "#messages", "HX-Reswap": "innerHTML",
                                   "HX-Push-Url": "false"}
    try:
        return render_template("errors/error.html", status=status, title=title,
                               message=message), status
    except Exception:
        log.warning("error page layout failed; sending the plain one", exc_info=True)
        # Straight from the Jinja environment: Flask's context processors would load the
        # current user from the database again.

        page = current_app.jinja_env.get_template("errors/plain.html").render(
            status=status, title=title, message=message, config=current_app.config)
        return page, status


MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Log in needed", "Please log in to continue."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Not found", "We could not find that page. It may have moved or never existed."),
    405: ("Method not allowed", "That action is not available here."),
    413: ("Too large", "What you sent is too large."),
    429: ("Too many attempts", "Too many attempts in a short time. Wait a minute and try again."),
    500: ("Something went wrong", "An unexpected error happened on our side. It has been logged; "
          "please try again."),
}


def register_error_handlers(app: Flask) -> None:
    # Malformed input is refused once, before any view or service sees it.
    app.before_request(reject_nul_bytes)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        if wants_json():
            errors = getattr(exc, "errors", None)
            listed = [{"field": f, "message": m} for f, m in errors.items()] if errors else (
                [{"field": exc.field, "message": exc.message}] if exc.field else None)
            return problem(exc.status, exc.title, exc.message, listed)
        return _html_error(exc.status, exc.title, exc.message)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        return problem(422, "Invalid input", "Some fields are not valid.", pydantic_errors(exc))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        message = "Your session has expired or the form is stale. Reload the page and try again."
        if wants_json():
            return problem(400, "CSRF check failed", message)
        return _html_error(400, "Please reload the page", message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        title, message = MESSAGES.get(status, (exc.name, exc.description))
        if wants_json():
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return problem(status, title, message if status != 404 else "Not found.",
                           headers=headers)
        if status == 401:
            # Back to this page after login; full_path alone would end in a stray "?".
            here = request.full_path if request.query_string else request.path
            if getattr(request, "htmx", False):
                return "", 401, {"HX-Redirect": url_for("auth.login", next=here)}
            flash(message, "info")
            return redirect(url_for("auth.login", next=here))
        return _html_error(status, title, message)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        title, message = MESSAGES[500]
        if wants_json():
            return problem(500, title, message)
        return _html_error(500, title, message)
