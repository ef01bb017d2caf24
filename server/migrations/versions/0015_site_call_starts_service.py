"""A site's "call starts service" setting

When it is on, a clerk's call starts the service: the next step after the call is finish
(``called`` -> ``done``, the service time counted from the call), so serving a citizen takes
two requests instead of three; start, recall, no-show and park still work as before. Expand
only: one column with a server default, so a node of the previous version keeps inserting
sites. Existing sites keep the three-step flow their clerks know until an admin turns it on;
sites created in the admin console or by ``motcua demo`` start with it on.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("call_starts_service", sa.Boolean(), nullable=False,
                      server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("call_starts_service")
