"""Daily aggregates: one row per site, closed business day and grouping

- ``daily_stats``: the counts, sums of seconds and waits (seconds) of a site's tickets of one
  business day, by service, by first-calling counter, by clerk and by local hour of issue;
- ``stat_days``: which days of a site are aggregated (and how many tickets they held), and
  when retention removed the day's tickets, leaving only its aggregates.

Written by the daily close and ``motcua stats backfill``; read by the KPI reports, so a year's
report merges ~365 rows per service instead of every ticket. Expand only: two new tables,
nothing an older node uses changes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COUNTS = (
    "issued", "transferred_in", "served", "no_shows", "cancelled", "transferred",
    "unserved_at_close", "waited", "within_sla", "timed",
    "very_satisfied", "satisfied", "not_satisfied",
)


def upgrade() -> None:
    op.create_table(
        "daily_stats",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=8), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.Column("wait_sum_s", sa.BigInteger(), nullable=False),
        sa.Column("service_sum_s", sa.BigInteger(), nullable=False),
        sa.Column("waits", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "dim IN ('service', 'counter', 'clerk', 'hour')", name=op.f("ck_daily_stats_dim")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_daily_stats_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_stats")),
        sa.UniqueConstraint(
            "site_id", "business_day", "dim", "key",
            name=op.f("uq_daily_stats_site_id_business_day_dim_key"),
        ),
    )
    op.create_table(
        "stat_days",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.Column("detail_dropped_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_stat_days_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", "business_day", name=op.f("pk_stat_days")),
    )


def downgrade() -> None:
    op.drop_table("stat_days")
    op.drop_table("daily_stats")
