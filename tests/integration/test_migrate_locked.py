"""`flask migrate-locked`: the migration Job's command, safe when two start at once (PostgreSQL).

Each test makes a database of its own on the suite's PostgreSQL and runs the real command in
child processes, as two overlapping rollouts would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from portal.cli import MIGRATION_LOCK_KEY

ROOT = Path(__file__).resolve().parents[2]


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


@pytest.fixture
def fresh_database(database_url) -> Iterator[str]:
    """An empty PostgreSQL database for this test, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's; SQLite runs the upgrade unlocked")
    server, _, _ = database_url.rpartition("/")
    name = f"portal_migrate_{os.getpid()}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def migrate(url: str, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "PORTAL_ENV": "development", "LOG_FORMAT": "json",
           "REDIS_URL": "redis://127.0.0.1:1/0", "MAILBOX_DIR": str(tmp_path / "mailbox"),
           "VAPID_DEV_KEY_FILE": str(tmp_path / "vapid.json")}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "portal", "migrate-locked", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def version(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


@pytest.mark.timeout(180)
def test_two_migrations_started_together_both_succeed_and_the_schema_is_at_head(
        fresh_database, tmp_path):
    first, second = migrate(fresh_database, tmp_path), migrate(fresh_database, tmp_path)

    outputs = [p.communicate(timeout=150)[0] for p in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert version(fresh_database) == [head_revision()]
    assert all("schema is up to date" in out for out in outputs), outputs


@pytest.mark.timeout(180)
def test_a_migration_waits_while_another_holds_the_lock(fresh_database, tmp_path):
    holder = create_engine(fresh_database, isolation_level="AUTOCOMMIT")
    try:
        with holder.connect() as conn:
            assert conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            waiting = migrate(fresh_database, tmp_path)
            time.sleep(8)  # time enough to start the app and ask for the lock
            assert waiting.poll() is None, waiting.communicate()[0]
            assert version_table_missing(fresh_database)
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            output = waiting.communicate(timeout=150)[0]
    finally:
        holder.dispose()

    assert waiting.returncode == 0, output
    assert "waiting for the lock" in output
    assert version(fresh_database) == [head_revision()]


@pytest.mark.timeout(120)
def test_a_migration_gives_up_when_the_lock_is_held_too_long(fresh_database, tmp_path):
    holder = create_engine(fresh_database, isolation_level="AUTOCOMMIT")
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            impatient = migrate(fresh_database, tmp_path, "--timeout", "2")
            output = impatient.communicate(timeout=90)[0]
    finally:
        holder.dispose()

    assert impatient.returncode == 1, output
    assert "the migration lock was held elsewhere" in output
    assert version_table_missing(fresh_database)


def version_table_missing(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT to_regclass('alembic_version')")) is None
    finally:
        engine.dispose()


# --- wait-for-schema: the init container of web and worker pods ------------------------------


def wait(url: str, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "PORTAL_ENV": "development", "LOG_FORMAT": "json",
           "REDIS_URL": "redis://127.0.0.1:1/0", "MAILBOX_DIR": str(tmp_path / "mailbox"),
           "VAPID_DEV_KEY_FILE": str(tmp_path / "vapid.json")}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "portal", "wait-for-schema", "--interval",
         "0.5", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


@pytest.mark.timeout(180)
def test_a_new_pod_waits_for_the_migration_then_starts(fresh_database, tmp_path):
    waiting = wait(fresh_database, tmp_path)
    time.sleep(6)
    assert waiting.poll() is None, waiting.communicate()[0]  # no schema yet: it waits

    migrated = migrate(fresh_database, tmp_path)
    assert migrated.wait(timeout=150) == 0
    output = waiting.communicate(timeout=60)[0]

    assert waiting.returncode == 0, output
    assert "waiting for the migration" in output
    assert "schema is current" in output


@pytest.mark.timeout(120)
def test_a_schema_newer_than_the_code_is_accepted_for_a_rollback(fresh_database, tmp_path):
    assert migrate(fresh_database, tmp_path).wait(timeout=100) == 0
    engine = create_engine(fresh_database)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_a_later_release'"))
    engine.dispose()

    done = wait(fresh_database, tmp_path, "--timeout", "20")
    output = done.communicate(timeout=60)[0]

    assert done.returncode == 0, output
    assert "schema is newer" in output


@pytest.mark.timeout(120)
def test_waiting_gives_up_after_the_timeout(fresh_database, tmp_path):
    done = wait(fresh_database, tmp_path, "--timeout", "2")
    output = done.communicate(timeout=60)[0]

    assert done.returncode == 1
    assert "still behind" in output
