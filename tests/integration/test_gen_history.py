"""The history generator's fast load leaves the schema as the migrations made it.

On a fresh database ``tests/bench/gen_history.py`` drops the secondary indexes, unique
constraints and foreign keys of the tables it fills and makes them again at the end from the
catalog's definitions; afterwards every index and constraint must be the one of a database only
migrated (same names, same definitions, all validated). A second call, into tables that now
hold rows, loads day by day with the indexes kept and adds its days after the first call's.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from server.core import migrate
from tests.bench import gen_history
from tests.conftest import scratch_pg

pytestmark = pytest.mark.postgres

SCHEMA = """
SELECT 'index', tablename::text, indexname::text, indexdef
  FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass::text, conname::text,
       contype::text || ' ' || pg_get_constraintdef(oid) || ' validated=' || convalidated::text
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2, 3
"""


def _schema(url: str) -> list[tuple[str, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(SCHEMA))]
    finally:
        engine.dispose()


def _days(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT count(*), count(DISTINCT business_day) FROM tickets"))
            n, days = row.one()
            return int(n), int(days)
    finally:
        engine.dispose()


def test_generated_history_keeps_the_migrations_indexes_and_constraints() -> None:
    with scratch_pg("motcua_genref") as ref, scratch_pg("motcua_gen") as url:
        migrate.upgrade(ref)
        migrated = _schema(ref)
        assert any(kind == "index" and name == "ix_tickets_queue" for kind, _, name, _ in migrated)
        now = dt.datetime(2026, 3, 16, 3, 0, tzinfo=dt.UTC)  # a Monday: five weekdays before
        first = gen_history.generate(url, sites=2, days=7, per_day=30, counters=2,
                                     progress=False, now=now)
        assert first["rows"]["tickets"] == 2 * 5 * 30
        assert _schema(url) == migrated
        assert _days(url) == (300, 5)
        # Tables holding rows now: the day-by-day load, its days after the first call's.
        second = gen_history.generate(url, sites=2, days=7, per_day=30, counters=2,
                                      progress=False, now=now + dt.timedelta(days=7))
        assert second["rows"]["tickets"] == 300
        assert _schema(url) == migrated
        assert _days(url) == (600, 10)
