"""Waitlist offers: 100 cancellations at once, 1,000 patients waiting across 50 doctors; how long
from each cancellation until the first offer of its freed time is in someone's inbox.

    python -m bench waitlist [--doctors 50] [--waiting 1000] [--cancellations 100]
                             [--threads 10] [--timeout 300] [--redis URL|private]

It drops and recreates the dedicated database `portal_bench_waitlist`
(BENCH_WAITLIST_DATABASE_URL may point at another server, but the database must have that name:
anything else is refused), empties database 14 of the Redis on 127.0.0.1:6379
(BENCH_WAITLIST_REDIS_URL or --redis overrides; `--redis private` starts a redis-server of its
own on a spare port), builds the schema with the migrations and bulk-inserts: --doctors doctors;
per doctor an equal share of --cancellations confirmed (free) appointments tomorrow, each of
another patient, in a BOOKED slot; and an equal share of --waiting patients on the doctor's
waitlist (any time of day, either kind, from today for a week), in join order. Everyone gets
email and in-app notifications only (SMS and push off).

Then, as `make run` runs it (not the relay called in a loop):
- the SMTP sink (portal.sandbox.smtp.SmtpSink) listens on a free loopback port in this process:
  Flask-Mail in the worker speaks real SMTP to it, and it records each message's arrival time;
- ONE worker process, `python -m flask --app portal worker` (RQ with its scheduler), and the
  cron process, `python -m flask --app portal cron` (RQ's CronScheduler with jobs/cron.py: the
  outbox relay every 5 s, the waitlist and notification sweepers every minute, ...), both
  configured through the environment (DATABASE_URL, REDIS_URL, MAIL_SERVER/MAIL_PORT, ...);
- once the worker has run the cron's first relay, --threads threads call
  `appointments.service.cancel_by_patient` for every appointment at once (each in an app
  context of its own, as web requests would); the time each call returns (the CANCELLED event
  committed to the outbox) starts that cancellation's clock.
The path of an offer is the production one: the relay publishes CANCELLED; its consumers
(refund, the patient's and the doctor's notices, `waitlist.on_event`) run in the worker; the
waitlist consumer offers the freed slot to the next WAITLIST_BATCH (3) matching entries and
records a WAITLIST_OFFERED event each; the relay publishes those; their consumer records the
in-app note and the email, whose delivery job sends it over SMTP.

Measured for each cancellation: the time to its slot's first offer (waitlist_offers.offered_at)
and to the arrival at the SMTP sink of the first and of the last email offering its slot; the
offers made per cancellation; cancellations whose time no email offered; duplicate offer
emails; the finished jobs by function and the worker's busy time (RQ's finished registries);
the worker's peak resident memory. The run ends when every expected offer email has arrived or
--timeout seconds after the cancellations. It prints a table and one line of JSON. The goal for
one worker is a p99 under 60 s from cancellation to the first offer's email; this prints the
figure, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time as timer
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask
from flask_migrate import upgrade
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError

from bench import database
from bench.database import BenchRefused
from bench.reminders import (
    Worker,
    flush_redis,
    memory_kib,
    percentile,
    start_worker,
    tail,
    worker_env,
)
from bench.slot_generation import machine
from portal import create_app
from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.auth.models import Role, User
from portal.auth.service import hash_password
from portal.availability.models import AvailableSlot
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.localredis import PrivateRedis
from portal.notifications.models import (
    NotificationLog,
    NotificationType,
    UserNotificationPreferences,
)
from portal.sandbox.smtp import SmtpSink
from portal.waitlist.models import EntryStatus, WaitlistEntry, WaitlistOffer

BENCH_DATABASE = "portal_bench_waitlist"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
BENCH_PASSWORD = "bench-password-1"  # noqa: S105 - throwaway accounts in a throwaway database
ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://clinic.example.com"
ZONE = "Asia/Kolkata"
OFFER_SUBJECT = "A time with "  # the WAITLIST_OFFER email's subject starts so (English)
GOAL_P99_S = 60


def bench_database_url() -> str:
    return os.environ.get("BENCH_WAITLIST_DATABASE_URL") or DEFAULT_URL


def bench_redis_url() -> str:
    return os.environ.get("BENCH_WAITLIST_REDIS_URL") or DEFAULT_REDIS_URL


def check_bench_url(url: str) -> str:
    return database.check_bench_url(url, BENCH_DATABASE, "waitlist")


def exclusive_run(url: str):
    check_bench_url(url)
    return database.exclusive_run(url, BENCH_DATABASE)


def recreate_database(url: str) -> None:
    check_bench_url(url)
    database.recreate_database(url, BENCH_DATABASE)


def make_app(url: str, redis_url: str, secret_key: str, mail_port: int) -> Flask:
    return create_app({"SECRET_KEY": secret_key, "SQLALCHEMY_DATABASE_URI": check_bench_url(url),
                       "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": "memory://",
                       "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mail_port,
                       "PUBLIC_URL": PUBLIC_URL, "PASSWORD_HASH_PROFILE": "test",
                       "SERVER_NAME": None})


# --- data (in this process; needs the app context) -----------------------------------------


@dataclass(frozen=True)
class Cancellation:
    """A confirmed appointment to cancel, its patient and the slot it frees."""

    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    slot_id: uuid.UUID
    doctor_id: uuid.UUID


@dataclass(frozen=True)
class World:
    cancellations: list[Cancellation]
    waiting: int
    doctors: int
    expected_offers: int  # what the rules should offer: per doctor min(waiting, batch x freed)


def _shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal whole shares."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def build_world(doctors: int, waiting: int, cancellations: int, batch: int,
                now: datetime | None = None) -> World:
    """Insert the doctors, their booked appointments tomorrow (one patient each) and the
    waiting patients' entries, in bulk; everyone email and in-app only. Commits."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(ZONE)
    today = now.astimezone(zone).date()
    password_hash = hash_password(BENCH_PASSWORD)  # one hash shared by every account
    token = uuid.uuid4().hex[:8]  # unique emails even if called twice on one database
    off = {kind.value: False for kind in NotificationType}
    # Tomorrow, on the hour: well beyond any notice period, whatever the hour of the run.
    first_start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    users, doctor_rows, prefs, slots, visits, entries = [], [], [], [], [], []
    planned: list[Cancellation] = []
    numbers = iter(range(1, 10**9))
    expected = 0
    seq = 0

    def person(role: Role, label: str) -> uuid.UUID:
        n = next(numbers)
        user_id = uuid.uuid4()
        users.append({"id": user_id, "email": f"bench-{token}-{label}{n}@example.com",
                      "name": f"Bench {label.title()} {n}", "phone": f"+9198{n:08d}",
                      "timezone": ZONE, "password_hash": password_hash, "role": role})
        prefs.append({"user_id": user_id, "language": "en", "reminder_offsets": [1440],
                      "channels": {"SMS": off, "PUSH": off}})
        return user_id

    for freed, queue in zip(_shares(cancellations, doctors), _shares(waiting, doctors),
                            strict=True):
        doctor_id = uuid.uuid4()
        doctor_rows.append({"id": doctor_id, "user_id": person(Role.DOCTOR, "doctor"),
                            "specialty": "General Medicine", "fee_video_paise": 0,
                            "fee_in_person_paise": None, "timezone": ZONE, "slot_minutes": 30,
                            "booking_window_days": 30, "min_notice_minutes": 60,
                            "active": True})
        for k in range(freed):
            start = first_start + timedelta(minutes=30 * k)
            slot_id, appointment_id = uuid.uuid4(), uuid.uuid4()
            patient_id = person(Role.PATIENT, "holder")
            slots.append({"id": slot_id, "doctor_id": doctor_id, "start_at": start,
                          "end_at": start + timedelta(minutes=30), "consultation_type": "VIDEO",
                          "status": "BOOKED", "held_until": None})
            visits.append({"id": appointment_id, "patient_id": patient_id,
                           "doctor_id": doctor_id, "slot_id": slot_id, "start_at": start,
                           "end_at": start + timedelta(minutes=30), "consultation_type": "VIDEO",
                           "status": "CONFIRMED", "reserved_until": None, "fee_paise": 0,
                           "currency": "INR", "reason_for_visit": "Follow-up",
                           "video_room_url": f"https://meet.example.com/room/{appointment_id}",
                           "confirmed_at": now})
            planned.append(Cancellation(appointment_id, patient_id, slot_id, doctor_id))
        for _ in range(queue):
            seq += 1
            entries.append({"id": uuid.uuid4(), "patient_id": person(Role.PATIENT, "waiting"),
                            "doctor_id": doctor_id, "date_from": today,
                            "date_to": today + timedelta(days=7), "day_parts": "",
                            "consultation_type": None, "status": EntryStatus.ACTIVE,
                            "seq": seq, "created_at": now})
        expected += min(queue, batch * freed)
    for model, rows in ((User, users), (UserNotificationPreferences, prefs), (Doctor, doctor_rows),
                        (AvailableSlot, slots), (Appointment, visits), (WaitlistEntry, entries)):
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[start:start + 5000])
    db.session.commit()
    return World(planned, waiting, doctors, expected)


def cancel_all(app: Flask, world: World, threads: int) -> dict[uuid.UUID, datetime]:
    """Cancel every appointment at once from `threads` threads, as their patients would from
    the web: `cancel_by_patient`, each call in an app context of its own. Returns when each
    call returned (its CANCELLED event committed), by slot id."""
    done: dict[uuid.UUID, datetime] = {}
    lock = threading.Lock()
    start = threading.Barrier(max(1, min(threads, len(world.cancellations))))

    def cancel(item: Cancellation) -> None:
        with app.app_context():
            patient = db.session.get(User, item.patient_id)
            appointments.cancel_by_patient(patient, item.appointment_id, "Cannot come")
            finished = datetime.now(UTC)
            db.session.remove()
        with lock:
            done[item.slot_id] = finished

    def first_wait(item: Cancellation) -> None:
        start.wait(timeout=30)  # the first wave starts together
        cancel(item)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        first = world.cancellations[:start.parties]
        futures = [pool.submit(first_wait, item) for item in first]
        futures += [pool.submit(cancel, item) for item in world.cancellations[start.parties:]]
        for future in futures:
            future.result()
    return done


# --- the cron process --------------------------------------------------------------------------


def start_cron(env: dict[str, str], redis_url: str, log_dir: Path) -> Worker:
    """Start `flask --app portal cron`; return once the worker has run its first relay job."""
    log_path = log_dir / "cron.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "portal", "cron"],
                                   cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    cron = Worker(process, log_path)
    deadline = timer.monotonic() + 60
    while timer.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the cron process exited with {process.returncode}:\n"
                               f"{tail(log_path)}")
        if finished_jobs(redis_url).get("jobs.events.relay"):
            return cron
        timer.sleep(0.2)
    cron.stop()
    raise RuntimeError(f"no relay job ran within 60 s of starting the cron:\n{tail(log_path)}")


def finished_jobs(redis_url: str) -> Counter:
    """Finished jobs by function name (RQ keeps them for 500 s), with their run time under
    the key (name, 'seconds')."""
    connection = Redis.from_url(redis_url)
    found: Counter = Counter()
    try:
        for name in ("default", "appointment-events", "payment-events", "notifications"):
            job_ids = FinishedJobRegistry(queue=Queue(name, connection=connection)).get_job_ids()
            for start in range(0, len(job_ids), 500):
                for job in Job.fetch_many(job_ids[start:start + 500], connection=connection):
                    if job is None:
                        continue
                    found[job.func_name] += 1
                    if job.started_at and job.ended_at:
                        found[(job.func_name, "seconds")] += (
                            job.ended_at - job.started_at).total_seconds()
    finally:
        connection.close()
    return found


# --- measuring -----------------------------------------------------------------------------


def offer_emails(mailbox) -> list:
    return [m for m in mailbox.list(limit=100_000) if m.subject.startswith(OFFER_SUBJECT)]


def wait_for_offers(mailbox, expected: int, deadline: float, trouble=lambda: None,
                    poll: float = 0.5) -> str | None:
    """Wait until `expected` offer emails have arrived (None), or the deadline (perf_counter)
    or `trouble()` (the reason)."""
    while True:
        arrived = len(offer_emails(mailbox))
        if arrived >= expected:
            return None
        if timer.perf_counter() >= deadline:
            return f"only {arrived} of {expected} offer emails arrived in time"
        reason = trouble()
        if reason:
            return reason
        timer.sleep(poll)


def spread_s(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max, in seconds."""
    def s(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {"p50_s": s(percentile(values, 0.50)), "p99_s": s(percentile(values, 0.99)),
            "max_s": s(max(values) if values else None)}


@dataclass
class Figures:
    cancellations: int
    waiting: int
    doctors: int
    offers: int  # waitlist_offers rows for the freed slots
    expected_offers: int
    offers_per_cancellation: dict[str, float]  # mean, min, max
    offer_emails: int  # at the SMTP sink
    duplicate_offer_emails: int  # beyond one per offered patient (must be 0)
    other_emails: int  # the cancellation notices to patients and doctors
    in_app_offers: int
    unoffered: int  # cancellations no offer email reached
    lag_first_offer_row: dict[str, float | None]  # cancel -> first offered_at
    lag_first_offer_email: dict[str, float | None]  # cancel -> first offer email (the goal)
    lag_last_offer_email: dict[str, float | None]  # cancel -> the batch's last offer email
    seconds: float  # first cancellation -> last offer email
    jobs: dict[str, int] = field(default_factory=dict)
    job_seconds: dict[str, float] = field(default_factory=dict)
    worker_busy_seconds: float | None = None


def collect(mailbox, world: World, cancelled_at: dict[uuid.UUID, datetime],
            redis_url: str | None = None) -> Figures:
    """The figures of a run from the SMTP sink, the database and RQ's registries. Needs the
    app context."""
    db.session.expire_all()
    slot_ids = [c.slot_id for c in world.cancellations]
    offers = list(db.session.execute(
        select(WaitlistOffer.slot_id, WaitlistOffer.offered_at, User.email)
        .join(User, User.id == WaitlistOffer.patient_id)
        .where(WaitlistOffer.slot_id.in_(slot_ids))))
    in_app = db.session.scalar(select(func.count()).select_from(NotificationLog).where(
        NotificationLog.type == "WAITLIST_OFFER", NotificationLog.channel == "IN_APP"))
    db.session.rollback()
    slot_of = {email: slot_id for slot_id, _, email in offers}
    per_slot = Counter(slot_id for slot_id, _, _ in offers)
    first_row: dict[uuid.UUID, datetime] = {}
    for slot_id, offered_at, _ in offers:
        first_row[slot_id] = min(offered_at, first_row.get(slot_id, offered_at))

    messages = mailbox.list(limit=100_000)
    offer_mail = [m for m in messages if m.subject.startswith(OFFER_SUBJECT)]
    arrivals: dict[uuid.UUID, list[datetime]] = {}
    by_patient: Counter = Counter()
    for message in offer_mail:
        for address in message.to:
            if address in slot_of:
                by_patient[address] += 1
                arrivals.setdefault(slot_of[address], []).append(message.received_at)
    lag_row = [(first_row[s] - cancelled_at[s]).total_seconds() for s in first_row
               if s in cancelled_at]
    lag_first = [(min(t) - cancelled_at[s]).total_seconds() for s, t in arrivals.items()
                 if s in cancelled_at]
    lag_last = [(max(t) - cancelled_at[s]).total_seconds() for s, t in arrivals.items()
                if s in cancelled_at]
    counts = [per_slot.get(s, 0) for s in slot_ids]
    last = max((m.received_at for m in offer_mail), default=None)
    began = min(cancelled_at.values(), default=None)
    figures = Figures(
        cancellations=len(world.cancellations), waiting=world.waiting, doctors=world.doctors,
        offers=len(offers), expected_offers=world.expected_offers,
        offers_per_cancellation={"mean": round(sum(counts) / len(counts), 2) if counts else 0.0,
                                 "min": min(counts, default=0), "max": max(counts, default=0)},
        offer_emails=len(offer_mail),
        duplicate_offer_emails=sum(n - 1 for n in by_patient.values()),
        other_emails=len(messages) - len(offer_mail), in_app_offers=int(in_app or 0),
        unoffered=sum(1 for s in slot_ids if s not in arrivals),
        lag_first_offer_row=spread_s(lag_row), lag_first_offer_email=spread_s(lag_first),
        lag_last_offer_email=spread_s(lag_last),
        seconds=(last - began).total_seconds() if last and began else 0.0)
    if redis_url:
        found = finished_jobs(redis_url)
        figures.jobs = {k: v for k, v in found.items() if isinstance(k, str)}
        figures.job_seconds = {k[0]: round(v, 3) for k, v in found.items()
                               if isinstance(k, tuple)}
        figures.worker_busy_seconds = round(sum(figures.job_seconds.values()), 3)
    return figures


# --- reporting -----------------------------------------------------------------------------


def _s(spread: dict[str, float | None]) -> str:
    def one(value: float | None) -> str:
        return "-" if value is None else f"{value:,.2f}"

    return f"{one(spread['p50_s'])} / {one(spread['p99_s'])} / {one(spread['max_s'])} s"


def report_lines(f: Figures) -> list[str]:
    per = f.offers_per_cancellation
    rows = [
        ("waiting", f"{f.waiting:,} patients across {f.doctors} doctors"),
        ("cancellations", f"{f.cancellations:,} at once"),
        ("offers made", f"{f.offers:,} (expected {f.expected_offers:,}); per cancellation "
                        f"{per['mean']:g} (min {per['min']}, max {per['max']})"),
        ("offer emails at the sink", f"{f.offer_emails:,} ({f.duplicate_offer_emails} "
                                     f"duplicates; {f.in_app_offers:,} in-app notes; "
                                     f"{f.other_emails:,} other emails)"),
        ("cancellations never offered", str(f.unoffered)),
        ("cancel -> first offer made p50 / p99 / max", _s(f.lag_first_offer_row)),
        ("cancel -> first offer email p50 / p99 / max", _s(f.lag_first_offer_email)
         + f" (goal: p99 under {GOAL_P99_S} s with one worker)"),
        ("cancel -> batch's last offer email", _s(f.lag_last_offer_email)),
        ("first cancellation -> last offer email", f"{f.seconds:.2f} s"),
    ]
    if f.worker_busy_seconds is not None:
        jobs = ", ".join(
            f"{name.removeprefix('jobs.')} {count:,} "
            f"({f.job_seconds.get(name, 0) / count * 1000:.0f} ms each)"
            for name, count in sorted(f.jobs.items(), key=lambda kv: -kv[1]))
        rows.append(("worker busy (finished jobs)", f"{f.worker_busy_seconds:.1f} s; {jobs}"))
    width = max(len(label) for label, _ in rows)
    return [f"  {label:<{width}}  {value}" for label, value in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench waitlist",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--doctors", type=int, default=50, help="doctors (default 50)")
    parser.add_argument("--waiting", type=int, default=1000,
                        help="patients on the waitlists, shared among the doctors (default 1000)")
    parser.add_argument("--cancellations", type=int, default=100,
                        help="appointments cancelled at once, shared among the doctors "
                             "(default 100)")
    parser.add_argument("--threads", type=int, default=10,
                        help="threads cancelling at once (default 10)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="stop this many seconds after the cancellations (default 300)")
    parser.add_argument("--redis", default=None, metavar="URL|private",
                        help=f"Redis to use (default BENCH_WAITLIST_REDIS_URL or "
                             f"{DEFAULT_REDIS_URL}, which is emptied); `private` starts a "
                             "redis-server of its own on a spare port")
    args = parser.parse_args(argv)
    if not (1 <= args.doctors <= 10_000 and 0 <= args.waiting <= 1_000_000
            and 1 <= args.cancellations <= 100_000 and 1 <= args.threads <= 64
            and 0 < args.timeout <= 3600):
        parser.error("--doctors 1-10000, --waiting 0-1000000, --cancellations 1-100000, "
                     "--threads 1-64, --timeout 0-3600")

    url = bench_database_url()
    redis_url = args.redis or bench_redis_url()
    try:
        check_bench_url(url)
        with exclusive_run(url), ExitStack() as stack:
            if redis_url == "private":
                redis_url = stack.enter_context(PrivateRedis()).url
            recreate_database(url)
            flush_redis(redis_url)
            return run(url, redis_url, args)
    except BenchRefused as exc:
        print(f"waitlist: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"waitlist: cannot use PostgreSQL ({exc.orig})", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"waitlist: cannot use Redis at {redis_url} ({exc})", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"waitlist: {exc}", file=sys.stderr)
        return 1


def run(url: str, redis_url: str, args: argparse.Namespace) -> int:
    host = machine()
    secret_key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="bench-waitlist-") as tmp, \
            SmtpSink(Path(tmp) / "mailbox") as sink:
        app = make_app(url, redis_url, secret_key, sink.port)
        started = timer.perf_counter()
        with app.app_context():
            upgrade()
            pg_version = db.session.execute(text("SHOW server_version")).scalar()
            world = build_world(args.doctors, args.waiting, args.cancellations,
                                app.config["WAITLIST_BATCH"])
            db.session.remove()
        seed_seconds = timer.perf_counter() - started

        worker = cron = None
        memory: dict[str, dict[str, int]] = {}
        env = worker_env(url, redis_url, secret_key, sink.port)
        try:
            worker = start_worker(env, redis_url, Path(tmp))
            cron = start_cron(env, redis_url, Path(tmp))
            started = timer.perf_counter()
            cancelled_at = cancel_all(app, world, args.threads)
            cancel_seconds = timer.perf_counter() - started
            deadline = timer.perf_counter() + args.timeout

            def trouble() -> str | None:
                for name, process in (("worker", worker), ("cron", cron)):
                    if process.process.poll() is not None:
                        return f"the {name} exited with {process.process.returncode}"
                return None

            problem = wait_for_offers(sink.mailbox, world.expected_offers, deadline, trouble)
            timer.sleep(0.5)  # let the last in-flight jobs write their rows
            problem = problem or trouble()
            memory["worker"] = memory_kib(worker.process.pid)
            for pid in worker.scheduler_pids():
                memory["scheduler"] = memory_kib(pid)
        finally:
            for process in (cron, worker):
                if process is not None:
                    process.stop()

        with app.app_context():
            figures = collect(sink.mailbox, world, cancelled_at, redis_url)
            db.session.remove()
            db.engine.dispose()
        worker_log = tail(worker.log_path, 20)
        cron_log = tail(cron.log_path, 10)
    flush_redis(redis_url)

    host["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"waitlist on PostgreSQL {pg_version} ({BENCH_DATABASE}), Redis {redis_url}; "
          f"{host['nproc']} x {host['cpu']}; Python {host['python']}")
    print(f"  load average (1 min) {host['loadavg'][0]} before, {host['loadavg_end'][0]} after"
          " (other processes on the machine share its CPUs)")
    print("  one worker (`flask --app portal worker`, RQ with its scheduler) and the cron "
          "(`flask --app portal cron`: the outbox relay every 5 s, as `make run`); offers by "
          "email over SMTP to the sink, in-app recorded")
    print(f"  seeded in {seed_seconds:.1f} s (not timed); {len(world.cancellations):,} "
          f"cancellations from {args.threads} threads in {cancel_seconds:.2f} s")
    for line in report_lines(figures):
        print(line)
    worker_mib = memory.get("worker", {}).get("VmHWM", 0) / 1024
    print(f"  worker peak resident memory (VmHWM) {worker_mib:.1f} MiB")
    problems = [problem] if problem else []
    if figures.duplicate_offer_emails:
        problems.append(f"{figures.duplicate_offer_emails} DUPLICATE offer emails")
    if problems:
        print(f"  worker log tail:\n{worker_log}\n  cron log tail:\n{cron_log}")
    print(json.dumps({
        "bench": "waitlist", "postgres": pg_version, "redis": redis_url, **host,
        "threads": args.threads, "seed_seconds": round(seed_seconds, 2),
        "cancel_seconds": round(cancel_seconds, 3),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(figures).items()},
        "worker_memory_kib": memory.get("worker", {}), "problems": problems,
    }), flush=True)
    for message in problems:
        print(f"waitlist: {message}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
