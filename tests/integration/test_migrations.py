"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.core.db import Database
from server.core.migrate import alembic_config, current_revision
from server.models import Base


def test_migrated_schema_matches_the_models(db: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert current_revision(db.engine) == head
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
