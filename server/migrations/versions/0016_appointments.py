"""Appointments: bookings made ahead, checked in at the kiosk

- ``bookings``: one citizen's place in a time slot of a service (held while the one-time code
  is confirmed, then confirmed, checked in, a no-show, cancelled or expired). The booking
  page's secret is stored as a hash; the ID number as a keyed hash and its last 4 digits
  (scanning the ID card at the kiosk finds the booking by the same keyed hash);
- ``booking_slots``: one row per (service, slot start) taken as a lock by every hold of that
  slot, so exactly the slot's capacity can be held under concurrent requests;
- ``booking_people``: one row per (ID number hash, business day), the lock that keeps the
  per-person limits under concurrent requests from the same ID number;
- ``booking_challenges``: each proof-of-work (ALTCHA) challenge solved once, until it expires,
  so a solution cannot be replayed; ``bookings.cancel_reason``: the citizen, or the day closed
  after the booking was made (those are listed for the supervisor and messaged);
- ``sites.booking``: the site's booking settings (slot length, horizon, hold time, check-in
  window, per-person limits, no-show limit, cancel quarantine; NULL = defaults);
  ``services.online_share``: the share of a slot's expected capacity offered online (NULL = 50 %);
- ``tickets.appointment`` / ``tickets.placed_at``: a ticket issued by an appointment's check-in,
  and the instant the line places it at (its slot's start) for the routing's urgency.

Expand only: new tables and nullable (or server-defaulted) columns an older node ignores.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

STATUSES = "('held', 'confirmed', 'checked_in', 'no_show', 'cancelled', 'expired')"


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("booking", sa.JSON(), nullable=True))
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("online_share", sa.Float(), nullable=True))
    # On SQLite the batch rebuilds the table (the boolean's CHECK): keep its AUTOINCREMENT, or
    # ids after a restore fence would be handed out again (migration 0011).
    with op.batch_alter_table("tickets", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("appointment", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("placed_at", sa.DateTime(), nullable=True))
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=True),
        sa.Column("slot_start", sa.DateTime(), nullable=False),
        sa.Column("slot_end", sa.DateTime(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_last4", sa.String(length=4), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("hold_until", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("no_show_at", sa.DateTime(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=16), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("otp_hash", sa.String(length=64), nullable=True),
        sa.Column("otp_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("otp_expires_at", sa.DateTime(), nullable=True),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_bookings_status")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_bookings_site_id_sites")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name=op.f("fk_bookings_service_id_services")),
        sa.ForeignKeyConstraint(["procedure_id"], ["procedures.id"],
                                name=op.f("fk_bookings_procedure_id_procedures")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_bookings_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("ref", name=op.f("uq_bookings_ref")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_bookings_token_hash")),
        sa.UniqueConstraint("site_id", "business_day", "code",
                            name=op.f("uq_bookings_site_id_business_day_code")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bookings_service_slot", "bookings", ["service_id", "slot_start", "status"])
    op.create_index("ix_bookings_site_day", "bookings", ["site_id", "business_day", "status"])
    op.create_index("ix_bookings_person", "bookings", ["id_hash", "business_day"])
    op.create_index("ix_bookings_ticket", "bookings", ["ticket_id"])
    op.create_table(
        "booking_slots",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("slot_start", sa.DateTime(), nullable=False),
        sa.Column("holds", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name=op.f("fk_booking_slots_service_id_services")),
        sa.PrimaryKeyConstraint("service_id", "slot_start", name=op.f("pk_booking_slots")),
    )
    op.create_table(
        "booking_challenges",
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("pk_booking_challenges")),
    )
    op.create_index("ix_booking_challenges_expires", "booking_challenges", ["expires_at"])
    op.create_table(
        "booking_people",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("holds", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id_hash", "business_day", name=op.f("pk_booking_people")),
    )


def downgrade() -> None:
    op.drop_table("booking_people")
    op.drop_index("ix_booking_challenges_expires", table_name="booking_challenges")
    op.drop_table("booking_challenges")
    op.drop_table("booking_slots")
    op.drop_index("ix_bookings_ticket", table_name="bookings")
    op.drop_index("ix_bookings_person", table_name="bookings")
    op.drop_index("ix_bookings_site_day", table_name="bookings")
    op.drop_index("ix_bookings_service_slot", table_name="bookings")
    op.drop_table("bookings")
    # On SQLite the batch rebuilds the table (the boolean's CHECK): keep its AUTOINCREMENT, or
    # ids after a restore fence would be handed out again (migration 0011).
    with op.batch_alter_table("tickets", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("placed_at")
        batch.drop_column("appointment")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("online_share")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("booking")
