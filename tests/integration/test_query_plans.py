"""Every query of the working day reads only the working day, on PostgreSQL.

A couple of sites get two weeks of past working days from the history generator
(``tests/bench/gen_history.py``: a few thousand tickets, four times as many events, their print
jobs, ratings and dossiers), then ``ANALYZE``. Today's work is done through the real feature
functions (display snapshot before the day's first call, issue, call-next, start/finish, the
tablet's rating, a dossier intake and its replay with the same key, the receipt lookup, the
supervisor's dashboard, close-day, a report's live day (today, the past days being aggregated),
then the day closer's minute and its retention pass) while a
``before_cursor_execute`` listener records each SQL statement with its parameters. Each
recorded SELECT/UPDATE is then run again under ``EXPLAIN (ANALYZE, FORMAT JSON)`` (in a
transaction rolled back), and again as a prepared statement executed seven times on a
connection of the application's engine (what psycopg does to a statement run more than five
times on a connection: PostgreSQL's plan cache may then switch to a generic plan, planned
without the parameters' values, which cannot tell today's handful of rows from the history's:
seconds per request after a year until the engine's connections were set to
``plan_cache_mode = force_custom_plan``), and each plan must, on the tables that grow with
history (tickets, ticket_events, print_jobs, ratings, dossiers):

- hold no ``Seq Scan``, and
- read at most today's rows of that table plus a small constant (rows returned plus rows
  removed by filters, times loops), where one past site-day alone is 200 tickets and 800 events.

No planner setting is changed by the test: the history is large enough for the planner to
choose the indexes on its own. (Rows read count heap rows; index entries an index condition
skips are not counted: ``tests/bench/explain_history.py`` compares buffers, empty vs a year.)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, text

from server.core.auth import SYSTEM
from server.core.db import Database
from server.features import (
    dailyops,
    dossiers,
    printing,
    ratings,
    reports,
    retention,
    supervision,
    tickets,
)
from server.models import Counter, Procedure, Site
from server.realtime import snapshots
from server.rules.calendar import business_day, day_start
from tests.bench import gen_history
from tests.bench.explain_history import prepare, rows_read, scans
from tests.conftest import scratch_pg

pytestmark = pytest.mark.postgres

BIG = ("tickets", "ticket_events", "print_jobs", "ratings", "dossiers")
SLACK = 25  # rows beyond today's that a plan may read (index boundary probes, a locked row)
PER_DAY = 200
BASE = "http://plans.invalid"


@pytest.fixture(scope="module")
def history_url() -> Iterator[str]:
    """A database of its own: the generated history must not be truncated by other tests."""
    with scratch_pg("motcua_plans") as url:
        yield url


class Recorder:
    """The statements the engine sends, by the step of the working day that sent them."""

    def __init__(self, db: Database) -> None:
        self.step = ""
        self.seen: list[tuple[str, str, Any]] = []
        event.listen(db.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if self.step and not executemany and verb in ("SELECT", "UPDATE", "WITH"):
            self.seen.append((self.step, statement, parameters))


def today_rows(db: Database, start: dt.datetime, day: dt.date) -> dict[str, int]:
    with db.engine.connect() as conn:
        def n(sql: str, **kw: Any) -> int:
            return int(conn.execute(text(sql), kw).scalar_one())
        t0 = start.replace(tzinfo=None)
        return {
            "tickets": n("SELECT count(*) FROM tickets WHERE business_day = :d", d=day),
            "ticket_events": n("SELECT count(*) FROM ticket_events WHERE at >= :t", t=t0),
            "print_jobs": n("SELECT count(*) FROM print_jobs WHERE created_at >= :t", t=t0),
            "ratings": n("SELECT count(*) FROM ratings WHERE created_at >= :t", t=t0),
            "dossiers": n("SELECT count(*) FROM dossiers WHERE received_at >= :t", t=t0),
        }


def test_working_day_queries_read_only_the_working_day(history_url: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    made = gen_history.generate(history_url, sites=2, days=14, per_day=PER_DAY, counters=4,
                                now=now - dt.timedelta(minutes=5), progress=False)
    assert made["rows"]["tickets"] >= 3000, made  # enough for the planner to prefer indexes

    db = Database(history_url)
    rec = Recorder(db)
    try:
        with db.read() as s:
            site = s.scalar(select(Site).where(Site.code == made["sites"][0]))
            assert site is not None
            c1 = s.scalar(select(Counter).where(Counter.site_id == site.id, Counter.number == 1))
            assert c1 is not None
            svc = c1.profile[0].service.code  # the counter's main service
            proc_code = s.scalar(select(Procedure.code).where(Procedure.service_code == svc)
                                 .order_by(Procedure.id).limit(1))
        day = business_day(now, site.timezone)
        start = day_start(day, site.timezone)

        rec.step = "display snapshot before the first call"
        with db.read() as s:
            snap = snapshots.display(s, s.get(Site, site.id), now)
        assert snap["recent_calls"] == []

        rec.step = "issue"
        for k in range(6):
            with db.write() as s:
                tickets.issue_ticket(s, SYSTEM, site.code, svc,
                                     None, "vi", f"plan-{k}", now, BASE)
        rec.step = "issue retried with the same key"
        with db.write() as s:
            _view, created = tickets.issue_ticket(s, SYSTEM, site.code,
                                                 svc, None, "vi",
                                                 "plan-0", now, BASE)
        assert created is False

        rec.step = "call-next"
        with db.write() as s:
            called = tickets.call_next(s, SYSTEM, c1.id, now, BASE)
        assert called is not None
        rec.step = "start and finish"
        with db.write() as s:
            tickets.ticket_action(s, SYSTEM, called["id"], "start", now, BASE)
        with db.write() as s:
            tickets.ticket_action(s, SYSTEM, called["id"], "finish", now, BASE)

        rec.step = "tablet rating"
        with db.write() as s:
            ratings.rate_at_counter(s, SYSTEM, c1.id, "satisfied", now)

        rec.step = "dossier intake"
        data = {"procedure": proc_code,
                "applicant": {"name": "Nguyễn Văn An", "id_number": "001203004005"}}
        with db.write() as s:
            d, created = dossiers.intake(s, SYSTEM, called["id"], data, "intake-1", now, BASE)
        assert created
        rec.step = "dossier intake retried with the same key, its receipt looked up"
        with db.write() as s:
            again, created = dossiers.intake(s, SYSTEM, called["id"], data, "intake-1", now,
                                             BASE)
        assert not created and again["code"] == d["code"]
        with db.read() as s:
            printing.latest_job(s, f"dossier:{d['code']}")

        rec.step = "display snapshot"
        with db.read() as s:
            snap = snapshots.display(s, s.get(Site, site.id), now)
        assert [c["number"] for c in snap["recent_calls"]] == [called["number"]]

        rec.step = "dashboard"
        with db.read() as s:
            supervision.dashboard(s, SYSTEM, site.code, now)

        rec.step = "close-day"
        with db.write() as s:
            summary = dailyops.close_day(s, SYSTEM, s.get(Site, site.id), now)
        assert summary["unserved_at_close"] == 5

        rec.step = "report's live days (today) of two weeks whose past days are aggregated"
        with db.read() as s:
            facts = reports.load_facts(s, s.get(Site, site.id), day - dt.timedelta(days=14), day,
                                       days=[day])
        assert any(f.rating == "satisfied" for f in facts)

        rec.step = "day closer's minute (auto_close)"
        with db.write() as s:
            dailyops.auto_close(s, now)
        rec.step = "day closer's retention pass"
        with db.write() as s:
            # Nothing of two weeks is past 30 days: the pass must read none of it.
            kept = retention.apply(s, now, 30, periods=retention.Periods())
        assert kept["print_jobs"] == 0 and kept["detail_tickets"] == 0
        rec.step = ""

        limits = today_rows(db, start, day)
        steps = {step for step, _sql, _params in rec.seen}
        assert len(steps) == 14, steps  # every step sent statements
        failures: list[str] = []

        def check(step: str, sql: str, plan: Any, how: str) -> None:
            root = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
            for node in scans(root):
                table = node.get("Relation Name")
                if table not in BIG:
                    continue
                read = rows_read(node)
                if node["Node Type"] == "Seq Scan" or read > limits[table] + SLACK:
                    failures.append(
                        f"{step} ({how}): {node['Node Type']} on {table} read {read:.0f} rows "
                        f"(today's: {limits[table]})\n  {' '.join(sql.split())[:400]}"
                    )

        raw = db.engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
            cur.execute("SHOW plan_cache_mode")
            mode = cur.fetchone()[0]
            raw.rollback()
            for step, sql, params in rec.seen:
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                plan = cur.fetchone()[0]
                raw.rollback()  # an explained UPDATE changes nothing
                check(step, sql, plan, "planned once")
                # psycopg prepares a statement on the server after its 5th execution on a
                # connection; PostgreSQL's plan cache may then switch to a generic plan (made
                # without the parameters' values: a status or a day it cannot tell from the
                # history's) from the 6th execution of the prepared statement on.
                execute = prepare(cur, sql, params)
                for _ in range(7):
                    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + execute)
                    plan = cur.fetchone()[0]
                    raw.rollback()
                check(step, sql, plan, "prepared, 7th execution")
            cur.execute("DEALLOCATE ALL")
        finally:
            raw.close()
        assert not failures, "\n".join(failures)
        # The engine's connections plan every execution for its parameters.
        assert mode == "force_custom_plan"
    finally:
        db.dispose()
