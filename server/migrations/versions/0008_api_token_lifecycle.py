"""Staff API tokens: an optional expiry and a last-used time; a kiosk device bound to one
counter (the citizen-facing rating tablet of that counter)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counter_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_devices_counter_id_counters", "counters", ["counter_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_constraint("fk_devices_counter_id_counters", type_="foreignkey")
        batch_op.drop_column("counter_id")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
