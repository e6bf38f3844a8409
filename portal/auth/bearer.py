"""Bearer tokens for /api/v1: resolving `Authorization: Bearer <token>` to a user.

Called from the app's before-request hook; Flask-Login's request loader then reads the user it
found, so API routes see the caller as `current_user` like any page does.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from portal.auth.service import InvalidToken, user_for_api_token
from portal.errors import problem


def authenticate_bearer():
    """Resolve `Authorization: Bearer <token>`; return a 401 problem response when it is bad."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(401, "Invalid credentials", "Use 'Authorization: Bearer <token>'.",
                       headers={"WWW-Authenticate": "Bearer"})
    try:
        g.api_user = user_for_api_token(token.strip())
    except InvalidToken as exc:
        return problem(401, exc.title, exc.message,
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    # The token names the caller, even beside a browser's session cookie: Flask-Login would
    # otherwise prefer the session's user, in a request that skipped the CSRF check.
    current_app.login_manager._update_request_context_with_user(g.api_user)
    return None


def load_bearer_user(_request) -> Any:
    """Flask-Login request loader: the user a valid bearer token named, if any."""
    return g.get("api_user")
