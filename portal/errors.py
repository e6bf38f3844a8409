"""Turning errors into responses, once: problem+json for the API, pages or fragments for HTML."""

from __future__ import annotations

import logging

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from portal.exceptions import DomainError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


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
    return render_template("errors/error.html", status=status, title=title, message=message), status


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
