"""The benchmarks' building blocks on the test database: slot generation for five doctors,
five reminders through the worker and the SMTP sink.

The benchmarks themselves only run against their own databases (they drop and recreate them);
here their data builders and measurements run on the test app, and their refusal of other
databases is checked.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from time import sleep

import pytest
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench import reminders as bench_reminders
from bench import slot_generation as bench
from portal.availability.models import AvailableSlot, WeeklyAvailability
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.localredis import PrivateRedis


def test_build_doctors_and_measure_generation(app_ctx):
    ids = bench.build_doctors(5, days=7)
    assert len(ids) == 5
    assert db.session.scalar(select(func.count()).select_from(Doctor)) == 5
    assert db.session.scalar(select(func.count()).select_from(WeeklyAvailability)) >= 5 * 5

    figures = bench.measure(bench.DEFAULT_NOW)

    assert figures.doctors == 5
    assert figures.slots_created > 0
    assert figures.slots_per_second > 0
    assert figures.doctors_per_second > 0
    assert (figures.rerun_created, figures.rerun_removed) == (0, 0)
    assert figures.rerun_kept == figures.slots_created
    # The traced pass regenerates the same window from scratch.
    assert figures.traced_created == figures.slots_created
    assert figures.tracemalloc_peak_bytes > 0
    assert figures.max_rss_kib >= figures.max_rss_kib_before > 0
    assert db.session.scalar(select(func.count()).select_from(AvailableSlot)) == (
        figures.slots_created)
    lines = bench.report_lines(figures, 7, bench.DEFAULT_NOW, 0.1)
    assert any("slots / second" in line for line in lines)


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:5432/portal_test",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "sqlite:///portal_bench",
])
def test_the_benchmark_refuses_any_other_database(url, monkeypatch, capsys):
    with pytest.raises(bench.BenchRefused):
        bench.check_bench_url(url)
    monkeypatch.setenv("BENCH_DATABASE_URL", url)
    assert bench.main(["--doctors", "1"]) == 2  # refuses before connecting to anything
    assert "slot_generation:" in capsys.readouterr().err


def test_the_benchmark_accepts_its_own_database():
    assert bench.check_bench_url(bench.DEFAULT_URL) == bench.DEFAULT_URL
    other_host = "postgresql+psycopg://bench@db.internal:5433/portal_bench"
    assert bench.check_bench_url(other_host) == other_host


def test_a_second_run_is_refused_while_one_holds_the_database(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the benchmark's lock is a PostgreSQL advisory lock")
    url = make_url(database_url).set(database=bench.BENCH_DATABASE).render_as_string(
        hide_password=False)
    with ExitStack() as held:
        try:
            held.enter_context(bench.exclusive_run(url))
        except bench.BenchRefused:
            pytest.skip("a real benchmark run holds the lock right now")
        with pytest.raises(bench.BenchRefused, match="another run"), bench.exclusive_run(url):
            pass
    with bench.exclusive_run(url):  # released at the end of the first run
        pass


@pytest.fixture
def own_redis(app, monkeypatch):
    """A redis-server of this test's own: concurrent test runs empty the shared databases."""
    with PrivateRedis() as server:
        monkeypatch.setitem(app.config, "REDIS_URL", server.url)
        yield server.url


def test_the_reminder_benchmark_measures_five_reminders_through_the_worker(
        app, app_ctx, mailbox, frozen_clock, own_redis):
    people = bench_reminders.build_people(5)
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    # Scheduling "a minute before", however slow this machine is today; then the real clock.
    frozen_clock.freeze(first - timedelta(minutes=1))
    reminders = bench_reminders.schedule(bench_reminders.book(people, first, spread=1))
    frozen_clock.unfreeze()
    assert len(reminders) == 5
    assert all(r.due_at == first for r in reminders)  # whole seconds, as in production
    sleep(max(0.0, (first - datetime.now(UTC)).total_seconds()) + 0.05)

    # What `flask worker` does, in burst mode: the scheduler moves the due enqueue_at jobs.
    connection = redis_connection(own_redis)
    worker = AppWorker([Queue(n, connection=connection) for n in app.config["RQ_QUEUES"]],
                       connection=connection)
    worker.app = app
    worker.work(burst=True, with_scheduler=True)

    figures = bench_reminders.collect(mailbox, reminders, own_redis)
    assert (figures.emails, figures.emails_matched, figures.duplicate_emails) == (5, 5, 0)
    assert figures.in_app == 5
    assert figures.reminder_status == {"SENT": 5}
    assert figures.email_log_status == {"SENT": 5}
    assert figures.reminder_job_results == {"SENT": 5}
    assert figures.jobs == {"send_reminder": 5, "deliver": 5}
    assert 0 <= figures.lag_job["p50_ms"] <= figures.lag_email["p50_ms"] < 10_000
    assert figures.emails_per_second > 0
    assert any("emails delivered / s" in line
               for line in bench_reminders.report_lines(figures))


def test_the_reminder_benchmark_refuses_any_other_database(monkeypatch, capsys):
    assert bench_reminders.check_bench_url(bench_reminders.DEFAULT_URL)
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench",
                "sqlite:///portal_bench_reminders"):
        with pytest.raises(bench_reminders.BenchRefused):
            bench_reminders.check_bench_url(url)
        monkeypatch.setenv("BENCH_REMINDERS_DATABASE_URL", url)
        assert bench_reminders.main(["--reminders", "1"]) == 2  # before touching anything
    assert "reminders:" in capsys.readouterr().err
