#!/usr/bin/env python
"""Province-scale load run on loopback: two app nodes (gevent, ``motcua run``) on one PostgreSQL
database and one Redis channel, bounded in time.

  world    a throwaway PostgreSQL database (created here, dropped at the end, even on failure):
           a province with ``--sites`` (55) commune centres built with the seed/service layer
           (5 services each), ``--counters`` (400) counters spread over them, each with its own
           clerk token bound to it, a kiosk per site, ``--displays`` (60) display devices, and
           ``--trackers`` (2,000) waiting tickets whose tracking tokens the phones use;
  clients  the displays (``/display``) and the phones (``/track``) connect over websockets, each
           to one of the two nodes in turn, from ``--procs`` client processes (python-socketio
           ``AsyncClient``, the ``Probe`` of ``bench_realtime.py``, which keeps ``seq`` like
           realtime.js: see ``SiteProbe``);
  load     for ``--duration`` seconds (75) every counter runs its clerk's cycle against one node
           (counters alternate between the nodes): the site's kiosk issues a ticket, the counter
           calls the next one, starts and finishes it, then the clerk waits ``--think`` seconds
           on average (uniform 0.5x..1.5x). A call made on node A reaches displays connected to
           node B through Redis;
  report   calls per second and HTTP requests per second (throughput), call -> display latency
           (time the display received ``ticket.called`` minus the time call-next's response was
           read; CLOCK_MONOTONIC, one machine) p50/p99/max over every (call, display at that
           site) pair, missing pairs after a 5 s grace, HTTP errors, client connect failures,
           disconnects and seq gaps, events delivered to the phones, and per node the gunicorn
           worker's RSS (before clients, after they connected, at the end) and its CPU during the
           load.

The run exits 1 on any error (HTTP status not expected, a client that failed to connect or was
disconnected, a missing display event). Servers and client processes are stopped and the
database is dropped in every case (``finally``), also on Ctrl-C or SIGTERM.

Usage (from the project root; PostgreSQL at MOTCUA_TEST_PG_URL, Redis at MOTCUA_TEST_REDIS_URL,
the defaults of tests/conftest.py):

    .venv/bin/python tests/bench/bench_province.py [--duration 75] [--think 12] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.features import tickets  # noqa: E402 - after the path set-up
from tests.bench import bench_realtime as rt  # noqa: E402 - after the path set-up
from tests.bench.common import (  # noqa: E402
    BENCH_SERVER_ENV,
    BenchError,
    ClientPool,
    bench_main,
    connect_all,
    disconnect_all,
    log,
)

PG_ADMIN_URL = os.environ.get(
    "MOTCUA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MOTCUA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVICES = (
    ("land", "A", "Đất đai", "Land"),
    ("civil", "B", "Hộ tịch", "Civil status"),
    ("business", "C", "Kinh doanh", "Business"),
    ("construction", "D", "Xây dựng", "Construction"),
    ("other", "E", "Khác", "Other"),
)
GRACE_S = 5.0
CONNECT_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30.0


# --- the province ---------------------------------------------------------------------------


@dataclass
class CounterInfo:
    id: int
    number: int
    token: str
    service: str  # the service its clerk's kiosk tickets go to (the counter's main one)


@dataclass
class SiteInfo:
    code: str
    kiosk: str
    displays: list[str] = field(default_factory=list)
    counters: list[CounterInfo] = field(default_factory=list)
    trackers: list[str] = field(default_factory=list)


def spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def create_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"motcua_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def build_province(url: str, opts: Options) -> list[SiteInfo]:
    import datetime as dt

    from server.core import migrate
    from server.core.auth import Principal
    from server.core.db import Database
    from server.features import seed
    pass

    migrate.upgrade(url)
    db = Database(url)
    now = dt.datetime.now(dt.UTC)
    system = Principal("system", None, "system", None)
    sites: list[SiteInfo] = []
    try:
        with db.write() as s:
            seed.ensure_priorities(s)
            province = seed.upsert_site(
                s, "PROV", name_vi="Trung tâm tỉnh", name_en="Province centre", kind="province"
            )
            province_id = province.id
        counters = spread(opts.counters, opts.sites)
        displays = spread(opts.displays, opts.sites)
        trackers = spread(opts.trackers, opts.sites)
        for i in range(opts.sites):
            code = f"XA{i + 1:02d}"
            with db.write() as s:
                site = seed.upsert_site(
                    s, code, name_vi=f"Trung tâm xã {i + 1}", name_en=f"Commune centre {i + 1}",
                    kind="centre", parent_id=province_id, timezone="Asia/Ho_Chi_Minh",
                )
                svcs = [
                    seed.upsert_service(
                        s, site, c, prefix=p, name_vi=vi, name_en=en, sla_target_minutes=20,
                        default_service_minutes=6.0, active=True, sort_order=k,
                    )
                    for k, (c, p, vi, en) in enumerate(SERVICES)
                ]
                info = SiteInfo(code, seed.add_device(s, site, "kiosk", "kiosk-1", None, now))
                for n in range(counters[i]):
                    main_svc, extra = svcs[n % len(svcs)], svcs[(n + 1) % len(svcs)]
                    c = seed.upsert_counter(s, site, n + 1, [(main_svc, 1.0), (extra, 0.5)], "open")
                    token = seed.create_token(s, "clerk", site, now, counter=c)
                    info.counters.append(CounterInfo(c.id, n + 1, token, main_svc.code))
                for n in range(displays[i]):
                    info.displays.append(
                        seed.add_device(s, site, "display", f"display-{n + 1}", None, now)
                    )
            with db.write() as s:
                for n in range(trackers[i]):
                    svc = SERVICES[n % len(SERVICES)][0]
                    view = tickets.issue_ticket(
                        s, system, code, svc, None, "vi", None, now, "http://bench"
                    )[0]
                    info.trackers.append(view["token"])
            sites.append(info)
    finally:
        db.dispose()
    return sites


# --- client processes -----------------------------------------------------------------------


class SiteProbe(rt.Probe):
    """``bench_realtime.Probe`` (first delivery of each tracked event noted) on any namespace,
    knowing its site, and keeping ``seq`` exactly like the browser's realtime.js (common.py's
    ``SocketProbe``): ``/track`` is a sparse audience (it gets only its service's and its
    ticket's events, so jumps are normal); elsewhere events that overtook an earlier one are
    held for up to 1 s (events of one site committed concurrently, on two nodes or two requests
    of one node, can reach a client out of order), and a gap still open then emits ``resync``
    and ignores events until the new snapshot. A display then learns a call from the
    snapshot's ``recent_calls`` / ``now_serving`` (counted apart: ``via_snapshot``)."""

    def __init__(self, namespace: str, site: str, counts: dict[str, int]) -> None:
        sparse = namespace == "/track"
        super().__init__(counts, namespace, resync=not sparse, sparse=sparse)
        self.site = site
        self.via_snapshot = 0

    def took_snapshot(self, data: dict[str, Any], t: float) -> None:
        if self.resyncing and self.namespace == "/display":
            for row in [*data.get("recent_calls", []), *data.get("now_serving", [])]:
                key = f"ticket.called:{row.get('number')}"
                if key not in self.got:
                    self.got[key] = t
                    self.via_snapshot += 1


async def _connect_all(
    probes: list[SiteProbe], specs: list[tuple[str, str, str, str]], batch: int
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    return await connect_all(
        probes, specs,
        lambda spec: (SiteProbe(spec[1], spec[2], counts), spec[0], {"token": spec[3]}),
        batch, CONNECT_TIMEOUT_S,
    )


def _report(probes: list[SiteProbe]) -> dict[str, Any]:
    called: dict[str, dict[str, list[float]]] = {}
    out: dict[str, Any] = {"called": called, "by_ns": {}}
    for p in probes:
        ns = out["by_ns"].setdefault(
            p.namespace,
            {"clients": 0, "events": 0, "gaps": 0, "reordered": 0, "disconnected": 0,
             "stale": 0, "late": 0, "via_snapshot": 0},
        )
        ns["via_snapshot"] += p.via_snapshot
        ns["clients"] += 1
        ns["events"] += p.events
        ns["gaps"] += p.gaps
        ns["reordered"] += p.reordered
        ns["stale"] += p.stale
        ns["late"] += p.late
        ns["disconnected"] += int(p.disconnected)
        if p.namespace == "/display":
            site = called.setdefault(p.site, {})
            for key, t in p.got.items():
                if key.startswith("ticket.called:"):
                    site.setdefault(key.split(":", 1)[1], []).append(t)
    return out


async def _client_loop(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    probes: list[SiteProbe] = []
    while True:
        cmd, args = await loop.run_in_executor(None, conn.recv)
        if cmd == "connect":
            specs, batch = args
            conn.send(await _connect_all(probes, specs, batch))
        elif cmd == "report":
            conn.send(_report(probes))
        elif cmd == "close":
            await disconnect_all(probes)
            conn.send({"closed": len(probes)})
            return


class Clients(ClientPool):
    def __init__(self, procs: int) -> None:
        super().__init__(procs, _client_loop)

    def connect(self, specs: list[tuple[str, str, str, str]], batch: int,
                timeout: float) -> dict[str, Any]:
        n = len(self.conns)
        shares = [specs[i::n] for i in range(n)]
        t0 = time.monotonic()
        replies = self.call("connect", [(s, max(1, batch // n)) for s in shares], timeout)
        return {
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": [e for r in replies for e in r["errors"]][:5],
            "seconds": round(time.monotonic() - t0, 1),
        }

    def report(self) -> dict[str, Any]:
        called: dict[str, dict[str, list[float]]] = {}
        by_ns: dict[str, dict[str, int]] = {}
        for r in self.call("report", [()] * len(self.conns), 120):
            for site, numbers in r["called"].items():
                for number, ts in numbers.items():
                    called.setdefault(site, {}).setdefault(number, []).extend(ts)
            for ns, vals in r["by_ns"].items():
                acc = by_ns.setdefault(ns, dict.fromkeys(vals, 0))
                for k, v in vals.items():
                    acc[k] += v
        return {"called": called, "by_ns": by_ns}


# --- load -----------------------------------------------------------------------------------


@dataclass
class LoadStats:
    calls: list[tuple[str, str, float, float]] = field(default_factory=list)  # site, number,
    # response read, request sent
    requests: int = 0
    empty: int = 0  # call-next found nobody waiting (204)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    ms: dict[str, list[float]] = field(default_factory=dict)

    def error(self, msg: str) -> None:
        self.error_count += 1
        if len(self.errors) < 10:
            self.errors.append(msg[:300])


async def clerk(
    session: Any, base: str, site: SiteInfo, counter: CounterInfo, opts: Options,
    stop_at: float, stats: LoadStats,
) -> None:
    import aiohttp

    async def post(kind: str, path: str, token: str, want: tuple[int, ...],
                   body: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any, float, float]:
        t0 = time.monotonic()
        try:
            async with session.post(
                f"{base}{path}", json=body or {},
                headers={"Authorization": f"Bearer {token}", **(headers or {})},
            ) as resp:
                payload = await resp.json(content_type=None) if resp.status != 204 else None
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            stats.error(f"{kind} {path}: {type(err).__name__}: {err}")
            return 0, None, t0, time.monotonic()
        t1 = time.monotonic()
        stats.requests += 1
        stats.ms.setdefault(kind, []).append((t1 - t0) * 1000)
        if status not in want:
            stats.error(f"{kind} {path}: HTTP {status}: {str(payload)[:200]}")
        return status, payload, t0, t1

    async def pause(seconds: float) -> None:  # never past the end of the load
        await asyncio.sleep(max(0.0, min(seconds, stop_at - time.monotonic())))

    await pause(random.uniform(0, opts.think))
    while time.monotonic() < stop_at:
        await post("issue", f"/api/v1/sites/{site.code}/tickets", site.kiosk, (201,),
                   {"service": counter.service}, {"Idempotency-Key": uuid.uuid4().hex})
        status, payload, t0, t1 = await post(
            "call-next", f"/api/v1/counters/{counter.id}/call-next", counter.token, (200, 204)
        )
        if status == 200:
            ticket = payload["ticket"]
            stats.calls.append((site.code, ticket["number"], t1, t0))
            for action in ("start", "finish"):
                await post(action, f"/api/v1/tickets/{ticket['id']}/{action}", counter.token,
                           (200,))
        elif status == 204:
            stats.empty += 1
        await pause(random.uniform(0.5 * opts.think, 1.5 * opts.think))


async def run_load(bases: list[str], sites: list[SiteInfo], opts: Options) -> LoadStats:
    import aiohttp

    stats = LoadStats()
    stop_at = time.monotonic() + opts.duration
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=opts.http_conns),
                              timeout=timeout)
        for _ in bases
    ]
    try:
        tasks = []
        k = 0
        for site in sites:
            for counter in site.counters:
                node = k % len(bases)
                k += 1
                tasks.append(clerk(sessions[node], bases[node], site, counter, opts, stop_at,
                                   stats))
        await asyncio.gather(*tasks)
    finally:
        for s in sessions:
            await s.close()
    return stats


# --- run ------------------------------------------------------------------------------------


@dataclass
class Options:
    sites: int
    counters: int
    displays: int
    trackers: int
    duration: float
    think: float
    procs: int
    batch: int
    http_conns: int
    budget: float
    json: bool


def runqueue_wait_s(pids: list[int]) -> float:
    """Time the threads of ``pids`` were ready to run but waited for a CPU (schedstat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError), open(
                    f"/proc/{pid}/task/{task}/schedstat"
                ) as f:
                    total += int(f.read().split()[1])
    return total / 1e9


def node_numbers(pid: int) -> dict[str, Any]:
    workers = rt.children(pid)
    return {"rss": sum(rt.rss_kib(w) for w in workers) * 1024, "cpu_s": rt.cpu_s(workers),
            "wait_s": runqueue_wait_s(workers)}


def mib(b: float) -> str:
    return f"{b / 2**20:.0f} MiB"


def run(opts: Options) -> tuple[dict[str, Any], list[str]]:
    t_start = time.monotonic()
    result: dict[str, Any] = {"options": opts.__dict__}
    problems: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="motcua-province-"))
    db_url: str | None = None
    clients: Clients | None = None
    with contextlib.ExitStack() as stack:
        try:
            log(f"database and province: {opts.sites} sites, {opts.counters} counters, "
                f"{opts.displays} displays, {opts.trackers} tracked tickets")
            db_url = create_database()
            t0 = time.monotonic()
            sites = build_province(db_url, opts)
            result["build_s"] = round(time.monotonic() - t0, 1)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")},
                **BENCH_SERVER_ENV,
                "MOTCUA_DATABASE_URL": db_url,
                "MOTCUA_REDIS_URL": REDIS_URL,
                "MOTCUA_REDIS_CHANNEL": f"motcua-bench-{uuid.uuid4().hex[:8]}",
                "MOTCUA_ASYNC_MODE": "gevent",
                "MOTCUA_PRINT_WORKER": "0",
                "MOTCUA_LOG_LEVEL": "WARNING",
            }
            nodes = []
            for name in ("node-a", "node-b"):
                port = rt.free_port()
                cmd = [rt.motcua_executable(), "run", "--port", str(port), "--no-access-log"]
                proc = stack.enter_context(rt.launched(
                    cmd, {**env, "MOTCUA_NODE_NAME": name}, workdir, port, "/api/v1/ping",
                    workdir / f"{name}.log",
                ))
                nodes.append({"name": name, "port": port, "proc": proc})
            bases = [f"http://{rt.HOST}:{n['port']}" for n in nodes]
            time.sleep(1.0)
            for n in nodes:
                n["before"] = node_numbers(n["proc"].pid)

            specs: list[tuple[str, str, str, str]] = []
            k = 0
            for site in sites:
                for tok in site.displays:
                    specs.append((bases[k % 2], "/display", site.code, tok))
                    k += 1
            for site in sites:
                for tok in site.trackers:
                    specs.append((bases[k % 2], "/track", site.code, tok))
                    k += 1
            log(f"connecting {len(specs)} socket clients from {opts.procs} processes")
            clients = Clients(opts.procs)
            result["connect"] = clients.connect(specs, opts.batch, opts.budget)
            log(f"  {result['connect']['connected']} connected in "
                f"{result['connect']['seconds']} s")
            if result["connect"]["failed"]:
                problems.append(f"{result['connect']['failed']} clients did not connect: "
                                f"{result['connect']['errors']}")
            time.sleep(1.0)
            for n in nodes:
                n["connected"] = node_numbers(n["proc"].pid)

            if time.monotonic() - t_start > opts.budget:
                raise BenchError("time budget used up before the load")
            log(f"load: {opts.counters} counters for {opts.duration:.0f} s, think "
                f"{opts.think:g} s")
            cpu0 = {n["name"]: node_numbers(n["proc"].pid) for n in nodes}
            clients_cpu0 = rt.cpu_s(clients.pids)
            load0 = os.getloadavg()
            t_load = time.monotonic()
            stats = asyncio.run(run_load(bases, sites, opts))
            load_s = time.monotonic() - t_load
            time.sleep(GRACE_S)  # the last calls reach the displays
            for n in nodes:
                n["end"] = node_numbers(n["proc"].pid)
                n["load_cpu_pct"] = round(
                    100 * (n["end"]["cpu_s"] - cpu0[n["name"]]["cpu_s"]) / load_s, 1
                )
                # Ready to run but no CPU free: the machine, not the node, was the limit.
                n["load_runqueue_wait_pct"] = round(
                    100 * (n["end"]["wait_s"] - cpu0[n["name"]]["wait_s"]) / load_s, 1
                )
            clients_cpu = round(100 * (rt.cpu_s(clients.pids) - clients_cpu0) / load_s, 1)
            report = clients.report()
        finally:
            if clients is not None:
                clients.close()
            stack.close()  # both nodes stopped
            if db_url is not None:
                with contextlib.suppress(Exception):
                    drop_database(db_url)
                    log("database dropped")
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)

    displays_at: dict[str, int] = {s.code: len(s.displays) for s in sites}
    lat, lat_req, missing = [], [], 0
    for site, number, t_resp, t_req in stats.calls:
        got = report["called"].get(site, {}).get(number, [])
        lat.extend((t - t_resp) * 1000 for t in got)
        lat_req.extend((t - t_req) * 1000 for t in got)
        missing += max(0, displays_at[site] - len(got))
    by_ns = report["by_ns"]
    result.update({
        "load_s": round(load_s, 1),
        "calls": len(stats.calls),
        "calls_per_s": round(len(stats.calls) / load_s, 2),
        "requests": stats.requests,
        "requests_per_s": round(stats.requests / load_s, 1),
        "empty_calls": stats.empty,
        "http_errors": stats.error_count,
        "http_error_samples": stats.errors,
        "http_ms": {k: rt.summary(v) for k, v in stats.ms.items()},
        "call_to_display_ms": rt.summary(lat),
        "call_to_display_from_request_ms": rt.summary(lat_req),
        "display_pairs_missing": missing,
        "clients": by_ns,
        "client_procs_cpu_pct": clients_cpu,
        "nodes": [{k: v for k, v in n.items() if k not in ("proc",)} for n in nodes],
        "cpus": os.cpu_count(),
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
        "wall_s": round(time.monotonic() - t_start, 1),
    })
    if stats.error_count:
        problems.append(f"{stats.error_count} HTTP errors, e.g. {stats.errors[:3]}")
    if missing:
        problems.append(f"{missing} (call, display) pairs without their ticket.called")
    for ns, vals in by_ns.items():
        if vals["disconnected"]:
            problems.append(f"{vals['disconnected']} {ns} clients were disconnected")
    return result, problems


def table(r: dict[str, Any]) -> str:
    o = r["options"]
    lat = r["call_to_display_ms"]
    lines = [
        f"== province load: {o['sites']} sites, {o['counters']} counters, {o['displays']} "
        f"displays, {o['trackers']} tracking clients, 2 nodes (gevent) on PostgreSQL + Redis ==",
        f"province built in {r['build_s']} s; {r['connect']['connected']} socket clients "
        f"connected in {r['connect']['seconds']} s ({r['connect']['failed']} failed)",
        f"load {r['load_s']} s, think {o['think']:g} s: {r['calls']} calls "
        f"({r['calls_per_s']}/s), {r['requests']} HTTP requests ({r['requests_per_s']}/s), "
        f"{r['empty_calls']} call-next with nobody waiting, {r['http_errors']} HTTP errors",
        f"call -> display: p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms over "
        f"{lat['n']} (call, display) pairs from call-next's response "
        f"({lat['negative']} negative: the event beat the response); "
        f"{r['display_pairs_missing']} missing",
        "call -> display from the request: p50 {p50} ms, p99 {p99} ms, max {max} ms".format(
            **r["call_to_display_from_request_ms"]),
    ]
    for kind, s in r["http_ms"].items():
        lines.append(f"  HTTP {kind:<10} p50 {s['p50']} ms, p99 {s['p99']} ms, max {s['max']} ms "
                     f"({s['n']})")
    for ns, v in r["clients"].items():
        seq = (f"{v['gaps']} seq jumps (normal: a phone gets only its own events)"
               if ns == "/track" else
               f"{v['reordered']} seq gaps closed within 1 s (reordered), {v['gaps']} still "
               f"open then (each followed by a resync)")
        lines.append(f"  {ns:<9} {v['clients']} clients: {v['events']} events received, "
                     f"{seq}, {v['stale']} stale dropped, {v['late']} overtaken (delivered "
                     f"late), {v['disconnected']} disconnected"
                     + (f"; {v['via_snapshot']} calls learnt from a resync snapshot"
                        if ns == "/display" else ""))
    for n in r["nodes"]:
        lines.append(
            f"  {n['name']}: worker RSS {mib(n['before']['rss'])} before clients, "
            f"{mib(n['connected']['rss'])} with them, {mib(n['end']['rss'])} at the end; "
            f"CPU {n['load_cpu_pct']} % of a core during the load, waiting for a CPU "
            f"{n['load_runqueue_wait_pct']} % of the time"
        )
    lines.append(f"client processes CPU {r['client_procs_cpu_pct']} % (all); {r['cpus']} CPUs; "
                 f"load average {r['loadavg_start'][0]:.1f} at the start of the load, "
                 f"{r['loadavg_end'][0]:.1f} at its end; "
                 f"wall {r['wall_s']} s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description="Province-scale load run (see the docstring).")
    p.add_argument("--sites", type=int, default=55)
    p.add_argument("--counters", type=int, default=400)
    p.add_argument("--displays", type=int, default=60)
    p.add_argument("--trackers", type=int, default=2000)
    p.add_argument("--duration", type=float, default=75.0, help="seconds of load (max 120)")
    p.add_argument("--think", type=float, default=12.0, help="mean pause of a clerk, s")
    p.add_argument("--procs", type=int, default=3, help="socket client processes")
    p.add_argument("--batch", type=int, default=60, help="clients connecting at once")
    p.add_argument("--http-conns", type=int, default=100, help="HTTP connections per node")
    p.add_argument("--budget", type=float, default=420.0, help="hard limit of the run, s")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if not (1 <= a.sites <= 200 and a.sites <= a.counters <= 2000 and 0 <= a.displays <= 500
            and 0 <= a.trackers <= 5000 and 1 <= a.duration <= 120 and a.think > 0
            and 1 <= a.procs <= 8):
        p.error("out of bounds: --sites 1..200, --counters sites..2000, --displays 0..500, "
                "--trackers 0..5000, --duration 1..120, --procs 1..8")
    return Options(a.sites, a.counters, a.displays, a.trackers, a.duration, a.think, a.procs,
                   a.batch, a.http_conns, a.budget, a.json)


@bench_main
def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    result, problems = run(opts)
    print(table(result))
    if opts.json:
        print(json.dumps({**result, "problems": problems}))
    for line in problems:
        print(f"FAIL: {line}")
    if not problems:
        print("OK: no error, every display got every call of its site")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
