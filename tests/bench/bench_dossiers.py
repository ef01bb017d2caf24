#!/usr/bin/env python
"""Dossier intake latency, in process (Flask test client, no HTTP), on SQLite and PostgreSQL.

The demo province is loaded into a fresh database (a temporary SQLite file; a throwaway
PostgreSQL database ``motcua_bench_<random>``, dropped at the end). Counters 3, 4, 7 and 8 of
Hạc Thành (civil status) each call a ticket; then

  sequential  one thread records N dossiers (marriage registration, same-day certified copies
              alternately) at counter 3 through ``POST /api/v1/tickets/{id}/dossiers``;
  concurrent  the four counters record N/4 dossiers each at the same time, one thread each.

Every response must be 201; afterwards the codes must be unique and gap-free (exit 1 if not).
No printer is configured, so this is the database and domain cost of an intake.

    .venv/bin/python tests/bench/bench_dossiers.py [--backend sqlite|postgres|both] [-n 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from server.app import create_app
from server.config import Settings
from server.core import migrate
from server.core.db import Database
from server.features import seed
from server.models import Dossier

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
COUNTERS = (3, 4, 7, 8)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(url: str, n: int) -> dict[str, Any]:
    migrate.upgrade(url)
    db = Database(url)
    now = dt.datetime.now(dt.UTC)
    with db.write() as s:
        demo = seed.seed_demo(s, now)
    app = create_app(Settings(database_url=url, print_worker=False, outbox_worker=False), db=db)
    client = app.test_client()
    kiosk = next(iter(demo.kiosk_tokens.values()))
    tickets: dict[int, int] = {}
    for number in COUNTERS:
        r = client.post("/api/v1/sites/HACTHANH/tickets", json={"service": "civil"},
                        headers={"Authorization": f"Bearer {kiosk}"})
        assert r.status_code == 201, r.get_json()
        cid = demo.counters[number]
        auth = {"Authorization": f"Bearer {demo.clerk_tokens[number]}"}
        r = client.post(f"/api/v1/counters/{cid}/call-next", headers=auth)
        assert r.status_code == 200, r.get_json()
        tickets[number] = r.get_json()["ticket"]["id"]

    failures: list[str] = []

    def intake(number: int, i: int) -> float:
        body = {"procedure": "HT-KH" if i % 2 else "CT-BS",
                "applicant": {"name": f"Công dân {number}-{i}",
                              "id_number": f"0340{number:02d}{i:06d}"}}
        headers = {"Authorization": f"Bearer {demo.clerk_tokens[number]}",
                   "Idempotency-Key": uuid.uuid4().hex}
        t0 = time.perf_counter()
        r = app.test_client().post(f"/api/v1/tickets/{tickets[number]}/dossiers", json=body,
                                   headers=headers)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 201:
            failures.append(f"{r.status_code} {r.get_data(as_text=True)[:200]}")
        return ms

    for i in range(10):  # warm-up, not counted
        intake(3, 100000 + i)
    t0 = time.perf_counter()
    seq = [intake(3, i) for i in range(n)]
    seq_s = time.perf_counter() - t0

    conc: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(len(COUNTERS))

    def worker(number: int) -> None:
        start.wait()
        mine = [intake(number, 200000 + i) for i in range(n // len(COUNTERS))]
        with lock:
            conc.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in COUNTERS]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    conc_s = time.perf_counter() - t0

    with db.read() as s:
        codes = list(s.scalars(select(Dossier.code)))
    numbers = sorted(int(c.rsplit("-", 1)[1]) for c in codes)
    if numbers != list(range(1, len(codes) + 1)):
        failures.append("codes not gap-free/unique")
    app.extensions["motcua_printing"].stop()
    db.dispose()
    return {
        "sequential": {"n": n, "per_s": n / seq_s, "p50": statistics.median(seq),
                       "p95": percentile(seq, 95), "max": max(seq)},
        "concurrent": {"n": len(conc), "per_s": len(conc) / conc_s,
                       "p50": statistics.median(conc), "p95": percentile(conc, 95),
                       "max": max(conc)},
        "dossiers": len(codes),
        "failures": failures,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()
    bad = False
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                result = run(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.n)
        else:
            name = f"motcua_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
                result = run(url, args.n)
            finally:
                with admin.connect() as conn:
                    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = :n"), {"n": name})
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                admin.dispose()
        for kind in ("sequential", "concurrent"):
            r = result[kind]
            print(f"{backend:8} {kind:10} n={r['n']:4}  {r['per_s']:7.1f}/s  "
                  f"p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  max {r['max']:6.1f} ms")
        print(f"{backend:8} dossiers stored: {result['dossiers']}, failures: "
              f"{len(result['failures'])} {result['failures'][:3]}")
        bad = bad or bool(result["failures"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
