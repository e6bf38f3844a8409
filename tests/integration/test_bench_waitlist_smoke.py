"""The waitlist benchmark's building blocks on the test database, at a tiny size: two
cancellations, eight patients waiting for two doctors, offers through the relay and a worker
(in this process, in burst mode) to the SMTP sink; and its refusal of other databases.

The benchmark itself only runs against its own database (it drops and recreates it) with a
worker and a cron process of their own: `python -m bench waitlist`.
"""

from __future__ import annotations

import pytest
from rq import Queue

from bench import waitlist as bench
from portal.events import relay_pending
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.localredis import PrivateRedis


@pytest.fixture
def own_redis(app, monkeypatch):
    """A redis-server of this test's own: concurrent test runs empty the shared databases."""
    with PrivateRedis() as server:
        monkeypatch.setitem(app.config, "REDIS_URL", server.url)
        yield server.url


def relay_and_work(app, redis_url: str, rounds: int = 3) -> None:
    """What the cron's relay and the worker do, now: CANCELLED -> offers -> their emails."""
    connection = redis_connection(redis_url)
    for _ in range(rounds):
        relay_pending()
        worker = AppWorker([Queue(n, connection=connection) for n in app.config["RQ_QUEUES"]],
                           connection=connection)
        worker.app = app
        worker.work(burst=True)
    db.session.expire_all()


def test_the_waitlist_benchmark_measures_two_cancellations_through_the_worker(
        app, app_ctx, mailbox, own_redis):
    world = bench.build_world(doctors=2, waiting=8, cancellations=2,
                              batch=app.config["WAITLIST_BATCH"])
    assert world.expected_offers == 6  # three each, from four waiting per doctor

    cancelled_at = bench.cancel_all(app, world, threads=2)
    assert set(cancelled_at) == {c.slot_id for c in world.cancellations}
    relay_and_work(app, own_redis)

    figures = bench.collect(mailbox, world, cancelled_at, own_redis)
    assert (figures.cancellations, figures.offers, figures.offer_emails) == (2, 6, 6)
    assert figures.offers_per_cancellation == {"mean": 3.0, "min": 3, "max": 3}
    assert (figures.duplicate_offer_emails, figures.unoffered) == (0, 0)
    assert figures.in_app_offers == 6
    assert figures.other_emails >= 2  # the cancellation notices
    first = figures.lag_first_offer_email
    assert 0 <= figures.lag_first_offer_row["p50_s"] <= first["p50_s"] <= first["p99_s"] < 60
    assert figures.lag_last_offer_email["max_s"] >= first["max_s"]
    assert figures.jobs["jobs.events.dispatch"] >= 2 + 6  # CANCELLED, then WAITLIST_OFFERED
    assert figures.jobs["jobs.notifications.deliver"] >= 6
    assert any("cancel -> first offer email" in line for line in bench.report_lines(figures))


def test_the_waitlist_benchmark_refuses_any_other_database(monkeypatch, capsys):
    assert bench.check_bench_url(bench.DEFAULT_URL) == bench.DEFAULT_URL
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_reminders",
                "postgresql+psycopg://postgres@127.0.0.1:5432/portal_test",
                "sqlite:///portal_bench_waitlist"):
        with pytest.raises(bench.BenchRefused):
            bench.check_bench_url(url)
        monkeypatch.setenv("BENCH_WAITLIST_DATABASE_URL", url)
        assert bench.main(["--cancellations", "1"]) == 2  # before touching anything
    assert "waitlist:" in capsys.readouterr().err
