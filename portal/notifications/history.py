"""Reading the delivery log: the admin's filtered log and its failures, and one user's
notifications on every channel (the API's history)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from portal.auth.models import User
from portal.extensions import db
from portal.notifications.models import DeliveryStatus, NotificationLog
from portal.pagination import Page, paginate


@dataclass(frozen=True)
class LogFilter:
    """The admin log's filters; None leaves a column unfiltered. `email` matches a part of
    the user's address, ignoring case."""

    status: str | None = None
    channel: str | None = None
    kind: str | None = None
    email: str | None = None

    def args(self) -> dict[str, str]:
        """The query string of this filter, for links that keep it."""
        pairs = {"status": self.status, "channel": self.channel, "type": self.kind,
                 "email": self.email}
        return {k: v for k, v in pairs.items() if v}


def log_query(f: LogFilter) -> Select:
    """Notifications matching the filter: newest first; the most recent failures first when
    the filter is FAILED."""
    stmt = select(NotificationLog)
    if f.status:
        stmt = stmt.where(NotificationLog.status == f.status)
    if f.channel:
        stmt = stmt.where(NotificationLog.channel == f.channel)
    if f.kind:
        stmt = stmt.where(NotificationLog.type == f.kind)
    if f.email:
        stmt = stmt.join(User, User.id == NotificationLog.user_id).where(
            func.lower(User.email).contains(f.email.lower(), autoescape=True))
    if f.status == DeliveryStatus.FAILED:
        newest = func.coalesce(NotificationLog.last_attempt_at, NotificationLog.created_at)
        return stmt.order_by(newest.desc(), NotificationLog.id)
    return stmt.order_by(NotificationLog.created_at.desc(), NotificationLog.id)


def failed_count() -> int:
    """How many notifications failed for good (every filter ignored)."""
    return db.session.scalar(select(func.count()).select_from(NotificationLog).where(
        NotificationLog.status == DeliveryStatus.FAILED.value)) or 0


def users_of(rows: list[NotificationLog]) -> dict[uuid.UUID, User]:
    """The users the rows were sent to, by id (one query)."""
    ids = {row.user_id for row in rows}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


@dataclass(frozen=True)
class LogPage:
    """One page of the admin's log, with the people on it and the count of failures."""

    page: Page
    users: dict[uuid.UUID, User]
    failed: int


def log_page(f: LogFilter, page: int, per_page: int) -> LogPage:
    """The page of the log the admin asked for."""
    found = paginate(log_query(f), page, per_page)
    return LogPage(page=found, users=users_of(found.items), failed=failed_count())


def user_notifications(user_id: uuid.UUID, *, channel: str | None = None, limit: int = 20,
                       offset: int = 0) -> list[NotificationLog]:
    """A user's notifications (on one channel, if given), newest first."""
    stmt = select(NotificationLog).where(NotificationLog.user_id == user_id)
    if channel:
        stmt = stmt.where(NotificationLog.channel == channel)
    return list(db.session.scalars(
        stmt.order_by(NotificationLog.created_at.desc(), NotificationLog.id)
        .limit(limit).offset(offset)))
