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

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from server.core.incidents import Incidents

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


# PostgreSQL error classes that mean "the database cannot serve this now", by SQLSTATE.
_PG_UNAVAILABLE = {"57014": "statement_timeout", "55P03": "lock_timeout",
                   "57P01": "unreachable", "57P02": "unreachable", "57P03": "unreachable",
                   "53300": "too_many_connections"}


def unavailable_kind(exc: BaseException) -> str | None:
    """What made the database unable to serve (a timeout, a lost or refused connection, the
    pool exhausted, SQLite busy past its timeout), or None when ``exc`` is an ordinary error
    (a constraint, a deadlock to retry, a bug)."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "pool_timeout"
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return "unreachable"
    orig = exc.orig
    code = getattr(orig, "sqlstate", None)
    if code in _PG_UNAVAILABLE:
        return _PG_UNAVAILABLE[code]
    if code and code.startswith("08"):  # connection exceptions
        return "unreachable"
    module = type(orig).__module__
    if module.startswith("psycopg") and code is None and isinstance(
        exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
    ):
        return "unreachable"  # refused, timed out connecting, closed under us
    if module.startswith("sqlite3") and "locked" in str(orig):
        return "busy"
    return None


# PostgreSQL errors that mean "the schema lacks what this code uses" (a migration not applied).
_PG_SCHEMA = {"42703": "missing_column", "42P01": "missing_table"}


def schema_kind(exc: BaseException) -> str | None:
    """``missing_column`` or ``missing_table`` when the database's schema is behind the code
    (PostgreSQL's UndefinedColumn/UndefinedTable, SQLite's "no such column/table"), else
    None. No retry helps: the database needs its migrations (``motcua init-db``)."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlstate", None)
    if code in _PG_SCHEMA:
        return _PG_SCHEMA[code]
    if type(orig).__module__.startswith("sqlite3"):
        message = str(orig)
        if message.startswith("no such column"):
            return "missing_column"
        if message.startswith("no such table"):
            return "missing_table"
    return None


PLAN_CACHE_MODE = "force_custom_plan"


def make_engine(url: str, sqlite_synchronous: str = "FULL", *,
                statement_timeout_ms: int | None = None, lock_timeout_ms: int | None = None,
                connect_timeout_s: int | None = None, **kwargs: Any) -> Engine:
    """``sqlite_synchronous`` (the setting of the same name): FULL (default) syncs the WAL at
    every commit, so an issued ticket survives a power cut; NORMAL is faster and still never
    corrupts the file, but a power cut can lose the last commits (numbers could then be issued
    twice on paper). PostgreSQL: statement and lock timeouts per connection, and a connect
    timeout, so a slow or lost database answers 503 instead of holding requests."""
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
    if "poolclass" not in kwargs:
        # A request waits this long for a free connection, then gets a 503, not a hang.
        kwargs.setdefault("pool_timeout", 5)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if connect_timeout_s:
        connect_args.setdefault("connect_timeout", connect_timeout_s)
    # Every statement is planned for its own parameters. psycopg prepares a statement on the
    # server after its 5th execution on a connection, and PostgreSQL then settles on a generic
    # plan, one made without the parameters' values: it cannot tell that ``status IN
    # ('called', 'serving')`` or today's ``business_day`` are a handful of rows out of a
    # year's, and scans the whole history (seconds per request after a year; see
    # docs/architecture.md). Custom plans cost a planning per execution, well under a
    # millisecond for these statements.
    options = [f"-c plan_cache_mode={PLAN_CACHE_MODE}"]
    if statement_timeout_ms:
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    if lock_timeout_ms:
        options.append(f"-c lock_timeout={int(lock_timeout_ms)}")
    connect_args.setdefault("options", " ".join(options))
    return create_engine(url, connect_args=connect_args, **kwargs)


def retrying(fn: Callable[[], Any], attempts: int = 4) -> Any:
    """Run a whole unit of work again when the database refuses it for a concurrency reason
    (a unique key taken by a concurrent idempotent retry, a deadlock, SQLite busy)."""
    for i in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError) as exc:
            # A timeout or a lost database is not a race: trying again only makes it wait longer.
            if (i == attempts - 1 or unavailable_kind(exc) is not None
                    or schema_kind(exc) is not None):
                raise
            log.warning("retrying unit of work", extra={"error": type(exc).__name__, "try": i})
    raise AssertionError("unreachable")


class Database:
    """Owns the engine and hands out units of work.

    ``publish`` receives the domain events of a unit of work, after its commit only.
    """

    def __init__(self, url: str, sqlite_synchronous: str = "FULL", *,
                 slow_timeout_ms: int | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous, **engine_kwargs)
        # Reports and exports may run longer than the request-sized statement timeout.
        self.slow_timeout_ms = slow_timeout_ms
        self.incidents = Incidents()
        self._rw = sessionmaker(self.engine, expire_on_commit=False)
        self._ro = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self.subscribers: list[Callable[[list[Any]], None]] = []
        # Run in every unit of work just before its commit, before the session's own hooks
        # (the events' numbering): effects written with their cause, e.g. the outbox's
        # messages for the tickets a unit of work called.
        self.before_commit: list[Callable[[Session], None]] = []
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
                with self._watched(), session.begin():
                    yield session
                    for effect in self.before_commit:
                        effect(session)
                    # The live list: a hook may add hooks (an event emitted in one is numbered
                    # by the numbering hook it adds).
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
    def read(self, slow: bool = False) -> Iterator[Session]:
        """A read transaction; ``slow`` for reports and exports: on PostgreSQL their statements
        may run up to ``slow_timeout_ms`` instead of the request-sized default."""
        session = self._ro()
        try:
            with self._watched(), session.begin():
                if slow and self.slow_timeout_ms and self.dialect == "postgresql":
                    session.execute(text(
                        f"SET LOCAL statement_timeout = {int(self.slow_timeout_ms)}"))
                yield session
        finally:
            session.close()

    @contextmanager
    def _watched(self) -> Iterator[None]:
        """Counts a database that cannot serve, or a schema behind the code, as an incident
        (one log line for it, not one per request); a unit of work that went through may end a
        database incident (a schema incident ends when ``/readyz`` finds the schema complete)."""
        try:
            yield
        except Exception as exc:
            detail = str(getattr(exc, "orig", exc))
            kind = unavailable_kind(exc)
            if kind is not None:
                self.incidents.failed("database", kind, detail)
            elif (missing := schema_kind(exc)) is not None:
                self.incidents.failed("schema", missing, detail)
            raise
        self.incidents.worked("database")

    def dispose(self) -> None:
        self.engine.dispose()
