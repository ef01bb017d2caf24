"""``motcua db check`` and ``motcua db repair``: is the schema what its stamped revision says,
and the repair of a database a rewired history left without a revision's changes.

``motcua init-db`` runs the same check before it migrates and refuses on a mismatch, naming
what is missing and pointing here (``server/core/schema_check.py`` does the work).
"""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from server.cli.common import settings_from_env
from server.core import migrate, schema_check
from server.core.db import Database, unavailable_kind
from server.node import preflight


def upgrade(url: str) -> None:
    """Migrate to head; a table kept locked past the migrations' lock timeout is one line."""
    try:
        migrate.upgrade(url)
    except OperationalError as exc:
        if unavailable_kind(exc) != "lock_timeout":
            raise
        raise click.ClickException(
            f"another connection kept a table locked for "
            f"{migrate.MIGRATION_LOCK_TIMEOUT_MS / 1000:g} s, so the upgrade stopped and changed "
            "nothing (waiting longer would hold up every request for that table); run it again, "
            "or end the long transaction first (pg_stat_activity)") from None


def refuse_on_mismatch(db: Database) -> None:
    """Raise a one-line ClickException when the database is not what its stamp says."""
    problem = schema_check.stamp_problem(db.engine, preflight.safe_url(db.url))
    if problem:
        raise click.ClickException(problem)


@click.group(help="Check or repair the database schema against its stamped revision.")
def db() -> None:
    pass


@db.command("check", help="Does the schema hold what its stamped revision says? (exit 1 if not)")
def db_check() -> None:
    settings = settings_from_env()
    database = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        refuse_on_mismatch(database)
        revision = migrate.current_revision(database.engine)
        head = schema_check.head()
        if revision is None:
            click.echo("The database has no schema yet: run `motcua init-db`.")
        elif revision == head:
            click.echo(f"Schema matches revision {revision} (this release's head).")
        else:
            click.echo(f"Schema matches revision {revision}; this release needs {head}: "
                       "run `motcua init-db`.")
    finally:
        database.dispose()


@db.command("repair", help="Apply the revisions a rewired history skipped, then upgrade to head "
                           "(back up first: `motcua backup create FILE`).")
def db_repair() -> None:
    settings = settings_from_env()
    database = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        revision = migrate.current_revision(database.engine)
        if revision is not None and not schema_check.known(revision):
            refuse_on_mismatch(database)  # names the unknown revision
        try:
            applied = schema_check.repair(database.engine)
        except schema_check.SchemaMismatch as exc:
            raise click.ClickException(str(exc)) from None
        if applied:
            click.echo(f"Applied the skipped revision(s) {', '.join(applied)}; the schema now "
                       f"matches revision {revision}.")
        else:
            click.echo(f"Nothing to repair: the schema matches revision {revision}.")
        upgrade(settings.database_url)
        refuse_on_mismatch(database)
        click.echo(f"Database ready at revision {migrate.current_revision(database.engine)}: "
                   f"{preflight.safe_url(settings.database_url)}")
    finally:
        database.dispose()
