"""Profiles that can change, and families that book together (issue 11), through the API."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.appointments.models import Appointment
from portal.availability.models import AvailableSlot, SlotStatus
from portal.extensions import db
from portal.notifications.models import NotificationLog
from tests.factories import MONDAY_MORNING
from tests.integration.test_notifications import settle


@pytest.fixture
def world(factory, frozen_clock, client):
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=80_000)
    people = {"patient": factory.create_patient(), "other_patient": factory.create_patient(),
              "doctor": doctor.user, "other_doctor": factory.create_doctor(hours=()).user,
              "admin": factory.create_admin()}
    tokens = {role: client.api_token(user.email) for role, user in people.items()}
    return {"doctor": doctor, "people": people, "tokens": tokens}


def call(client, world, role, method, url, json=None):
    return client.open(url, method=method, json=json,
                       headers={"Authorization": f"Bearer {world['tokens'][role]}"})


def reserve(client, world, role, slot, **extra):
    response = call(client, world, role, "POST", "/api/v1/appointments/reserve",
                    {"slot_id": str(slot.id), **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def slots(doctor, kind):
    return list(db.session.scalars(select(AvailableSlot).where(
        AvailableSlot.doctor_id == doctor.id, AvailableSlot.consultation_type == kind,
        AvailableSlot.start_at > MONDAY_MORNING + timedelta(hours=3))
        .order_by(AvailableSlot.start_at).execution_options(populate_existing=True)))


# --- the doctor's profile ------------------------------------------------------------------


def test_a_fee_change_prices_new_holds_and_keeps_earlier_ones(client, world):
    doctor = world["doctor"]
    first, second = slots(doctor, "VIDEO")[:2]
    earlier = reserve(client, world, "patient", first)
    changed = call(client, world, "doctor", "PATCH", f"/api/v1/doctors/{doctor.id}",
                   {"fee_video_paise": 65_000})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["changed"] == ["fee_video_paise"]
    later = reserve(client, world, "other_patient", second)
    assert later["fee"]["amount"] == 65_000
    again = call(client, world, "patient", "GET", f"/api/v1/appointments/{earlier['id']}")
    assert again.get_json()["fee"]["amount"] == 50_000


def test_a_time_zone_change_keeps_booked_instants_and_moves_free_slots(client, world):
    doctor = world["doctor"]
    booked_slot = slots(doctor, "IN_PERSON")[0]  # Monday 09:00 in Kolkata
    booked = reserve(client, world, "patient", booked_slot)
    before_free = {s.start_at for s in slots(doctor, "IN_PERSON")} - {booked_slot.start_at}
    moved = call(client, world, "admin", "PATCH", f"/api/v1/doctors/{doctor.id}",
                 {"timezone": "Europe/London"})
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["doctor"]["timezone"] == "Europe/London"
    after = call(client, world, "patient", "GET", f"/api/v1/appointments/{booked['id']}")
    assert after.get_json()["start"] == booked["start"]  # the same instant
    free = {s.start_at for s in slots(doctor, "IN_PERSON") if s.status == SlotStatus.FREE}
    assert free
    assert free.isdisjoint(before_free)  # 09:00 in London is not 09:00 in Kolkata
    assert all(s.astimezone(ZoneInfo("Europe/London")).hour >= 9 for s in free)
    # 09:00 in Kolkata is 03:30 in London: outside the hours now, for the doctor to act on.
    assert [c["slot_id"] for c in body["conflicts"]] == [str(booked_slot.id)]


def test_withdrawing_a_consultation_type_removes_its_free_slots_but_not_bookings(client,
                                                                                 world):
    doctor = world["doctor"]
    booked_slot = slots(doctor, "VIDEO")[0]
    reserve(client, world, "patient", booked_slot)
    response = call(client, world, "doctor", "PATCH", f"/api/v1/doctors/{doctor.id}",
                    {"offers_video": False})
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["withdrawn_types"] == ["VIDEO"]
    assert [c["slot_id"] for c in body["conflicts"]] == [str(booked_slot.id)]
    remaining = slots(doctor, "VIDEO")
    assert [s.id for s in remaining] == [booked_slot.id]
    assert [c["type"] for c in body["doctor"]["consultations"]] == ["IN_PERSON"]
    listed = client.get(f"/api/v1/availability/doctors/{doctor.id}/slots").get_json()
    assert {s["consultation_type"] for s in listed["slots"]} == {"IN_PERSON"}


def test_a_stranger_cannot_change_a_doctors_profile(client, world):
    url = f"/api/v1/doctors/{world['doctor'].id}"
    assert call(client, world, "other_doctor", "PATCH", url, {"bio": "x"}).status_code == 404
    assert call(client, world, "patient", "PATCH", url, {"bio": "x"}).status_code == 403
    assert client.patch(url, json={"bio": "x"}).status_code == 401
    db.session.refresh(world["doctor"])
    assert world["doctor"].bio != "x"


def test_profile_changes_are_validated_and_nothing_is_half_written(client, world):
    doctor = world["doctor"]
    response = call(client, world, "doctor", "PATCH", f"/api/v1/doctors/{doctor.id}",
                    {"bio": "New bio", "timezone": "Mars/Olympus", "offers_video": False,
                     "offers_in_person": False})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert fields == {"timezone", "fee_video_paise"}
    db.session.refresh(doctor)
    assert doctor.bio != "New bio"
    assert doctor.fee_video_paise == 50_000


# --- the patient's own profile -------------------------------------------------------------


def test_a_patient_changes_phone_zone_and_language(client, world):
    response = call(client, world, "patient", "PATCH", "/api/v1/me",
                    {"phone": "+91 98765 43210", "timezone": "Europe/London", "language": "hi"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["phone"], body["timezone"], body["language"]) == (
        "+919876543210", "Europe/London", "hi")
    bad = call(client, world, "patient", "PATCH", "/api/v1/me", {"phone": "12345"})
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "phone"


def test_an_email_change_waits_for_the_link_and_tells_the_old_address(client, world, mailbox):
    patient = world["people"]["patient"]
    old = patient.email
    asked = call(client, world, "patient", "POST", "/api/v1/me/email",
                 {"email": "new.me@example.com", "password": "correct-horse-9"})
    assert asked.status_code == 202, asked.get_json()
    messages = {m.to[0] if isinstance(m.to, list) else m.to: m for m in mailbox.list(limit=5)}
    assert set(messages) >= {"new.me@example.com", old}
    db.session.refresh(patient)
    assert patient.email == old
    token = re.search(r"/account/email/confirm/([^\s\"<>]+)",
                      messages["new.me@example.com"].text).group(1)
    confirmed = client.post("/api/v1/me/email/confirm", json={"token": token})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["email"] == "new.me@example.com"
    assert client.post("/api/v1/me/email/confirm", json={"token": token}).status_code == 401
    wrong = call(client, world, "other_patient", "POST", "/api/v1/me/email",
                 {"email": "new.me@example.com", "password": "not-my-password"})
    assert {e["field"] for e in wrong.get_json()["errors"]} == {"email", "password"}


def test_a_password_change_ends_other_sessions(client, world):
    other_token = client.api_token(world["people"]["patient"].email)
    changed = call(client, world, "patient", "POST", "/api/v1/me/password",
                   {"current_password": "correct-horse-9", "new_password": "violet-harbour-42"})
    assert changed.status_code == 204
    stale = client.get("/api/v1/me", headers={"Authorization": f"Bearer {other_token}"})
    assert stale.status_code == 401
    token = client.api_token(world["people"]["patient"].email, "violet-harbour-42")
    short = client.post("/api/v1/me/password", headers={"Authorization": f"Bearer {token}"},
                        json={"current_password": "violet-harbour-42", "new_password": "x"})
    assert short.get_json()["errors"][0]["field"] == "new_password"


# --- families ------------------------------------------------------------------------------


def add_child(client, world, role="patient", name="Mira", born="2020-03-15"):
    response = call(client, world, role, "POST", "/api/v1/me/dependents",
                    {"name": name, "relation": "CHILD", "date_of_birth": born, "sex": "FEMALE"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_dependents_booking_shows_their_name_and_age_and_notifies_the_holder(
        app, client, world):
    child = add_child(client, world)
    assert child["age"] == 6
    slot = slots(world["doctor"], "IN_PERSON")[0]
    held = reserve(client, world, "patient", slot, for_dependent_id=child["id"])
    assert held["patient_id"] == str(world["people"]["patient"].id)
    assert held["visit_for"] == {"dependent_id": child["id"], "name": "Mira", "age": 6,
                                 "relation": "CHILD"}
    seen = call(client, world, "doctor", "GET",
                f"/api/v1/appointments/doctor/{world['doctor'].id}").get_json()
    assert [(a["visit_for"]["name"], a["visit_for"]["age"]) for a in seen["items"]] == [
        ("Mira", 6)]
    settle(app)
    holders = set(db.session.scalars(select(NotificationLog.user_id).where(
        NotificationLog.type == "APPOINTMENT_RESERVED")))
    assert holders == {world["people"]["patient"].id}


def test_only_the_account_holder_sees_and_books_for_their_dependents(client, world):
    child = add_child(client, world)
    theirs = call(client, world, "other_patient", "GET", "/api/v1/me/dependents").get_json()
    assert theirs["items"] == []
    slot = slots(world["doctor"], "IN_PERSON")[0]
    refused = call(client, world, "other_patient", "POST", "/api/v1/appointments/reserve",
                   {"slot_id": str(slot.id), "for_dependent_id": child["id"]})
    assert refused.status_code == 404
    assert call(client, world, "other_patient", "PATCH",
                f"/api/v1/me/dependents/{child['id']}", {"name": "X"}).status_code == 404
    assert db.session.scalar(select(Appointment.id)) is None


def test_a_dependent_with_an_upcoming_appointment_cannot_be_removed(client, world):
    child = add_child(client, world)
    held = reserve(client, world, "patient", slots(world["doctor"], "IN_PERSON")[0],
                   for_dependent_id=child["id"])
    refused = call(client, world, "patient", "DELETE", f"/api/v1/me/dependents/{child['id']}")
    assert refused.status_code == 409
    assert "upcoming appointments" in refused.get_json()["detail"]
    call(client, world, "patient", "POST", f"/api/v1/appointments/{held['id']}/cancel", {})
    gone = call(client, world, "patient", "DELETE", f"/api/v1/me/dependents/{child['id']}")
    assert gone.status_code == 204
    assert call(client, world, "patient", "GET", "/api/v1/me/dependents").get_json() == {
        "items": []}
    # The visit's history still says whom it was for.
    kept = call(client, world, "patient", "GET", f"/api/v1/appointments/{held['id']}")
    assert kept.get_json()["visit_for"]["name"] == "Mira"


def test_the_hold_limit_counts_per_account_holder(client, world):
    child = add_child(client, world)
    free = slots(world["doctor"], "IN_PERSON")
    reserve(client, world, "patient", free[0])
    reserve(client, world, "patient", free[1], for_dependent_id=child["id"])
    third = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                 {"slot_id": str(free[2].id), "for_dependent_id": child["id"]})
    assert third.status_code == 409
    assert "already holding 2" in third.get_json()["detail"]


def test_a_dependent_is_validated(client, world):
    response = call(client, world, "patient", "POST", "/api/v1/me/dependents",
                    {"name": " ", "relation": "COUSIN", "date_of_birth": "2999-01-01",
                     "sex": "?"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert fields >= {"relation", "date_of_birth", "sex"}
    assert call(client, world, "doctor", "GET", "/api/v1/me/dependents").status_code == 403
