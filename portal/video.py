"""Video consultations on a self-hosted Jitsi Meet with token authentication.

Each VIDEO appointment gets its own unguessable room when it is confirmed. Joining takes a
short-lived JWT signed with the Jitsi app secret (HS256, as Prosody's `token` authentication
checks it): valid from JOIN_EARLY before the start until JOIN_LATE after the end, for that one
room, with the doctor as moderator and the patient as a guest. The portal mints a token only
inside that window and only for the appointment's doctor or patient; a room link alone (without
a token) does not get anyone in, and room links never go into SMS or push bodies: messages send
people to their appointment page, where "Join" appears in the window.

VIDEO_PROVIDER=none turns video consultations off (their slots are not offered or booked).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from flask import current_app

from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import Conflict, NotFound
from portal.roles import Role

JOIN_EARLY = timedelta(minutes=10)
JOIN_LATE = timedelta(minutes=30)


class NotJoinableYet(Conflict):
    title = "Not open yet"


class JoinClosed(Conflict):
    title = "Closed"


@dataclass(frozen=True)
class JoinWindow:
    opens: datetime
    closes: datetime

    def contains(self, now: datetime) -> bool:
        return self.opens <= now < self.closes


@dataclass(frozen=True)
class JoinLink:
    url: str
    room: str
    moderator: bool
    window: JoinWindow


def enabled() -> bool:
    return current_app.config["VIDEO_PROVIDER"] == "jitsi"


def new_room_url() -> str:
    """A room of its own: 128 random bits in the name, so it cannot be guessed."""
    domain = current_app.config["JITSI_DOMAIN"]
    return f"https://{domain}/careconnect-{secrets.token_urlsafe(16)}"


def room_name(appointment: Appointment) -> str:
    return (appointment.video_room_url or "").rstrip("/").rsplit("/", 1)[-1]


def join_window(appointment: Appointment) -> JoinWindow:
    return JoinWindow(appointment.start_at - JOIN_EARLY, appointment.end_at + JOIN_LATE)


def _participant(user: User, appointment: Appointment) -> bool:
    """The appointment's doctor, or its patient (the account holder, for a family member)."""
    if user.role == Role.DOCTOR:
        return appointment.doctor.user_id == user.id
    return user.role == Role.PATIENT and appointment.patient_id == user.id


def join_link(user: User, appointment: Appointment, now: datetime | None = None) -> JoinLink:
    """The room's link with a token for `user`, inside the join window; else a 409 saying when.

    Only the doctor and the patient get one (others: NotFound, as for a missing room).
    """
    now = now or utcnow()
    if not _participant(user, appointment) or not appointment.video_room_url or \
            appointment.status not in ("CONFIRMED", "ARRIVED", "IN_CONSULTATION"):
        raise NotFound("This appointment has no video call for you.")
    window = join_window(appointment)
    if now < window.opens:
        raise NotJoinableYet(f"The call opens at {window.opens:%H:%M} UTC, ten minutes "
                             "before the start.")
    if now >= window.closes:
        raise JoinClosed("This call has ended.")
    moderator = user.role == Role.DOCTOR
    token = make_token(user, room_name(appointment), window, moderator)
    return JoinLink(f"{appointment.video_room_url}?jwt={token}", room_name(appointment),
                    moderator, window)


def make_token(user: User, room: str, window: JoinWindow, moderator: bool) -> str:
    """The JWT Jitsi's token authentication expects (shared secret, HS256).

    `aud`/`iss` are the app id, `sub` the Jitsi domain, `room` the one room it opens, `nbf`
    and `exp` the join window; `context.user` names the person, and `moderator` (read by
    Jitsi's token moderation) is true for the doctor only.
    """
    config = current_app.config
    claims = {
        "aud": config["JITSI_APP_ID"], "iss": config["JITSI_APP_ID"],
        "sub": config["JITSI_DOMAIN"], "room": room,
        "nbf": int(window.opens.timestamp()), "exp": int(window.closes.timestamp()),
        "moderator": moderator,
        "context": {"user": {"id": str(user.id), "name": user.name, "email": user.email,
                             "moderator": moderator,
                             "affiliation": "owner" if moderator else "member"}},
    }
    return jwt.encode(claims, config["JITSI_APP_SECRET"], algorithm="HS256")
