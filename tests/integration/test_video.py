"""Video visits that work (issue 13): a room per appointment, a join token only inside the
window, the doctor as moderator, no room links in SMS or push, production refusals."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.config import load_config, production_problems
from portal.extensions import db
from portal.notifications.models import NotificationLog
from portal.notifications.preferences import update_preferences
from tests.factories import MONDAY_MORNING
from tests.integration.test_notifications import settle


@pytest.fixture
def visit(factory, frozen_clock, client):
    """A confirmed free video consultation on Monday 17:00 in Kolkata."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=None)
    patient = factory.create_patient()
    booked = factory.book(patient, factory.first_free_slot(doctor, "VIDEO"), confirm=True)
    people = {"patient": patient, "doctor": doctor.user, "other_patient":
              factory.create_patient(), "other_doctor": factory.create_doctor(hours=()).user,
              "admin": factory.create_admin()}
    return {"appointment": booked, "doctor": doctor, "people": people,
            "tokens": {k: client.api_token(u.email) for k, u in people.items()}}


def join(client, visit, who):
    return client.get(f"/api/v1/appointments/{visit['appointment'].id}/video-join",
                      headers={"Authorization": f"Bearer {visit['tokens'][who]}"})


def claims(app, url: str) -> dict:
    token = url.split("?jwt=", 1)[1]
    return jwt.decode(token, app.config["JITSI_APP_SECRET"], algorithms=["HS256"],
                      audience=app.config["JITSI_APP_ID"],
                      options={"verify_nbf": False, "verify_exp": False})


def test_the_join_token_is_refused_before_the_window_and_after_it(client, visit,
                                                                   frozen_clock):
    start, end = visit["appointment"].start_at, visit["appointment"].end_at
    frozen_clock.freeze(start - timedelta(minutes=11))
    early = join(client, visit, "patient")
    assert early.status_code == 409
    assert "ten minutes before the start" in early.get_json()["detail"]
    frozen_clock.freeze(start - timedelta(minutes=10))
    assert join(client, visit, "patient").status_code == 200
    frozen_clock.freeze(end + timedelta(minutes=29))
    assert join(client, visit, "patient").status_code == 200
    frozen_clock.freeze(end + timedelta(minutes=30))
    late = join(client, visit, "patient")
    assert late.status_code == 409
    assert "ended" in late.get_json()["detail"]


def test_the_token_names_the_room_its_window_and_only_the_doctor_moderates(app, client, visit,
                                                                            frozen_clock):
    appointment = visit["appointment"]
    frozen_clock.freeze(appointment.start_at)
    patient = join(client, visit, "patient").get_json()
    doctor = join(client, visit, "doctor").get_json()
    room = appointment.video_room_url.rsplit("/", 1)[1]
    for body, moderator in ((patient, False), (doctor, True)):
        assert body["url"].startswith(f"{appointment.video_room_url}?jwt=")
        token = claims(app, body["url"])
        assert token["room"] == room
        assert token["sub"] == app.config["JITSI_DOMAIN"]
        assert token["iss"] == app.config["JITSI_APP_ID"]
        assert token["nbf"] == int((appointment.start_at - timedelta(minutes=10)).timestamp())
        assert token["exp"] == int((appointment.end_at + timedelta(minutes=30)).timestamp())
        assert token["context"]["user"]["moderator"] is moderator
        assert token["moderator"] is moderator
        assert body["moderator"] is moderator
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(patient["url"].split("?jwt=")[1], "some-other-secret-also-32-bytes-long",
                   algorithms=["HS256"], audience=app.config["JITSI_APP_ID"])


def test_nobody_else_gets_into_the_room(client, visit, frozen_clock):
    frozen_clock.freeze(visit["appointment"].start_at)
    for who in ("other_patient", "other_doctor", "admin"):
        assert join(client, visit, who).status_code == 404, who


def test_the_page_shows_join_only_inside_the_window(client, visit, frozen_clock):
    appointment = visit["appointment"]
    client.login(visit["people"]["patient"].email)
    page = f"/appointments/{appointment.id}"
    frozen_clock.freeze(appointment.start_at - timedelta(hours=2))
    before = client.get(page).get_data(as_text=True)
    assert "Join the video call" not in before
    assert "data-countdown-to" in before
    assert "Check your camera and microphone" in before
    refused = client.get(f"{page}/video/join")
    assert refused.status_code == 303
    assert refused.location.endswith(page)
    frozen_clock.freeze(appointment.start_at - timedelta(minutes=5))
    assert "Join the video call" in client.get(page).get_data(as_text=True)
    joined = client.get(f"{page}/video/join")
    assert joined.status_code == 303
    assert joined.location.startswith(appointment.video_room_url + "?jwt=")
    assert joined.headers["Cache-Control"] == "no-store"
    frozen_clock.freeze(appointment.end_at + timedelta(minutes=31))
    after = client.get(page).get_data(as_text=True)
    assert "This call has ended" in after
    assert "Join the video call" not in after


def test_sms_and_push_name_no_room(app, factory):
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=None)
    patient = factory.create_patient()
    update_preferences(patient, channels_={"SMS": {"APPOINTMENT_CONFIRMED": True},
                                           "PUSH": {"APPOINTMENT_CONFIRMED": True}})
    booked = factory.book(patient, factory.first_free_slot(doctor, "VIDEO"), confirm=True)
    settle(app)
    rows = db.session.scalars(select(NotificationLog).where(
        NotificationLog.channel.in_(["SMS", "PUSH", "EMAIL", "IN_APP"]))).all()
    assert any(row.channel == "SMS" for row in rows)
    room = booked.video_room_url
    for row in rows:
        assert room not in (row.body or ""), row.channel
        assert "meet.example.com" not in (row.body or ""), row.channel


def test_production_refuses_the_placeholder_domain_and_a_missing_or_short_secret():
    base = {"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40,
            "DATABASE_URL": "postgresql://db/portal", "REDIS_URL": "redis://r:6379/0",
            "PUBLIC_URL": "https://clinic.example.com"}
    problems = " ".join(production_problems(load_config(base)))
    assert "JITSI_DOMAIN" in problems
    assert "JITSI_APP_SECRET" in problems
    short = " ".join(production_problems(load_config({**base, "JITSI_DOMAIN": "meet.clinic.in",
                                                      "JITSI_APP_SECRET": "s" * 31})))
    assert "JITSI_APP_SECRET must be at least 32 bytes" in short
    ready = production_problems(load_config({**base, "JITSI_DOMAIN": "meet.clinic.in",
                                             "JITSI_APP_SECRET": "s" * 32}))
    assert not [p for p in ready if "JITSI" in p]
    off = production_problems(load_config({**base, "VIDEO_PROVIDER": "none"}))
    assert not [p for p in off if "JITSI" in p]


def test_with_video_off_video_times_are_neither_listed_nor_booked(app, client, factory,
                                                                   frozen_clock, monkeypatch):
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=0)
    video_slot = factory.first_free_slot(doctor, "VIDEO")
    monkeypatch.setitem(app.config, "VIDEO_PROVIDER", "none")
    listed = client.get(f"/api/v1/availability/doctors/{doctor.id}/slots").get_json()
    assert {s["consultation_type"] for s in listed["slots"]} == {"IN_PERSON"}
    with pytest.raises(appointments.SlotUnavailable, match="Video consultations are not"):
        appointments.reserve(factory.create_patient(), video_slot.id)
