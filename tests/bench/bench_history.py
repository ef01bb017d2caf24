#!/usr/bin/env python
"""What history costs the working day: the same province empty and with N months behind it.

Two fresh PostgreSQL databases (``motcua_bench_<random>``, dropped at the end) get the same
province from the history generator (``gen_history.py``: ``--sites`` sites, counters, kiosks,
tokens); the second also gets ``--months`` months of past working days (default 1 for speed;
12 is a year: 4.1 M tickets for 55 sites). Then, in each, at site ``H01`` with today's real
clock, through the REST API (the app's Flask test client: routing, auth, validation,
serialisation; no socket) and, for the display, the hub's snapshot function:

  display     the display's snapshot before the day's first call (``realtime.snapshots.display``)
  issue       POST /sites/H01/tickets, a new Idempotency-Key each time
  call-next   POST /counters/{id}/call-next (then start and finish, not timed)
  rating      POST /counters/{id}/rating right after the finish (the tablet)
  intake      POST /tickets/{id}/dossiers retried with the same Idempotency-Key (the replay
              reports the first request's receipt job)
  dashboard   GET /sites/H01/dashboard
  close-day   POST /sites/H01/close-day with one waiting ticket (issued, not timed)
  kpi-*       GET /sites/H01/reports/kpis for the year up to today, as JSON, CSV and XLSX
              (the past days from the daily aggregates, written first by the back-fill, timed;
              today from its tickets); and the peak Python memory (tracemalloc) of the year's
              CSV and XLSX export over idle, the larger

each ``--reps`` times after two untimed warm-ups, and prints the p50 of each, empty and with
history, and their ratio; and, once, the same year's report read from every ticket (what the
report did before the aggregates), checked equal to the one from the aggregates. Every
response status is checked; an unexpected one exits 1.

    .venv/bin/python tests/bench/bench_history.py [--months 1] [--sites 55] [--reps 30] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import logging
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from server.app import create_app
from server.config import Settings
from server.core.db import Database
from server.features import aggregates, reports, seed
from server.models import Counter, Procedure, Site
from server.realtime import snapshots
from server.rules.calendar import business_day
from tests.bench import gen_history

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OPS = ("display", "issue", "call-next", "rating", "intake", "dashboard", "close-day",
       "kpi-json", "kpi-csv", "kpi-xlsx")
KPI_FORMATS = ("json", "csv", "xlsx")
COUNTERS = 4  # counters of H01 used for call-next (each serves its own main service)


class Failed(Exception):
    pass


def create_database(template: str | None = None) -> str:
    """A new database (``motcua_bench_<random>``), empty or a copy of ``template``."""
    name = f"motcua_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def measure(url: str, reps: int, reports: bool = True) -> dict[str, float]:
    """p50 (ms) of each operation at H01 of the province in ``url`` (without ``reports``, the
    KPI reports are left out: ``explain_history.py`` records the working day only)."""
    times: dict[str, list[float]] = {}
    for op, value in steps(url, reps, reports):
        if value is not None:
            times.setdefault(op, []).append(value)
    return {op: (max(v) if op == "export-peak-MB" else statistics.median(v))
            for op, v in times.items()}


def steps(url: str, reps: int, reports: bool = True
          ) -> Iterator[tuple[str, float | None]]:
    """The working day at H01 of ``url``, one timed operation at a time: yields ``(op, ms)``
    after each (``ms`` None for the two warm-ups of each operation), then the exports' peak
    memory as ``("export-peak-MB", MB)``. The sequence is the same for every database, so two
    of these can be stepped in turn (``run``): each operation on one database is timed right
    beside the same operation on the other, and the machine's load drifting weighs on both."""
    db = Database(url)
    now = dt.datetime.now(dt.UTC)
    with db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "H01"))
        assert site is not None
        kiosk = seed.add_device(s, site, "kiosk", "kiosk-bench", None, now)
        lead = {"Authorization": f"Bearer {seed.create_token(s, 'supervisor', site, now)}"}
        counters = []
        for c in s.scalars(select(Counter).where(Counter.site_id == site.id)
                           .order_by(Counter.number).limit(COUNTERS)):
            token = seed.create_token(s, "clerk", site, now, counter=c)
            svc = c.profile[0].service.code
            proc = s.scalar(select(Procedure.code).where(Procedure.service_code == svc)
                            .order_by(Procedure.id).limit(1))
            counters.append((c.id, {"Authorization": f"Bearer {token}"}, svc, proc))
        site_id = site.id
    # No request-rate limits (one client issues far faster than a kiosk), no print worker (the
    # printers are not there); the app's request log is left out of the figures' output.
    app = create_app(Settings(database_url=url, print_worker=False,
                              outbox_worker=False, rate_limits=False), db=db)
    logging.getLogger("motcua").setLevel(logging.WARNING)
    client = app.test_client()
    kiosk_auth = {"Authorization": f"Bearer {kiosk}"}

    def call(method: str, path: str, headers: dict[str, str], body: Any = None,
             status: int = 200) -> dict[str, Any]:
        r = client.open(f"/api/v1{path}", method=method, headers=headers,
                        json=body if body is not None else {})
        if r.status_code != status:
            raise Failed(f"{method} {path}: {r.status_code} {r.get_data(as_text=True)[:300]}")
        return r.get_json() or {}

    def issue(service: str) -> dict[str, Any]:
        return call("POST", "/sites/H01/tickets", {**kiosk_auth, "Idempotency-Key":
                                                   uuid.uuid4().hex}, {"service": service}, 201)

    def display() -> None:
        with db.read() as s:
            snap = snapshots.display(s, s.get(Site, site_id), dt.datetime.now(dt.UTC))
        if snap["recent_calls"]:
            raise Failed("the display snapshot is timed before the day's first call")

    try:
        for k in range(reps + 2):
            ms = timed(display)
            yield "display", (ms if k >= 2 else None)
        for k in range(reps + 2):
            svc = counters[k % len(counters)][2]
            ms = timed(lambda svc=svc: issue(svc))
            yield "issue", (ms if k >= 2 else None)
        served: list[int] = []
        for k in range(reps + 2):
            cid, auth, svc, _proc = counters[k % len(counters)]
            issue(svc)
            t0 = time.perf_counter()
            called = call("POST", f"/counters/{cid}/call-next", auth)
            ms = (time.perf_counter() - t0) * 1000
            tid = called["ticket"]["id"]
            call("POST", f"/tickets/{tid}/start", auth)
            call("POST", f"/tickets/{tid}/finish", auth)
            rated = timed(lambda cid=cid, auth=auth: call(
                "POST", f"/counters/{cid}/rating", auth, {"score": "satisfied"}, 201))
            served.append(tid)
            yield "call-next", (ms if k >= 2 else None)
            yield "rating", (rated if k >= 2 else None)
        cid, auth, _svc, proc = counters[0]
        tid = next(t for i, t in enumerate(served) if i % len(counters) == 0)
        key = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        body = {"procedure": proc, "applicant": {"name": "Nguyễn Văn An",
                                                 "id_number": "001203004005"}}
        first = call("POST", f"/tickets/{tid}/dossiers", key, body, 201)
        for k in range(reps + 2):
            again: dict[str, Any] = {}
            t0 = time.perf_counter()
            again = call("POST", f"/tickets/{tid}/dossiers", key, body, 201)  # the same answer
            ms = (time.perf_counter() - t0) * 1000
            if again["code"] != first["code"]:
                raise Failed("an intake retried with the same key made a second dossier")
            yield "intake", (ms if k >= 2 else None)
        for k in range(reps + 2):
            ms = timed(lambda: call("GET", "/sites/H01/dashboard", lead))
            yield "dashboard", (ms if k >= 2 else None)
        for k in range(reps + 2):
            issue(counters[0][2])
            ms = timed(lambda: call("POST", "/sites/H01/close-day", lead))
            yield "close-day", (ms if k >= 2 else None)
        if not reports:
            return
        # A year's KPI report of the site (today included: live), in each format.
        today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date()
        year = f"from={(today - dt.timedelta(days=365)).isoformat()}&to={today.isoformat()}"

        def kpi(fmt: str) -> None:
            r = client.get(f"/api/v1/sites/H01/reports/kpis?{year}&format={fmt}", headers=lead)
            if r.status_code != 200:
                raise Failed(f"kpis {fmt}: {r.status_code} {r.get_data(as_text=True)[:300]}")
            r.get_data()  # the whole (streamed) body

        for fmt in KPI_FORMATS:
            for k in range(reps + 2):
                ms = timed(lambda fmt=fmt: kpi(fmt))
                yield f"kpi-{fmt}", (ms if k >= 2 else None)
        # Peak Python memory of a year's export over idle (tracemalloc: every allocation made
        # while the request runs), the larger of the CSV and the XLSX.
        for fmt in ("csv", "xlsx"):
            gc.collect()
            tracemalloc.start()
            kpi(fmt)
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            yield "export-peak-MB", peak
    finally:
        app.extensions["motcua_printing"].stop()
        db.dispose()


def from_tickets(url: str) -> dict[str, float]:
    """The reference: a year's report of H01 read from every ticket (what reports did before
    the daily aggregates), once, and whether it equals the report from the aggregates."""
    db = Database(url)
    try:
        with db.read() as s:
            site = s.scalar(select(Site).where(Site.code == "H01"))
            assert site is not None
            now = dt.datetime.now(dt.UTC)
            end = business_day(now, site.timezone)
            start = end - dt.timedelta(days=365)
            t0 = time.perf_counter()
            slow = reports.kpis(s, site, start, end, now=now, source="tickets")
            ms = (time.perf_counter() - t0) * 1000
            fast = reports.kpis(s, site, start, end, now=now)
        if slow != fast:
            raise Failed("the year's report from the aggregates differs from the tickets'")
        return {"kpi-from-tickets": ms}
    finally:
        db.dispose()


def backfill(url: str) -> dict[str, float]:
    """``motcua stats backfill``'s work: every past day of every site aggregated."""
    db = Database(url)
    try:
        t0 = time.perf_counter()
        days = tickets = 0
        for step in aggregates.backfill(db.write, dt.datetime.now(dt.UTC)):
            days, tickets = step["done"], tickets + step["tickets"]
        return {"backfill_s": round(time.perf_counter() - t0, 1), "backfill_days": days,
                "backfill_tickets": tickets}
    finally:
        db.dispose()


def run(months: int, sites: int, reps: int, per_day: int,
        templates: dict[str, str] | None = None) -> dict[str, Any]:
    """Both databases side by side: made here (``templates`` None) or copied from ones made
    before by ``gen_history.py`` (``{"empty": name, "history": name}``, left unchanged); then
    the working day of each stepped in turn (``steps``), which one goes first alternating."""
    out: dict[str, Any] = {"months": months, "sites": sites, "per_day": per_day, "reps": reps}
    urls: dict[str, str] = {}
    try:
        for label, days in (("empty", 0), ("history", months * 30)):
            if templates:
                t0 = time.perf_counter()
                urls[label] = create_database(templates[label])
                out[f"{label}_copy_s"] = round(time.perf_counter() - t0, 1)
                out[f"{label}_rows"] = gen_history.counts(urls[label])
                out[f"{label}_generate_s"] = 0
            else:
                urls[label] = create_database()
                made = gen_history.generate(urls[label], sites=sites, days=days,
                                            per_day=per_day)
                out[f"{label}_rows"] = made["rows"]
                out[f"{label}_generate_s"] = made["seconds"]
        out.update(backfill(urls["history"]))
        labels = ("empty", "history")
        days_ = {label: steps(urls[label], reps) for label in labels}
        times: dict[str, dict[str, list[float]]] = {label: {} for label in labels}
        for n in itertools.count():
            got = {label: next(days_[label], None)
                   for label in (labels if n % 2 == 0 else labels[::-1])}
            if got["empty"] is None and got["history"] is None:
                break
            if got["empty"] is None or got["history"] is None or \
                    got["empty"][0] != got["history"][0]:
                raise Failed(f"the two working days went out of step: {got}")
            for label, (op, value) in got.items():
                if value is not None:
                    times[label].setdefault(op, []).append(value)
        for label in labels:
            out[label] = {op: (max(v) if op == "export-peak-MB" else statistics.median(v))
                          for op, v in times[label].items()}
        out.update(from_tickets(urls["history"]))
    finally:
        for url in urls.values():
            drop_database(url)
    out["ratio"] = {op: out["history"][op] / out["empty"][op]
                    for op in (*OPS, "export-peak-MB")}
    return out


def table(r: dict[str, Any]) -> str:
    rows = r.get("history_rows", {})
    made = (f"copied from a template in {r['history_copy_s']} s" if "history_copy_s" in r
            else f"generated in {r['history_generate_s']} s")
    lines = [f"{r['sites']} sites, {r['months']} month(s) of history: "
             f"{rows.get('tickets', 0):,} tickets, {rows.get('events', 0):,} events, "
             f"{rows.get('jobs', 0):,} print jobs, {rows.get('ratings', 0):,} ratings, "
             f"{rows.get('dossiers', 0):,} dossiers ({made}); "
             f"p50 of {r['reps']} each",
             f"{'operation':<14}{'empty ms':>10}{'history ms':>12}{'ratio':>8}"]
    for op in OPS:
        lines.append(f"{op:<14}{r['empty'][op]:>10.1f}{r['history'][op]:>12.1f}"
                     f"{r['ratio'][op]:>8.2f}")
    op = "export-peak-MB"
    lines.append(f"{op:<14}{r['empty'][op]:>10.2f}{r['history'][op]:>12.2f}"
                 f"{r['ratio'][op]:>8.2f}")
    lines.append(f"back-fill of the history's aggregates: {r['backfill_days']:,} site-days, "
                 f"{r['backfill_tickets']:,} tickets in {r['backfill_s']} s; the year's report "
                 f"of H01 read from its tickets instead: {r['kpi-from-tickets']:.0f} ms "
                 "(same figures)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--sites", type=int, default=55)
    ap.add_argument("--per-day", type=int, default=290)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--empty-template", metavar="DB",
                    help="copy this database (made by gen_history.py --days 0) instead of "
                         "generating the empty province; needs --history-template")
    ap.add_argument("--history-template", metavar="DB",
                    help="copy this database (made by gen_history.py) instead of generating "
                         "the history; --sites/--months then only label the output")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if bool(a.empty_template) != bool(a.history_template):
        ap.error("--empty-template and --history-template go together")
    templates = ({"empty": a.empty_template, "history": a.history_template}
                 if a.empty_template else None)
    try:
        r = run(a.months, a.sites, a.reps, a.per_day, templates)
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(r, indent=2) if a.json else table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
