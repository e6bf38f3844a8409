"""Races for slots over HTTP against a live server, on PostgreSQL and on SQLite (issue 4).

Invariant 1: a slot is never held or booked by two appointments. Invariant 2: a lapsed hold
never blocks a booking. Every test runs on both databases: the one the session selected uses
the suite's `app` and `live_server`; the other gets an app of its own from `create_app`, with
the schema built by the migrations, served by the same `LiveServer` in this process (so it
shares the process clock).

Each client is a thread with its own `requests.Session` (its own keep-alive connection), its
own patient account and bearer token, all obtained before the race; a `threading.Barrier`
releases them together. Every HTTP call has a 30 s timeout and every test a 60 s limit.
"""

from __future__ import annotations

import os
import socket
import threading
import time as timer
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased

from portal import create_app
from portal.appointments import service as appointments
from portal.appointments.models import ACTIVE_STATUSES, Appointment, AppointmentStatusHistory
from portal.availability.models import AvailableSlot, SlotStatus
from portal.clock import utcnow
from portal.errors import PROBLEM_JSON
from portal.events import OutboxEvent
from portal.extensions import db
from tests import factories
from tests.conftest import PG_ADMIN_URL, LiveServer

HTTP_TIMEOUT = 30  # seconds, every request
RACE_DEADLINE = 45  # seconds for all the threads of one race to finish
CLIENTS = 60
SLOTS = 5
RACE_PG_DB = "portal_test_race"

# Settings of the suite's app that an app on the other database copies (tests/conftest.py).
_TEST_SETTINGS = ("TESTING", "SECRET_KEY", "REDIS_URL", "RATELIMIT_STORAGE_URI", "MAIL_SERVER",
                  "MAIL_PORT", "MAIL_SUPPRESS_SEND", "MAILBOX_DIR", "PASSWORD_HASH_PROFILE",
                  "SERVER_NAME")

pytestmark = pytest.mark.timeout(60)


# --- where the race runs -------------------------------------------------------------------


@dataclass
class Arena:
    """An app, its database and a live HTTP server serving it."""

    app: Flask
    url: str
    dialect: str
    sessions: list[requests.Session] = field(default_factory=list)

    def http(self) -> requests.Session:
        """A new client connection (closed when the test ends)."""
        session = requests.Session()
        self.sessions.append(session)
        return session

    def close(self) -> None:
        for session in self.sessions:
            session.close()

    @contextmanager
    def context(self) -> Iterator[None]:
        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()


def _dialect(app: Flask) -> str:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()


def _postgres_reachable() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


def _fresh_postgres_database() -> str:
    """A database of its own on the local PostgreSQL, for when the session runs on SQLite."""
    if not _postgres_reachable():
        reason = "PostgreSQL is not reachable on 127.0.0.1:5432"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}: the PostgreSQL race must run")
        pytest.skip(f"{reason}; the race on PostgreSQL runs where it is (CI: REQUIRE_SERVICES=1)")
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {RACE_PG_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {RACE_PG_DB}"))
    engine.dispose()
    return str(make_url(PG_ADMIN_URL).set(database=RACE_PG_DB))


def _drop_postgres_database() -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {RACE_PG_DB} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def arena(request, app, tmp_path, monkeypatch) -> Iterator[Arena]:
    """The race's app and server on the parametrised database.

    Login rate limits are raised for the test: every client logs in from 127.0.0.1.
    """
    wanted = request.param
    if _dialect(app) == wanted:
        monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100000 per minute")
        arena = Arena(app, request.getfixturevalue("live_server").url, wanted)
        yield arena
        arena.close()
        return

    url = (f"sqlite:///{tmp_path / 'race.db'}" if wanted == "sqlite"
           else _fresh_postgres_database())
    other = create_app({**{key: app.config[key] for key in _TEST_SETTINGS},
                        "SQLALCHEMY_DATABASE_URI": url,
                        "LOGIN_RATE_LIMIT": "100000 per minute"})
    with other.app_context():
        upgrade()
    server = LiveServer(other).start()
    arena = Arena(other, server.url, wanted)
    try:
        yield arena
    finally:
        arena.close()
        server.stop()
        with other.app_context():
            db.engine.dispose()
        if wanted == "postgresql":
            _drop_postgres_database()


# --- clients -------------------------------------------------------------------------------


@dataclass
class Client:
    """One patient with one keep-alive HTTP connection of their own."""

    patient_id: str
    http: requests.Session


@dataclass
class Outcome:
    client: Client
    slot_id: str
    status: int | None = None
    content_type: str = ""
    body: dict = field(default_factory=dict)
    error: str | None = None


def patients_with_tokens(arena: Arena, count: int) -> list[Client]:
    """`count` new patients, each logged in through the API on a session of its own."""
    with arena.context():
        accounts = [(str(p.id), p.email)
                    for p in (factories.create_patient() for _ in range(count))]

    def log_in(account: tuple[str, str]) -> Client:
        patient_id, email = account
        http = arena.http()
        response = http.post(f"{arena.url}/api/v1/auth/token", timeout=HTTP_TIMEOUT,
                             json={"email": email, "password": factories.PASSWORD})
        assert response.status_code == 200, response.text[:300]
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return Client(patient_id, http)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(log_in, accounts))


def race(arena: Arena, attempts: list[tuple[Client, str, dict[str, str]]]) -> list[Outcome]:
    """Every (client, slot_id, headers) reserves at the same moment; all outcomes, in order."""
    barrier = threading.Barrier(len(attempts), timeout=HTTP_TIMEOUT)
    outcomes = [Outcome(client, slot_id) for client, slot_id, _ in attempts]

    def attempt(index: int) -> None:
        client, slot_id, headers = attempts[index]
        outcome = outcomes[index]
        try:
            barrier.wait()
            response = client.http.post(f"{arena.url}/api/v1/appointments/reserve",
                                        json={"slot_id": slot_id}, headers=headers,
                                        timeout=HTTP_TIMEOUT)
            outcome.status = response.status_code
            outcome.content_type = response.headers.get("Content-Type", "")
            outcome.body = response.json()
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and asserted on
            outcome.error = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=attempt, args=(i,), daemon=True)
               for i in range(len(attempts))]
    deadline = timer.monotonic() + RACE_DEADLINE
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - timer.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} clients still waiting after {RACE_DEADLINE} s"
    return outcomes


def assert_every_loser_told_clearly(outcomes: list[Outcome]) -> None:
    """No transport errors, no 5xx; every response a 201 or a 409 problem with a sentence."""
    errors = [o.error for o in outcomes if o.error]
    assert not errors, f"{len(errors)} clients failed: {errors[:3]}"
    statuses = Counter(o.status for o in outcomes)
    assert set(statuses) <= {201, 409}, statuses
    for outcome in outcomes:
        if outcome.status == 201:
            continue
        assert outcome.content_type.startswith(PROBLEM_JSON), outcome.content_type
        body = outcome.body
        assert body["status"] == 409
        assert body["title"] == "Slot unavailable"
        detail = body.get("detail")
        assert isinstance(detail, str), body
        # A sentence for a person, not a database error.
        assert len(detail) >= 20, detail
        assert " " in detail, detail
        assert detail[0].isupper(), detail
        assert detail.rstrip().endswith("."), detail
        lowered = detail.lower()
        assert not any(word in lowered for word in
                       ("error", "constraint", "exception", "sql", "integrity", "locked")), detail


# --- the database's view ---------------------------------------------------------------------


def active_appointments(slot_id: str) -> list[Appointment]:
    return list(db.session.scalars(select(Appointment).where(
        Appointment.slot_id == uuid.UUID(slot_id), Appointment.status.in_(ACTIVE_STATUSES))))


def history_of(appointment_id: uuid.UUID) -> list[tuple[str | None, str]]:
    return [(row.from_status, row.to_status) for row in db.session.scalars(
        select(AppointmentStatusHistory)
        .where(AppointmentStatusHistory.appointment_id == appointment_id)
        .order_by(AppointmentStatusHistory.created_at, AppointmentStatusHistory.from_status))]


def double_bookings() -> tuple[int, int]:
    """(slots with more than one active appointment, overlapping active pairs of a doctor)."""
    per_slot = select(Appointment.slot_id).where(
        Appointment.status.in_(ACTIVE_STATUSES), Appointment.slot_id.is_not(None)
    ).group_by(Appointment.slot_id).having(func.count() > 1).subquery()
    shared_slots = db.session.scalar(select(func.count()).select_from(per_slot))
    a, b = aliased(Appointment), aliased(Appointment)
    overlaps = db.session.scalar(select(func.count()).select_from(a).join(b, (
        (a.doctor_id == b.doctor_id) & (a.id < b.id)
        & (a.start_at < b.end_at) & (b.start_at < a.end_at))).where(
        a.status.in_(ACTIVE_STATUSES), b.status.in_(ACTIVE_STATUSES)))
    return shared_slots, overlaps


def doctor_with_slots(arena: Arena, count: int) -> list[str]:
    """A doctor open every day 08:00-20:00 (Kolkata); the ids of their first `count` slots
    bookable for an hour yet (a test that moves the clock past a hold's five minutes must not
    see its first slot slip inside the doctor's notice meanwhile, whatever the time of day)."""
    with arena.context():
        doctor = factories.create_doctor(hours=factories.weekly_hours(
            "08:00", "20:00", "IN_PERSON", days=factories.EVERY_DAY))
        slot_ids = list(db.session.scalars(
            select(AvailableSlot.id).where(AvailableSlot.doctor_id == doctor.id,
                                           AvailableSlot.status == SlotStatus.FREE.value,
                                           AvailableSlot.start_at >= utcnow() + timedelta(
                                               minutes=doctor.min_notice_minutes + 60))
            .order_by(AvailableSlot.start_at).limit(count)))
    assert len(slot_ids) == count
    return [str(slot_id) for slot_id in slot_ids]


# --- the races -------------------------------------------------------------------------------


def test_many_clients_one_winner_per_slot(arena):
    started = timer.monotonic()
    slot_ids = doctor_with_slots(arena, SLOTS)
    clients = patients_with_tokens(arena, CLIENTS)
    attempts = [(client, slot_ids[i % SLOTS], {}) for i, client in enumerate(clients)]

    outcomes = race(arena, attempts)

    assert_every_loser_told_clearly(outcomes)
    winners: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.status == 201:
            winners[outcome.slot_id].append(outcome)
    assert {slot: len(won) for slot, won in winners.items()} == dict.fromkeys(slot_ids, 1)
    with arena.context():
        for slot_id in slot_ids:
            (winner,) = winners[slot_id]
            assert winner.body["slot_id"] == slot_id
            assert winner.body["status"] == "RESERVED"
            assert winner.body["patient_id"] == winner.client.patient_id
            (appointment,) = active_appointments(slot_id)
            assert str(appointment.id) == winner.body["id"]
            assert str(appointment.patient_id) == winner.client.patient_id
            slot = db.session.get(AvailableSlot, uuid.UUID(slot_id))
            assert slot.status == SlotStatus.HELD
            assert slot.held_until == appointment.reserved_until
            assert history_of(appointment.id) == [(None, "RESERVED")]
        # Losers left nothing behind: one appointment and one history row per slot.
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == SLOTS
        assert db.session.scalar(select(func.count()).select_from(AppointmentStatusHistory)
                                 .where(AppointmentStatusHistory.to_status == "RESERVED")
                                 ) == SLOTS
        assert double_bookings() == (0, 0)
    assert timer.monotonic() - started < 60


@pytest.mark.parametrize("slot_count", [1, 2], ids=["one-slot", "two-slots"])
def test_the_same_idempotency_key_gives_one_hold(arena, slot_count):
    """Fifty retries with one key; with two slots, half of them ask for another slot (a
    client reusing its key after the patient changed their choice): the key still wins."""
    slot_ids = doctor_with_slots(arena, slot_count)
    (owner,) = patients_with_tokens(arena, 1)
    # One patient pressing "hold" on many tabs at once: a connection each, one token.
    clients = []
    for _ in range(50):
        http = arena.http()
        http.headers["Authorization"] = owner.http.headers["Authorization"]
        assert http.get(f"{arena.url}/api/v1/me", timeout=HTTP_TIMEOUT).status_code == 200
        clients.append(Client(owner.patient_id, http))
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}

    outcomes = race(arena, [(client, slot_ids[i % slot_count], key)
                            for i, client in enumerate(clients)])

    errors = [o.error for o in outcomes if o.error]
    assert not errors, errors[:3]
    assert Counter(o.status for o in outcomes) == {201: 50}
    ids = {o.body["id"] for o in outcomes}
    assert len(ids) == 1
    with arena.context():
        rows = list(db.session.scalars(select(Appointment).where(
            Appointment.patient_id == uuid.UUID(owner.patient_id))))
        assert [str(row.id) for row in rows] == list(ids)
        assert rows[0].idempotency_key == key["Idempotency-Key"]
        assert history_of(rows[0].id) == [(None, "RESERVED")]
        held = str(rows[0].slot_id)
        assert {o.body["slot_id"] for o in outcomes} == {held}
        for slot_id in slot_ids:  # a losing slot was given back (its UPDATE rolled back)
            assert db.session.get(AvailableSlot, uuid.UUID(slot_id)).status == (
                SlotStatus.HELD if slot_id == held else SlotStatus.FREE)


def test_a_lapsed_hold_goes_to_one_of_two_racers(arena, frozen_clock):
    """No worker runs: the reservations themselves expire the lapsed holds, once."""
    frozen_clock.freeze(datetime.now(UTC).replace(microsecond=0))
    slot_ids = doctor_with_slots(arena, 3)
    with arena.context():
        previous = {}
        for slot_id in slot_ids:  # a holder per slot: holds per patient are limited
            holder = factories.create_patient()
            previous[slot_id] = appointments.reserve(holder, uuid.UUID(slot_id)).id
        hold_minutes = arena.app.config["HOLD_MINUTES"]
    challengers = patients_with_tokens(arena, 2 * len(slot_ids))
    frozen_clock.advance(timedelta(minutes=hold_minutes, seconds=1))
    lapsed_at = frozen_clock.now()

    outcomes = race(arena, [(client, slot_ids[i // 2], {})
                            for i, client in enumerate(challengers)])

    assert_every_loser_told_clearly(outcomes)
    for slot_id in slot_ids:
        assert sorted(o.status for o in outcomes if o.slot_id == slot_id) == [201, 409]
    with arena.context():
        for slot_id in slot_ids:
            (winner,) = [o for o in outcomes if o.slot_id == slot_id and o.status == 201]
            old = db.session.get(Appointment, previous[slot_id])
            assert old.status == "EXPIRED"
            assert history_of(old.id) == [(None, "RESERVED"), ("RESERVED", "EXPIRED")]
            expired_row = db.session.scalar(select(AppointmentStatusHistory).where(
                AppointmentStatusHistory.appointment_id == old.id,
                AppointmentStatusHistory.to_status == "EXPIRED"))
            assert expired_row.created_at == lapsed_at
            assert expired_row.changed_by_id is None
            assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.aggregate_id == old.id, OutboxEvent.event_type == "EXPIRED")) == 1
            (appointment,) = active_appointments(slot_id)
            assert str(appointment.id) == winner.body["id"]
            assert history_of(appointment.id) == [(None, "RESERVED")]
            slot = db.session.get(AvailableSlot, uuid.UUID(slot_id))
            assert slot.status == SlotStatus.HELD
            assert slot.held_until == lapsed_at + timedelta(minutes=hold_minutes)
        assert double_bookings() == (0, 0)
