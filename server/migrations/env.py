"""Alembic environment: run from ``server.migrate`` (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, pool

from server.core import migrate
from server.core.db import make_engine
from server.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # PostgreSQL: a migration waits at most MIGRATION_LOCK_TIMEOUT_MS for a table's lock. While
    # it waits, every request for that table queues behind it, so a long wait would stall the
    # nodes still serving (a rolling upgrade); failing fast changes nothing (one transaction).
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool,
                         lock_timeout_ms=migrate.MIGRATION_LOCK_TIMEOUT_MS)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # A table that others refer to can only be rebuilt (batch mode) with SQLite's
            # foreign key checks off; the pragma is ignored inside a transaction, so it is set
            # on the driver's connection before the migrations' transaction begins. A
            # migration that rebuilds such a table runs PRAGMA foreign_key_check itself.
            driver = conn.connection.dbapi_connection
            assert driver is not None
            driver.execute("PRAGMA foreign_keys=OFF")
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with migrate.sqlite_keys_off(connection), context.begin_transaction():
        context.run_migrations()
        migrate.check_foreign_keys(connection)

run()
