"""Reminder delivery: 1,000 reminders due within one minute, one RQ worker, email over real SMTP.

    python -m bench reminders [--reminders 1000] [--spread 60] [--lead 30] [--timeout 300]
                              [--sweep-interval 60] [--subsecond] [--redis URL|private]

It drops and recreates the dedicated database `portal_bench_reminders`
(BENCH_REMINDERS_DATABASE_URL may point at another server, but the database must have that
name: anything else is refused), empties database 12 of the Redis on 127.0.0.1:6379
(BENCH_REMINDERS_REDIS_URL or --redis overrides; `--redis private` starts a redis-server of its
own on a spare port), builds the schema with the migrations and bulk-inserts one doctor and one
patient per reminder. Every patient gets email and in-app notifications only (SMS and push off),
English or Hindi, and one reminder offset: 24 h, 1 h or 15 min before.

Then, as in production:
- the SMTP sink (portal.sandbox.smtp.SmtpSink) listens on a free loopback port in this process:
  Flask-Mail in the worker speaks real SMTP to it, and it records each message's arrival time;
- ONE worker process, `python -m flask --app portal worker` (an RQ worker with its scheduler,
  which moves due `enqueue_at` jobs to their queue every second), configured through the
  environment (DATABASE_URL, REDIS_URL, MAIL_SERVER/MAIL_PORT, SECRET_KEY, PUBLIC_URL);
- once the worker listens, the appointments are inserted (CONFIRMED, each in a BOOKED slot)
  starting at due + offset, with due = T0 + a random whole second in [0, --spread) and
  T0 = now + --lead (production's due times are whole seconds, as slots start on whole
  minutes; --subsecond spreads them over fractions too), and
  `notifications.reminders.schedule_reminders` is called for each, the same call the
  CONFIRMED consumer makes: it writes the `scheduled_notifications` row and enqueues
  `jobs.notifications.send_reminder` with `enqueue_at(due_at)`;
- the minute sweeper: like `flask cron` (jobs/cron.py, interval 60 s), this process enqueues
  `jobs.notifications.sweep` on the `default` queue every --sweep-interval seconds, from before
  T0 on. It sends whatever is due and still SCHEDULED (a lagging worker's backlog included).
A reminder job renders and records the in-app note (sent at once) and the email, and enqueues
the email's delivery job; the same worker then sends it over SMTP.

Measured for each reminder: the lag from its due time to the email's arrival at the SMTP sink,
to the reminder job's run (`scheduled_notifications.sent_at`) and to the email's
`notification_logs.sent_at`; emails delivered per second from the first due time to the last
arrival; the worker's busy time per reminder from RQ's finished-job registries; the worker's
peak resident memory (VmHWM) and its scheduler child's. The run stops when every email has
arrived or --timeout seconds after T0, whichever comes first; the worker is stopped in a
`finally` block whatever happens. It prints a table and one line of JSON.

The test suite empties databases 1-15 of the local Redis (one per process, before each test).
A marker key tells when that happens to ours mid-run (the scheduled jobs are gone with it);
the run is then made again on a private redis-server, and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time as timer
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask_migrate import upgrade
from redis import Redis
from rq import Queue
from rq import Worker as RqWorker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError

from bench import database
from bench.database import BenchRefused
from bench.slot_generation import machine
from portal import create_app
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
    ScheduledNotification,
    UserNotificationPreferences,
)
from portal.notifications.reminders import schedule_reminders
from portal.sandbox.smtp import SmtpSink

BENCH_DATABASE = "portal_bench_reminders"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
BENCH_PASSWORD = "bench-password-1"  # noqa: S105 - throwaway accounts in a throwaway database
ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://clinic.example.com"
ZONE = "Asia/Kolkata"
OFFSETS = (1440, 60, 15)  # the default reminder offsets, one per patient here
OFFSET_WEIGHTS = (40, 30, 30)
HINDI_SHARE = 0.1



class RedisEmptied(RuntimeError):
    """Another process emptied the benchmark's Redis database during the run."""


def bench_database_url() -> str:
    return os.environ.get("BENCH_REMINDERS_DATABASE_URL") or DEFAULT_URL


def bench_redis_url() -> str:
    return os.environ.get("BENCH_REMINDERS_REDIS_URL") or DEFAULT_REDIS_URL


def check_bench_url(url: str) -> str:
    return database.check_bench_url(url, BENCH_DATABASE, "reminder")


def exclusive_run(url: str):
    check_bench_url(url)
    return database.exclusive_run(url, BENCH_DATABASE)


def recreate_database(url: str) -> None:
    check_bench_url(url)
    database.recreate_database(url, BENCH_DATABASE)


def flush_redis(url: str) -> None:
    """Empty the benchmark's own Redis database: no stale jobs, workers or scheduler locks."""

    client = Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def make_app(url: str, redis_url: str, secret_key: str, mail_port: int):
    return create_app({"SECRET_KEY": secret_key, "SQLALCHEMY_DATABASE_URI": check_bench_url(url),
                       "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": "memory://",
                       "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mail_port,
                       "PUBLIC_URL": PUBLIC_URL, "PASSWORD_HASH_PROFILE": "test",
                       "SERVER_NAME": None})


# --- data (in this process; needs the app context) -----------------------------------------


@dataclass(frozen=True)
class Person:
    """One patient with one reminder offset, and the doctor they will see."""

    patient_id: uuid.UUID
    email: str
    doctor_id: uuid.UUID
    offset_minutes: int


@dataclass(frozen=True)
class Reminder:
    id: uuid.UUID
    email: str
    due_at: datetime
    offset_minutes: int


def build_people(n: int, seed: int = 20270308) -> list[Person]:
    """Insert `n` doctors and `n` patients in bulk, each patient with preferences: email and
    in-app only, one reminder offset, about 10% in Hindi. Commits."""

    rng = random.Random(seed)
    password_hash = hash_password(BENCH_PASSWORD)  # one hash shared by every account
    token = uuid.uuid4().hex[:8]  # unique emails even if called twice on one database
    off = {kind.value: False for kind in NotificationType}
    users, doctors, prefs, people = [], [], [], []
    for i in range(n):
        doctor_user, doctor_id, patient_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        email = f"bench-{token}-patient{i}@example.com"
        offset = rng.choices(OFFSETS, OFFSET_WEIGHTS)[0]
        users.append({"id": doctor_user, "email": f"bench-{token}-doctor{i}@example.com",
                      "name": f"Dr. Bench {i}", "phone": f"+9199{i:08d}", "timezone": ZONE,
                      "password_hash": password_hash, "role": Role.DOCTOR})
        users.append({"id": patient_id, "email": email, "name": f"Bench Patient {i}",
                      "phone": f"+9198{i:08d}", "timezone": ZONE,
                      "password_hash": password_hash, "role": Role.PATIENT})
        doctors.append({"id": doctor_id, "user_id": doctor_user, "specialty": "General Medicine",
                        "fee_video_paise": 30_000, "fee_in_person_paise": 50_000,
                        "timezone": ZONE, "slot_minutes": 30, "booking_window_days": 30,
                        "min_notice_minutes": 0, "active": True})
        prefs.append({"user_id": patient_id,
                      "language": "hi" if rng.random() < HINDI_SHARE else "en",
                      "reminder_offsets": [offset], "channels": {"SMS": off, "PUSH": off}})
        people.append(Person(patient_id, email, doctor_id, offset))
    for model, rows in ((User, users), (Doctor, doctors), (UserNotificationPreferences, prefs)):
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[start:start + 5000])
    db.session.commit()
    return people


def book(people: list[Person], t0: datetime, spread: float, seed: int = 8,
         subsecond: bool = False) -> list[uuid.UUID]:
    """A CONFIRMED appointment (in a BOOKED slot) per person, starting `offset` after a due
    time in [t0, t0 + spread). Bulk insert; commits; returns the appointment ids.

    Due times fall on whole seconds, as in production, where slots start on whole minutes;
    `subsecond` spreads them over fractions of a second too.
    """

    rng = random.Random(seed)
    now = datetime.now(UTC)
    slots, appointments = [], []
    for person in people:
        due = t0 + timedelta(seconds=rng.random() * spread if subsecond
                             else rng.randrange(max(1, math.ceil(spread))))
        start = due + timedelta(minutes=person.offset_minutes)
        end = start + timedelta(minutes=30)
        video = rng.random() < 0.5
        kind = "VIDEO" if video else "IN_PERSON"
        slot_id, appointment_id = uuid.uuid4(), uuid.uuid4()
        slots.append({"id": slot_id, "doctor_id": person.doctor_id, "start_at": start,
                      "end_at": end, "consultation_type": kind, "status": "BOOKED",
                      "held_until": None})
        appointments.append({
            "id": appointment_id, "patient_id": person.patient_id,
            "doctor_id": person.doctor_id, "slot_id": slot_id, "start_at": start,
            "end_at": end, "consultation_type": kind, "status": "CONFIRMED",
            "reserved_until": None, "fee_paise": 30_000 if video else 50_000,
            "currency": "INR", "reason_for_visit": "Follow-up",
            "video_room_url": f"https://meet.example.com/room/{appointment_id}" if video
            else None, "confirmed_at": now})
    for model, rows in ((AvailableSlot, slots), (Appointment, appointments)):
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[start:start + 5000])
    db.session.commit()
    return [row["id"] for row in appointments]


def schedule(appointment_ids: list[uuid.UUID]) -> list[Reminder]:
    """`schedule_reminders` for each appointment, as the CONFIRMED consumer does: a
    scheduled_notifications row, then an `enqueue_at(due_at)` job."""

    reminders = []
    for start in range(0, len(appointment_ids), 500):
        chunk = appointment_ids[start:start + 500]
        appointments = db.session.scalars(select(Appointment).where(Appointment.id.in_(chunk)))
        by_id = {a.id: (a, a.patient.email) for a in appointments}
        for appointment_id in chunk:
            appointment, email = by_id[appointment_id]
            reminders.extend(Reminder(row.id, email, row.due_at, row.offset_minutes)
                             for row in schedule_reminders(appointment))
        db.session.expunge_all()
    return reminders


# --- the worker ----------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def scheduler_pids(self) -> list[int]:
        """RQ's scheduler runs in a child forked by the worker."""
        pid = self.process.pid
        try:
            return [int(p) for p in
                    Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        """SIGTERM (RQ's warm shutdown: the current job finishes), then SIGKILL to the group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the session the worker leads
                self.process.wait(timeout=5)


def worker_env(url: str, redis_url: str, secret_key: str, mail_port: int) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": secret_key,
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(mail_port), "PUBLIC_URL": PUBLIC_URL,
            "PORTAL_ENV": "development", "RATELIMIT_STORAGE_URI": "memory://",
            "PYTHONUNBUFFERED": "1"}


def start_worker(env: dict[str, str], redis_url: str, log_dir: Path) -> Worker:
    """Start `flask --app portal worker`; return once it and its scheduler are registered."""

    log_path = log_dir / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "portal", "worker"],
                                   cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    worker = Worker(process, log_path)
    connection = Redis.from_url(redis_url)
    deadline = timer.monotonic() + 60
    try:
        while timer.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}:\n"
                                   f"{tail(log_path)}")
            if RqWorker.count(connection=connection) and \
                    connection.exists("rq:scheduler-lock:notifications"):
                return worker
            timer.sleep(0.2)
    finally:
        connection.close()
    worker.stop()
    raise RuntimeError(f"the worker did not register within 60 s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident) and VmRSS of a process, in KiB, from /proc/<pid>/status."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


class Sweeper(threading.Thread):
    """What `flask cron` does for reminders: enqueue jobs.notifications.sweep every interval."""

    def __init__(self, redis_url: str, interval: float) -> None:
        super().__init__(name="bench-sweeper", daemon=True)
        self.redis_url, self.interval = redis_url, interval
        self.job_ids: list[str] = []
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        connection = Redis.from_url(self.redis_url)
        queue = Queue("default", connection=connection)
        try:
            while True:
                try:
                    self.job_ids.append(queue.enqueue("jobs.notifications.sweep").id)
                except Exception as exc:  # noqa: BLE001 - note it, the cron would too
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                if self.done.wait(self.interval):
                    return
        finally:
            connection.close()

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=10)


# --- measuring -----------------------------------------------------------------------------


def wait_for_emails(mailbox, expected: int, deadline: float,
                    trouble: Callable[[], str | None] = lambda: None,
                    poll: float = 0.25) -> str | None:
    """Wait until the mailbox holds `expected` messages (None), or the deadline or `trouble()`
    (the reason, e.g. a dead worker). `deadline` is on the perf_counter clock."""
    while True:
        if len(mailbox) >= expected:
            return None
        if timer.perf_counter() >= deadline:
            return f"only {len(mailbox)} of {expected} emails arrived in time"
        reason = trouble()
        if reason:
            return reason
        timer.sleep(poll)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def spread_of(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of lags in seconds, as milliseconds."""
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {"p50_ms": ms(percentile(values, 0.50)), "p99_ms": ms(percentile(values, 0.99)),
            "max_ms": ms(max(values) if values else None)}


@dataclass
class Figures:
    reminders: int
    emails: int  # messages at the SMTP sink
    emails_matched: int  # of them, to a benchmark patient
    duplicate_emails: int  # beyond the first to one patient (must be 0)
    in_app: int
    reminder_status: dict[str, int]
    email_log_status: dict[str, int]
    email_attempts_max: int
    seconds: float  # first due time to the last email's arrival
    emails_per_second: float  # emails / seconds
    notifications_per_second: float  # (emails + in-app) / seconds
    offered_per_second: float | None  # reminders / (last due - first due)
    lag_email: dict[str, float | None]  # due -> arrival at the SMTP sink
    lag_job: dict[str, float | None]  # due -> the reminder job ran (scheduled_notifications)
    lag_email_log: dict[str, float | None]  # due -> notification_logs.sent_at of the email
    lag_in_app: dict[str, float | None]  # due -> the in-app note was recorded
    late_over_5s: int  # emails arriving more than 5 s after their due time
    jobs: dict[str, int] = field(default_factory=dict)  # finished jobs by function
    job_seconds: dict[str, float] = field(default_factory=dict)  # their run time by function
    worker_busy_seconds: float | None = None  # sum of finished jobs' run times
    worker_ms_per_reminder: float | None = None
    swept_by_cron_job: int | None = None  # reminders the minute sweeper sent itself
    # What the send_reminder jobs returned: SENT, or SCHEDULED for one that ran before its
    # due time (and so sent nothing: the sweeper sends it up to a minute later).
    reminder_job_results: dict[str, int] = field(default_factory=dict)


def collect(mailbox, reminders: list[Reminder], redis_url: str | None = None,
            sweep_job_ids: list[str] | None = None) -> Figures:
    """The figures of a run from the SMTP sink's mailbox, the database and RQ's registries.

    Needs the app context. Lags are measured from each reminder's due time to the email's
    arrival at the sink (this machine's clock on both ends).
    """

    db.session.expire_all()
    due = {r.email: r.due_at for r in reminders}
    ids = [r.id for r in reminders]
    rows = []
    for start in range(0, len(ids), 1000):
        rows.extend(db.session.execute(
            select(ScheduledNotification.id, ScheduledNotification.status,
                   ScheduledNotification.sent_at, User.email)
            .join(User, User.id == ScheduledNotification.user_id)
            .where(ScheduledNotification.id.in_(ids[start:start + 1000]))).all())
    status = Counter(row.status for row in rows)
    lag_job = [(row.sent_at - due[row.email]).total_seconds() for row in rows
               if row.sent_at is not None]

    logs = db.session.execute(
        select(NotificationLog.channel, NotificationLog.status, NotificationLog.sent_at,
               NotificationLog.attempts, User.email)
        .join(User, User.id == NotificationLog.user_id)
        .where(NotificationLog.type == "APPOINTMENT_REMINDER")).all()
    email_logs = [log for log in logs if log.channel == "EMAIL" and log.email in due]
    in_app = [log for log in logs if log.channel == "IN_APP" and log.email in due]
    lag_log = [(log.sent_at - due[log.email]).total_seconds() for log in email_logs
               if log.sent_at is not None]
    lag_in_app = [(log.sent_at - due[log.email]).total_seconds() for log in in_app
                  if log.sent_at is not None]
    db.session.rollback()

    messages = mailbox.list(limit=10 * len(reminders) + 100)
    arrivals: dict[str, list[datetime]] = {}
    for message in messages:
        for address in message.to:
            if address in due:
                arrivals.setdefault(address, []).append(message.received_at)
    lag_email = [(min(times) - due[email]).total_seconds() for email, times in arrivals.items()]
    first_due = min(due.values()) if due else None
    last_due = max(due.values()) if due else None
    last_arrival = max((t for times in arrivals.values() for t in times), default=None)
    seconds = (last_arrival - first_due).total_seconds() if last_arrival and first_due else 0.0
    offered = (last_due - first_due).total_seconds() if due else 0.0
    emails = len(messages)
    figures = Figures(
        reminders=len(reminders), emails=emails,
        emails_matched=sum(len(t) for t in arrivals.values()),
        duplicate_emails=sum(len(t) - 1 for t in arrivals.values()),
        in_app=len(in_app), reminder_status=dict(status),
        email_log_status=dict(Counter(log.status for log in email_logs)),
        email_attempts_max=max((log.attempts for log in email_logs), default=0),
        seconds=seconds,
        emails_per_second=emails / seconds if seconds > 0 else 0.0,
        notifications_per_second=(emails + len(in_app)) / seconds if seconds > 0 else 0.0,
        offered_per_second=len(reminders) / offered if offered > 0 else None,
        lag_email=spread_of(lag_email), lag_job=spread_of(lag_job),
        lag_email_log=spread_of(lag_log), lag_in_app=spread_of(lag_in_app),
        late_over_5s=sum(lag > 5 for lag in lag_email))
    if redis_url:
        _add_job_figures(figures, redis_url, sweep_job_ids or [])
    return figures


def _add_job_figures(figures: Figures, redis_url: str, sweep_job_ids: list[str]) -> None:
    """Finished jobs by function and their run time (RQ keeps them for 500 s)."""

    connection = Redis.from_url(redis_url)
    try:
        jobs: Counter = Counter()
        results: Counter = Counter()
        seconds: Counter = Counter()
        for name in ("default", "notifications"):
            registry = FinishedJobRegistry(queue=Queue(name, connection=connection))
            job_ids = registry.get_job_ids()
            for start in range(0, len(job_ids), 500):
                for job in Job.fetch_many(job_ids[start:start + 500], connection=connection):
                    if job is None or not job.started_at or not job.ended_at:
                        continue
                    function = job.func_name.removeprefix("jobs.notifications.")
                    jobs[function] += 1
                    seconds[function] += (job.ended_at - job.started_at).total_seconds()
                    if function == "send_reminder":
                        results[str(job.return_value())] += 1
        busy = sum(seconds.values())
        figures.jobs = dict(jobs)
        figures.job_seconds = {name: round(value, 3) for name, value in seconds.items()}
        figures.reminder_job_results = dict(results)
        figures.worker_busy_seconds = busy
        if figures.reminders:
            figures.worker_ms_per_reminder = busy / figures.reminders * 1000
        swept = 0
        for job in Job.fetch_many(sweep_job_ids, connection=connection):
            result = job.return_value() if job is not None else None
            if isinstance(result, dict):
                swept += int(result.get("reminders") or 0)
        figures.swept_by_cron_job = swept
    finally:
        connection.close()


# --- reporting -----------------------------------------------------------------------------


def _ms(spread: dict[str, float | None]) -> str:
    def one(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    return f"{one(spread['p50_ms'])} / {one(spread['p99_ms'])} / {one(spread['max_ms'])} ms"


def report_lines(f: Figures) -> list[str]:
    rows = [
        ("reminders", f"{f.reminders:,} (" + (f"{f.offered_per_second:,.1f}/s falling due)"
                                              if f.offered_per_second else "all due at once)")),
        ("emails at the SMTP sink", f"{f.emails:,} ({f.duplicate_emails} duplicates, "
                                    f"{f.in_app:,} in-app notes)"),
        ("first due -> last email", f"{f.seconds:.2f} s"),
        ("emails delivered / s", f"{f.emails_per_second:,.1f} (notifications with in-app "
                                 f"{f.notifications_per_second:,.1f}/s)"),
        ("lag to email p50 / p99 / max", _ms(f.lag_email) + f" ({f.late_over_5s} over 5 s)"),
        ("lag to reminder job", _ms(f.lag_job)),
        ("lag to email log sent_at", _ms(f.lag_email_log)),
        ("lag to in-app note", _ms(f.lag_in_app)),
        ("reminder rows", str(f.reminder_status)),
        ("email log rows", f"{f.email_log_status} (max attempts {f.email_attempts_max})"),
    ]
    if f.worker_busy_seconds is not None:
        rows.append(("worker busy (finished jobs)",
                     f"{f.worker_busy_seconds:.1f} s = {f.worker_ms_per_reminder:.1f} ms per "
                     f"reminder; jobs " + ", ".join(
                         f"{name} {count:,} ({f.job_seconds.get(name, 0) / count * 1000:.0f} ms "
                         "each)" for name, count in f.jobs.items())))
        rows.append(("reminder jobs returned", f"{f.reminder_job_results}; the minute sweeper "
                                               f"sent {f.swept_by_cron_job}"))
    width = max(len(label) for label, _ in rows)
    return [f"  {label:<{width}}  {value}" for label, value in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reminders",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=1000, help="reminders (default 1000)")
    parser.add_argument("--spread", type=float, default=60.0,
                        help="seconds over which they fall due (default 60)")
    parser.add_argument("--lead", type=float, default=30.0,
                        help="seconds from the worker's start to the first due time, to "
                             "book and schedule them (default 30)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="stop this many seconds after the first due time (default 300)")
    parser.add_argument("--sweep-interval", type=float, default=60.0,
                        help="seconds between sweeper runs, as the cron (default 60; 0: none)")
    parser.add_argument("--subsecond", action="store_true",
                        help="due times at any fraction of a second, not whole seconds")
    parser.add_argument("--redis", default=None, metavar="URL|private",
                        help=f"Redis to use (default BENCH_REMINDERS_REDIS_URL or "
                             f"{DEFAULT_REDIS_URL}, which is emptied); `private` starts a "
                             "redis-server of its own on a spare port")
    args = parser.parse_args(argv)
    if not (0 < args.reminders <= 100_000 and 0 <= args.spread <= 600 and 1 <= args.lead <= 600
            and 0 < args.timeout <= 3600 and args.sweep_interval >= 0):
        parser.error("--reminders 1-100000, --spread 0-600, --lead 1-600, --timeout 0-3600")

    url = bench_database_url()
    redis_url = args.redis or bench_redis_url()
    try:
        check_bench_url(url)
        with exclusive_run(url):
            try:
                return run_on(url, redis_url, args)
            except RedisEmptied as exc:
                if redis_url == "private":
                    raise
                # The test suite empties databases 1-15 of the local Redis (one per process,
                # before every test): measure again on a redis-server nobody else uses.
                print(f"reminders: {exc}; running again on a private redis-server",
                      file=sys.stderr, flush=True)
                return run_on(url, "private", args)
    except BenchRefused as exc:
        print(f"reminders: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"reminders: cannot use PostgreSQL ({exc.orig})", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"reminders: cannot use Redis at {redis_url} ({exc})", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"reminders: {exc}", file=sys.stderr)
        return 1


def run_on(url: str, redis_url: str, args: argparse.Namespace) -> int:
    """One run on a fresh database and Redis (`private`: a redis-server of its own)."""
    with ExitStack() as stack:
        if redis_url == "private":

            redis_url = stack.enter_context(PrivateRedis()).url
        recreate_database(url)
        flush_redis(redis_url)
        return run(url, redis_url, args)


class RedisWatch:
    """A marker key in the benchmark's Redis database: gone means someone emptied it.

    The test suite picks Redis databases 1-15 by process id and empties its own before every
    test; one that lands on ours during a run wipes the scheduled reminder jobs, and the
    figures would measure the minute sweeper instead.
    """

    KEY = "bench:reminders:marker"

    def __init__(self, redis_url: str) -> None:
        self.client = Redis.from_url(redis_url)
        self.client.set(self.KEY, "1")

    def emptied(self) -> bool:
        try:
            return not self.client.exists(self.KEY)
        except OSError:
            return True

    def close(self) -> None:
        self.client.close()


def run(url: str, redis_url: str, args: argparse.Namespace) -> int:
    host = machine()
    secret_key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="bench-reminders-") as tmp, \
            SmtpSink(Path(tmp) / "mailbox") as sink:
        app = make_app(url, redis_url, secret_key, sink.port)
        started = timer.perf_counter()
        with app.app_context():
            upgrade()
            pg_version = db.session.execute(text("SHOW server_version")).scalar()
            people = build_people(args.reminders)
            db.session.remove()
        seed_seconds = timer.perf_counter() - started

        watch = RedisWatch(redis_url)
        worker = sweeper = None
        memory: dict[str, dict[str, int]] = {}
        try:
            worker = start_worker(worker_env(url, redis_url, secret_key, sink.port), redis_url,
                                  Path(tmp))
            if args.sweep_interval:
                sweeper = Sweeper(redis_url, args.sweep_interval)
                sweeper.start()
            t0 = (datetime.now(UTC) + timedelta(seconds=args.lead)).replace(microsecond=0)
            started = timer.perf_counter()
            with app.app_context():
                reminders = schedule(book(people, t0, args.spread, subsecond=args.subsecond))
                db.session.remove()
            schedule_seconds = timer.perf_counter() - started
            first_due = min((r.due_at for r in reminders), default=t0)
            if len(reminders) != len(people) or datetime.now(UTC) >= first_due:
                raise RuntimeError(
                    f"scheduled {len(reminders)} of {len(people)} reminders in "
                    f"{schedule_seconds:.1f} s, past the first due time: raise --lead")
            deadline = timer.perf_counter() + (first_due - datetime.now(UTC)).total_seconds() \
                + args.timeout

            def trouble() -> str | None:
                if watch.emptied():
                    raise RedisEmptied(f"another process emptied Redis {redis_url} during "
                                       "the run (its scheduled jobs are gone)")
                if worker.process.poll() is not None:
                    return f"the worker exited with {worker.process.returncode}"
                return None

            problem = wait_for_emails(sink.mailbox, len(reminders), deadline, trouble)
            timer.sleep(0.5)  # let the last in-flight jobs write their rows
            problem = problem or trouble()
            memory["worker"] = memory_kib(worker.process.pid)
            for pid in worker.scheduler_pids():
                memory["scheduler"] = memory_kib(pid)
        finally:
            if sweeper is not None:
                sweeper.stop()
            if worker is not None:
                worker.stop()
            watch.close()

        with app.app_context():
            figures = collect(sink.mailbox, reminders, redis_url,
                              sweeper.job_ids if sweeper else [])
            db.session.remove()
            db.engine.dispose()
        worker_log = tail(worker.log_path, 20)
    flush_redis(redis_url)

    host["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"reminders on PostgreSQL {pg_version} ({BENCH_DATABASE}), Redis {redis_url}; "
          f"{host['nproc']} x {host['cpu']}; Python {host['python']}")
    print(f"  load average (1 min) {host['loadavg'][0]} before, {host['loadavg_end'][0]} after"
          " (other processes on the machine share its CPUs)")
    print(f"  one worker (`flask --app portal worker`, RQ with its scheduler); reminders enqueued "
          f"with enqueue_at by schedule_reminders, plus the sweeper every "
          f"{args.sweep_interval:g} s; email over SMTP to the sink, in-app recorded")
    print(f"  seeded in {seed_seconds:.1f} s and scheduled in {schedule_seconds:.1f} s (not "
          f"timed): {len(people):,} doctors and patients; due within {args.spread:g} s")
    for line in report_lines(figures):
        print(line)
    worker_mib = memory.get("worker", {}).get("VmHWM", 0) / 1024
    scheduler_mib = memory.get("scheduler", {}).get("VmHWM", 0) / 1024
    print(f"  worker peak resident memory (VmHWM) {worker_mib:.1f} MiB, its scheduler child "
          f"{scheduler_mib:.1f} MiB")
    problems = [problem] if problem else []
    if figures.duplicate_emails:
        problems.append(f"{figures.duplicate_emails} DUPLICATE emails")
    if sweeper is not None and sweeper.errors:
        problems.append(f"the sweeper could not enqueue: {sweeper.errors[:3]}")
    if problems:
        print(f"  worker log tail:\n{worker_log}")
    print(json.dumps({
        "bench": "reminders", "postgres": pg_version, "redis": redis_url, **host,
        "spread_s": args.spread, "subsecond": args.subsecond,
        "sweep_interval_s": args.sweep_interval, "seed_seconds": round(seed_seconds, 2),
        "schedule_seconds": round(schedule_seconds, 2),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(figures).items()},
        "worker_memory_kib": memory.get("worker", {}),
        "scheduler_memory_kib": memory.get("scheduler", {}),
        "problems": problems,
    }), flush=True)
    for message in problems:
        print(f"reminders: {message}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
