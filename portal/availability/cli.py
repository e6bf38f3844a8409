"""`flask regenerate-slots`: rebuild slot windows from the CLI, with a progress bar."""

from __future__ import annotations

import click

from portal.availability import service
from portal.doctors.service import doctor_by_email


@click.command("regenerate-slots")
@click.option("--doctor", "email", help="Only this doctor (by email).")
def regenerate_slots(email: str | None) -> None:
    """Generate every active doctor's rolling window of slots (idempotent)."""
    ids = [doctor_by_email(email).id] if email else service.active_doctor_ids()
    with click.progressbar(length=len(ids), label="Generating slots") as bar:
        report = service.regenerate_doctors(ids, progress=bar.update)
    click.echo(f"{report.doctors} doctors: {report.created} slots created, {report.removed} "
               f"removed, {report.kept} unchanged.")
    for slot in report.conflicts:
        click.echo(f"  needs attention: {slot.status.lower()} slot {slot.start_at.isoformat()} "
                   f"(doctor {slot.doctor_id}) is outside the schedule now", err=True)
