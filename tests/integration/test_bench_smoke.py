"""The slot-generation benchmark's building blocks, on the test database with five doctors.

The benchmark itself only runs against portal_bench (it drops and recreates it); here its
data builder and measurement run on the test app, and its refusal of other databases is checked.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench import slot_generation as bench
from portal.availability.models import AvailableSlot, WeeklyAvailability
from portal.doctors.models import Doctor
from portal.extensions import db


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
