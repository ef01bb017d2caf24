"""Booking figures in the daily aggregates

``daily_stats`` keeps, beside the ticket counts, what the reports say of appointments
(``server/rules/kpis.py``): tickets issued from a booking and how many of them were called within
ten minutes of their slot's start, and the day's confirmed bookings by what became of them
(checked in, no-show, cancelled). A new grouping ``slot`` holds them per service and slot
(key: service id x 1440 + the slot's local minute of the day). Expand only: columns with a
server default of 0 (a node of the previous version keeps writing its rows) and a wider check
on ``dim`` (it never writes ``slot``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COUNTS = (
    "appointments", "punctual", "bookings", "bookings_checked_in", "bookings_no_show",
    "bookings_cancelled",
)
OLD_DIMS = ("service", "counter", "clerk", "hour")
NEW_DIMS = (*OLD_DIMS, "slot")


def _dims(dims: tuple[str, ...]) -> str:
    return f"dim IN {dims!r}"


def upgrade() -> None:
    with op.batch_alter_table("daily_stats", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            )
        batch_op.drop_constraint(op.f("ck_daily_stats_dim"), type_="check")
        batch_op.create_check_constraint("dim", _dims(NEW_DIMS))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM daily_stats WHERE dim = 'slot'"))
    with op.batch_alter_table("daily_stats", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_daily_stats_dim"), type_="check")
        batch_op.create_check_constraint("dim", _dims(OLD_DIMS))
        for name in reversed(COUNTS):
            batch_op.drop_column(name)
