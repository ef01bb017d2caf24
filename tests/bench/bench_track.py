#!/usr/bin/env python
"""Load benchmark: N citizens' phones on ``/track`` on one Motcua node, over loopback.

One run (bounded by ``--budget`` seconds):

1. a temporary directory with SQLite (or ``--pg`` for a fresh PostgreSQL database that is
   dropped at the end), ``motcua demo``, the server (``motcua run``, gevent worker unless
   ``MOTCUA_ASYNC_MODE=threading``; see bench_realtime.py for the connection cap);
2. ``--clients`` tickets issued at the Hạc Thành site, spread over its 5 services, with the
   kiosk token (as citizens take them: Idempotency-Key, print job and all); each ticket's
   tracking token is kept;
3. one ``/track`` Socket.IO client per ticket (``auth={"token": tracking token}``, websocket
   only, ``--procs`` client processes with asyncio clients), each waiting for its snapshot;
   server RSS before and after;
4. ``--calls`` rounds, the counters 1..8 in turn: every client is armed (it notes its place),
   call-next is sent with the counter's clerk token (200: a ticket is called), and the time its
   response is read is noted; then the clients report. A client is *affected* when its ticket
   was waiting in the called ticket's service (its place moves up by one: it must see the new
   place from a ``queue.stats`` event) or is the called ticket (it must see ``ticket.called``).
   Latency = receive time at the client - call-next response time (the same system-wide
   CLOCK_MONOTONIC); an affected client without its update after ``--grace`` s is *missed*, one
   whose new place is not its old place - 1 is *wrong*. The called ticket is then started and
   finished (two more events to every client) and the next round follows after ``--pause``.

Printed: p50/p99/max latency, share within 1 s, missed and wrong updates, seq gaps and
disconnections, server RSS (master + worker) before/after the clients and after the rounds,
server CPU per round, client CPU, the size of the /track ``queue.stats`` payloads, and the
1-minute load average. Exit status 1 on any missed/wrong update, failed connection or
disconnection. The server and the client processes are always stopped.

Usage (from the project root):

    .venv/bin/python tests/bench/bench_track.py [--clients 2000] [--calls 40] [--procs 2]
        [--pg] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.bench_realtime import (  # noqa: E402 - the sibling benchmark's machinery
    HTTP_SLACK,
    PATCHED_RUN,
    SITE,
    Http,
    bearer,
    children,
    connection_cap,
    cpu_s,
    free_port,
    launched,
    motcua_executable,
    parse_demo,
    server_rss,
    summary,
)
from tests.bench.common import (  # noqa: E402
    BENCH_SERVER_ENV,
    HOST,
    BenchError,
    ClientPool,
    SocketProbe,
    bench_main,
    connect_all,
    disconnect_all,
    log,
    pg_database,
)

NAMESPACE = "/track"
SERVICES = ("land", "civil", "business", "construction", "other")
COUNTERS = tuple(range(1, 9))
CONNECT_TIMEOUT_S = 30.0
TARGET_S = 1.0
PG_URL = "postgresql+psycopg://postgres@" + HOST + ":5432/{db}"


# --- client side (runs in the client processes) ---------------------------------------------


class TrackProbe(SocketProbe):
    """One phone on the tracking page: follows its ticket as track.js does (its place from the
    call order of its service's ``queue.stats``; its status from its own ``ticket.*`` events;
    ``seq`` kept as a sparse audience: jumps are normal, an overtaken event comes late and
    only the newest of each kind is applied, as track.js does) and, when armed
    for a round, notes when its first update of that round arrives."""

    def __init__(self, token: str) -> None:
        super().__init__(NAMESPACE, sparse=True, request_timeout=15)
        self.token = token
        self.ticket_id: int | None = None
        self.service: str | None = None
        self.status: str | None = None
        self.ahead: int | None = None
        self.stats_bytes: list[int] = []
        self.armed: tuple[int, int | None, str | None] | None = None  # round, ahead, status
        self.results: dict[int, tuple[float, int | None, str]] = {}  # round -> t, ahead, kind
        self.stats_seq = 0
        self.ticket_seq = 0

    def took_snapshot(self, snap: dict[str, Any], t: float) -> None:
        self.ticket_id = snap.get("ticket_id")
        ticket = snap.get("ticket") or {}
        self.service, self.status = ticket.get("service"), ticket.get("status")
        self.ahead = ticket.get("ahead")
        self.stats_seq = self.ticket_seq = snap.get("seq") or 0

    def delivered(self, msg: dict[str, Any], t: float) -> None:
        kind, data = msg.get("type"), msg.get("data") or {}
        seq = msg.get("seq") or 0
        if kind == "queue.stats":
            if seq <= self.stats_seq:
                return
            self.stats_seq = seq
        elif data.get("ticket_id") == self.ticket_id:
            if seq <= self.ticket_seq:
                return
            self.ticket_seq = seq
        if kind == "queue.stats" and "order" in data:
            if data.get("service") == self.service and self.status == "waiting":
                order = data["order"]
                self.stats_bytes.append(len(json.dumps(data, separators=(",", ":"))))
                self.ahead = order.index(self.ticket_id) if self.ticket_id in order else None
                self._note(t, "stats")
        elif (isinstance(kind, str) and kind.startswith("ticket.")
              and data.get("ticket_id") == self.ticket_id):
            self.status = data.get("status") or ("called" if kind == "ticket.called" else
                                                  self.status)
            if kind == "ticket.called":
                self._note(t, "called")

    def _note(self, t: float, kind: str) -> None:
        if self.armed is not None and self.armed[0] not in self.results:
            self.results[self.armed[0]] = (t, self.ahead, kind)


async def _connect_all(probes: list[TrackProbe], url: str, tokens: list[str], batch: int,
                       budget: float) -> dict[str, Any]:
    return await connect_all(probes, tokens,
                             lambda tok: (TrackProbe(tok), url, {"token": tok}),
                             batch, CONNECT_TIMEOUT_S, budget)


def _affected(p: TrackProbe, before: tuple[str | None, str | None], service: str,
              called_id: int) -> bool:
    was_service, was_status = before
    return p.ticket_id == called_id or (was_service == service and was_status == "waiting")


async def _client_loop(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    probes: list[TrackProbe] = []
    before: dict[int, tuple[str | None, str | None]] = {}
    while True:
        cmd, args = await loop.run_in_executor(None, conn.recv)
        if cmd == "connect":
            url, tokens, batch, budget = args
            conn.send(await _connect_all(probes, url, tokens, batch, budget))
        elif cmd == "arm":
            (round_no,) = args
            for i, p in enumerate(probes):
                before[i] = (p.service, p.status)
                p.armed = (round_no, p.ahead, p.status)
            conn.send({"armed": len(probes)})
        elif cmd == "collect":
            round_no, service, called_id, t_resp, grace = args
            deadline = time.monotonic() + grace
            todo = [(i, p) for i, p in enumerate(probes)
                    if _affected(p, before[i], service, called_id)]
            while time.monotonic() < deadline and any(round_no not in p.results for _, p in todo):
                await asyncio.sleep(0.005)
            lat: list[float] = []
            missed = wrong = 0
            for _, p in todo:
                got = p.results.get(round_no)
                if got is None:
                    missed += 1
                    continue
                t, ahead, kind = got
                lat.append((t - t_resp) * 1000)
                armed_ahead = p.armed[1] if p.armed else None
                if kind == "stats" and (armed_ahead is None or ahead != armed_ahead - 1):
                    wrong += 1
            for p in probes:
                p.armed = None
            conn.send({"affected": len(todo), "latencies": lat, "missed": missed,
                       "wrong": wrong})
        elif cmd == "report":
            sizes = [b for p in probes for b in p.stats_bytes]
            conn.send({
                "clients": len(probes),
                "events": sum(p.events for p in probes),
                "gaps": sum(p.gaps for p in probes),
                "gap_clients": sum(1 for p in probes if p.gaps),
                "stale": sum(p.stale for p in probes),
                "late": sum(p.late for p in probes),
                "disconnected": sum(1 for p in probes if p.disconnected),
                "stats_bytes_max": max(sizes, default=0),
                "stats_bytes_sum": sum(sizes),
                "stats_count": len(sizes),
            })
        elif cmd == "close":
            await disconnect_all(probes)
            conn.send({"closed": len(probes)})
            return
        else:
            conn.send({"error": f"unknown command {cmd!r}"})


@contextlib.contextmanager
def pool_of(procs: int) -> Iterator[ClientPool]:
    pool = ClientPool(procs, _client_loop)
    try:
        yield pool
    finally:
        pool.close()


# --- coordinator ----------------------------------------------------------------------------


@dataclass
class Options:
    clients: int
    calls: int
    procs: int
    batch: int
    grace: float
    pause: float
    budget: float
    pg: bool
    json: bool
    motcua: str | None = None  # another checkout's `motcua`, for before/after figures


def issue_tickets(port: int, kiosk: str, count: int, threads: int = 4) -> list[dict[str, Any]]:
    """``count`` tickets over the 5 services, issued by ``threads`` keep-alive connections."""
    out: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    tag = secrets.token_hex(4)

    def work(k: int) -> None:
        http = Http(port)
        try:
            for i in range(k, count, threads):
                view, _, _ = http.expect(
                    201, "POST", f"/api/v1/sites/{SITE}/tickets",
                    {"service": SERVICES[i % len(SERVICES)]},
                    {**bearer(kiosk), "Idempotency-Key": f"track-{tag}-{i}"},
                )
                with lock:
                    out.append(view)
        except BenchError as err:
            errors.append(str(err))
        finally:
            http.close()

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise BenchError(f"issuing the tickets: {errors[0]}")
    return out


def bench(opts: Options) -> dict[str, Any]:
    t_start = time.monotonic()

    def left() -> float:
        return opts.budget - (time.monotonic() - t_start)

    result: dict[str, Any] = {"clients": opts.clients, "calls": opts.calls,
                              "loadavg_before": os.getloadavg()}
    motcua = opts.motcua or motcua_executable()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="motcua-track-")))
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")},
               **BENCH_SERVER_ENV}
        mode = os.environ.get("MOTCUA_ASYNC_MODE", "gevent")
        env.update(
            MOTCUA_DATABASE_URL=f"sqlite:///{workdir / 'motcua.sqlite3'}",
            MOTCUA_ASYNC_MODE=mode,
            MOTCUA_PUBLIC_BASE_URL=f"http://{HOST}:{port}",
            MOTCUA_SECRET_KEY=secrets.token_hex(16),
        )
        if opts.pg:
            db = stack.enter_context(pg_database("motcua_bench_track"))
            env["MOTCUA_DATABASE_URL"] = PG_URL.format(db=db)
        result["database"] = "postgresql" if opts.pg else "sqlite"
        result["async_mode"] = mode
        demo_run = subprocess.run([motcua, "demo"], cwd=workdir, env=env, capture_output=True,
                                  text=True, timeout=180)
        if demo_run.returncode != 0:
            raise BenchError(f"`motcua demo` failed:\n{demo_run.stdout}\n{demo_run.stderr}")
        demo = parse_demo(demo_run.stdout)
        threads = opts.clients + 2 * HTTP_SLACK
        cmd = [motcua, "run", "--host", HOST, "--port", str(port), "--threads", str(threads),
               "--no-access-log"]
        cap = connection_cap(mode, threads)
        if cap < opts.clients + HTTP_SLACK:  # see bench_realtime.py, "connection cap"
            conns = opts.clients + 2 * HTTP_SLACK
            cmd = [sys.executable, "-c", PATCHED_RUN, HOST, str(port), mode, str(threads),
                   str(conns)]
            result["worker_connections"] = conns
        proc = stack.enter_context(
            launched(cmd, env, workdir, port, "/api/v1/ping", workdir / "server.log"))
        server_pids = children(proc.pid)
        log(f"server up (pid {proc.pid}, {mode}); issuing {opts.clients} tickets")
        t0 = time.monotonic()
        tickets = issue_tickets(port, demo.kiosk, opts.clients)
        result["issue_s"] = round(time.monotonic() - t0, 1)
        result["rss_before"] = server_rss(proc.pid)
        tokens = [t["token"] for t in tickets]
        pool = stack.enter_context(pool_of(opts.procs))
        client_pids = pool.pids
        n = len(pool.conns)
        shares = [tokens[i::n] for i in range(n)]
        budget = max(30.0, min(300.0, left() - 60))
        log(f"connecting {len(tokens)} /track clients ({opts.procs} processes)")
        replies = pool.call(
            "connect",
            [(f"http://{HOST}:{port}", share, max(1, opts.batch // n), budget)
             for share in shares],
            budget + CONNECT_TIMEOUT_S + 30,
        )
        connected = sum(r["connected"] for r in replies)
        result["connect"] = {
            "connected": connected,
            "failed": sum(r["failed"] for r in replies),
            "errors": [e for r in replies for e in r["errors"]][:5],
            "seconds": round(max(r["seconds"] for r in replies), 1),
        }
        log(f"{connected} clients connected in {result['connect']['seconds']} s")
        time.sleep(1.0)
        result["rss_after_connect"] = server_rss(proc.pid)
        http = Http(port)
        lat: list[float] = []
        per_call_p99: list[float] = []
        affected = missed = wrong = 0
        server_cpu0, client_cpu0, wall0 = cpu_s(server_pids), cpu_s(client_pids), time.monotonic()
        call_ms: list[float] = []
        rounds = 0
        for k in range(opts.calls):
            if left() < opts.grace + 30:
                log("time budget nearly used up: stopping the rounds")
                break
            counter = COUNTERS[k % len(COUNTERS)]
            token, cid = demo.clerks[counter]
            pool.same("arm", (k,), 30)
            payload, ms, t_resp = http.expect(200, "POST", f"/api/v1/counters/{cid}/call-next",
                                              {}, bearer(token))
            call_ms.append(ms)
            called = payload["ticket"]
            got = pool.same("collect", (k, called["service"], called["id"], t_resp, opts.grace),
                            opts.grace + 30)
            round_lat = [x for g in got for x in g["latencies"]]
            lat.extend(round_lat)
            if round_lat:
                per_call_p99.append(sorted(round_lat)[int(0.99 * (len(round_lat) - 1))])
            affected += sum(g["affected"] for g in got)
            missed += sum(g["missed"] for g in got)
            wrong += sum(g["wrong"] for g in got)
            for action in ("start", "finish"):
                http.expect(200, "POST", f"/api/v1/tickets/{called['id']}/{action}", {},
                            bearer(token))
            rounds += 1
            time.sleep(opts.pause)
        wall = time.monotonic() - wall0
        result["rounds"] = rounds
        result["server_cpu_ms_per_round"] = round(
            (cpu_s(server_pids) - server_cpu0) * 1000 / max(rounds, 1), 1)
        result["client_cpu_pct_each"] = round(
            100 * (cpu_s(client_pids) - client_cpu0) / wall / max(len(client_pids), 1), 1)
        result["latency_ms"] = summary(lat)
        result["within_target"] = (round(sum(1 for x in lat if x <= TARGET_S * 1000)
                                         / len(lat), 4) if lat else None)
        result["worst_call_p99_ms"] = round(max(per_call_p99), 1) if per_call_p99 else None
        result["affected"], result["missed"], result["wrong"] = affected, missed, wrong
        result["call_next_ms"] = summary(call_ms)
        result["rss_end"] = server_rss(proc.pid)
        rep = pool.same("report", (), 60)
        result["events_per_client"] = round(sum(r["events"] for r in rep) / max(connected, 1), 1)
        result["gaps"] = sum(r["gaps"] for r in rep)
        result["gap_clients"] = sum(r["gap_clients"] for r in rep)
        result["stale"] = sum(r["stale"] for r in rep)
        result["late"] = sum(r["late"] for r in rep)
        result["disconnected"] = sum(r["disconnected"] for r in rep)
        count = sum(r["stats_count"] for r in rep)
        result["track_stats_bytes"] = {
            "max": max(r["stats_bytes_max"] for r in rep),
            "mean": round(sum(r["stats_bytes_sum"] for r in rep) / count) if count else None,
        }
        http.close()
        result["loadavg_after"] = os.getloadavg()
        log("closing the clients")
    return result


def mib(b: int) -> str:
    return f"{b / 2**20:.1f} MiB"


def table(r: dict[str, Any]) -> str:
    la = r["latency_ms"]
    within = "-" if r["within_target"] is None else f"{100 * r['within_target']:.2f}%"
    per_client = (r["rss_after_connect"]["worker"] - r["rss_before"]["worker"]) / max(
        r["connect"]["connected"], 1
    )
    lines = [
        f"== /track benchmark: {r['connect']['connected']}/{r['clients']} clients on one node "
        f"({r['async_mode']}, {r['database']}), {r['rounds']} call-next rounds ==",
        f"1-min load average before -> after: {r['loadavg_before'][0]:.2f} -> "
        f"{r['loadavg_after'][0]:.2f} ({os.cpu_count()} CPUs shared by server and clients)",
        f"tickets issued (kiosk)           {r['clients']} in {r['issue_s']} s",
        f"clients connected                {r['connect']['connected']} in "
        f"{r['connect']['seconds']} s (failed {r['connect']['failed']})",
        f"update latency p50 / p99 / max   {la['p50']} / {la['p99']} / {la['max']} ms "
        f"(from the call-next response)",
        f"worst per-call p99               {r['worst_call_p99_ms']} ms",
        f"updates within {TARGET_S:g} s             {within} of {la['n']} (affected "
        f"{r['affected']}, missed {r['missed']}, wrong {r['wrong']})",
        f"call-next HTTP p50 / p99         {r['call_next_ms']['p50']} / "
        f"{r['call_next_ms']['p99']} ms",
        f"server RSS (master + worker)     before clients {mib(sum(r['rss_before'].values()))},"
        f" with clients {mib(sum(r['rss_after_connect'].values()))}, after the rounds "
        f"{mib(sum(r['rss_end'].values()))}",
        f"  worker per client              {per_client / 1024:.1f} KiB",
        f"server CPU per round             {r['server_cpu_ms_per_round']} ms "
        f"(call-next + start + finish)",
        f"client processes CPU (each)      {r['client_cpu_pct_each']}%",
        f"events per client                {r['events_per_client']}; seq jumps {r['gaps']} "
        f"(expected: a phone gets only its own events) "
        f"({r['gap_clients']} clients); stale dropped {r['stale']}; late {r['late']}; disconnected "
        f"{r['disconnected']}",
        f"/track queue.stats payload       mean {r['track_stats_bytes']['mean']} B, max "
        f"{r['track_stats_bytes']['max']} B",
    ]
    return "\n".join(lines)


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    if r["connect"]["connected"] < r["clients"]:
        out.append(f"{r['clients'] - r['connect']['connected']} clients did not connect "
                   f"{r['connect']['errors']}")
    if r["missed"]:
        out.append(f"{r['missed']} affected clients missed their update")
    if r["wrong"]:
        out.append(f"{r['wrong']} updates gave a wrong place")
    if r["disconnected"]:
        out.append(f"{r['disconnected']} clients were disconnected")
    if not r["rounds"]:
        out.append("no call-next round ran")
    return out


@bench_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="/track load benchmark (see the docstring).")
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--batch", type=int, default=50, help="clients connecting at once")
    p.add_argument("--grace", type=float, default=5.0, help="s to wait for an update")
    p.add_argument("--pause", type=float, default=0.3, help="s between rounds")
    p.add_argument("--budget", type=float, default=900, help="hard limit of the run, s")
    p.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    p.add_argument("--json", action="store_true")
    p.add_argument("--motcua", default=None, help="the `motcua` command to run (default: ours)")
    a = p.parse_args(argv)
    if not 1 <= a.clients <= 5000 or not 1 <= a.calls <= 1000 or not 1 <= a.procs <= 8:
        p.error("--clients 1..5000, --calls 1..1000, --procs 1..8")
    opts = Options(a.clients, a.calls, a.procs, max(1, a.batch), a.grace, a.pause, a.budget,
                   a.pg, a.json, a.motcua)
    r = bench(opts)
    print(table(r))
    if opts.json:
        print(json.dumps(r))
    issues = problems(r)
    for line in issues:
        print(f"FAIL: {line}")
    if not issues:
        print(f"OK: every affected client got its update ({r['affected']} updates)")
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
