"""print_jobs: unacknowledged slips become "unknown"; their bytes dropped once printed

``sending_at`` marks a job whose send began (a lost worker's job is then "unknown", never sent
twice); ``data`` may be NULL (dropped once the printer acknowledged the slip); indexes serve
the supervisor's list of a site's unknown and failed slips, and the question whether a
printer's last finished slip went unacknowledged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("print_jobs") as batch:
        batch.add_column(sa.Column("sending_at", sa.DateTime(), nullable=True))
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=True)
        batch.create_index("ix_print_jobs_site_status", ["site_id", "status"], unique=False)
        batch.create_index("ix_print_jobs_uri_finished", ["uri", "finished_at"], unique=False)


def downgrade() -> None:
    # A printed slip's bytes are gone: an empty value keeps the column's old rule; the
    # "unknown" ones go back to "failed", the nearest status the old code knows.
    op.execute(sa.text("UPDATE print_jobs SET data = :empty WHERE data IS NULL")
               .bindparams(sa.bindparam("empty", b"", type_=sa.LargeBinary())))
    op.execute("UPDATE print_jobs SET status = 'failed' WHERE status = 'unknown'")
    with op.batch_alter_table("print_jobs") as batch:
        batch.drop_index("ix_print_jobs_uri_finished")
        batch.drop_index("ix_print_jobs_site_status")
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("sending_at")
