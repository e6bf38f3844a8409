"""Role checks for views and API routes."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort
from flask_login import current_user

from portal.roles import Role


def roles_required(*roles: Role) -> Callable:
    """Allow the view only to logged-in users holding one of `roles`.

    A visitor gets 401 (the error handlers send browsers to the login page and API clients a
    problem document); a user with another role gets 403.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


login_required = roles_required()
patient_required = roles_required(Role.PATIENT)
doctor_required = roles_required(Role.DOCTOR)
admin_required = roles_required(Role.ADMIN)
