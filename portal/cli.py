"""`flask` commands: demo data, doctor accounts, the RQ worker, migrations under a lock."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import click
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from portal.auth.service import Registration
from portal.demo import DEMO_PASSWORD, seed
from portal.doctors.service import DoctorProfile, doctor_by_email, set_doctor_active
from portal.doctors.service import create_doctor as create
from portal.exceptions import DomainError
from portal.extensions import db
from portal.jobqueue import run_worker
from portal.logging_setup import configure_logging

log = logging.getLogger(__name__)

# pg_advisory_lock key of schema migrations: any bigint, the same in every process.
# (0x706f7274616c = "portal")
MIGRATION_LOCK_KEY = 0x706F7274616C


def register_cli(app: Flask) -> None:
    # Commands added with add_command get no app context from app.cli (only `flask` itself
    # pushes one), so each command asks for it with @with_appcontext.
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_doctor)
    app.cli.add_command(deactivate_doctor)
    app.cli.add_command(worker)
    app.cli.add_command(migrate_locked)
    app.cli.add_command(wait_for_schema)


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the demo accounts (idempotent) and print them."""

    accounts = seed()
    click.echo(f"Demo accounts (password: {DEMO_PASSWORD}):")
    for role, email in accounts:
        click.echo(f"  {role:<8} {email}")


@click.command("create-doctor")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--phone", required=True, help="E.164, e.g. +919876543210")
@click.option("--specialty", required=True)
@click.option("--timezone", default="Asia/Kolkata", show_default=True)
@click.option("--fee-video", type=int, help="Video fee in paise (omit if not offered)")
@click.option("--fee-in-person", type=int, help="In-person fee in paise (omit if not offered)")
@click.option("--slot-minutes", type=int, default=30, show_default=True)
@click.option("--qualifications", default="")
@click.option("--languages", default="English", show_default=True)
@click.password_option(help="Initial password (prompted when omitted)")
@with_appcontext
def create_doctor(name, email, phone, specialty, timezone, fee_video, fee_in_person,
                  slot_minutes, qualifications, languages, password) -> None:
    """Create a doctor account and profile."""

    try:
        doctor = create(
            Registration(name=name, email=email, phone=phone, timezone=timezone,
                         password=password),
            DoctorProfile(specialty=specialty, timezone=timezone, fee_video_paise=fee_video,
                          fee_in_person_paise=fee_in_person, slot_minutes=slot_minutes,
                          qualifications=qualifications, languages=languages))
    except DomainError as exc:
        errors = getattr(exc, "errors", {exc.field or "error": exc.message})
        for field, message in errors.items():
            click.echo(f"{field}: {message}", err=True)
        raise SystemExit(2) from None
    click.echo(f"Created doctor {doctor.name} <{doctor.user.email}> id={doctor.id}")


@click.command("deactivate-doctor")
@click.argument("email")
@click.option("--reactivate", is_flag=True, help="Make the doctor active again instead.")
@with_appcontext
def deactivate_doctor(email: str, reactivate: bool) -> None:
    """Hide a doctor from the directory and end their sessions (or --reactivate)."""

    try:
        doctor = doctor_by_email(email)
    except DomainError as exc:
        click.echo(exc.message, err=True)
        raise SystemExit(2) from None
    set_doctor_active(doctor, reactivate)
    click.echo(f"{doctor.name} is now {'active' if reactivate else 'deactivated'}.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@with_appcontext
def worker(burst: bool) -> None:
    """Run an RQ worker with its scheduler inside this app's context."""

    run_worker(current_app._get_current_object(), burst=burst)


class LockTimeout(RuntimeError):
    """Another process held the migration lock for longer than we were willing to wait."""


@contextlib.contextmanager
def advisory_lock(engine: Engine, key: int, timeout: float,
                  poll: float = 1.0) -> Iterator[None]:
    """Hold PostgreSQL's session-level advisory lock `key` for the block.

    Polls pg_try_advisory_lock so that waiting is logged and bounded by `timeout` seconds
    (LockTimeout). The lock lives on a connection of its own, released when the block ends or
    when that connection dies (a killed pod does not leave it held). Other databases (SQLite:
    one file, one writer, no concurrent migrator in practice) run the block without a lock.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    deadline = time.monotonic() + timeout
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        waited = False
        while not conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"the migration lock was held elsewhere for {timeout:g} s")
            if not waited:
                log.info("another process is migrating; waiting for the lock")
                waited = True
            time.sleep(poll)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@click.command("migrate-locked")
@click.option("--timeout", type=float, default=600, show_default=True,
              help="Seconds to wait for another migration to finish.")
@with_appcontext
def migrate_locked(timeout: float) -> None:
    """`flask db upgrade` under a PostgreSQL advisory lock: safe when two start at once.

    The second one waits for the first, then finds the schema at head and does nothing.
    Exit status 1 when the lock is not had within --timeout seconds.
    """
    app = current_app._get_current_object()
    try:
        with advisory_lock(db.engine, MIGRATION_LOCK_KEY, timeout):
            log.info("migration lock held; upgrading the schema")
            upgrade()
            # Alembic's env.py reconfigures logging from alembic.ini; put ours back.
            configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    except LockTimeout as exc:
        click.echo(f"migrate-locked: {exc}", err=True)
        raise SystemExit(1) from None
    log.info("schema is up to date")


def schema_state(engine: Engine, script: ScriptDirectory) -> str:
    """"current" when the database is at this code's head revision, "newer" when it is at a
    revision this code does not know (a later release migrated it: a rollback is running),
    "behind" otherwise (no schema yet, or an older revision)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return "behind"
        revisions = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    heads = set(script.get_heads())
    if revisions == heads:
        return "current"
    known = {rev.revision for rev in script.walk_revisions()}
    return "newer" if revisions - known else "behind"


@click.command("wait-for-schema")
@click.option("--timeout", type=float, default=600, show_default=True,
              help="Seconds to wait for the migration to reach this code's head.")
@click.option("--interval", type=float, default=3, show_default=True)
@with_appcontext
def wait_for_schema(timeout: float, interval: float) -> None:
    """Wait until the database schema is at this code's migration head (an init container).

    New web and worker pods run it before they start, so they never serve against a schema
    older than their code while the migration Job is still running. A schema newer than the
    code (a rollback) is accepted: migrations are additive. Exit 1 on timeout.
    """
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = schema_state(db.engine, script)
        except SQLAlchemyError as exc:
            state = f"unreachable ({type(exc).__name__})"
        if state in ("current", "newer"):
            log.info("schema is %s; starting", state)
            return
        if time.monotonic() >= deadline:
            click.echo(f"wait-for-schema: the schema is still {state} after {timeout:g} s",
                       err=True)
            raise SystemExit(1)
        log.info("schema is %s; waiting for the migration", state)
        time.sleep(interval)
