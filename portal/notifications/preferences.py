"""Each user's notification preferences: language, reminder times, and which types go out on
which channel (everything is on until switched off; a receipt by email always is)."""

from __future__ import annotations

import uuid

from portal.auth.models import User
from portal.exceptions import ValidationFailed
from portal.extensions import db
from portal.notifications.defaults import LANGUAGES
from portal.notifications.models import Channel, NotificationType, UserNotificationPreferences
from portal.transactions import write

DEFAULT_OFFSETS = [1440, 60, 15]
# Never switched off: a receipt is a record of money (the issue: "receipts always go by email").
ALWAYS_ON = {(Channel.EMAIL, NotificationType.PAYMENT_RECEIPT)}


def _defaults(user_id: uuid.UUID) -> UserNotificationPreferences:
    return UserNotificationPreferences(user_id=user_id, language="en",
                                       reminder_offsets=list(DEFAULT_OFFSETS), channels={})


def preferences_for(user_id: uuid.UUID) -> UserNotificationPreferences:
    """The user's stored preferences, or the defaults (not added to the session)."""
    prefs = db.session.get(UserNotificationPreferences, user_id)
    return _defaults(user_id) if prefs is None else prefs


def prefs_language(user_id: uuid.UUID) -> str:
    """The language the user reads notifications in."""
    return preferences_for(user_id).language


def channel_enabled(prefs: UserNotificationPreferences, channel: str, kind: str) -> bool:
    """Whether `kind` goes out on `channel` for the owner of `prefs`."""
    if (channel, kind) in ALWAYS_ON:
        return True
    return bool((prefs.channels or {}).get(channel, {}).get(kind, True))


def update_preferences(user: User, *, language: str | None = None,
                       reminder_offsets: list[int] | None = None,
                       channels_: dict[str, dict[str, bool]] | None = None
                       ) -> UserNotificationPreferences:
    """Change what is given (None: leave as is); channel switches merge into the stored ones.
    ValidationFailed, with every field's error, before anything is written."""
    errors: dict[str, str] = {}
    if language is not None and language not in LANGUAGES:
        errors["language"] = f"Choose one of: {', '.join(LANGUAGES)}."
    if reminder_offsets is not None:
        if len(reminder_offsets) > 5:
            errors["reminder_offsets"] = "Choose at most 5 reminders."
        elif any(not 5 <= m <= 7 * 1440 for m in reminder_offsets):
            errors["reminder_offsets"] = "Each reminder is between 5 minutes and 7 days before."
    for channel, kinds in (channels_ or {}).items():
        if channel not in Channel.__members__:
            errors[f"channels.{channel}"] = "Unknown channel."
            continue
        for kind in kinds:
            if kind not in NotificationType.__members__:
                errors[f"channels.{channel}.{kind}"] = "Unknown notification type."
            elif (channel, kind) in ALWAYS_ON and not kinds[kind]:
                errors[f"channels.{channel}.{kind}"] = "Receipts always go by email."
    if errors:
        raise ValidationFailed(errors)
    with write():
        prefs = db.session.get(UserNotificationPreferences, user.id)
        if prefs is None:
            prefs = _defaults(user.id)
            db.session.add(prefs)
        if language is not None:
            prefs.language = language
        if reminder_offsets is not None:
            prefs.reminder_offsets = sorted(set(reminder_offsets), reverse=True)
        if channels_ is not None:
            merged = {c: dict(v) for c, v in (prefs.channels or {}).items()}
            for channel, kinds in channels_.items():
                merged.setdefault(channel, {}).update({k: bool(v) for k, v in kinds.items()})
            prefs.channels = merged
    return prefs
