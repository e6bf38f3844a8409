"""Flask extensions, created unbound here and bound to the app in `create_app`."""

from __future__ import annotations

import flask_limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations name (and later drop) the same objects on
# SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, without the work its before-request hook did on every request for nothing.

    Our limits are all on routes (`@limiter.limit(...)`), and the decorator checks those when
    the route runs; the hook itself only applies default, application, meta, blueprint and
    hinted limits, and we set none of them. So while there are none (and the storage is not
    being watched for recovery) the hook returns at once; with any of them it does its work.
    """

    def _check_request_limit(self, callable_name: str | None = None,
                             in_middleware: bool = True) -> None:
        if in_middleware and not self._middleware_limits():
            return
        super()._check_request_limit(callable_name, in_middleware)

    def _middleware_limits(self) -> bool:
        manager = self.limit_manager
        return bool(manager._default_limits or manager._application_limits or self._meta_limits
                    or manager._blueprint_limits or manager._endpoint_hints
                    or self._storage_dead)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Database: SQLAlchemy 2 typed models on the Base above.
db = SQLAlchemy(model_class=Base)

# Schema migrations (Alembic); batch mode so ALTERs work on SQLite too.
migrate = Migrate(render_as_batch=True, compare_type=True)

# Browser sessions.
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"

# CSRF for every form and HTMX request; checked explicitly in a before_request hook so
# bearer-token API calls and the payment webhook can be told apart.
csrf = CSRFProtect()

# Rate limits (login, token); storage from RATELIMIT_STORAGE_URI (Redis in production).
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# Outgoing email over SMTP.
mail = Mail()

# request.htmx for HTMX-aware views.
htmx = Htmx()
