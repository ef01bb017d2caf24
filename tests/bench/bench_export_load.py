#!/usr/bin/env python
"""Does a year's KPI export hold the counters? Issue and call latency with and without it.

A fresh PostgreSQL database (``motcua_bench_<random>``, dropped at the end) gets ``--sites``
sites with ``--months`` months of past working days from the history generator
(``gen_history.py``), their daily aggregates from the back-fill (``motcua stats backfill``'s
function), then one real ``motcua run`` node (gunicorn, gevent worker: the production way) on
127.0.0.1:``--port``. At site ``H01``, ``--clients`` client threads each work a counter of
their own over HTTP, one round every ``--interval`` seconds: issue a ticket of the counter's
service at the kiosk, call next, start, finish. Two measurements of ``--seconds`` each, in
one run, on the same server:

  quiet    the clients alone;
  export   the clients while one more client downloads H01's KPI report for the year up to
           today again and again, alternating XLSX, CSV and JSON.

It prints per phase the requests done and the p50 and p99 of issue and call-next, their
ratio export/quiet, the 503s counted in each (the node's answer when the database is too
slow: counted, retried for start/finish), and the exports' count and p50/max duration. Any
other unexpected status exits 1.

    .venv/bin/python tests/bench/bench_export_load.py [--sites 2] [--months 12] [--clients 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from server.core.db import Database  # noqa: E402
from server.features import aggregates, seed  # noqa: E402
from server.models import Counter, Site  # noqa: E402
from tests.bench import gen_history  # noqa: E402
from tests.bench.bench_history import create_database, drop_database  # noqa: E402
from tests.bench.common import BENCH_SERVER_ENV  # noqa: E402

HOST = "127.0.0.1"
OPS = ("issue", "call-next")


class Failed(Exception):
    pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def request(conn: http.client.HTTPConnection, method: str, path: str,
            headers: dict[str, str], body: Any = None) -> tuple[int, bytes, float]:
    t0 = time.perf_counter()
    conn.request(method, path, body=json.dumps(body or {}).encode() if method == "POST" else None,
                 headers={**headers, "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data, (time.perf_counter() - t0) * 1000


def prepare(url: str, clients: int) -> dict[str, Any]:
    db = Database(url)
    now = dt.datetime.now(dt.UTC)
    try:
        with db.write() as s:
            site = s.scalar(select(Site).where(Site.code == "H01"))
            assert site is not None
            kiosk = seed.add_device(s, site, "kiosk", "kiosk-load", None, now)
            lead = seed.create_token(s, "supervisor", site, now)
            counters = []
            for c in s.scalars(select(Counter).where(Counter.site_id == site.id)
                               .order_by(Counter.number).limit(clients)):
                token = seed.create_token(s, "clerk", site, now, counter=c)
                counters.append((c.id, token, c.profile[0].service.code))
        if len(counters) < clients:
            raise Failed(f"H01 has {len(counters)} counters for {clients} clients")
        return {"kiosk": kiosk, "lead": lead, "counters": counters}
    finally:
        db.dispose()


def start_server(url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    motcua = Path(sys.executable).parent / "motcua"
    env = {**os.environ, **BENCH_SERVER_ENV, "MOTCUA_DATABASE_URL": url,
           "MOTCUA_BIND": f"{HOST}:{port}"}
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([str(motcua), "run", "--host", HOST, "--port", str(port),
                             "--no-access-log"], cwd=workdir, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failed("the server exited:\n" + (workdir / "server.log").read_text()[-2000:])
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/api/v1/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise Failed("the server did not answer within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def phase(port: int, setup: dict[str, Any], seconds: float, export: bool,
          interval: float) -> dict[str, Any]:
    """The clients (and the exporter) for ``seconds``; latencies per operation. Each client
    starts a round (issue, call-next, start, finish) every ``interval`` seconds, as a kiosk and
    a clerk do, rather than as fast as it can: a saturated server is slowed by any other work,
    blocking or not; this measures whether the export holds the others."""
    stop = threading.Event()
    lat: dict[str, list[float]] = {op: [] for op in OPS}
    exports: list[float] = []
    errors: list[str] = []
    unavailable: list[str] = []  # 503s: the node's own overload answer, counted, not fatal
    lock = threading.Lock()
    kiosk = {"Authorization": f"Bearer {setup['kiosk']}"}

    def client(k: int, cid: int, token: str, service: str) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        clerk = {"Authorization": f"Bearer {token}"}
        # Staggered starts, then one round per interval (a late round starts at once).
        tick = time.perf_counter() + interval * k / len(setup["counters"])
        try:
            while not stop.is_set():
                delay = tick - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    break
                tick = max(tick + interval, time.perf_counter())
                st, _b, ms_issue = request(conn, "POST", "/api/v1/sites/H01/tickets",
                                           {**kiosk, "Idempotency-Key": uuid.uuid4().hex},
                                           {"service": service})
                if st == 503:
                    unavailable.append("issue")
                    continue
                if st != 201:
                    raise Failed(f"issue: {st} {_b[:200]!r}")
                st, body, ms_call = request(conn, "POST", f"/api/v1/counters/{cid}/call-next",
                                            clerk)
                if st == 503:
                    unavailable.append("call-next")
                    continue
                if st not in (200, 204):
                    raise Failed(f"call-next: {st} {body[:200]!r}")
                with lock:
                    lat["issue"].append(ms_issue)
                    lat["call-next"].append(ms_call)
                ticket = (json.loads(body).get("ticket") if st == 200 else None) or {}
                if ticket.get("id"):
                    for action in ("start", "finish"):
                        for _attempt in range(5):  # a 503 is retried: the counter must end free
                            st, body, _ms = request(
                                conn, "POST", f"/api/v1/tickets/{ticket['id']}/{action}", clerk)
                            if st != 503:
                                break
                            unavailable.append(action)
                        if st != 200:
                            raise Failed(f"{action}: {st} {body[:200]!r}")
        except Exception as exc:  # reported by the main thread
            errors.append(f"{type(exc).__name__}: {exc}")
            stop.set()
        finally:
            conn.close()

    def exporter() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        lead = {"Authorization": f"Bearer {setup['lead']}"}
        today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date()
        year = f"from={(today - dt.timedelta(days=365)).isoformat()}&to={today.isoformat()}"
        k = 0
        try:
            while not stop.is_set():
                fmt = ("xlsx", "csv", "json")[k % 3]
                k += 1
                st, body, ms = request(conn, "GET",
                                       f"/api/v1/sites/H01/reports/kpis?{year}&format={fmt}", lead)
                if st != 200:
                    raise Failed(f"export {fmt}: {st} {body[:200]!r}")
                exports.append(ms)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            stop.set()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k, *c))
               for k, c in enumerate(setup["counters"])]
    if export:
        threads.append(threading.Thread(target=exporter))
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise Failed(errors[0])
    out: dict[str, Any] = {"requests": sum(len(v) for v in lat.values()),
                           "unavailable_503": len(unavailable)}
    for op in OPS:
        out[op] = {"p50": statistics.median(lat[op]), "p99": percentile(lat[op], 0.99)}
    if export:
        out["exports"] = {"count": len(exports),
                          "p50": statistics.median(exports) if exports else None,
                          "max": max(exports) if exports else None}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=2)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--per-day", type=int, default=290)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between two rounds of one client")
    ap.add_argument("--port", type=int, default=18650)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    url = create_database()
    proc = None
    try:
        made = gen_history.generate(url, sites=a.sites, days=a.months * 30, per_day=a.per_day,
                                    counters=max(6, a.clients))
        db = Database(url)
        try:
            t0 = time.perf_counter()
            days = sum(1 for _ in aggregates.backfill(db.write, dt.datetime.now(dt.UTC)))
            backfill_s = time.perf_counter() - t0
        finally:
            db.dispose()
        setup = prepare(url, a.clients)
        with tempfile.TemporaryDirectory(prefix="motcua-load-") as tmp:
            proc = start_server(url, a.port, Path(tmp))
            phase(a.port, setup, 3.0, False, a.interval)  # warm-up, not counted
            quiet = phase(a.port, setup, a.seconds, False, a.interval)
            loaded = phase(a.port, setup, a.seconds, True, a.interval)
            stop_server(proc)
            proc = None
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if proc is not None:
            stop_server(proc)
        drop_database(url)
    r = {"sites": a.sites, "months": a.months, "clients": a.clients, "seconds": a.seconds,
         "tickets": made["rows"].get("tickets", 0), "backfill_days": days,
         "backfill_s": round(backfill_s, 1), "quiet": quiet, "export": loaded,
         "p99_ratio": {op: loaded[op]["p99"] / quiet[op]["p99"] for op in OPS}}
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{a.sites} sites, {a.months} month(s): {r['tickets']:,} tickets, "
          f"{days:,} site-days aggregated in {r['backfill_s']} s; {a.clients} clients at H01, "
          f"one round each per {a.interval:g} s, {a.seconds:.0f} s per phase")
    print(f"{'':<12}{'quiet p50':>10}{'p99':>8}{'export p50':>12}{'p99':>8}{'p99 ratio':>11}")
    for op in OPS:
        print(f"{op:<12}{quiet[op]['p50']:>10.1f}{quiet[op]['p99']:>8.1f}"
              f"{loaded[op]['p50']:>12.1f}{loaded[op]['p99']:>8.1f}{r['p99_ratio'][op]:>11.2f}")
    ex = loaded["exports"]
    print(f"503 (overload answers): {quiet['unavailable_503']} quiet, "
          f"{loaded['unavailable_503']} with the export")
    print(f"requests: {quiet['requests']} quiet, {loaded['requests']} with the export; "
          f"{ex['count']} year exports (XLSX/CSV/JSON), p50 {ex['p50']:.0f} ms, "
          f"max {ex['max']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
