"""The front desk and the live queue (issue 12), through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import User
from portal.events import OutboxEvent
from portal.extensions import db
from portal.roles import Role
from tests.factories import MONDAY_MORNING

OPENING = MONDAY_MORNING + timedelta(hours=2, minutes=30)  # 08:30 in Kolkata, Monday


@pytest.fixture
def clinic(factory, frozen_clock, client):
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_in_person_paise=0, fee_video_paise=None)
    staff = factory.create_user(Role.STAFF)
    patients = [factory.create_patient() for _ in range(4)]
    slots = factory.free_slots(doctor, "IN_PERSON")
    booked = [factory.book(p, slots[i], confirm=True) for i, p in enumerate(patients)]
    later = factory.create_patient()
    evening = factory.book(later, slots[5], confirm=True)
    tomorrow = factory.book(factory.create_patient(),
                            next(s for s in slots if s.start_at.date() > slots[0].start_at.date()),
                            confirm=True)
    frozen_clock.freeze(OPENING)
    people = {"staff": staff, "doctor": doctor.user, "admin": factory.create_admin(),
              **{f"patient{i}": p for i, p in enumerate(patients)}, "later": later}
    tokens = {name: client.api_token(user.email) for name, user in people.items()}
    return {"doctor": doctor, "people": people, "tokens": tokens, "booked": booked,
            "evening": evening, "tomorrow": tomorrow, "slots": slots}


def call(client, clinic, who, method, url, json=None):
    return client.open(url, method=method, json=json,
                       headers={"Authorization": f"Bearer {clinic['tokens'][who]}"})


def status_of(appointment) -> AppointmentStatus:
    db.session.expire_all()
    return db.session.get(Appointment, appointment.id).status


def check_in(client, clinic, index):
    appointment = clinic["booked"][index]
    response = call(client, clinic, "staff", "POST",
                    f"/api/v1/appointments/{appointment.id}/check-in")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def queue(client, clinic, who="staff"):
    response = call(client, clinic, who, "GET", f"/api/v1/queue/{clinic['doctor'].id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_two_check_ins_get_tokens_one_and_two(client, clinic):
    first, second = check_in(client, clinic, 1), check_in(client, clinic, 0)
    assert (first["number"], second["number"]) == (1, 2)
    assert status_of(clinic["booked"][0]) == AppointmentStatus.ARRIVED
    again = check_in(client, clinic, 1)
    assert again["id"] == first["id"]
    # The order of calling is by slot time, not by arrival.
    places = queue(client, clinic)["places"]
    assert [(p["token"]["number"], p["position"]) for p in places] == [(2, 1), (1, 2)]


def test_call_next_moves_the_queue_and_the_positions(client, clinic, frozen_clock):
    for index in range(3):
        check_in(client, clinic, index)
    patient2 = queue(client, clinic, "patient2")
    assert [p["position"] for p in patient2["places"]] == [3]
    called = call(client, clinic, "doctor", "POST",
                  f"/api/v1/queue/{clinic['doctor'].id}/call-next").get_json()
    assert (called["number"], called["status"]) == (1, "IN_CONSULTATION")
    assert status_of(clinic["booked"][0]) == AppointmentStatus.IN_CONSULTATION
    busy = call(client, clinic, "doctor", "POST",
                f"/api/v1/queue/{clinic['doctor'].id}/call-next")
    assert busy.status_code == 409
    frozen_clock.advance(timedelta(minutes=12))
    finished = call(client, clinic, "doctor", "POST", f"/api/v1/queue/tokens/{called['id']}/done")
    assert finished.get_json()["status"] == "DONE"
    assert status_of(clinic["booked"][0]) == AppointmentStatus.COMPLETED
    now = queue(client, clinic)
    assert now["pace_minutes"] == 12.0  # the doctor's actual pace replaces the slot length
    assert [p["position"] for p in queue(client, clinic, "patient2")["places"]] == [2]


def test_a_walk_in_gets_a_token_and_is_interleaved(client, clinic):
    for index in range(3):
        check_in(client, clinic, index)
    response = call(client, clinic, "staff", "POST", "/api/v1/desk/walk-ins", {
        "doctor_id": str(clinic["doctor"].id), "name": "Ravi Walkin",
        "phone": "+919811100001"})
    assert response.status_code == 201, response.get_json()
    token = response.get_json()
    assert (token["number"], token["kind"], token["status"]) == (4, "WALK_IN", "WAITING")
    walker = db.session.scalar(select(User).where(User.phone == "+919811100001"))
    assert walker.name == "Ravi Walkin"  # an account to claim, invited by SMS
    order = [p["token"]["kind"] for p in queue(client, clinic)["places"]]
    assert order == ["BOOKED", "BOOKED", "WALK_IN", "BOOKED"]  # one after every two


def test_running_late_tells_exactly_the_patients_still_to_be_seen(client, clinic,
                                                                  frozen_clock):
    for index in range(3):
        check_in(client, clinic, index)
    called = call(client, clinic, "doctor", "POST",
                  f"/api/v1/queue/{clinic['doctor'].id}/call-next").get_json()
    call(client, clinic, "doctor", "POST", f"/api/v1/queue/tokens/{called['id']}/done")
    before = queue(client, clinic, "patient2")["places"][0]["wait_minutes"]
    response = call(client, clinic, "staff", "POST",
                    f"/api/v1/queue/{clinic['doctor'].id}/running-late",
                    {"minutes": 30, "note": "Stuck in traffic"})
    assert response.status_code == 201, response.get_json()
    people = clinic["people"]
    event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.event_type ==
                                                        "RUNNING_LATE"))
    told = set(event.payload["patient_ids"])
    # Still waiting: patients 1 and 2; due later today: 3 and the evening one. Not patient 0
    # (seen already) and not tomorrow's.
    assert told == {str(people[name].id) for name in ("patient1", "patient2", "patient3",
                                                       "later")}
    assert response.get_json()["told"] == 4
    after = queue(client, clinic, "patient2")["places"][0]["wait_minutes"]
    assert after >= before + 30 - 1


def test_a_patient_sees_only_their_own_place_and_no_names(client, clinic):
    for index in range(3):
        check_in(client, clinic, index)
    own = queue(client, clinic, "patient1")
    assert [p["token"]["appointment_id"] for p in own["places"]] == [
        str(clinic["booked"][1].id)]
    assert own["places"][0]["token"]["name"] is None
    assert own["waiting_count"] == 3
    assert queue(client, clinic, "patient3")["places"] == []
    refused = call(client, clinic, "patient1", "POST",
                   f"/api/v1/queue/{clinic['doctor'].id}/call-next")
    assert refused.status_code == 403
    assert call(client, clinic, "patient1", "POST",
                f"/api/v1/appointments/{clinic['booked'][1].id}/check-in").status_code == 403


def test_the_desk_finds_a_patient_by_phone_and_books_for_them(client, clinic):
    patient = clinic["people"]["patient3"]
    short = call(client, clinic, "staff", "GET", "/api/v1/desk/patients?q=98")
    assert short.status_code == 422
    found = call(client, clinic, "staff", "GET",
                 f"/api/v1/desk/patients?q={patient.phone[-6:]}").get_json()
    assert [p["id"] for p in found["items"]] == [str(patient.id)]
    taken = {a.slot_id for a in (*clinic["booked"], clinic["evening"], clinic["tomorrow"])}
    free = next(s for s in clinic["slots"] if s.id not in taken
                and s.start_at > OPENING + timedelta(hours=3))
    booked = call(client, clinic, "staff", "POST", "/api/v1/desk/appointments",
                  {"slot_id": str(free.id), "patient_id": str(patient.id)})
    assert booked.status_code == 201, booked.get_json()
    assert booked.get_json()["patient_id"] == str(patient.id)
    again = call(client, clinic, "staff", "POST", "/api/v1/desk/appointments",
                 {"slot_id": str(free.id), "new_patient": {"name": "Sita New",
                                                            "phone": "+919811100002"}})
    assert again.status_code == 409  # the same double-booking guard as online
    assert call(client, clinic, "patient0", "GET",
                "/api/v1/desk/patients?q=Test").status_code == 403


def test_check_in_is_refused_on_the_wrong_day(client, clinic):
    response = call(client, clinic, "staff", "POST",
                    f"/api/v1/appointments/{clinic['tomorrow'].id}/check-in")
    assert response.status_code == 409
    assert "day of the appointment" in response.get_json()["detail"]
