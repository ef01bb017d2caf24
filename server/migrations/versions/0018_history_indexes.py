"""An index on print jobs' creation time, for the hourly retention pass

The daily close's retention pass (``server/features/retention.py``) counts and deletes the print
jobs made more than ``retention_days`` ago. No index led with ``created_at``, so every pass read
the whole ``print_jobs`` table (the largest: every slip's bytes), 0.9 M rows for 10 sites after
a year, to find the few that had just expired. Expand only: an index is added, nothing an older
node uses changes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 09:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_print_jobs_created", "print_jobs", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_print_jobs_created", table_name="print_jobs")
