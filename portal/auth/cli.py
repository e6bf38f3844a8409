"""Operators' commands for accounts (`flask auth ...`)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.auth import service, twofactor


@click.command("two-factor-off")
@click.argument("email")
@with_appcontext
def two_factor_off(email: str) -> None:
    """Turn off two-factor sign-in for EMAIL (a lost phone and lost recovery codes, or a
    changed SECRET_KEY); every session of theirs ends, and a role that needs it sets it up
    again at the next login."""
    user = service.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account has the email {email}.")
    if not user.two_factor_enabled:
        click.echo(f"Two-factor sign-in is not on for {user.email}.")
        return
    twofactor.turn_off(user)
    click.echo(f"Two-factor sign-in is off for {user.email}; their sessions have ended.")
