"""Consents: what a person agreed to, which version of the text, and withdrawing it.

A grant is a `consents` row with the version of the text accepted; a withdrawal stamps the
active row's `withdrawn_at` (rows are never deleted: they are the record of what was agreed
and when). Granting again adds a new row, so a person's history reads in order.

Registration records the terms of service and the privacy notice (both required) and, only
when ticked, MARKETING: news and offers, which admin announcements need (see
`portal/notifications/announcements.py`). Every change is inside `write()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import Select, select, update

from portal.auth.models import User
from portal.clock import utcnow
from portal.extensions import db
from portal.privacy.models import Consent, ConsentKind
from portal.transactions import write

K = ConsentKind


def current_version(kind: ConsentKind) -> str:
    """The version of the text a grant of `kind` accepts now. News and offers are described by
    the privacy notice, so that opt-in carries the notice's version."""
    return current_app.config["TERMS_VERSION" if kind == K.TERMS else "PRIVACY_VERSION"]


def _active(user_id: uuid.UUID, kind: ConsentKind):
    return select(Consent).where(Consent.user_id == user_id, Consent.kind == kind,
                                 Consent.withdrawn_at.is_(None))


def _grant(user: User, kind: ConsentKind, now: datetime) -> Consent | None:
    """Inside a `write()`: a new grant of the current version, unless one is active already."""
    version = current_version(kind)
    active = db.session.scalars(_active(user.id, kind)).all()
    if any(row.version == version for row in active):
        return None
    row = Consent(user_id=user.id, kind=kind, version=version, granted_at=now)
    db.session.add(row)
    return row


def record_registration(user: User, marketing: bool, now: datetime | None = None) -> None:
    """What a new account accepted: the terms and the privacy notice, and news and offers only
    when the person ticked it. Joins the caller's `write()` (a savepoint) when there is one."""
    now = now or utcnow()
    with write():
        for kind in (K.TERMS, K.PRIVACY, *((K.MARKETING,) if marketing else ())):
            _grant(user, kind, now)


def grant(user: User, kind: ConsentKind, now: datetime | None = None) -> bool:
    """Give (or renew, for a newer version of the text) a consent. False when the current
    version was already given: nothing changes."""
    with write():
        return _grant(user, kind, now or utcnow()) is not None


def _withdraw(user: User, kind: ConsentKind, now: datetime) -> bool:
    """Inside a `write()`: stamp every active grant of `kind` withdrawn."""
    return bool(db.session.execute(
        update(Consent).where(Consent.user_id == user.id, Consent.kind == kind,
                              Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now)).rowcount)


def withdraw(user: User, kind: ConsentKind, now: datetime | None = None) -> bool:
    """Withdraw a consent, from now on. False when it was not given: nothing changes."""
    with write():
        return _withdraw(user, kind, now or utcnow())


@dataclass(frozen=True)
class ConsentChanges:
    """What a person changes on their privacy page or through the API."""

    marketing: bool | None = None  # True: opt in to news and offers; False: withdraw
    accept_terms: bool = False  # accept the current version of the terms of service
    accept_privacy: bool = False  # accept the current version of the privacy notice


def change(user: User, changes: ConsentChanges, now: datetime | None = None) -> bool:
    """Apply a person's choices in one transaction; True when anything changed.

    Withdrawing the terms or the privacy notice is not a switch: without them the clinic may
    not process the person's data at all, so it means erasing the account (the erasure
    request on the same page).
    """
    now = now or utcnow()
    changed = False
    with write():
        if changes.marketing is True:
            changed |= _grant(user, K.MARKETING, now) is not None
        elif changes.marketing is False:
            changed |= _withdraw(user, K.MARKETING, now)
        for accept, kind in ((changes.accept_terms, K.TERMS),
                             (changes.accept_privacy, K.PRIVACY)):
            if accept:
                changed |= _grant(user, kind, now) is not None
    return changed


def has_consent(user_id: uuid.UUID, kind: ConsentKind) -> bool:
    """Whether the person has this consent now (given, any version, and not withdrawn)."""
    return db.session.scalar(_active(user_id, kind).with_only_columns(Consent.id)
                             .limit(1)) is not None


def holders_query(kind: ConsentKind) -> Select:
    """The ids of everyone with this consent now, as a subquery for counting with."""
    return select(Consent.user_id).where(Consent.kind == kind, Consent.withdrawn_at.is_(None))


def holders(user_ids: Collection[uuid.UUID], kind: ConsentKind) -> set[uuid.UUID]:
    """Which of these people have this consent now (one query for many)."""
    if not user_ids:
        return set()
    return set(db.session.scalars(select(Consent.user_id).where(
        Consent.user_id.in_(list(user_ids)), Consent.kind == kind,
        Consent.withdrawn_at.is_(None)).distinct()))


@dataclass(frozen=True)
class ConsentState:
    """One kind of consent as it stands for a person."""

    kind: ConsentKind
    given: bool  # given and not withdrawn
    version: str | None  # of the latest grant, if any
    granted_at: datetime | None
    withdrawn_at: datetime | None  # of the latest grant, when it was withdrawn
    current_version: str  # the version a grant accepts now

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def outdated(self) -> bool:
        """Given, for an older version of the text than the current one."""
        return self.given and self.version != self.current_version


def current(user: User) -> list[ConsentState]:
    """Every kind of consent as it stands for this person (terms, privacy notice, news and
    offers), from their latest grant of each."""
    rows = db.session.scalars(select(Consent).where(Consent.user_id == user.id)
                              .order_by(Consent.granted_at, Consent.id)).all()
    latest = {row.kind: row for row in rows}
    return [ConsentState(kind=kind, given=kind in latest and latest[kind].withdrawn_at is None,
                         version=latest[kind].version if kind in latest else None,
                         granted_at=latest[kind].granted_at if kind in latest else None,
                         withdrawn_at=latest[kind].withdrawn_at if kind in latest else None,
                         current_version=current_version(kind))
            for kind in ConsentKind]


def history(user: User) -> list[Consent]:
    """Every grant and withdrawal of this person's, oldest first (for their records)."""
    return list(db.session.scalars(select(Consent).where(Consent.user_id == user.id)
                                   .order_by(Consent.granted_at, Consent.id)))
