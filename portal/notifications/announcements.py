"""Announcements: an admin's message to some users, and finding who it goes to.

Announcements are promotional (news and offers), so a patient receives one only with the
MARKETING consent (`portal.privacy.consents`); staff, doctors and admins receive them as part
of their work. The consent is checked when the notifications are made and again when each is
delivered, so a withdrawal stops even one already queued.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.auth.models import Role, User
from portal.auth.service import find_user_by_email
from portal.exceptions import ValidationFailed
from portal.extensions import db
from portal.notifications.models import Channel, NotificationType
from portal.notifications.notify import notify
from portal.privacy import consents
from portal.privacy.models import ConsentKind

NOT_OPTED_IN = "Not sent: the patient has not opted in to news and offers (or withdrew)."


def may_receive(user: User | None) -> bool:
    """Whether an announcement may go to this person now (nobody, for an account gone)."""
    if user is None:
        return False
    return user.role != Role.PATIENT or consents.has_consent(user.id, ConsentKind.MARKETING)


def promotional_recipients(users: Collection[User]) -> list[User]:
    """Those of `users` an announcement may go to now, in the same order."""
    patients = [u.id for u in users if u.role == Role.PATIENT]
    opted_in = consents.holders(patients, ConsentKind.MARKETING)
    return [u for u in users if u.role != Role.PATIENT or u.id in opted_in]


def send_announcement(users: list[User], title: str, message: str, channels_: set[Channel],
                      sender: User) -> int:
    """An admin's message to some users (POST /api/v1/notifications/send); returns how many
    notifications were made. Patients without the news-and-offers consent are left out, and
    each person's preferences still apply."""
    if not title.strip() or not message.strip():
        raise ValidationFailed({"message": "Write a title and a message."})
    base = f"announcement:{uuid.uuid4()}"
    return sum(len(notify(user, NotificationType.ANNOUNCEMENT,
                          {"title": title, "message": message}, base, only=channels_))
               for user in promotional_recipients(users))


@dataclass(frozen=True)
class Announced:
    people: int  # who it went to
    left_out: int  # patients of the audience without the news-and-offers consent
    notifications: int  # made, over every channel (preferences apply)


def announce(kind: str, email: str | None, title: str, message: str,
             channels_: set[Channel], sender: User) -> Announced:
    """The admin page's announcement: to `audience(kind, email)`, but only to those who may
    receive it. ValidationFailed on the field to fix when that leaves nobody."""
    users = audience(kind, email)
    recipients = promotional_recipients(users)
    if not recipients:
        field = "email" if kind == "one" else "audience"
        raise ValidationFailed({field: "This patient has not opted in to news and offers."
                                if kind == "one" else
                                "No patient has opted in to news and offers yet."})
    made = send_announcement(recipients, title, message, channels_, sender)
    return Announced(len(recipients), len(users) - len(recipients), made)


@dataclass(frozen=True)
class AudienceSizes:
    """How many an announcement to each audience reaches now (shown before sending)."""

    patients: int  # active patients with the news-and-offers consent
    all_patients: int  # every active patient
    doctors: int  # every active doctor


def audience_sizes() -> AudienceSizes:
    """The numbers the announcement page shows next to each audience."""
    opted_in = consents.holders_query(ConsentKind.MARKETING)

    def active(role: Role, *where) -> int:
        return db.session.scalar(select(func.count()).select_from(User).where(
            User.role == role, User.active.is_(True), *where)) or 0

    return AudienceSizes(patients=active(Role.PATIENT, User.id.in_(opted_in)),
                         all_patients=active(Role.PATIENT), doctors=active(Role.DOCTOR))


def users_by_ids(user_ids: Collection[uuid.UUID]) -> list[User]:
    """The users with these ids; ValidationFailed naming any id that is nobody's."""
    users = list(db.session.scalars(select(User).where(User.id.in_(user_ids))))
    missing = set(user_ids) - {u.id for u in users}
    if missing:
        raise ValidationFailed({"user_ids": f"Unknown user ids: {', '.join(map(str, missing))}"})
    return users


def audience(kind: str, email: str | None = None) -> list[User]:
    """Who an announcement from the admin pages is addressed to: "one" (the active account
    with this email), "doctors" or "patients" (every active one, oldest account first);
    `promotional_recipients` then leaves out patients without the consent.
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
