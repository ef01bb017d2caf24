#!/usr/bin/env python
"""Which statement of the working day reads history: every statement, explained, empty vs N months.

Timings on a shared machine are noise; a statement's plan is not. This runs the working day of
``bench_history.py`` (its ``measure``, with ``--reps`` repetitions: the display snapshot, issue,
call-next/start/finish, the tablet's rating, a dossier intake retried with the same key, the
supervisor's dashboard, close-day; the KPI reports are left out unless ``--reports``; then the
day closer's minute, ``auto_close``, and its hourly history pass as a dry run) at site
``H01`` of each of two databases built by ``gen_history.py`` (the same province, one empty, one
with history), records every statement the engine sends with its parameters (an event listener
on ``before_cursor_execute``, labelled by the request that sent it), then runs each distinct
statement again under ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` in a transaction that is
rolled back. For each statement it prints the shared buffers touched and the rows read by the
plan's scans (returned plus removed by filters, over all loops), empty vs history, largest
growth first: any statement whose buffers or rows grow with history is reading history.

    .venv/bin/python tests/bench/explain_history.py \
        --empty postgresql+psycopg://postgres@127.0.0.1:5432/empty \
        --history postgresql+psycopg://postgres@127.0.0.1:5432/year [--reps 1] [--top 30]

Both databases are changed (today's tickets are issued, served and closed), as by the benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flask import has_request_context, request
from psycopg import sql as pgsql
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from server.core.db import Database
from server.features import dailyops
from tests.bench import bench_history

VERBS = ("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")


class Recorder:
    """Every statement any engine sends, with the request (or the snapshot) that sent it."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[str, Any]] = {}
        self.on = True
        self.label = "outside a request (display snapshot, set-up)"
        event.listen(Engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if not self.on or executemany or verb not in VERBS:
            return
        where = (f"{request.method} {_route(request.path)}" if has_request_context()
                 else self.label)
        # One per statement text and caller; the last parameters seen (a later repetition).
        self.seen[(where, statement)] = (where, parameters)

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._record)


def _route(path: str) -> str:
    return re.sub(r"/\d+", "/{id}", path.removeprefix("/api/v1"))


def scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a JSON plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from scans(child)


def rows_read(node: dict[str, Any]) -> float:
    """Rows a scan node looked at: returned plus removed by its filters, over all its loops."""
    per_loop = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0))
    return per_loop * max(node.get("Actual Loops", 1), 1)


PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def prepare(cur: Any, sql: str, params: dict[str, Any] | None, name: str = "explained") -> str:
    """``PREPARE`` the driver's statement (``%(name)s`` placeholders) as ``name`` on the
    cursor's connection; returns the ``EXECUTE`` with the parameters' values as literals."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    cur.execute("DEALLOCATE ALL")  # a prepared statement outlives a rollback
    cur.execute(f"PREPARE {name} AS " + PLACEHOLDER.sub(number, sql).replace("%%", "%"))
    args = ", ".join(pgsql.Literal((params or {})[n]).as_string(cur.connection) for n in names)
    return f"EXECUTE {name}" + (f"({args})" if args else "")


def _generic(cur: Any, sql: str, params: dict[str, Any] | None) -> Any:
    """The statement's generic plan, executed: what a server-side prepared statement (psycopg
    prepares a statement after its 5th execution on a connection) runs once PostgreSQL plans
    it without the parameters' values (``plan_cache_mode`` auto may settle on it)."""
    cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    execute = prepare(cur, sql, params)
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + execute)
    return cur.fetchone()[0]


def explain(url: str, statements: list[tuple[str, str, Any]],
            generic: bool = False) -> dict[tuple[str, str], dict]:
    """Buffers, rows read and scans of each statement's plan in ``url`` (rolled back); with
    ``generic``, of its generic plan (what a prepared statement may settle on)."""
    engine = create_engine(url)
    out: dict[tuple[str, str], dict] = {}
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        for where, sql, params in statements:
            try:
                if generic:
                    plan = _generic(cur, sql, params)
                else:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
                    plan = cur.fetchone()[0]
            except Exception as exc:  # a replayed INSERT may hit a unique key
                raw.rollback()
                out[(where, sql)] = {"error": str(exc).splitlines()[0]}
                continue
            raw.rollback()
            root = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
            nodes = [f"{n['Node Type']} {n.get('Relation Name', '')} "
                     f"{n.get('Index Name', '')} ~{rows_read(n):.0f}".replace("  ", " ")
                     for n in scans(root) if "Relation Name" in n]
            top = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            planning = top.get("Planning", {})
            out[(where, sql)] = {
                "buffers": root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0),
                "plan_buffers": (planning.get("Shared Hit Blocks", 0)
                                 + planning.get("Shared Read Blocks", 0)),
                "ms": top.get("Planning Time", 0) + top.get("Execution Time", 0),
                "rows": sum(rows_read(n) for n in scans(root) if "Relation Name" in n),
                "scans": nodes,
            }
    finally:
        raw.close()
        engine.dispose()
    return out


def record(url: str, reps: int, reports: bool) -> list[tuple[str, str, Any]]:
    rec = Recorder()
    try:
        bench_history.measure(url, reps, reports=reports)
        # The day closer's minute (every node, every minute) and its hourly history pass (as a
        # dry run: nothing is aggregated or removed).
        db = Database(url)
        try:
            now = dt.datetime.now(dt.UTC)
            rec.label = "day closer: auto_close (every minute)"
            with db.write() as s:
                dailyops.auto_close(s, now)
            rec.label = "day closer: history pass (hourly, dry run)"
            dailyops.history_pass(db, now, 30, None, dry_run=True)
        finally:
            db.dispose()
    finally:
        rec.close()
    return [(where, sql, params) for (where, sql), (_w, params) in rec.seen.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--empty", required=True, help="the province without history")
    ap.add_argument("--history", required=True, help="the same province with history")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--top", type=int, default=40, help="statements printed, most grown first")
    ap.add_argument("--reports", action="store_true", help="also the KPI reports")
    ap.add_argument("--generic", action="store_true",
                    help="explain each statement's generic plan (a prepared statement's)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    runs = {label: explain(url, record(url, a.reps, a.reports), a.generic)
            for label, url in (("empty", a.empty), ("history", a.history))}
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for key, h in runs["history"].items():
        e = runs["empty"].get(key)
        if e is None or "error" in h or "error" in e:
            errors.append(f"[{key[0]}] {(h.get('error') or (e or {}).get('error'))}: "
                          f"{' '.join(key[1].split())[:200]}")
            continue
        rows.append({"where": key[0], "sql": " ".join(key[1].split()),
                     "buffers": (e["buffers"], h["buffers"]), "rows": (e["rows"], h["rows"]),
                     "plan_buffers": (e["plan_buffers"], h["plan_buffers"]),
                     "ms": (e["ms"], h["ms"]),
                     "scans": h["scans"]})
    rows.sort(key=lambda r: (r["buffers"][1] + r["plan_buffers"][1] - r["buffers"][0]
                             - r["plan_buffers"][0], r["rows"][1] - r["rows"][0]), reverse=True)
    if errors:
        print(f"{len(errors)} statements not explained:", *errors, sep="\n", file=sys.stderr)
    if a.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    by_where: dict[str, list[float]] = {}
    for r in rows:
        t = by_where.setdefault(r["where"], [0, 0, 0, 0, 0])
        t[0] += 1
        t[1] += r["buffers"][0] + r["plan_buffers"][0]
        t[2] += r["buffers"][1] + r["plan_buffers"][1]
        t[3] += r["ms"][0]
        t[4] += r["ms"][1]
    print(f"{'caller':<36}{'statements':>11}{'buffers empty':>15}{'history':>9}"
          f"{'ms empty':>10}{'history':>9}")
    for where, t in sorted(by_where.items()):
        print(f"{where:<36}{t[0]:>11}{t[1]:>15.0f}{t[2]:>9.0f}{t[3]:>10.1f}{t[4]:>9.1f}")
    print(f"\n{len(rows)} statements explained in both; most grown first "
          "(buffers empty -> history, rows read empty -> history)")
    for r in rows[:a.top]:
        print(f"\n[{r['where']}] buffers {r['buffers'][0]} -> {r['buffers'][1]} "
              f"(planning {r['plan_buffers'][0]} -> {r['plan_buffers'][1]}), "
              f"rows {r['rows'][0]:.0f} -> {r['rows'][1]:.0f}, "
              f"ms {r['ms'][0]:.2f} -> {r['ms'][1]:.2f}\n  {r['sql'][:600]}")
        for s in r["scans"]:
            print(f"    {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
