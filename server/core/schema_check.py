"""Does a database hold the schema its stamped revision says it holds?

Alembic trusts ``alembic_version``: a database stamped ``0007`` runs nothing up to ``0007``,
even when the history was rewired after it was stamped (``0007`` once followed ``0005``; today
``0006`` comes between, so such a database never received ``0006``'s column and every ticket
query failed). This module reflects the database and compares it with what the migrations build
at its stamped revision:

- :func:`revision_shapes` builds the migrations of a revision's chain one by one on a scratch
  in-memory SQLite database and records, after each, the names every dialect shares (tables,
  columns with their nullability, named indexes, foreign keys). Cached per process.
- :func:`inspect_schema` answers what is missing from a database and which revision adds it.
- :func:`repair` applies, in chain order, each revision whose objects are *all* missing (a
  revision skipped by a rewired history); a revision found half applied is refused (restore
  from the backup), since guessing which half is there could lose data.
- :func:`missing_model_columns` is the cheap check for ``/readyz``: every table and column the
  models of this code use exists (a newer schema, extended by the next release, passes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.pool import StaticPool

from server.core import migrate
from server.models import Base

VERSION_TABLE = "alembic_version"


class SchemaMismatch(Exception):
    """The database does not hold what its stamped revision says; the message is one line."""


@dataclass(frozen=True)
class Shape:
    """The dialect-independent names of a schema: ``tables``; ``columns`` as
    ``(table, column, nullable)``; ``indexes`` as ``(table, name)``; ``foreign_keys`` as
    ``(table, columns, referred table)``."""

    tables: frozenset[str] = frozenset()
    columns: frozenset[tuple[str, str, bool]] = frozenset()
    indexes: frozenset[tuple[str, str]] = frozenset()
    foreign_keys: frozenset[tuple[str, tuple[str, ...], str]] = frozenset()

    def minus(self, other: Shape) -> Shape:
        return Shape(self.tables - other.tables, self.columns - other.columns,
                     self.indexes - other.indexes, self.foreign_keys - other.foreign_keys)

    def within(self, other: Shape) -> Shape:
        return Shape(self.tables & other.tables, self.columns & other.columns,
                     self.indexes & other.indexes, self.foreign_keys & other.foreign_keys)

    def objects(self) -> list[str]:
        """Readable names, tables first: ``table dossiers``, ``tickets.reserved_counter_id``,
        ``index ix_tickets_reserved_counter``, ``foreign key tickets(reserved_counter_id)``."""
        out = [f"table {t}" for t in sorted(self.tables)]
        out += [f"{t}.{c}" for t, c, _ in sorted(self.columns) if t not in self.tables]
        out += [f"index {n}" for t, n in sorted(self.indexes) if t not in self.tables]
        out += [f"foreign key {t}({', '.join(cols)})" for t, cols, _ in sorted(self.foreign_keys)
                if t not in self.tables]
        return out

    def __bool__(self) -> bool:
        return bool(self.tables or self.columns or self.indexes or self.foreign_keys)


def shape_of(bind: Engine | Any) -> Shape:
    """Reflect ``bind`` (an engine or a connection) into a :class:`Shape`."""
    insp = inspect(bind)
    tables = set(insp.get_table_names()) - {VERSION_TABLE}
    columns, indexes, fks = set(), set(), set()
    for table in tables:
        for col in insp.get_columns(table):
            columns.add((table, col["name"], bool(col["nullable"])))
        for ix in insp.get_indexes(table):
            # PostgreSQL lists the index behind a unique constraint too; SQLite does not.
            if ix.get("name") and not ix.get("duplicates_constraint"):
                indexes.add((table, ix["name"]))
        for fk in insp.get_foreign_keys(table):
            fks.add((table, tuple(fk["constrained_columns"]), fk["referred_table"]))
    return Shape(frozenset(tables), frozenset(columns), frozenset(indexes), frozenset(fks))


@functools.cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))


def head() -> str:
    return script_directory().get_current_head() or ""


def chain(revision: str) -> list[str]:
    """The revisions from the first to ``revision``, in the order they apply."""
    script = script_directory()
    return [r.revision for r in reversed(list(script.iterate_revisions(revision, "base")))]


def current_revision(bind: Engine | Any) -> str | None:
    """The revision stamped in the database (an engine or a connection), read directly: an
    Alembic migration context would log two lines each time ``/readyz`` asks."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    if not inspect(bind).has_table(VERSION_TABLE):
        return None
    return bind.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()


def known(revision: str | None) -> bool:
    if revision is None:
        return False
    return revision in {r.revision for r in script_directory().walk_revisions()}


@functools.cache
def revision_shapes(revision: str) -> tuple[tuple[str, Shape], ...]:
    """``(rev, shape after rev)`` for each revision of ``revision``'s chain, built by the
    migrations themselves on a scratch in-memory SQLite database."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    out = []
    try:
        with engine.connect() as conn:
            cfg = migrate.alembic_config("sqlite://")
            cfg.attributes["connection"] = conn
            for rev in chain(revision):
                command.upgrade(cfg, rev)
                conn.commit()
                out.append((rev, shape_of(conn)))
    finally:
        engine.dispose()
    return tuple(out)


def introduced(revision: str) -> dict[str, Shape]:
    """What each revision of ``revision``'s chain adds (its shape minus its parent's) and is
    still there at ``revision``: a later revision may have changed it (a column made nullable,
    an index dropped), and then that later revision's shape is the one to find."""
    shapes = revision_shapes(revision)
    final = shapes[-1][1] if shapes else Shape()
    before = Shape()
    out = {}
    for rev, shape in shapes:
        out[rev] = shape.minus(before).within(final)
        before = shape
    return out


@dataclass
class Report:
    """What :func:`inspect_schema` found. ``missing``: per revision of the stamped chain, what
    it adds that the database lacks; ``partial``: those revisions of which some objects exist."""

    revision: str | None
    head: str
    missing: dict[str, Shape] = field(default_factory=dict)
    partial: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        """One clause per revision: ``0006 adds tickets.reserved_counter_id, index ...``."""
        parts = []
        for rev, shape in self.missing.items():
            names = shape.objects()
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            parts.append(f"{shown} (revision {rev})")
        return "; ".join(parts)


def inspect_schema(engine: Engine) -> Report:
    """Compare ``engine``'s schema with what its stamped revision's chain builds. An unstamped
    or unknown revision gives an empty report (nothing to compare with)."""
    revision = migrate.current_revision(engine)
    report = Report(revision, head())
    if not known(revision):
        return report
    assert revision is not None
    actual = shape_of(engine)
    for rev, adds in introduced(revision).items():
        lacking = adds.minus(actual)
        if lacking:
            report.missing[rev] = lacking
            if lacking != adds:
                report.partial.append(rev)
    return report


def mismatch_message(report: Report, where: str) -> str:
    """The one line an operator reads when a database is not what its stamp says."""
    if report.partial:
        how = ("this cannot be repaired in place (part of it is there): restore the backup taken "
               "before the upgrade, then run `motcua init-db`")
    else:
        how = "back up (`motcua backup create FILE`), then run `motcua db repair`"
    return (f"the database {where} is stamped at schema revision {report.revision} but lacks "
            f"{report.describe()}: {how}")


def repair(engine: Engine) -> list[str]:
    """Apply each revision of the stamped chain whose objects are all missing, in chain order,
    in one transaction; returns them. Raises :class:`SchemaMismatch` when a revision is half
    there (the database needs its backup, not a guess)."""
    report = inspect_schema(engine)
    if report.matches:
        return []
    if report.partial:
        raise SchemaMismatch(mismatch_message(report, "this"))
    todo = [rev for rev in chain(report.revision or "") if rev in report.missing]
    script = script_directory()
    with engine.connect() as conn, migrate.sqlite_keys_off(conn), conn.begin():
        ctx = MigrationContext.configure(conn)
        with Operations.context(ctx):
            for rev in todo:
                script.get_revision(rev).module.upgrade()  # type: ignore[union-attr]
        migrate.check_foreign_keys(conn)
    after = inspect_schema(engine)
    if not after.matches:
        raise SchemaMismatch(mismatch_message(after, "this"))
    return todo


def missing_model_columns(engine: Engine | Any) -> list[str]:
    """``table.column`` names the models of this code use that the database lacks (a table
    missing altogether is named ``table``). One reflection; for ``/readyz``."""
    columns = {name: {col["name"] for col in cols}
               for (_schema, name), cols in inspect(engine).get_multi_columns().items()}
    missing = []
    for table in Base.metadata.sorted_tables:
        if table.name not in columns:
            missing.append(table.name)
            continue
        missing += [f"{table.name}.{c.name}" for c in table.columns
                    if c.name not in columns[table.name]]
    return missing


def stamp_problem(engine: Engine, where: str) -> str | None:
    """Why ``engine``'s database cannot simply be upgraded, in one line, or None: a stamped
    revision this release does not know, or a schema that lacks what its stamp says it holds.
    A database without a schema, or one built by these migrations, gives None."""
    revision = migrate.current_revision(engine)
    if revision is None:
        return None
    if not known(revision):
        return (f"the database {where} is at schema revision {revision}, which this release "
                f"does not know (a newer release, or a changed history); this release needs "
                f"{head()}: see docs/operations.md, \"Upgrading: migrations\"")
    report = inspect_schema(engine)
    return None if report.matches else mismatch_message(report, where)
