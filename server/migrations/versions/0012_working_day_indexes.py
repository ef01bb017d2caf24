"""Indexes that lead with the site (or counter) and the business day

The display's recent calls, the supervisor's counters, the tablet's rating, the close of the
day and an intake replayed (its receipt job found by ``ref``) read only the working day's
rows, however much history the tables hold. Expand only: indexes are added, nothing a running
older node uses is dropped.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES: list[tuple[str, str, list[str]]] = [
    ("ix_tickets_site_day", "tickets", ["site_id", "business_day"]),
    ("ix_tickets_site_status_day", "tickets", ["site_id", "status", "business_day"]),
    ("ix_tickets_counter_day", "tickets", ["counter_id", "business_day"]),
    ("ix_tickets_counter_status_finished", "tickets", ["counter_id", "status", "finished_at"]),
    ("ix_print_jobs_ref_created", "print_jobs", ["ref", "created_at"]),
    ("ix_ratings_site_created", "ratings", ["site_id", "created_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False, postgresql_concurrently=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
