"""Fixtures of the fault tests: a private Redis, a private PostgreSQL cluster, real workers.

Other people's test runs share the PostgreSQL on 127.0.0.1:5432 and the Redis on 6379, so no
fault is ever injected into those. Redis outages use a `PrivateRedis` on a port of its own
(the suite's app is pointed at it for the test), the PostgreSQL restart uses a throwaway
cluster made with initdb in a temporary directory, and workers that get killed are
subprocesses of this test run. Everything listens on 127.0.0.1 only, and is stopped and
removed when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time as clock_time
from glob import glob
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import create_engine, text

from portal.events import relay_pending
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.localredis import LOOPBACK, PrivateRedis, free_port
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
MARKER = ("faults: fault-injection tests (killed worker, Redis and PostgreSQL outages, "
          "webhook storm); bounded in time, loopback only")


def pytest_configure(config) -> None:
    # The suite runs with --strict-markers; pyproject.toml should list this line too.
    config.addinivalue_line("markers", MARKER)


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture
def private_redis(app) -> Iterator[PrivateRedis]:
    """A redis-server of this test alone, with the suite's app pointed at it.

    Nothing else consumes its queues, and stopping it hurts nobody else's run.
    """
    server = PrivateRedis().start()
    previous = app.config["REDIS_URL"]
    clients = app.extensions.setdefault("redis_clients", {})
    app.config["REDIS_URL"] = server.url
    try:
        yield server
    finally:
        app.config["REDIS_URL"] = previous
        client = clients.pop(server.url, None)  # its port is free for someone else now
        if client is not None:
            client.close()
        server.stop()


def run_jobs(app, queues: list[str] | None = None) -> None:
    """Work every queued job now, in this process (what `flask worker --burst` does)."""

    connection = redis_connection(app.config["REDIS_URL"])
    worker = AppWorker([Queue(name, connection=connection)
                        for name in queues or app.config["RQ_QUEUES"]], connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


def settle(app, passes: int = 3) -> None:
    """What the relay cron job and the workers do, now: events -> consumers -> deliveries."""

    for _ in range(passes):
        relay_pending()
        run_jobs(app)


# --- real worker processes -------------------------------------------------------------------


def worker_env(app, **overrides: str) -> dict[str, str]:
    """The environment of a `flask --app portal worker` matching the suite's app."""
    config = app.config
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": config["REDIS_URL"],
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SERVER": config["MAIL_SERVER"],
        "MAIL_PORT": str(config["MAIL_PORT"]),
        "PORTAL_ENV": "development",
        "SECRET_KEY": config["SECRET_KEY"],
        "PUBLIC_URL": config["PUBLIC_URL"],
        "RAZORPAY_KEY_ID": config["RAZORPAY_KEY_ID"],
        "RAZORPAY_KEY_SECRET": config["RAZORPAY_KEY_SECRET"],
        "RAZORPAY_WEBHOOK_SECRET": config["RAZORPAY_WEBHOOK_SECRET"],
        "RAZORPAY_BASE_URL": config["RAZORPAY_BASE_URL"],
        "TWILIO_BASE_URL": config["TWILIO_BASE_URL"],
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides)
    return env


@dataclass
class WorkerProcess:
    """A real RQ worker (`flask --app portal worker`) in a child process."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: no handler runs, no `finally`, the job stays "started" in Redis."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)


@pytest.fixture
def spawn_worker(app, tmp_path):
    """`spawn_worker(burst=False, **env)` starts a worker process; all are killed at the end."""
    started: list[WorkerProcess] = []

    def spawn(*, burst: bool = False, **env: str) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        args = [sys.executable, "-m", "flask", "--app", "portal", "worker"]
        if burst:
            args.append("--burst")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(args, cwd=ROOT, env=worker_env(app, **env),
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerProcess(process, log_path)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            worker.kill()


# --- a clinic on the real clock --------------------------------------------------------------


def doctor_with_slots(fee_paise: int, *, days: int = 4, opens: int = 8, closes: int = 20):
    """A doctor offering video consultations every day; returns (doctor, bookable slots)."""

    doctor = factories.create_doctor(
        fee_video_paise=fee_paise, fee_in_person_paise=None, booking_window_days=days,
        hours=factories.weekly_hours(clock_time(opens), clock_time(closes), "VIDEO",
                                     days=factories.EVERY_DAY))
    return doctor, factories.free_slots(doctor)


# --- PostgreSQL ------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin with the server programs, else PATH's."""
    candidates = sorted(glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                        else 0, reverse=True)
    for directory in candidates:
        if all((Path(directory) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of our own: initdb in a temp dir, one loopback port, trust auth.

    As root the server runs as the `postgres` user (PostgreSQL refuses to run as root).
    `stop()` and `start()` keep the data directory and the port, like a restart of the server.
    """

    DATABASE = "portal_faults"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port(LOOPBACK)
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.logfile = self.root / "postgres.log"
        self.sockets.mkdir()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:

            entry = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{self.DATABASE}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                cwd=self.root, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stdout}"
                               f"{result.stderr}\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses={LOOPBACK} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.logfile),
                  "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" ends every session (what a restart does to clients)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {self.DATABASE}"))
        finally:
            engine.dispose()

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL cluster of this test alone, with an empty `portal_faults` db."""
    bindir = postgres_bindir()
    if bindir is None:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but the PostgreSQL server programs (initdb, "
                        "pg_ctl) are not installed")
        pytest.skip("the PostgreSQL server programs (initdb, pg_ctl) are not installed; "
                    "the restart test needs a private cluster it may stop")
    cluster = PrivatePostgres(bindir)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.destroy()


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
