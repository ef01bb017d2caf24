"""per-site realtime event sequence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_seq",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_site_seq_site_id_sites")),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_seq")),
    )


def downgrade() -> None:
    op.drop_table("site_seq")
