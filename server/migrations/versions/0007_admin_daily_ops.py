"""issue 10: site opening hours/phone, service caps/last-ticket time/colour, pairing codes,
ticket status unserved_at_close

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_STATUSES = (
    "waiting",
    "called",
    "serving",
    "parked",
    "done",
    "no_show",
    "cancelled",
    "transferred",
)
NEW_STATUSES = (*OLD_STATUSES, "unserved_at_close")


def _status_check(statuses: tuple[str, ...]) -> str:
    return f"status IN {statuses!r}"


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opening_hours", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_cap", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_ticket_time", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("display_colour", sa.String(length=7), nullable=True))

    op.create_table(
        "pairing_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("collected_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_pairing_codes_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_pairing_codes_code")),
    )
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.create_index("ix_pairing_codes_expires_at", ["expires_at"], unique=False)

    # "unserved_at_close" is 17 characters: widen the status columns, extend the check.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tickets_status"), type_="check")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=24),
            existing_nullable=False,
        )
        batch_op.create_check_constraint("status", _status_check(NEW_STATUSES))
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.alter_column(
            "from_status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=24),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "to_status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=24),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Tickets closed as unserved cannot be represented before this revision.
    op.execute("UPDATE tickets SET status = 'cancelled' WHERE status = 'unserved_at_close'")
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.alter_column(
            "to_status",
            existing_type=sa.String(length=24),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "from_status",
            existing_type=sa.String(length=24),
            type_=sa.String(length=16),
            existing_nullable=True,
        )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tickets_status"), type_="check")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=24),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        batch_op.create_check_constraint("status", _status_check(OLD_STATUSES))

    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_pairing_codes_expires_at")
    op.drop_table("pairing_codes")

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("display_colour")
        batch_op.drop_column("last_ticket_time")
        batch_op.drop_column("daily_cap")

    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("phone")
        batch_op.drop_column("opening_hours")
