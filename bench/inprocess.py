"""What one request costs the server, in this process, without a network or a load generator.

    python -m bench inprocess [--repeat 2000]

It drops and recreates the dedicated database `portal_bench_inprocess`
(BENCH_INPROCESS_DATABASE_URL may point at another server, but the database must have that
name), builds the schema with the migrations and seeds the listing scenario: one doctor in
Asia/Kolkata with Monday-Saturday 09:00-13:00 and 14:00-18:00 in 15-minute slots for 30 days,
20% of them booked; a second doctor with 30 days of free slots to reserve; patients with bearer
tokens. Then, on the app built by `create_app` (on that database and Redis database 13, as the
reservations benchmark), in one thread, one request after another:

- GET /healthz through Flask's test client, --repeat times, and the same as a bare WSGI call
  (environ in, start_response, body closed), --repeat times;
- the first doctor's slots for 30 days (from today, about 666 free) and for one day
  (tomorrow), 200 times each, then the 30 days again with If-None-Match (a revalidation);
- POST /api/v1/appointments/reserve with bearer tokens, 200 times, each a new patient and slot.
Each prints the mean and median time per request, and the database round trips each request
made, counted by SQLAlchemy event listeners: statements executed, BEGINs (psycopg sends one
before the first statement of a transaction), COMMITs, ROLLBACKs and the pre-ping of each pool
checkout. Then one line of JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from zoneinfo import ZoneInfo

from flask_migrate import upgrade
from redis import Redis
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import OperationalError

from bench import database
from bench.database import BenchRefused
from portal import create_app
from portal.auth.models import Role, User
from portal.auth.service import issue_api_token
from portal.availability import service as availability
from portal.availability.models import AvailableSlot, SlotStatus, WeeklyAvailability
from portal.doctors.models import Doctor
from portal.extensions import db

BENCH_DATABASE = "portal_bench_inprocess"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/13"
ZONE = "Asia/Kolkata"
RESERVES = 200


def bench_database_url() -> str:
    url = os.environ.get("BENCH_INPROCESS_DATABASE_URL") or DEFAULT_URL
    return database.check_bench_url(url, BENCH_DATABASE, "in-process")


class RoundTrips:
    """Counts what the app sends to the database, by kind, while `counting` is on."""

    def __init__(self, engine) -> None:
        self.counts: Counter = Counter()
        self.counting = False
        self.pre_ping = bool(engine.pool._pre_ping)
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._kind("BEGIN"))
        event.listen(engine, "commit", self._kind("COMMIT"))
        event.listen(engine, "rollback", self._kind("ROLLBACK"))
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, *args, **kwargs) -> None:
        if self.counting:
            self.counts["statements"] += 1

    def _kind(self, kind: str):
        def count(conn, *args, **kwargs) -> None:
            # In autocommit the driver sends no BEGIN, COMMIT or ROLLBACK.
            if self.counting and conn.get_execution_options().get(
                    "isolation_level") != "AUTOCOMMIT":
                self.counts[kind] += 1
        return count

    def _checkout(self, *args) -> None:
        if self.counting and self.pre_ping:
            self.counts["pings"] += 1

    def per_request(self, requests: int) -> dict:
        total = sum(self.counts.values())
        return {"total": round(total / requests, 2),
                **{k: round(v / requests, 2) for k, v in sorted(self.counts.items())}}


def seed(patients: int) -> dict:
    """The listing doctor (20% booked), a doctor to reserve from, patients with tokens."""
    zone = ZoneInfo(ZONE)
    today = datetime.now(UTC).astimezone(zone).date()
    users, doctors, weekly = [], [], []
    ids = []
    for i in range(2):
        user_id, doctor_id = uuid.uuid4(), uuid.uuid4()
        ids.append(doctor_id)
        users.append({"id": user_id, "email": f"costs-doctor{i}@example.com",
                      "name": f"Dr. Costs {i}", "phone": f"+9195{i:08d}", "timezone": ZONE,
                      "password_hash": "!", "role": Role.DOCTOR})
        doctors.append({"id": doctor_id, "user_id": user_id, "specialty": "General Medicine",
                        "fee_video_paise": None, "fee_in_person_paise": 50_000,
                        "timezone": ZONE, "slot_minutes": 15, "booking_window_days": 30,
                        "min_notice_minutes": 0, "active": True})
        for day in range(6 if i == 0 else 7):
            for start, stop in ((wall(9), wall(13)), (wall(14), wall(18))):
                weekly.append({"doctor_id": doctor_id, "weekday": day, "start_time": start,
                               "end_time": stop, "consultation_type": "IN_PERSON",
                               "slot_minutes": 15, "buffer_minutes": 0,
                               "effective_from": today - timedelta(days=1),
                               "effective_to": None})
    patient_rows = [{"id": uuid.uuid4(), "email": f"costs-patient{i}@example.com",
                     "name": f"Costs Patient {i}", "phone": f"+9194{i:08d}", "timezone": ZONE,
                     "password_hash": "!", "role": Role.PATIENT} for i in range(patients)]
    for model, rows in ((User, users), (Doctor, doctors), (WeeklyAvailability, weekly),
                        (User, patient_rows)):
        db.session.execute(insert(model), rows)
    db.session.commit()
    availability.regenerate_doctors(ids)
    listed_ids = list(db.session.scalars(select(AvailableSlot.id).where(
        AvailableSlot.doctor_id == ids[0])))
    booked = random.Random(7).sample(listed_ids, len(listed_ids) // 5)  # 20% booked
    db.session.execute(update(AvailableSlot).where(AvailableSlot.id.in_(booked))
                       .values(status=SlotStatus.BOOKED))
    free_for_reserve = [str(s) for s in db.session.scalars(
        select(AvailableSlot.id).where(AvailableSlot.doctor_id == ids[1],
                                       AvailableSlot.start_at > datetime.now(UTC)
                                       + timedelta(hours=1))
        .order_by(AvailableSlot.start_at))]
    db.session.commit()
    tokens = [issue_api_token(user) for user in db.session.scalars(
        select(User).where(User.role == Role.PATIENT).order_by(User.email))]
    return {"listing_doctor": str(ids[0]), "slots": len(listed_ids), "booked": len(booked),
            "reserve_slots": free_for_reserve, "tokens": tokens, "today": today}


def timed(calls: int, once) -> list[float]:
    """Milliseconds of each of `calls` calls of `once()`."""
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        once()
        took.append((time.perf_counter() - started) * 1000)
    return took


def summary(took: list[float]) -> dict:
    return {"mean_ms": round(statistics.fmean(took), 3),
            "median_ms": round(statistics.median(took), 3), "calls": len(took)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inprocess",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000,
                        help="calls of /healthz each way (default 2000)")
    args = parser.parse_args(argv)
    try:
        url = bench_database_url()
        database.recreate_database(url, BENCH_DATABASE)
        Redis.from_url(REDIS_URL).ping()
    except BenchRefused as exc:
        print(f"inprocess: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"inprocess: PostgreSQL is not reachable ({exc.orig})", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"inprocess: Redis is not reachable on {REDIS_URL} ({exc})", file=sys.stderr)
        return 2

    app = create_app({"SECRET_KEY": secrets.token_urlsafe(32), "SQLALCHEMY_DATABASE_URI": url,
                      "REDIS_URL": REDIS_URL, "RATELIMIT_STORAGE_URI": "memory://",
                      "SERVER_NAME": None})
    with app.app_context():
        upgrade()
        world = seed(RESERVES + 10)
        trips = RoundTrips(db.engine)
        db.session.remove()

    client = app.test_client()
    figures: dict = {"bench": "inprocess", "slots": world["slots"], "booked": world["booked"]}

    def count(name: str, calls: int, once) -> list[float]:
        trips.counts.clear()
        trips.counting = True
        try:
            took = timed(calls, once)
        finally:
            trips.counting = False
        figures[name] = {**summary(took), "round_trips": trips.per_request(calls)}
        return took

    # /healthz: Flask's test client, then a bare WSGI call.
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.errors": sys.stderr, "wsgi.multithread": True,
               "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0)}

    def wsgi_call() -> None:
        body = app({**environ, "wsgi.input": io.BytesIO()}, lambda status, headers, exc=None:
                   None)
        try:
            b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()

    for _ in range(200):  # warm up
        client.get("/healthz")
        wsgi_call()
    count("healthz_test_client", args.repeat, lambda: client.get("/healthz"))
    count("healthz_wsgi", args.repeat, wsgi_call)

    today = world["today"]
    month = (f"/api/v1/availability/doctors/{world['listing_doctor']}/slots?"
             f"from={today.isoformat()}&to={(today + timedelta(days=30)).isoformat()}&tz={ZONE}")
    tomorrow = today + timedelta(days=1)
    while tomorrow.weekday() == 6:  # the listing doctor rests on Sundays
        tomorrow += timedelta(days=1)
    day = (f"/api/v1/availability/doctors/{world['listing_doctor']}/slots?"
           f"from={tomorrow.isoformat()}&to={(tomorrow + timedelta(days=1)).isoformat()}"
           f"&tz={ZONE}")
    first = client.get(month)
    listed_month = len(first.get_json()["slots"])
    listed_day = len(client.get(day).get_json()["slots"])
    for _ in range(20):
        client.get(month)
    count("listing_30_days", 200, lambda: client.get(month))
    count("listing_1_day", 500, lambda: client.get(day))
    etag = client.get(month).headers.get("ETag")
    figures["etag"] = etag
    if etag:
        status = client.get(month, headers={"If-None-Match": etag}).status_code
        figures["revalidation_status"] = status
        count("listing_30_days_304", 500,
              lambda: client.get(month, headers={"If-None-Match": etag}))
    figures["listed_30_days"], figures["listed_1_day"] = listed_month, listed_day

    reserves = iter(zip(world["tokens"], world["reserve_slots"], strict=False))
    outcomes: Counter = Counter()

    def reserve() -> None:
        token, slot_id = next(reserves)
        response = client.post("/api/v1/appointments/reserve", json={"slot_id": slot_id},
                               headers={"Authorization": f"Bearer {token}"})
        outcomes[response.status_code] += 1

    for _ in range(10):  # warm up (prepared statements, caches)
        reserve()
    outcomes.clear()
    count("reserve", RESERVES, reserve)
    figures["reserve_outcomes"] = dict(outcomes)
    with app.app_context():
        db.engine.dispose()

    def line(label: str, key: str) -> None:
        found = figures.get(key)
        if not found:
            print(f"  {label:<44} -")
            return
        trips_of = found["round_trips"]
        kinds = ", ".join(f"{k} {v:g}" for k, v in trips_of.items() if k != "total")
        print(f"  {label:<44} {found['mean_ms']:>8.3f} {found['median_ms']:>8.3f}   "
              f"{trips_of['total']:>5g} ({kinds or 'none'})")

    print(f"in-process request costs on PostgreSQL ({BENCH_DATABASE}); load average (1 min) "
          f"{os.getloadavg()[0]:.2f}")
    print(f"  {'':<44} {'mean ms':>8} {'median':>8}   round trips per request")
    line("GET /healthz, Flask test client", "healthz_test_client")
    line("GET /healthz, bare WSGI call", "healthz_wsgi")
    line(f"GET slots, 30 days ({listed_month} slots)", "listing_30_days")
    line(f"GET slots, 1 day ({listed_day} slots)", "listing_1_day")
    line("GET slots, 30 days, If-None-Match (304)", "listing_30_days_304")
    line("POST reserve (bearer token)", "reserve")
    print(f"  reserve outcomes: {figures['reserve_outcomes']}; ETag: {etag or 'none'}")
    print(json.dumps(figures), flush=True)
    return 0 if set(outcomes) == {201} else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
