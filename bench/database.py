"""Each benchmark's own PostgreSQL database: refuse any other, one run at a time, made anew."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


class BenchRefused(RuntimeError):
    """The database URL is not the benchmark's dedicated database (or another run has it)."""


def check_bench_url(url: str, database: str, what: str) -> str:
    """`url` if it names the PostgreSQL database `database`; BenchRefused if not.

    A benchmark drops and recreates its database, so it must never run against another one.
    """
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise BenchRefused(f"the {what} benchmark runs on PostgreSQL, not {parsed.drivername}")
    if parsed.database != database:
        raise BenchRefused(f"refusing to drop and recreate database {parsed.database!r}: the "
                           f"benchmark only runs against a database named {database!r}")
    return url


def _maintenance_engine(url: str):
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextmanager
def exclusive_run(url: str, database: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock for the whole run; refuse if another run holds it.

    Two runs at once would drop each other's database (DROP ... WITH (FORCE)) mid-measure.
    """
    admin = _maintenance_engine(url)
    key = {"name": f"bench:{database}"}
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:name))"),
                                key).scalar():
                raise BenchRefused(f"another run is using {database}; wait for it to end")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), key)
    finally:
        admin.dispose()


def recreate_database(url: str, database: str) -> None:
    """DROP and CREATE the benchmark's database, through the server's maintenance database."""
    admin = _maintenance_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {database}"))
    finally:
        admin.dispose()
