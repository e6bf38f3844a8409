"""What requests cost the server, held as behaviour: the probe asks nothing of the database or
the session; the slot listing's ETag changes with every change to the doctor's slots, so a
cached listing never shows a slot that was taken; the reserve path's round trips stay few.
(No timings here: those are the benchmarks' job, `python -m bench inprocess`.)
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from portal.appointments import service as appointments
from portal.availability import service as availability
from portal.clock import utcnow
from portal.extensions import db


@pytest.fixture
def statements(app):
    """Every statement the app sends to the database while the test runs (and pool checkouts,
    each of which costs a ping)."""
    sent: Counter = Counter()

    def statement(conn, cursor, text, *args):
        sent["statements"] += 1
        sent[text.split()[0].upper()] += 1

    def checkout(*args):
        sent["checkouts"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    yield sent
    event.remove(engine, "before_cursor_execute", statement)
    event.remove(engine.pool, "checkout", checkout)


def test_the_health_probe_touches_neither_the_database_nor_the_session(client, statements):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == Counter()  # no statement, not even a pool checkout
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_the_health_probe_answers_with_a_session_cookie_it_ignores(client):
    client.get("/doctors/")  # a page that sets the session cookie
    response = client.get("/healthz")

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_readiness_asks_the_database_and_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_readiness_says_which_service_is_missing(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["failed"] == ["redis"]
    assert "redis://" not in response.get_data(as_text=True)


# --- the slot listing's ETag -------------------------------------------------------------------


def _listing(client, doctor, **headers):
    today = utcnow().date()
    return client.get(f"/api/v1/availability/doctors/{doctor.id}/slots?"
                      f"from={today.isoformat()}&to={(today + timedelta(days=8)).isoformat()}",
                      headers=headers)


def _still_fresh(client, doctor, etag) -> bool:
    return _listing(client, doctor, **{"If-None-Match": etag}).status_code == 304


@pytest.fixture
def listed(factory, frozen_clock, client):
    """A doctor with slots, a patient, and the listing's first answer (its ETag)."""
    frozen_clock.freeze(utcnow().replace(second=0, microsecond=0))
    doctor = factory.create_doctor(min_notice_minutes=0)
    patient = factory.create_patient()
    first = _listing(client, doctor)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-cache"
    return doctor, patient, first


def test_asking_again_gets_304_while_nothing_changed(client, listed):
    doctor, _, first = listed

    again = _listing(client, doctor, **{"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.get_data() == b""


def test_a_hold_changes_the_etag_so_the_held_slot_is_never_served_from_a_cache(client, listed):
    doctor, patient, first = listed
    slot_id = first.get_json()["slots"][0]["id"]

    appointments.reserve(patient, slot_id)

    assert not _still_fresh(client, doctor, first.headers["ETag"])
    fresh = _listing(client, doctor)
    assert slot_id not in {s["id"] for s in fresh.get_json()["slots"]}
    assert fresh.headers["ETag"] != first.headers["ETag"]


def test_a_booking_and_a_cancellation_each_change_the_etag(client, listed):
    doctor, patient, first = listed
    slot_id = first.get_json()["slots"][0]["id"]
    held = appointments.reserve(patient, slot_id)
    after_hold = _listing(client, doctor).headers["ETag"]

    appointments.confirm(held.id, actor_id=patient.id)
    assert not _still_fresh(client, doctor, after_hold)
    after_booking = _listing(client, doctor).headers["ETag"]

    appointments.cancel_by_patient(patient, held.id)
    assert not _still_fresh(client, doctor, after_booking)
    assert slot_id in {s["id"] for s in _listing(client, doctor).get_json()["slots"]}


def test_schedule_changes_change_the_etag(client, listed, factory):
    doctor, _, first = listed
    etag = first.headers["ETag"]
    slot = first.get_json()["slots"][0]

    block = availability.block_interval(doctor, *[
        datetime_of(slot[key]) for key in ("start", "end")], "a meeting")
    assert not _still_fresh(client, doctor, etag)
    etag = _listing(client, doctor).headers["ETag"]

    availability.unblock(doctor, block.id)
    assert not _still_fresh(client, doctor, etag)
    etag = _listing(client, doctor).headers["ETag"]

    availability.set_weekly_schedule(doctor, factory.weekly_hours("10:00", "12:00"))
    assert not _still_fresh(client, doctor, etag)


def test_the_etag_changes_with_the_question_and_with_the_minute(client, listed, frozen_clock):
    doctor, _, first = listed
    etag = first.headers["ETag"]

    in_kolkata = client.get(f"/api/v1/availability/doctors/{doctor.id}/slots?tz=Asia/Kolkata",
                            headers={"If-None-Match": etag})
    assert in_kolkata.status_code == 200

    frozen_clock.advance(timedelta(minutes=1))
    assert not _still_fresh(client, doctor, etag)


def test_the_listing_answers_as_the_schema_says(client, listed, app):
    _, _, first = listed
    body = first.get_json()

    assert set(body) == {"doctor_id", "timezone", "range_start", "range_end", "slots"}
    slot = body["slots"][0]
    assert set(slot) == {"id", "start", "end", "consultation_type", "fee"}
    assert slot["fee"]["currency"] == app.config["CURRENCY"]
    assert slot["start"].endswith("+05:30")  # the doctor's zone by default


def datetime_of(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- the reserve path --------------------------------------------------------------------------


def test_a_reservation_makes_few_round_trips(app, client, factory, statements):
    """Counted by kind, so a change that adds a query shows up here first (DESIGN's races are
    still decided by the conditional UPDATE, the partial unique index and the exclusion
    constraint: test_booking_race.py)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the combined statements are PostgreSQL's")
    doctor = factory.create_doctor(min_notice_minutes=0)
    patient = factory.create_patient()
    token = client.api_token(patient.email)
    slot_id = _listing(client, doctor).get_json()["slots"][0]["id"]
    statements.clear()

    response = client.post("/api/v1/appointments/reserve", json={"slot_id": slot_id},
                           headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 201
    # The token's user, the slot and its doctor, the patient's lock, their live holds, the
    # conditional UPDATE with the version bump, and three INSERTs (appointment, history,
    # outbox event): one pool checkout.
    assert statements["statements"] <= 8, statements
    assert statements["checkouts"] == 1, statements


def test_a_patient_trying_a_held_slot_is_refused_before_anything_is_locked(
        client, factory, statements):
    doctor = factory.create_doctor(min_notice_minutes=0)
    first, second = factory.create_patient(), factory.create_patient()
    slot_id = _listing(client, doctor).get_json()["slots"][0]["id"]
    appointments.reserve(first, slot_id)
    token = client.api_token(second.email)
    statements.clear()

    response = client.post("/api/v1/appointments/reserve", json={"slot_id": slot_id},
                           headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 409
    assert "holding this time" in response.get_json()["detail"]
    # The token's user, the slot, and whether this patient is the one holding it.
    assert statements["statements"] == 3, statements
