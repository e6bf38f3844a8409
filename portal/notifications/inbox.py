"""The in-app inbox: a user's in-app notifications, the bell's unread count, marking read."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from portal.clock import utcnow
from portal.exceptions import NotFound
from portal.extensions import db
from portal.notifications.models import Channel, NotificationLog
from portal.transactions import write


def inbox(user_id: uuid.UUID, limit: int = 20, offset: int = 0) -> list[NotificationLog]:
    """The user's in-app notifications, newest first."""
    return list(db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == user_id, NotificationLog.channel == Channel.IN_APP.value)
        .order_by(NotificationLog.created_at.desc(), NotificationLog.id)
        .limit(limit).offset(offset)))


def unread_count(user_id: uuid.UUID) -> int:
    """How many of the user's in-app notifications are unread."""
    return db.session.scalar(select(func.count()).select_from(NotificationLog).where(
        NotificationLog.user_id == user_id, NotificationLog.channel == Channel.IN_APP.value,
        NotificationLog.read_at.is_(None))) or 0


def get_in_app(user_id: uuid.UUID, log_id: uuid.UUID) -> NotificationLog:
    """One of the user's own in-app notifications; NotFound for anyone else's."""
    row = db.session.get(NotificationLog, log_id)
    if row is None or row.user_id != user_id or row.channel != Channel.IN_APP:
        raise NotFound("No such notification.")
    return row


def mark_read(user_id: uuid.UUID, log_id: uuid.UUID | None = None) -> int:
    """Mark one (or every) in-app notification of the user read."""
    stmt = update(NotificationLog).where(NotificationLog.user_id == user_id,
                                         NotificationLog.channel == Channel.IN_APP.value,
                                         NotificationLog.read_at.is_(None))
    if log_id is not None:
        stmt = stmt.where(NotificationLog.id == log_id)
    with write():
        count = db.session.execute(stmt.values(read_at=utcnow())).rowcount or 0
    return count
