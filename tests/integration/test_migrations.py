"""The migrations build exactly the schema the models describe, and go down and up again,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path, database_url):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL is not reachable here; CI runs this with REQUIRE_SERVICES=1")
    name = f"portal_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _differences(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_the_migrations_match_the_models_and_go_down_and_up(app, empty_database):
    other = create_app({"TESTING": True, "SECRET_KEY": "migrations",
                        "SQLALCHEMY_DATABASE_URI": empty_database,
                        "REDIS_URL": app.config["REDIS_URL"]})
    with other.app_context():
        upgrade()
        assert _differences(other) == []
        downgrade(revision="base")
        upgrade()
        assert _differences(other) == []
        db.engine.dispose()
