"""Announcements: an admin's message to some users."""

from __future__ import annotations

import uuid

from portal.auth.models import User
from portal.exceptions import ValidationFailed
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
