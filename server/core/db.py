"""Engine and unit of work.

SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so a
read-then-write (numbering, call-next) holds the write lock from its first statement.
PostgreSQL: READ COMMITTED with row locks (``FOR UPDATE [SKIP LOCKED]``) in the engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "motcua_read_only"
log = logging.getLogger("motcua.db")


def insert_for(session: Session, model: Any) -> Any:
    """``INSERT`` for ``model`` in the session's dialect, so callers can add
    ``on_conflict_do_update`` (an atomic upsert on SQLite and PostgreSQL alike)."""

    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def make_engine(url: str, sqlite_synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """``sqlite_synchronous`` (the setting of the same name): FULL (default) syncs the WAL at
    every commit, so an issued ticket survives a power cut; NORMAL is faster and still never
    corrupts the file, but a power cut can lose the last commits (numbers could then be issued
    twice on paper)."""
    if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {SQLITE_SYNCHRONOUS}")
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event decide how transactions start.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def retrying(fn: Callable[[], Any], attempts: int = 4) -> Any:
    """Run a whole unit of work again when the database refuses it for a concurrency reason
    (a unique key taken by a concurrent idempotent retry, a deadlock, SQLite busy)."""
    for i in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError) as exc:
            if i == attempts - 1:
                raise
            log.warning("retrying unit of work", extra={"error": type(exc).__name__, "try": i})
    raise AssertionError("unreachable")


class Database:
    """Owns the engine and hands out units of work.

    ``publish`` receives the domain events of a unit of work, after its commit only.
    """

    def __init__(self, url: str, sqlite_synchronous: str = "FULL", **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous, **engine_kwargs)
        self._rw = sessionmaker(self.engine, expire_on_commit=False)
        self._ro = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self.subscribers: list[Callable[[list[Any]], None]] = []
        # SQLite has one writer at a time. Queue writers of this process here, in order,
        # instead of letting them spin in SQLite's busy handler, which is unfair and gave
        # second-long tails under load. PostgreSQL needs no such lock (row locks do it).
        self._write_lock: Any = threading.Lock() if url.startswith("sqlite") else nullcontext()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction. Events queued in ``session.info['events']`` are published
        after a successful commit, never on rollback."""
        with self._write_lock:
            session = self._rw()
            session.info["events"] = []
            try:
                with session.begin():
                    yield session
                    for hook in session.info.get("before_commit", []):
                        hook(session)
                events = list(session.info["events"])
            finally:
                session.close()
            # Still under the SQLite writer lock: events leave in commit (= seq) order.
            if events:
                for subscriber in list(self.subscribers):
                    try:
                        subscriber(events)
                    except Exception:  # the commit stands; a broken listener must not undo it
                        log.exception("event subscriber failed", extra={"events": len(events)})

    @contextmanager
    def read(self) -> Iterator[Session]:
        session = self._ro()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
