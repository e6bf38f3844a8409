"""Announcements: an admin's message to some users, and finding who it goes to."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select

from portal.auth.models import Role, User
from portal.auth.service import find_user_by_email
from portal.exceptions import ValidationFailed
from portal.extensions import db
from portal.notifications.models import Channel, NotificationType
from portal.notifications.notify import notify


def send_announcement(users: list[User], title: str, message: str, channels_: set[Channel],
                      sender: User) -> int:
    """An admin's message to some users (POST /api/v1/notifications/send); returns how many
    notifications were made (each person's preferences still apply)."""
    if not title.strip() or not message.strip():
        raise ValidationFailed({"message": "Write a title and a message."})
    base = f"announcement:{uuid.uuid4()}"
    return sum(len(notify(user, NotificationType.ANNOUNCEMENT,
                          {"title": title, "message": message}, base, only=channels_))
               for user in users)


def users_by_ids(user_ids: Collection[uuid.UUID]) -> list[User]:
    """The users with these ids; ValidationFailed naming any id that is nobody's."""
    users = list(db.session.scalars(select(User).where(User.id.in_(user_ids))))
    missing = set(user_ids) - {u.id for u in users}
    if missing:
        raise ValidationFailed({"user_ids": f"Unknown user ids: {', '.join(map(str, missing))}"})
    return users


def audience(kind: str, email: str | None = None) -> list[User]:
    """Who an announcement from the admin pages goes to: "one" (the active account with this
    email), "doctors" or "patients" (every active one, oldest account first).
    ValidationFailed on the field to fix when that is nobody."""
    if kind == "one":
        user = find_user_by_email(email or "")
        if user is None or not user.active:
            raise ValidationFailed({"email": "No active account uses this email."})
        return [user]
    role = Role.DOCTOR if kind == "doctors" else Role.PATIENT
    users = list(db.session.scalars(select(User).where(User.role == role,
                                                       User.active.is_(True))
                                    .order_by(User.created_at)))
    if not users:
        raise ValidationFailed({"audience": f"There are no active {role.value}s yet."})
    return users
