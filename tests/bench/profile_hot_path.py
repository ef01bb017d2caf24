#!/usr/bin/env python
"""The statements and the CPU profile of one ticket issue and one call-next, in process.

Loads the demo (``motcua demo``) into a fresh SQLite file or PostgreSQL database, builds the
app and drives it with Flask's test client (no HTTP, no other process): a few warm-up
requests, then

  statements  every SQL statement one issue and one call-next -> start -> finish round run
              (a ``before_cursor_execute`` listener), at 0 and at ``--waiting`` waiting tickets;
  profile     cProfile over ``--count`` issues and calls, top functions by cumulative time.

It imports ``server`` from wherever the running interpreter finds it, so another checkout's
interpreter gives its before/after figures from the same script:

    .venv/bin/python tests/bench/profile_hot_path.py --backend sqlite
    ../baseline/.venv/bin/python tests/bench/profile_hot_path.py --backend sqlite  # baseline
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("MOTCUA_RATE_LIMITS", "0")

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SITE = "HACTHANH"
SERVICES = ("land", "civil", "business", "construction", "other")


@contextmanager
def database(backend: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    name = f"motcua_prof_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


class Statements:
    """Every statement the engine runs while ``on``."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.on = False
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if self.on:
            self.seen.append(" ".join(statement.split()))

    @contextmanager
    def count(self) -> Iterator[list[str]]:
        self.seen = []
        self.on = True
        try:
            yield self.seen
        finally:
            self.on = False


def short(sql: str, width: int = 150) -> str:
    sql = re.sub(r"SELECT .*? FROM", "SELECT … FROM", sql, count=1)
    return sql if len(sql) <= width else sql[: width - 1] + "…"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--waiting", type=int, default=2000, help="line length of the second count")
    ap.add_argument("--count", type=int, default=200, help="issues and calls profiled")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", help="pstats order (tottime, cumulative, ...)")
    ap.add_argument("--no-list", action="store_true", help="counts only, not the statements")
    opts = ap.parse_args()

    from click.testing import CliRunner

    from server.app import create_app
    from server.cli import main as cli
    from server.config import Settings

    with database(opts.backend) as url:
        out = CliRunner().invoke(cli, ["demo"], env={"MOTCUA_DATABASE_URL": url},
                                 catch_exceptions=False).output
        kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        clerk, cid = re.search(r"counter 1\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", out).groups()  # type: ignore[union-attr]
        app = create_app(Settings(database_url=url, print_worker=False,
                                  outbox_worker=False, rate_limits=False))
        db = app.extensions["motcua"].db
        stmts = Statements(db.engine)
        client = app.test_client()
        n = 0

        def issue(service: str = "land") -> dict[str, Any]:
            nonlocal n
            n += 1
            r = client.post(f"/api/v1/sites/{SITE}/tickets",
                            json={"service": service, "lang": "vi"},
                            headers={"Authorization": f"Bearer {kiosk}",
                                     "Idempotency-Key": f"prof-{n}"})
            assert r.status_code == 201, (r.status_code, r.get_data(as_text=True))
            return r.get_json()

        def call() -> None:
            h = {"Authorization": f"Bearer {clerk}"}
            r = client.post(f"/api/v1/counters/{cid}/call-next", json={}, headers=h)
            assert r.status_code == 200, (r.status_code, r.get_data(as_text=True))
            t = r.get_json()["ticket"]
            for action in ("start", "finish"):
                r = client.post(f"/api/v1/tickets/{t['id']}/{action}", json={}, headers=h)
                assert r.status_code == 200, (r.status_code, r.get_data(as_text=True))

        for _ in range(10):  # warm-up: caches, first-of-the-day work (counter 1 serves land)
            issue()
        for _ in range(5):
            call()

        def show(title: str, seen: list[str]) -> None:
            print(f"{title}: {len(seen)} statements")
            if not opts.no_list:
                for s in seen:
                    print("   ", short(s))

        issue()
        with stmts.count() as seen:
            issue()
        show(f"[{opts.backend}] issue, a few waiting", seen)
        with stmts.count() as seen:
            call()
        show(f"[{opts.backend}] call-next -> start -> finish", seen)
        with stmts.count() as seen:
            h = {"Authorization": f"Bearer {clerk}"}
            r = client.post(f"/api/v1/counters/{cid}/call-next", json={}, headers=h)
            t = r.get_json()["ticket"]
        show(f"[{opts.backend}] call-next alone", seen)
        for action in ("start", "finish"):
            client.post(f"/api/v1/tickets/{t['id']}/{action}", json={}, headers=h)

        for i in range(opts.waiting):
            issue(SERVICES[i % len(SERVICES)])
        with stmts.count() as seen:
            issue()
        show(f"[{opts.backend}] issue at {opts.waiting}+ waiting", seen)

        prof = cProfile.Profile()
        prof.enable()
        for i in range(opts.count):
            issue(SERVICES[i % len(SERVICES)])
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(opts.sort).print_stats(opts.top)
        print(f"\n[{opts.backend}] cProfile, {opts.count} issues at ~{opts.waiting} waiting:")
        print(buf.getvalue())

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(opts.count // 2):
            call()
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(opts.sort).print_stats(opts.top)
        print(f"\n[{opts.backend}] cProfile, {opts.count // 2} call-next->start->finish rounds:")
        print(buf.getvalue())
        app.extensions["motcua_printing"].stop()
        db.dispose()


if __name__ == "__main__":
    main()
