"""outbox: messages written with their cause; phone numbers for "near" and "called" messages

``outbox_messages`` holds every outbound message (SMS, Zalo ZNS, e-mail, webhook, the demo's
file) with its idempotency key, attempts, lease and last error; ``ticket_contacts`` the phone
number a citizen gave at the kiosk and the consent shown; ``message_channels`` each channel's
settings per site (a province's serve its centres); ``services.notify_ahead`` how many people
ahead trigger the "near" message. Expand-only: older nodes ignore all of it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("notify_ahead", sa.Integer(), nullable=True))
    op.create_table(
        "ticket_contacts",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("consent_at", sa.DateTime(), nullable=False),
        sa.Column("consent_version", sa.String(length=16), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_ticket_contacts_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_contacts")),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("sending_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed', 'dropped')",
                           name=op.f("ck_outbox_messages_status")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"],
                                name=op.f("fk_outbox_messages_site_id_sites")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_outbox_messages_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_messages_idempotency_key")),
    )
    op.create_index("ix_outbox_messages_due", "outbox_messages",
                    ["channel", "status", "next_attempt_at"])
    op.create_index("ix_outbox_messages_site_status", "outbox_messages", ["site_id", "status"])
    op.create_index("ix_outbox_messages_recipient_created", "outbox_messages",
                    ["recipient", "created_at"])
    op.create_index("ix_outbox_messages_ticket", "outbox_messages", ["ticket_id"])
    op.create_index("ix_outbox_messages_created", "outbox_messages", ["created_at"])
    op.create_table(
        "message_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("templates", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"],
                                name=op.f("fk_message_channels_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_channels")),
        sa.UniqueConstraint("site_id", "channel", name=op.f("uq_message_channels_site_id_channel")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("message_channels")
    op.drop_index("ix_outbox_messages_created", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_ticket", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_recipient_created", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_site_status", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("ticket_contacts")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("notify_ahead")
