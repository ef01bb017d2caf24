"""Schema migrations (Alembic), callable from the CLI and tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: PostgreSQL: how long a migration waits for a table's lock before it gives up (server/
#: migrations/env.py); the upgrade is one transaction, so giving up changes nothing.
MIGRATION_LOCK_TIMEOUT_MS = 5000


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


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
