"""Schema migrations (Alembic), callable from the CLI and tests."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import OperationalError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: PostgreSQL: how long a migration waits for a table's lock before it gives up (server/
#: migrations/env.py); the upgrade is one transaction, so giving up changes nothing.
MIGRATION_LOCK_TIMEOUT_MS = 5000


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: PostgreSQL's code for a deadlock between the upgrade and a running node's transaction (the
#: node's lock taken between two of the upgrade's). The upgrade is one transaction, so nothing
#: of it stayed: it is tried again after a pause while the nodes keep serving. A lock held too
#: long (the timeout above) is not retried: the operator is told which table was kept locked.
RETRYABLE_SQLSTATES = ("40P01",)
MIGRATION_ATTEMPTS = 5


def upgrade(url: str, revision: str = "head") -> None:
    for attempt in range(1, MIGRATION_ATTEMPTS + 1):
        try:
            command.upgrade(alembic_config(url), revision)
            return
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in RETRYABLE_SQLSTATES or attempt == MIGRATION_ATTEMPTS:
                raise
            logging.getLogger("motcua.migrate").warning(
                "migration deadlocked with a running node; trying again",
                extra={"sqlstate": code, "attempt": attempt},
            )
            time.sleep(min(2.0 * attempt, 5.0))


def current_revision(engine: object) -> str | None:

    with engine.connect() as conn:  # type: ignore[attr-defined]
        return MigrationContext.configure(conn).get_current_revision()


def has_schema(engine: object) -> bool:
    return "tickets" in inspect(engine).get_table_names()  # type: ignore[arg-type]


@contextmanager
def sqlite_keys_off(connection: Connection) -> Iterator[None]:
    """Around a migration's transaction on SQLite: foreign keys off, and checked before the
    caller commits (:func:`check_foreign_keys`). Batch mode rebuilds a table (copy, drop,
    rename); with keys enforced, dropping a table other rows point at (tickets, with its events)
    fails, so a SQLite database holding data could not be upgraded. This is SQLite's own
    procedure for such changes; the pragma only has effect outside a transaction, so this is
    entered before the transaction begins. Does nothing on PostgreSQL."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def check_foreign_keys(connection: Connection) -> None:
    """Inside the migration's transaction, before commit: on SQLite, no row may point at a row
    that is gone (what the keys would have refused)."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows without their parent: {broken[:5]}")
