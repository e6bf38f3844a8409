"""The unit of work: every state-changing service writes inside `write()`.

    with write():
        ...  # reads and writes of one transaction
    # committed here; any exception rolled it back and went on up

Services own their transactions; views, API routes, jobs and CLI commands never commit or
roll back. On SQLite the transaction starts with BEGIN IMMEDIATE, so concurrent writers queue
on the busy timeout instead of failing with "database is locked" (a deferred transaction that
reads and then writes cannot wait its way out of SQLITE_BUSY). On PostgreSQL a plain
transaction is right: conditional UPDATEs and row locks decide races.

A `write()` inside another (a service calling another service) runs in a SAVEPOINT of the
outer transaction: its failure undoes only its own part, and only the outermost block commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from portal.extensions import db

_DEPTH = "write_depth"


@contextmanager
def write() -> Iterator[Session]:
    """One write transaction: begin, yield the session, commit; roll back and re-raise on error.

    Any read-only transaction already open (loading the current user, say) is ended first on
    SQLite, so the write lock is taken at BEGIN, and goes on as the write's on PostgreSQL
    (`_can_continue`); pending changes outside a `write()` are a programming error and raise
    RuntimeError.
    """
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    if depth:
        with session.begin_nested():
            session.info[_DEPTH] = depth + 1
            try:
                yield session
            finally:
                session.info[_DEPTH] = depth
        return
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write() with unsaved changes made outside a unit of work")
    if session.in_transaction() and not _can_continue(session):
        _end_read(session)
    if not session.in_transaction():
        session.connection(execution_options={"sqlite_immediate": True})
    session.info[_DEPTH] = 1
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info[_DEPTH] = 0


def _can_continue(session: Session) -> bool:
    """On PostgreSQL a read transaction already open simply goes on as the write's: under READ
    COMMITTED each statement reads the latest committed rows anyway, so ending it first would
    only cost a COMMIT, a pool check-out (with its ping) and a BEGIN. Not on SQLite (the write
    lock must be taken at BEGIN) nor on a connection in autocommit (no transaction to go on)."""
    connection = session.connection()
    return (connection.dialect.name == "postgresql"
            and connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT")


def _end_read(session: Session) -> None:
    """End the read-only transaction a request or job has open, keeping what it loaded:
    nothing changed, so there is nothing to expire (rows that matter are re-read locked)."""
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def in_write() -> bool:
    """True inside a `write()` block (for code that must not open a transaction of its own)."""
    return bool(db.session().info.get(_DEPTH, 0))

