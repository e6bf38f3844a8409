"""Family rules: an account holder's dependents. Only the holder sees and changes them.

A dependent with upcoming appointments cannot be removed (cancel those first); one with past
visits is kept for the history (`removed_at`), one without any is deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, select

from portal.appointments.models import ACTIVE_STATUSES, Appointment
from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.family.models import Dependent, Relation, Sex
from portal.roles import Role
from portal.transactions import write

MAX_DEPENDENTS = 20
OLDEST = 130  # years: an earlier birth date is a typo


@dataclass(frozen=True)
class DependentData:
    """A dependent's details; on update, None keeps a field's value."""

    name: str | None = None
    relation: str | None = None
    date_of_birth: date | None = None
    sex: str | None = None


def dependents_of(user: User) -> list[Dependent]:
    """The holder's current dependents, by name."""
    return list(db.session.scalars(
        select(Dependent).where(Dependent.account_holder_id == user.id,
                                Dependent.removed_at.is_(None))
        .order_by(Dependent.name, Dependent.id)))


def get_own(user: User, dependent_id: uuid.UUID) -> Dependent:
    """The holder's own current dependent; NotFound for anyone else's (ids cannot be probed)."""
    dependent = db.session.get(Dependent, dependent_id)
    if dependent is None or dependent.removed_at is not None or \
            dependent.account_holder_id != user.id or user.role != Role.PATIENT:
        raise NotFound("No such family member.", "for_dependent_id")
    return dependent


def _validate(data: DependentData, *, creating: bool, today: date) -> dict[str, object]:
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    if data.name is not None or creating:
        name = (data.name or "").strip()
        if not name:
            errors["name"] = "Enter their name."
        elif len(name) > 120:
            errors["name"] = "Use at most 120 characters."
        else:
            clean["name"] = name
    if data.relation is not None or creating:
        try:
            clean["relation"] = Relation((data.relation or "").upper())
        except ValueError:
            errors["relation"] = "Choose how they are related to you."
    if data.sex is not None or creating:
        try:
            clean["sex"] = Sex((data.sex or "").upper())
        except ValueError:
            errors["sex"] = "Choose female, male or other."
    if data.date_of_birth is not None or creating:
        born = data.date_of_birth
        if born is None:
            errors["date_of_birth"] = "Enter their date of birth."
        elif born > today:
            errors["date_of_birth"] = "The date of birth cannot be in the future."
        elif born.year < today.year - OLDEST:
            errors["date_of_birth"] = "Check the year of birth."
        else:
            clean["date_of_birth"] = born
    if errors:
        raise ValidationFailed(errors)
    return clean


def add_dependent(user: User, data: DependentData, now: datetime | None = None) -> Dependent:
    now = now or utcnow()
    if user.role != Role.PATIENT:
        raise NotFound("Only patient accounts have family members.")
    clean = _validate(data, creating=True, today=now.date())
    if len(dependents_of(user)) >= MAX_DEPENDENTS:
        raise ValidationFailed({"name": f"An account can hold at most {MAX_DEPENDENTS} family "
                                        "members."})
    with write():
        dependent = Dependent(account_holder_id=user.id, created_at=now, updated_at=now,
                              **clean)
        db.session.add(dependent)
    return dependent


def update_dependent(user: User, dependent_id: uuid.UUID, data: DependentData,
                     now: datetime | None = None) -> Dependent:
    now = now or utcnow()
    dependent = get_own(user, dependent_id)
    clean = _validate(data, creating=False, today=now.date())
    with write():
        for name, value in clean.items():
            setattr(dependent, name, value)
        dependent.updated_at = now
    return dependent


def lock(dependent_id: uuid.UUID) -> None:
    """Serialise removing a dependent with booking for them (PostgreSQL; SQLite has one
    writer at a time anyway)."""
    db.session.execute(select(Dependent.id).where(Dependent.id == dependent_id)
                       .with_for_update())


def has_upcoming(dependent: Dependent, now: datetime) -> bool:
    return bool(db.session.scalar(select(exists().where(
        Appointment.for_dependent_id == dependent.id,
        Appointment.status.in_(ACTIVE_STATUSES), Appointment.end_at > now,
        (Appointment.reserved_until.is_(None)) | (Appointment.reserved_until > now)))))


def remove_dependent(user: User, dependent_id: uuid.UUID, now: datetime | None = None) -> None:
    """Remove a family member; refused while they have upcoming appointments."""
    now = now or utcnow()
    dependent = get_own(user, dependent_id)
    with write():
        lock(dependent.id)
        if has_upcoming(dependent, now):
            raise Conflict(f"{dependent.name} has upcoming appointments; cancel them before "
                           "removing them from your family.", "dependent_id")
        visited = db.session.scalar(select(exists().where(
            Appointment.for_dependent_id == dependent.id)))
        if visited:
            dependent.removed_at = now
        else:
            db.session.delete(dependent)
