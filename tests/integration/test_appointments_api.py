"""The appointments API: behaviour, errors, and who may call each route."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from portal.appointments import service
from portal.extensions import db
from tests.factories import MONDAY_MORNING


@pytest.fixture
def world(factory, frozen_clock, client):
    """A doctor with slots, another doctor, two patients, an admin, and their tokens."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=0)
    other_doctor = factory.create_doctor(hours=())
    people = {
        "patient": factory.create_patient(),
        "other_patient": factory.create_patient(),
        "doctor": doctor.user,
        "other_doctor": other_doctor.user,
        "admin": factory.create_admin(),
    }
    tokens = {role: client.api_token(user.email) for role, user in people.items()}
    return {"doctor": doctor, "other_doctor": other_doctor, "people": people, "tokens": tokens,
            "in_person": factory.free_slots(doctor, "IN_PERSON"),
            "video": factory.free_slots(doctor, "VIDEO")}


def call(client, world, role, method, url, json=None, headers=None):
    auth = {"Authorization": f"Bearer {world['tokens'][role]}"} if role != "anonymous" else {}
    return client.open(url, method=method, json=json, headers={**auth, **(headers or {})})


def test_a_patient_reserves_and_sees_the_hold(client, world):
    slot = world["in_person"][0]
    response = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                    {"slot_id": str(slot.id), "reason": "Cough for a week"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "RESERVED"
    assert datetime.fromisoformat(body["reserved_until"]) == MONDAY_MORNING + timedelta(minutes=5)
    assert body["fee"] == {"amount": 0, "currency": "INR"}
    assert body["start"].endswith("Z")  # ISO 8601 with an explicit offset (UTC)
    assert body["reason_for_visit"] == "Cough for a week"


def test_the_client_cannot_send_an_amount(client, world):
    slot = world["video"][0]
    response = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                    {"slot_id": str(slot.id), "amount": 1})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"][0]["field"] == "amount"


def test_a_taken_slot_is_a_409_problem_naming_the_slot(client, world):
    slot = world["in_person"][0]
    call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
         {"slot_id": str(slot.id)})
    response = call(client, world, "other_patient", "POST", "/api/v1/appointments/reserve",
                    {"slot_id": str(slot.id)})
    assert response.status_code == 409
    problem = response.get_json()
    assert "holding this time" in problem["detail"]
    assert problem["errors"] == [{"field": "slot_id", "message": problem["detail"]}]


def test_the_idempotency_key_header_returns_the_same_hold(client, world):
    a, b = world["in_person"][:2]
    first = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                 {"slot_id": str(a.id)}, {"Idempotency-Key": "abc"})
    again = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                 {"slot_id": str(b.id)}, {"Idempotency-Key": "abc"})
    assert first.get_json()["id"] == again.get_json()["id"]


def test_a_free_consultation_is_confirmed_and_a_paid_one_needs_payment(client, world):
    free = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                {"slot_id": str(world["in_person"][0].id)}).get_json()
    paid = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                {"slot_id": str(world["video"][0].id)}).get_json()
    ok = call(client, world, "patient", "POST", f"/api/v1/appointments/{free['id']}/confirm", {})
    assert ok.status_code == 200
    assert ok.get_json()["status"] == "CONFIRMED"
    refused = call(client, world, "patient", "POST",
                   f"/api/v1/appointments/{paid['id']}/confirm", {})
    assert refused.status_code == 402
    assert refused.mimetype == "application/problem+json"


def test_a_lapsed_hold_reads_as_expired_and_cannot_be_cancelled(client, world, frozen_clock):
    hold = call(client, world, "patient", "POST", "/api/v1/appointments/reserve",
                {"slot_id": str(world["in_person"][0].id)}).get_json()
    frozen_clock.advance(timedelta(minutes=5))
    shown = call(client, world, "patient", "GET", f"/api/v1/appointments/{hold['id']}")
    assert shown.get_json()["status"] == "EXPIRED"
    refused = call(client, world, "patient", "POST", f"/api/v1/appointments/{hold['id']}/cancel",
                   {})
    assert refused.status_code == 409
    assert "expired appointment cannot be cancelled" in refused.get_json()["detail"]


def test_cancelling_shows_the_refund_first_then_applies_it(client, world, frozen_clock):
    appointment = service.confirm(service.reserve(world["people"]["patient"],
                                                  world["video"][3].id).id)
    frozen_clock.freeze(appointment.start_at - timedelta(hours=5))
    quote = call(client, world, "patient", "GET",
                 f"/api/v1/appointments/{appointment.id}/cancellation").get_json()
    assert quote["refund"] == {"amount": 25_000, "currency": "INR"}
    done = call(client, world, "patient", "POST",
                f"/api/v1/appointments/{appointment.id}/cancel", {"reason": "Travelling"})
    assert done.get_json()["refund"] == {"amount": 25_000, "currency": "INR"}


def test_lists_are_paginated_and_scoped(client, world):
    patient = world["people"]["patient"]
    service.confirm(service.reserve(patient, world["in_person"][0].id).id)
    service.confirm(service.reserve(patient, world["in_person"][1].id).id)
    page = call(client, world, "patient", "GET",
                f"/api/v1/appointments/patient/{patient.id}?per_page=1").get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (2, 2, 1)
    past = call(client, world, "patient", "GET",
                f"/api/v1/appointments/patient/{patient.id}?scope=past").get_json()
    assert past["total"] == 0
    bad = call(client, world, "patient", "GET",
               f"/api/v1/appointments/patient/{patient.id}?scope=later")
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "scope"


# --- who may call what ------------------------------------------------------------------------

ROLES = ["anonymous", "patient", "other_patient", "doctor", "other_doctor", "admin"]


def _appointment(world, confirmed=True, started=False):
    patient = world["people"]["patient"]
    slot = world["in_person"][6]  # Tuesday: far enough ahead to reschedule
    appointment = service.reserve(patient, slot.id)
    if confirmed:
        service.confirm(appointment.id)
    db.session.expire_all()
    return appointment


# route, method, body, expected status per role
MATRIX = [
    ("/api/v1/appointments/{id}", "GET", None,
     {"anonymous": 401, "patient": 200, "other_patient": 404, "doctor": 200,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/{id}/cancellation", "GET", None,
     {"anonymous": 401, "patient": 200, "other_patient": 404, "doctor": 200,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/{id}/cancel", "POST", {"reason": "Unwell"},
     {"anonymous": 401, "patient": 200, "other_patient": 404, "doctor": 200,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/{id}/reschedule", "POST", {"slot_id": "{new_slot}"},
     {"anonymous": 401, "patient": 200, "other_patient": 404, "doctor": 200,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/{id}/complete", "POST", None,
     {"anonymous": 401, "patient": 403, "other_patient": 403, "doctor": 409,
      "other_doctor": 404, "admin": 409}),
    ("/api/v1/appointments/{id}/no-show", "POST", None,
     {"anonymous": 401, "patient": 403, "other_patient": 403, "doctor": 409,
      "other_doctor": 404, "admin": 409}),
    ("/api/v1/appointments/{id}/confirm", "POST", {},
     {"anonymous": 401, "patient": 200, "other_patient": 404, "doctor": 404,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/doctor/{doctor_id}", "GET", None,
     {"anonymous": 401, "patient": 403, "other_patient": 403, "doctor": 200,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/patient/{patient_id}", "GET", None,
     {"anonymous": 401, "patient": 200, "other_patient": 404, "doctor": 404,
      "other_doctor": 404, "admin": 200}),
    ("/api/v1/appointments/reserve", "POST", {"slot_id": "{new_slot}"},
     {"anonymous": 401, "patient": 201, "other_patient": 201, "doctor": 403,
      "other_doctor": 403, "admin": 403}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("route", "method", "body", "expected"), MATRIX,
                         ids=[f"{m} {r}" for r, m, _, _ in MATRIX])
def test_every_appointment_route_admits_exactly_the_right_people(client, world, role, route,
                                                                 method, body, expected):
    confirm_first = not route.endswith("/confirm")
    appointment = _appointment(world, confirmed=confirm_first)
    new_slot = world["in_person"][12]
    values = {"id": appointment.id, "doctor_id": world["doctor"].id,
              "patient_id": world["people"]["patient"].id}
    url = route.format(**values)
    if body is not None:
        body = {k: (str(new_slot.id) if v == "{new_slot}" else v) for k, v in body.items()}
    response = call(client, world, role, method, url, body)
    assert response.status_code == expected[role], (role, url, response.get_json())
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
