"""Slot generation for many doctors on PostgreSQL: slots per second and peak memory.

    python -m bench slot_generation [--doctors 1000] [--days 30] [--now 2027-03-08T00:30:00Z]

It drops and recreates the dedicated database `portal_bench` (BENCH_DATABASE_URL may point at
another server, but the database must be called portal_bench: the script refuses anything
else), builds the schema with the migrations, bulk-inserts doctors with realistic weekly hours
in several time zones, then times only `regenerate_doctors(active_doctor_ids())`, the call the
daily cron job makes. It prints a table and one line of JSON with the figures.

Phases, so that memory tracing does not slow the timed run:
1. timed generation of every doctor's window (no tracing); peak RSS read right after;
2. timed idempotent re-run (must create nothing);
3. the free slots are deleted and generation runs again under tracemalloc for its peak.

The default `now` is a fixed Monday whose 30-day window crosses the American and British
spring-forward changes, so every run does the same work.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import sys
import time as timer
import tracemalloc
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_migrate import upgrade
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bench import database
from bench.database import BenchRefused
from portal import create_app
from portal.auth.models import Role, User
from portal.auth.service import hash_password
from portal.availability import service
from portal.availability.models import (
    AvailabilityOverride,
    AvailableSlot,
    BlockedSlot,
    WeeklyAvailability,
)
from portal.availability.slots import WeeklyRange, validate_ranges
from portal.doctors.models import Doctor
from portal.extensions import db

BENCH_DATABASE = "portal_bench"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
# Monday 8 March 2027, 06:00 in Kolkata: New York springs forward on the 14th, London on the
# 28th, both inside the 30-day window.
DEFAULT_NOW = datetime(2027, 3, 8, 0, 30, tzinfo=UTC)

ZONES = ("Asia/Kolkata", "Europe/London", "America/New_York", "Asia/Dubai")
ZONE_WEIGHTS = (70, 10, 10, 10)
SPECIALTIES = ("General Medicine", "Cardiology", "Dermatology", "Paediatrics", "Orthopaedics",
               "Gynaecology", "ENT", "Psychiatry", "Ophthalmology", "Endocrinology")
MON_SAT, MON_FRI = range(6), range(5)
BENCH_PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway account in a throwaway database



def bench_database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL


def check_bench_url(url: str) -> str:
    return database.check_bench_url(url, BENCH_DATABASE, "slot")


def exclusive_run(url: str):
    check_bench_url(url)
    return database.exclusive_run(url, BENCH_DATABASE)


def recreate_database(url: str) -> None:
    check_bench_url(url)
    database.recreate_database(url, BENCH_DATABASE)


def make_app(url: str):
    """The portal app on the benchmark database (cheap password hashes, no Redis needed)."""

    return create_app({
        "SECRET_KEY": "bench-secret-key",
        "SQLALCHEMY_DATABASE_URI": check_bench_url(url),
        "RATELIMIT_STORAGE_URI": "memory://",
        "PASSWORD_HASH_PROFILE": "test",
        "SERVER_NAME": None,
    })


# --- data --------------------------------------------------------------------------------------


def _weekly(rows: list[dict], doctor_id: uuid.UUID, days: range, start: time, end: time,
            kind: str, slot: int, buffer: int, effective_from: date) -> None:
    rows.extend({"doctor_id": doctor_id, "weekday": day, "start_time": start, "end_time": end,
                 "consultation_type": kind, "slot_minutes": slot, "buffer_minutes": buffer,
                 "effective_from": effective_from, "effective_to": None} for day in days)


def build_doctors(n: int, now: datetime = DEFAULT_NOW, days: int = 30, seed: int = 20270308
                  ) -> list[uuid.UUID]:
    """Insert `n` active doctors with realistic schedules, in bulk; commits. Returns their ids.

    Time zones: about 70% Asia/Kolkata, the rest Europe/London, America/New_York, Asia/Dubai.
    Slot lengths 15/20/30 minutes, some with a break after each slot (15+5, 20+10). Hours:
    - 60%: Mon-Sat 09:00-13:00 in person and Mon-Fri 17:00-20:00 (video where offered);
    - 25%: Mon-Sat 10:00-14:00 only;
    - 15%: Mon-Fri 08:00-12:00 and 14:00-17:00.
    About 20% take a single day off in the window, 5% a 3-7 day vacation, and 10% have an
    ad-hoc hour blocked. The same seed gives the same doctors.
    """
    rng = random.Random(seed)
    password_hash = hash_password(BENCH_PASSWORD)  # one hash shared by every account
    effective_from = now.date() - timedelta(days=28)
    first_day = now.date() + timedelta(days=1)
    users: list[dict] = []
    doctors: list[dict] = []
    weekly: list[dict] = []
    overrides: list[dict] = []
    blocks: list[dict] = []
    token = uuid.uuid4().hex[:8]  # unique emails even if called twice on one database
    for i in range(n):
        user_id, doctor_id = uuid.uuid4(), uuid.uuid4()
        zone = rng.choices(ZONES, ZONE_WEIGHTS)[0]
        slot = rng.choice((15, 20, 30))
        buffer = 0
        if slot == 15 and rng.random() < 0.3:
            buffer = 5
        elif slot == 20 and rng.random() < 0.2:
            buffer = 10
        video = rng.random() < 0.8
        users.append({"id": user_id, "email": f"bench-{token}-doctor{i}@example.com",
                      "name": f"Dr. Bench {i}", "phone": f"+9199{i:08d}", "timezone": zone,
                      "password_hash": password_hash, "role": Role.DOCTOR})
        doctors.append({"id": doctor_id, "user_id": user_id,
                        "specialty": SPECIALTIES[i % len(SPECIALTIES)],
                        "languages": "English, Hindi" if zone == "Asia/Kolkata" else "English",
                        "fee_video_paise": rng.choice((30_000, 50_000, 80_000)) if video else None,
                        "fee_in_person_paise": rng.choice((50_000, 80_000, 120_000)),
                        "timezone": zone, "slot_minutes": slot, "booking_window_days": days,
                        "min_notice_minutes": 120, "active": True})
        mine: list[dict] = []
        pattern = rng.random()
        if pattern < 0.60:
            _weekly(mine, doctor_id, MON_SAT, time(9), time(13), "IN_PERSON", slot, buffer,
                    effective_from)
            _weekly(mine, doctor_id, MON_FRI, time(17), time(20),
                    "VIDEO" if video else "IN_PERSON", slot, buffer, effective_from)
        elif pattern < 0.85:
            _weekly(mine, doctor_id, MON_SAT, time(10), time(14), "IN_PERSON", slot, buffer,
                    effective_from)
        else:
            _weekly(mine, doctor_id, MON_FRI, time(8), time(12), "IN_PERSON", slot, buffer,
                    effective_from)
            _weekly(mine, doctor_id, MON_FRI, time(14), time(17),
                    "VIDEO" if video else "IN_PERSON", slot, buffer, effective_from)
        validate_ranges([WeeklyRange(r["weekday"], r["start_time"], r["end_time"],
                                     r["slot_minutes"], r["buffer_minutes"],
                                     r["consultation_type"], r["effective_from"])
                         for r in mine])
        weekly.extend(mine)

        extra = rng.random()
        if extra < 0.20:
            day = first_day + timedelta(days=rng.randrange(max(days - 1, 1)))
            overrides.append({"doctor_id": doctor_id, "start_date": day, "end_date": day,
                              "kind": "OFF", "reason": "Personal day"})
        elif extra < 0.25:
            start = first_day + timedelta(days=rng.randrange(max(days - 7, 1)))
            overrides.append({"doctor_id": doctor_id, "start_date": start,
                              "end_date": start + timedelta(days=rng.randrange(2, 7)),
                              "kind": "OFF", "reason": "Conference"})
        if rng.random() < 0.10:
            day = first_day + timedelta(days=rng.randrange(max(days - 1, 1)))
            start_at = datetime.combine(day, time(11), ZoneInfo(zone)).astimezone(UTC)
            blocks.append({"doctor_id": doctor_id, "start_at": start_at,
                           "end_at": start_at + timedelta(hours=1), "reason": "Staff meeting"})

    for model, rows in ((User, users), (Doctor, doctors), (WeeklyAvailability, weekly),
                        (AvailabilityOverride, overrides), (BlockedSlot, blocks)):
        if rows:
            db.session.execute(insert(model), rows)
    db.session.commit()
    return [d["id"] for d in doctors]


# --- measuring ---------------------------------------------------------------------------------


def max_rss_kib() -> int:
    """The process's peak resident set size so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class Figures:
    doctors: int
    slots_created: int
    seconds: float
    cpu_seconds: float  # this process's CPU time in the generation (PostgreSQL's is not in it)
    slots_per_second: float
    doctors_per_second: float
    max_rss_kib_before: int
    max_rss_kib: int
    rerun_seconds: float
    rerun_cpu_seconds: float
    rerun_created: int
    rerun_removed: int
    rerun_kept: int
    tracemalloc_peak_bytes: int | None = None
    traced_seconds: float | None = None
    traced_created: int | None = None


def measure(now: datetime = DEFAULT_NOW, trace_memory: bool = True) -> Figures:
    """Time generation for every active doctor, then an idempotent re-run, then trace memory.

    Needs an app context on a database that holds the doctors, no slots yet and no
    appointments: the traced phase deletes every slot and generates the window again.
    """
    db.session.commit()
    gc.collect()
    rss_before = max_rss_kib()

    started, cpu = timer.perf_counter(), timer.process_time()
    report = service.regenerate_doctors(service.active_doctor_ids(), now=now)
    seconds, cpu_seconds = timer.perf_counter() - started, timer.process_time() - cpu
    rss = max_rss_kib()

    started, cpu = timer.perf_counter(), timer.process_time()
    rerun = service.regenerate_doctors(service.active_doctor_ids(), now=now)
    rerun_seconds, rerun_cpu_seconds = timer.perf_counter() - started, timer.process_time() - cpu

    figures = Figures(
        doctors=report.doctors, slots_created=report.created, seconds=seconds,
        cpu_seconds=cpu_seconds,
        slots_per_second=report.created / seconds if seconds else 0.0,
        doctors_per_second=report.doctors / seconds if seconds else 0.0,
        max_rss_kib_before=rss_before, max_rss_kib=rss, rerun_seconds=rerun_seconds,
        rerun_cpu_seconds=rerun_cpu_seconds,
        rerun_created=rerun.created, rerun_removed=rerun.removed, rerun_kept=rerun.kept)

    if trace_memory:
        if db.session.get_bind().dialect.name == "postgresql":
            # TRUNCATE, not DELETE: dead index entries would slow the re-insert down.
            db.session.execute(text("TRUNCATE available_slots CASCADE"))
        else:
            db.session.execute(delete(AvailableSlot))
        db.session.commit()
        db.session.expunge_all()
        gc.collect()
        tracemalloc.start()
        try:
            started = timer.perf_counter()
            traced = service.regenerate_doctors(service.active_doctor_ids(), now=now)
            figures.traced_seconds = timer.perf_counter() - started
            figures.tracemalloc_peak_bytes = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        figures.traced_created = traced.created
    return figures


# --- reporting ---------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            # Other work on the machine skews the figures; the load average says how much.
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def _mib(kib_or_bytes: float, unit: int) -> str:
    return f"{kib_or_bytes * unit / 2**20:,.1f} MiB"


def report_lines(figures: Figures, days: int, now: datetime, build_seconds: float) -> list[str]:
    rows = [
        ("doctors", f"{figures.doctors:,}"),
        ("window", f"{days} days from {now.isoformat()}"),
        ("data build (not timed)", f"{build_seconds:.2f} s"),
        ("slots created", f"{figures.slots_created:,}"),
        ("generation time", f"{figures.seconds:.2f} s (CPU in this process "
                            f"{figures.cpu_seconds:.2f} s)"),
        ("slots / second", f"{figures.slots_per_second:,.0f}"),
        ("doctors / second", f"{figures.doctors_per_second:,.1f}"),
        ("max RSS", f"{_mib(figures.max_rss_kib, 1024)} "
                    f"(before generation {_mib(figures.max_rss_kib_before, 1024)})"),
        ("idempotent re-run", f"{figures.rerun_seconds:.2f} s "
                              f"(CPU {figures.rerun_cpu_seconds:.2f} s; "
                              f"{figures.rerun_created:,} created, {figures.rerun_removed:,} "
                              f"removed, {figures.rerun_kept:,} kept)"),
    ]
    if figures.tracemalloc_peak_bytes is not None:
        rows.append(("tracemalloc peak", f"{_mib(figures.tracemalloc_peak_bytes, 1)} "
                                         f"(traced run {figures.traced_seconds:.2f} s, "
                                         f"{figures.traced_created:,} created)"))
    width = max(len(label) for label, _ in rows)
    return [f"  {label:<{width}}  {value}" for label, value in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench slot_generation",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--doctors", type=int, default=1000, help="doctors (default 1000)")
    parser.add_argument("--days", type=int, default=30, help="window in days (default 30)")
    parser.add_argument("--now", type=datetime.fromisoformat, default=DEFAULT_NOW,
                        help=f"the moment generation runs at (default {DEFAULT_NOW.isoformat()})")
    parser.add_argument("--no-trace", action="store_true",
                        help="skip the tracemalloc pass (phase 3)")
    args = parser.parse_args(argv)
    if args.doctors < 1 or not 1 <= args.days <= 366:
        parser.error("--doctors must be at least 1 and --days between 1 and 366")
    now = args.now if args.now.tzinfo else args.now.replace(tzinfo=UTC)

    url = bench_database_url()
    try:
        check_bench_url(url)
        with exclusive_run(url):
            recreate_database(url)
            return run(url, now, args.doctors, args.days, trace_memory=not args.no_trace)
    except BenchRefused as exc:
        print(f"slot_generation: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"slot_generation: cannot use PostgreSQL ({exc.orig})", file=sys.stderr)
        return 2


def run(url: str, now: datetime, doctors: int, days: int, trace_memory: bool = True) -> int:
    """Build the schema and the doctors on the (fresh) bench database, measure, print."""

    app = make_app(url)
    with app.app_context():
        upgrade()
        server = db.session.execute(text("SHOW server_version")).scalar()
        started = timer.perf_counter()
        build_doctors(doctors, now=now, days=days)
        build_seconds = timer.perf_counter() - started
        host = machine()
        figures = measure(now, trace_memory=trace_memory)
        db.session.remove()
        db.engine.dispose()
    host["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"slot generation on PostgreSQL {server} ({make_url(url).database}), "
          f"{host['nproc']} x {host['cpu']}, Python {host['python']}, "
          f"load average {host['loadavg'][0]} at start, {host['loadavg_end'][0]} at end")
    for line in report_lines(figures, days, now, build_seconds):
        print(line)
    print(json.dumps({"bench": "slot_generation", "days": days, "now": now.isoformat(),
                      "postgres": server, **host, "build_seconds": round(build_seconds, 3),
                      **{k: round(v, 3) if isinstance(v, float) else v
                         for k, v in asdict(figures).items()}}), flush=True)
    if figures.rerun_created or (figures.traced_created not in (None, figures.slots_created)):
        print("slot_generation: the re-run was not idempotent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
