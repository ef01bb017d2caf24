"""a waiting ticket reserved for one counter (supervisor rebalancing)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reserved_counter_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_tickets_reserved_counter_id_counters", "counters", ["reserved_counter_id"], ["id"]
        )
        batch_op.create_index(
            "ix_tickets_reserved_counter", ["reserved_counter_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_reserved_counter")
        batch_op.drop_constraint("fk_tickets_reserved_counter_id_counters", type_="foreignkey")
        batch_op.drop_column("reserved_counter_id")
