"""lobby display ticker per site

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticker_vi", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("ticker_en", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("ticker_en")
        batch_op.drop_column("ticker_vi")
