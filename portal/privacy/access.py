"""The access log: every read of a patient's records by someone other than the patient.

Services that hand a patient's details to someone else call `note(actor, subject_id, kind,
object_id)`; the reads of one request are kept in the request's context and written together,
in one INSERT, when the request ends (`flush`, wired in the app factory), with the route that
read them. Reads outside a request (the CLI) are written at once. Nothing updates or deletes
the log: on PostgreSQL a trigger refuses both (migration 0013).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from flask import g, has_request_context, request
from sqlalchemy import insert, select

from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import NotFound
from portal.extensions import db
from portal.pagination import Page, paginate
from portal.privacy.models import AccessKind, AccessLogEntry
from portal.roles import Role
from portal.transactions import write

_PENDING = "privacy_reads"


@dataclass(frozen=True)
class Read:
    actor_id: uuid.UUID
    actor_role: str
    subject_id: uuid.UUID
    kind: AccessKind
    object_id: uuid.UUID | None
    at: datetime


def note(actor: User, subject_id: uuid.UUID | None, kind: AccessKind,
         object_id: uuid.UUID | None = None) -> None:
    """Someone read a patient's records: logged unless it is the patient themself."""
    if subject_id is None or actor is None or actor.id == subject_id:
        return
    read = Read(actor.id, actor.role.value, subject_id, kind, object_id, utcnow())
    if has_request_context():
        g.setdefault(_PENDING, []).append(read)
    else:
        _write([read], route="cli", via="cli")


def note_many(actor: User, reads: Iterable[tuple[uuid.UUID, AccessKind, uuid.UUID | None]]
              ) -> None:
    for subject_id, kind, object_id in reads:
        note(actor, subject_id, kind, object_id)


def flush() -> int:
    """Write the request's reads in one statement (the app's after-request hook)."""
    reads: list[Read] = g.pop(_PENDING, [])
    if not reads:
        return 0
    route = (request.endpoint or request.path)[:120]
    via = "api" if request.path.startswith("/api/") else "web"
    _write(reads, route, via)
    return len(reads)


def _write(reads: list[Read], route: str, via: str) -> None:
    # One row per distinct read: a page listing the same appointment twice logs it once.
    unique = {(r.actor_id, r.subject_id, r.kind, r.object_id): r for r in reads}
    with write():
        db.session.execute(insert(AccessLogEntry), [
            {"at": r.at, "actor_id": r.actor_id, "actor_role": r.actor_role,
             "subject_id": r.subject_id, "kind": r.kind, "object_id": r.object_id,
             "route": route, "via": via} for r in unique.values()])


# --- reading the log -------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    subject_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def _query(f: LogFilter):
    stmt = select(AccessLogEntry)
    if f.subject_id:
        stmt = stmt.where(AccessLogEntry.subject_id == f.subject_id)
    if f.actor_id:
        stmt = stmt.where(AccessLogEntry.actor_id == f.actor_id)
    if f.since:
        stmt = stmt.where(AccessLogEntry.at >= f.since)
    if f.until:
        stmt = stmt.where(AccessLogEntry.at < f.until)
    return stmt.order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc())


def about(user: User, page: int = 1, per_page: int = 50) -> Page[AccessLogEntry]:
    """Who has looked at my records: the reads of this patient's records, newest first."""
    return paginate(_query(LogFilter(subject_id=user.id)), page, per_page)


def search(admin: User, f: LogFilter, page: int = 1, per_page: int = 50) -> Page[AccessLogEntry]:
    """The admin's search by patient, by reader and by date."""
    _admin_only(admin)
    return paginate(_query(f), page, per_page)


def csv_lines(admin: User, f: LogFilter, batch: int = 1000) -> Iterator[str]:
    """The header, then one CSV row per read (newest first). Checks the caller at once; the
    rows come as the response streams."""
    _admin_only(admin)
    return _csv_rows(f, batch)


def _csv_rows(f: LogFilter, batch: int) -> Iterator[str]:
    yield _csv_row(["at_utc", "actor_id", "actor_role", "actor_name", "subject_id",
                    "subject_name", "kind", "object_id", "route", "via"])
    offset = 0
    while True:
        rows = list(db.session.scalars(_query(f).limit(batch).offset(offset)))
        if not rows:
            return
        names = people_names({r.actor_id for r in rows} | {r.subject_id for r in rows})
        for r in rows:
            yield _csv_row([r.at.isoformat(), r.actor_id or "", r.actor_role,
                            names.get(r.actor_id, ""), r.subject_id,
                            names.get(r.subject_id, ""), r.kind.value, r.object_id or "",
                            r.route, r.via])
        offset += batch


def people_names(ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Current names of the people in a page of the log (erased ones read as such)."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def readers_of(entries: list[AccessLogEntry]) -> dict[uuid.UUID, tuple[str, str]]:
    """For the patient's page: each reader's name and role."""
    ids = {e.actor_id for e in entries if e.actor_id}
    if not ids:
        return {}
    return {uid: (name, role.value) for uid, name, role in db.session.execute(
        select(User.id, User.name, User.role).where(User.id.in_(ids))).all()}


def _csv_row(values: list) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def _admin_only(user: User) -> None:
    if user.role != Role.ADMIN:
        raise NotFound("Not found.")
