"""Starting a transaction that will write under contention, the same way on both databases."""

from __future__ import annotations

from portal.extensions import db


def begin_write() -> None:
    """Begin the session's next transaction as a writer.

    On SQLite this takes the write lock at BEGIN (IMMEDIATE), so concurrent writers queue on
    busy_timeout instead of failing. On PostgreSQL a plain transaction is right: conditional
    UPDATEs and row locks decide races. Any read-only transaction already open (loading the
    current user, say) is ended first; pending changes are a programming error.
    """
    session = db.session()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_write() with unsaved changes; commit them first")
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"sqlite_immediate": True})
