"""restore fences: after a restore, numbers, dossier codes and ids jump past what was lost

- ``restore_fences``: one row per fence (when, which kind of restore, the margins, what jumped).
- ``service_days.skipped``: the numbers a fence skipped on that day, so the daily cap counts
  tickets, not numbers.
- SQLite: the record tables (tickets, ticket_events, dossiers, dossier_events, audit_log,
  ratings) are rebuilt with AUTOINCREMENT, so their ids come from ``sqlite_sequence`` (which a
  fence can raise) instead of ``max(rowid) + 1`` (which reuses the ids of lost rows).
  PostgreSQL already draws ids from sequences; nothing changes there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 01:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The tables whose ids are seen outside the database (API paths, print jobs, receipts, logs).
AUTOINCREMENT_TABLES = (
    "tickets", "ticket_events", "dossiers", "dossier_events", "audit_log", "ratings"
)


def _rebuild_sqlite(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in AUTOINCREMENT_TABLES:
        with op.batch_alter_table(
            name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    # The migration runs with SQLite's foreign key checks off (migrations/env.py: a table
    # that others refer to can only be rebuilt so); check every reference afterwards.
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")


def upgrade() -> None:
    op.create_table(
        "restore_fences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("restored_to", sa.DateTime(), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("number_margin", sa.Integer(), nullable=False),
        sa.Column("id_margin", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.CheckConstraint("kind IN ('backup', 'pitr')", name=op.f("ck_restore_fences_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restore_fences")),
    )
    with op.batch_alter_table("service_days") as batch:
        batch.add_column(
            sa.Column("skipped", sa.Integer(), nullable=False, server_default="0")
        )
    _rebuild_sqlite(True)


def downgrade() -> None:
    _rebuild_sqlite(False)
    with op.batch_alter_table("service_days") as batch:
        batch.drop_column("skipped")
    op.drop_table("restore_fences")
