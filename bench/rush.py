"""The rush hour: a popular doctor opens tomorrow's 40 slots at 09:00 and 2,000 patients, already
logged in, try to book them within 5 seconds; meanwhile other patients browse other doctors.

    python -m bench rush [--patients 2000] [--slots 40] [--spread 5] [--connections 200]
                         [--other-doctors 20] [--browsers 20] [--browse-interval 200]
                         [--workers 2] [--threads 8] [--no-preload]

It drops and recreates the dedicated database `portal_bench_rush` (BENCH_RUSH_DATABASE_URL may
point at another server, but the database must have that name), builds the schema with the
migrations and seeds: the popular doctor (tomorrow only, 09:00-19:00 Kolkata, 15-minute in-person
slots: 40), --other-doctors doctors (Monday to Saturday 09:00-13:00 and 14:00-18:00, 15-minute
slots, 30 days) and --patients patients, each with a bearer token minted as the token route does
(they are logged in before the rush). Then gunicorn serves the portal as in
`python -m bench reservations` (bench/server.py) and the popular doctor's slots are listed once.

The rush (two wrk runs at once, bench/lua/portal.lua):
- "09:00" is a moment a second and a half after wrk starts; from then on, --connections
  keep-alive connections each carry --patients / --connections patients, whose single attempts
  (POST /api/v1/appointments/reserve of a slot picked at random among the 40) are spread evenly
  over --spread seconds: 400 attempts a second at the defaults;
- --browsers connections each list a random other doctor's slots (the API's default 14 days)
  every --browse-interval ms, from 09:00 until the rush is over.
It prints the answers to the attempts (there must be exactly --slots holds, and every other
patient a 409 with a clear message, no 5xx), their p50/p99/max latency, when the last answer came
(seconds after 09:00), the browsing listings' p50/p99 during the rush, what one late patient is
told, wrk's CPU share, the workers' memory, and what the database holds afterwards (one active
appointment per held slot, no double booking), then one line of JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from zoneinfo import ZoneInfo

from flask_migrate import upgrade
from redis import Redis
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError

from bench import database, wrk
from bench.database import BenchRefused
from bench.server import start_server, tail
from portal import create_app
from portal.auth.models import Role, User
from portal.auth.service import issue_api_token
from portal.availability import service as availability
from portal.availability.models import WeeklyAvailability
from portal.doctors.models import Doctor
from portal.extensions import db

BENCH_DATABASE = "portal_bench_rush"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/12"
ZONE = "Asia/Kolkata"
LEAD_SECONDS = 1.5  # from starting wrk to "09:00": every connection is open by then
P99_GOAL_MS = 1000
LISTING_P99_GOAL_MS = 200


def bench_database_url() -> str:
    url = os.environ.get("BENCH_RUSH_DATABASE_URL") or DEFAULT_URL
    return database.check_bench_url(url, BENCH_DATABASE, "rush")


def seed(patients: int, other_doctors: int, slots: int) -> dict:
    """The popular doctor, the others and the patients; needs the app context."""
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    tomorrow = today + timedelta(days=1)
    users, doctors, weekly = [], [], []

    def doctor(i: int, window: int) -> uuid.UUID:
        user_id, doctor_id = uuid.uuid4(), uuid.uuid4()
        users.append({"id": user_id, "email": f"rush-doctor{i}@example.com",
                      "name": f"Dr. Rush {i}", "phone": f"+9197{i:08d}", "timezone": ZONE,
                      "password_hash": "!", "role": Role.DOCTOR})
        doctors.append({"id": doctor_id, "user_id": user_id, "specialty": "General Medicine",
                        "fee_video_paise": None, "fee_in_person_paise": 50_000,
                        "timezone": ZONE, "slot_minutes": 15, "booking_window_days": window,
                        "min_notice_minutes": 0, "active": True})
        return doctor_id

    popular = doctor(0, 2)
    end = (datetime.combine(tomorrow, wall(9)) + timedelta(minutes=15 * slots)).time()
    weekly.append({"doctor_id": popular, "weekday": tomorrow.weekday(), "start_time": wall(9),
                   "end_time": end, "consultation_type": "IN_PERSON", "slot_minutes": 15,
                   "buffer_minutes": 0, "effective_from": today, "effective_to": None})
    others = [doctor(i + 1, 30) for i in range(other_doctors)]
    for doctor_id in others:
        for day in range(6):
            for start, stop in ((wall(9), wall(13)), (wall(14), wall(18))):
                weekly.append({"doctor_id": doctor_id, "weekday": day, "start_time": start,
                               "end_time": stop, "consultation_type": "IN_PERSON",
                               "slot_minutes": 15, "buffer_minutes": 0,
                               "effective_from": today, "effective_to": None})
    patient_rows = [{"id": uuid.uuid4(), "email": f"rush-patient{i}@example.com",
                     "name": f"Rush Patient {i}", "phone": f"+9196{i:08d}", "timezone": ZONE,
                     "password_hash": "!", "role": Role.PATIENT} for i in range(patients)]
    for model, rows in ((User, users), (Doctor, doctors), (WeeklyAvailability, weekly),
                        (User, patient_rows)):
        for offset in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[offset:offset + 5000])
    db.session.commit()
    report = availability.regenerate_doctors([popular, *others])
    tokens = [issue_api_token(user) for user in db.session.scalars(
        select(User).where(User.role == Role.PATIENT).order_by(User.email))]
    return {"popular": str(popular), "others": [str(d) for d in others], "tokens": tokens,
            "slots_generated": report.created, "tomorrow": tomorrow}


def after_the_rush(popular: str) -> dict[str, int]:
    """What the database holds; needs the app context."""
    queries = {
        "active_appointments": "SELECT count(*) FROM appointments WHERE status IN "
                               "('RESERVED', 'CONFIRMED') AND doctor_id = :doctor",
        "held_slots": "SELECT count(*) FROM available_slots WHERE status = 'HELD' "
                      "AND doctor_id = :doctor",
        "slots_with_two_active": """
            SELECT count(*) FROM (SELECT slot_id FROM appointments
                                  WHERE status IN ('RESERVED', 'CONFIRMED')
                                  GROUP BY slot_id HAVING count(*) > 1) AS shared""",
        "patients_with_a_hold": "SELECT count(DISTINCT patient_id) FROM appointments "
                                "WHERE doctor_id = :doctor",
    }
    return {name: db.session.execute(text(sql), {"doctor": popular}).scalar_one()
            for name, sql in queries.items()}


def call(port: int, method: str, path: str, token: str | None = None,
         body: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body else None,
                     headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench rush",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--slots", type=int, default=40, help="the popular doctor's (max 60)")
    parser.add_argument("--spread", type=float, default=5.0,
                        help="seconds over which the attempts are spread (default 5)")
    parser.add_argument("--connections", type=int, default=200,
                        help="keep-alive connections carrying the attempts (default 200)")
    parser.add_argument("--other-doctors", type=int, default=20)
    parser.add_argument("--browsers", type=int, default=20,
                        help="connections listing other doctors' slots (default 20)")
    parser.add_argument("--browse-interval", type=int, default=200,
                        help="ms between one browser's listings (default 200)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if not (0 < args.slots <= 60 and args.patients >= args.connections > 0
            and 0 < args.spread <= 60 and args.other_doctors > 0 and args.browsers > 0):
        parser.error("--slots 1-60, --patients >= --connections > 0, --spread 0-60 s")

    try:
        url = bench_database_url()
        wrk.wrk_path()
        database.recreate_database(url, BENCH_DATABASE)
        Redis.from_url(REDIS_URL).flushdb()
    except (BenchRefused, wrk.WrkMissing) as exc:
        print(f"rush: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"rush: PostgreSQL is not reachable ({exc.orig})", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"rush: Redis is not reachable on {REDIS_URL} ({exc})", file=sys.stderr)
        return 2

    secret_key = secrets.token_urlsafe(32)
    app = create_app({"SECRET_KEY": secret_key, "SQLALCHEMY_DATABASE_URI": url,
                      "REDIS_URL": REDIS_URL, "RATELIMIT_STORAGE_URI": "memory://",
                      "SERVER_NAME": None})
    with app.app_context():
        upgrade()
        pg_version = db.session.execute(text("SHOW server_version")).scalar()
        world = seed(args.patients, args.other_doctors, args.slots)
        db.session.remove()

    env = {"DATABASE_URL": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": secret_key,
           "PORTAL_ENV": "development"}
    total = args.connections + args.browsers
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-rush-") as work:
        server = None
        try:
            server = start_server(env, workers=args.workers, threads=args.threads,
                                  connections=math.ceil(total / args.workers) + args.threads,
                                  log_dir=Path(work), preload=args.preload)
            day = world["tomorrow"].isoformat()
            status, listed = call(server.port, "GET", f"/api/v1/availability/doctors/"
                                  f"{world['popular']}/slots?from={day}&tz={ZONE}")
            slot_ids = [slot["id"] for slot in listed.get("slots", [])]
            if status != 200 or len(slot_ids) != args.slots:
                raise RuntimeError(f"the popular doctor lists {len(slot_ids)} slots ({status})")
            files = {"BENCH_TOKENS": wrk.write_lines(work, "tokens", world["tokens"]),
                     "BENCH_SLOTS": wrk.write_lines(work, "slots", slot_ids),
                     "BENCH_DOCTORS": wrk.write_lines(work, "doctors", world["others"]),
                     "BENCH_QUERY": f"tz={ZONE}"}
            nine = time.monotonic() + LEAD_SECONDS
            timing = {"BENCH_START_US": str(int(nine * 1e6)),
                      "BENCH_SPREAD_MS": str(int(args.spread * 1000))}
            rush_run = wrk.start(server.url, "rush", mode="rush", connections=args.connections,
                                 duration=LEAD_SECONDS + args.spread + 15,
                                 env={**files, **timing})
            browse_run = wrk.start(server.url, "browsing", mode="listing",
                                   connections=args.browsers,
                                   duration=LEAD_SECONDS + args.spread + 1,
                                   env={**files, **timing,
                                        "BENCH_INTERVAL_MS": str(args.browse_interval)})
            rush, browse = rush_run.wait(), browse_run.wait()
            late_status, late = call(server.port, "POST", "/api/v1/appointments/reserve",
                                     world["tokens"][-1], {"slot_id": slot_ids[0]})
            memory = server.worker_memory_kib()
            server_log = tail(server.log_path, 20)
        finally:
            if server is not None:
                server.stop()
    with app.app_context():
        found = after_the_rush(world["popular"])
        db.session.remove()
        db.engine.dispose()
    load_after = os.getloadavg()

    holds = rush.statuses.get("201", 0)
    refused = rush.statuses.get("409", 0)
    last_answer = (rush.answered_at[-1] - nine) if rush.answered_at else None
    rush_end = rush.answered_at[-1] if rush.answered_at else nine + args.spread
    during = browse.latencies_between(nine, rush_end)
    listing_p50, listing_p99 = wrk.percentile(during, 0.5), wrk.percentile(during, 0.99)
    p99 = rush.p(0.99)
    print(f"rush on PostgreSQL {pg_version} ({BENCH_DATABASE}); load average (1 min) before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"  gunicorn{' --preload' if args.preload else ''}: {args.workers} gthread workers x "
          f"{args.threads} threads; {world['slots_generated']:,} slots generated")
    print(f"  {args.patients:,} patients try {args.slots} slots over {args.spread:g} s on "
          f"{args.connections} connections; {args.browsers} browsers list other doctors' "
          f"slots every {args.browse_interval} ms")
    print(f"  holds: {holds} (must be {args.slots}); refused 409: {refused:,}; answers: "
          f"{dict(rush.statuses)}; titles: {dict(rush.titles)}")
    print(f"  attempts: {rush.requests:,} answered; p50 {rush.p(0.5) or 0:.1f} ms, p99 "
          f"{p99 or 0:.1f} ms (goal < {P99_GOAL_MS}), max {rush.p(1.0) or 0:.1f} ms; last answer "
          f"{last_answer or 0:.2f} s after 09:00")
    print(f"  what a late patient is told: {late_status} {late.get('title')!r}: "
          f"{late.get('detail')!r}")
    print(f"  other doctors' listings during the rush: {len(during):,}; p50 "
          f"{listing_p50 or 0:.1f} ms, p99 {listing_p99 or 0:.1f} ms (goal < "
          f"{LISTING_P99_GOAL_MS}); answers {dict(browse.statuses)}")
    print(f"  wrk's CPU: rush {rush.client_cpu_s:.2f} s ({rush.client_share:.1%} of the "
          f"machine), browsing {browse.client_cpu_s:.2f} s ({browse.client_share:.1%})")
    print("  web workers' memory after the rush (peak RSS / RSS / PSS): " + ", ".join(
        f"{m.get('VmHWM', 0) / 1024:.1f} / {m.get('VmRSS', 0) / 1024:.1f} / "
        f"{m.get('Pss', 0) / 1024:.1f} MiB" for m in memory))
    print(f"  database: {found['active_appointments']} active appointments and "
          f"{found['held_slots']} held slots of the popular doctor, "
          f"{found['slots_with_two_active']} slots with two active appointments")
    server_errors = rush.server_errors() + browse.server_errors()
    if server_errors:
        print(f"  server log tail:\n{server_log}")
    ok = (holds == args.slots == found["active_appointments"] == found["held_slots"]
          and rush.requests == args.patients and refused == rush.requests - holds
          and not server_errors and not found["slots_with_two_active"] and late_status == 409)
    print(json.dumps({
        "bench": "rush", "postgres": pg_version, "patients": args.patients,
        "slots": args.slots, "spread_s": args.spread, "connections": args.connections,
        "holds": holds, "refused": refused, "server_errors": server_errors,
        "statuses": dict(rush.statuses), "titles": dict(rush.titles),
        "attempts": rush.figures(), "p99_ms": rush.figures()["p99_ms"],
        "last_answer_s": round(last_answer, 2) if last_answer is not None else None,
        "late_answer": {"status": late_status, "title": late.get("title"),
                        "detail": late.get("detail")},
        "listing_during": {"requests": len(during),
                           "p50_ms": round(listing_p50, 2) if listing_p50 else None,
                           "p99_ms": round(listing_p99, 2) if listing_p99 else None},
        "browsing": browse.figures(), "web_worker_memory_kib": memory,
        "database": found, "ok": ok, "loadavg_before": round(load_before[0], 2),
        "loadavg_after": round(load_after[0], 2)}), flush=True)
    if not ok:
        print("rush: the rush did not end as it must (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
