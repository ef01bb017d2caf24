"""Every site's "call starts service" setting on: the product's default

Migration 0015 added the setting off for the sites that existed then (and the demo site was
created without it), so "default on" held only for sites made afterwards in the admin console.
The call is the start of service (F2 calls, F8 finishes) everywhere now: this turns it on for
every site. Data only, no schema change: a node of the previous version runs on as before (it
reads the setting like any other). An operator who wants a site's three-step flow back turns
it off for that site in the admin console (docs/operations.md, upgrade notes).

The downgrade changes nothing: which sites had it off before cannot be known afterwards, and
turning it off everywhere would change sites whose admins chose it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sites = sa.table("sites", sa.column("call_starts_service", sa.Boolean()))
    op.execute(sites.update().values(call_starts_service=True))


def downgrade() -> None:
    pass
