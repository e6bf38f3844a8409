"""`flask` commands: demo data, doctor accounts, the RQ worker."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from portal.auth.service import Registration
from portal.demo import DEMO_PASSWORD, seed
from portal.doctors.service import DoctorProfile, doctor_by_email, set_doctor_active
from portal.doctors.service import create_doctor as create
from portal.exceptions import DomainError
from portal.jobqueue import run_worker


def register_cli(app: Flask) -> None:
    # Commands added with add_command get no app context from app.cli (only `flask` itself
    # pushes one), so each command asks for it with @with_appcontext.
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_doctor)
    app.cli.add_command(deactivate_doctor)
    app.cli.add_command(worker)


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
