"""Flask extensions, created unbound here and bound to the app in `create_app`."""

from __future__ import annotations

from flask_limiter import Limiter
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
