#!/usr/bin/env python
"""Realtime benchmark: N display clients on one Motcua node over loopback, beside the transport
floor (``floor_server.py``: a bare python-socketio server that only broadcasts, under the same
gunicorn worker settings), for each async mode / gunicorn worker: threading (gthread +
simple-websocket) and gevent.

Per mode, in one run:

  app      a temporary directory with SQLite, ``motcua demo``, the server (``motcua run
           --threads T --no-access-log`` with MOTCUA_ASYNC_MODE; see "connection cap" below),
           ``--calls`` rounds with no client (baseline), server RSS, N clients connect to
           ``/display`` with the display token (websocket only, ``--batch`` at a time, each
           waiting for its ``snapshot``), server RSS again, then ``--calls`` rounds:
             issue a civil ticket (kiosk token, Idempotency-Key) and wait until every client
             has its ``ticket.issued`` (so the call below does not queue behind that fan-out);
             call-next on counter 3 (clerk token, 200) and note the time its response is read;
             wait until every client has the ``ticket.called`` with that number (5 s grace);
             start + finish the ticket; pause 200 ms;
  fan-out  (``--fanout-mode`` only) at 0, 200 and 1,000 waiting tickets in "land", the same
           rounds on counter 2 (land only; each round issues one and calls one, so the level
           stays put), with no client and with the N clients: HTTP time of issue and
           call-next, and server CPU per round. queue.stats carries the service's call order,
           so this shows whether the per-change cost grows with the queue. The tickets are
           topped up while no client is connected (a burst of hundreds of changes into N
           clients would measure a backlog, not a per-change cost);
  floor    ``floor_server.py``, the same N clients, ``--calls`` rounds: POST /broadcast emits one
           ``event`` to every client and answers 200; wait; pause 200 ms.

Latency = receive time at the client - time the HTTP response was read by this process (both
``time.monotonic()``, the system-wide CLOCK_MONOTONIC on Linux): negative when the event beats
the response (the sign is kept). It is also given from the time the request was sent: the
server publishes inside the request, so where the fan-out is slow the response waits for it and
"from the response" flatters the server. Clients: ``socketio.AsyncClient`` (needs aiohttp) in
``--procs`` processes. Server CPU is the gunicorn worker's utime + stime from /proc, RSS its
VmRSS. A (client, call) pair without its event after the 5 s grace is missing; any missing
pair, a client that failed to connect or was disconnected, or an unexpected HTTP status makes
the run exit 1. Servers and client processes are always stopped.

Connection cap: gunicorn's gthread worker accepts at most ``worker_connections`` (default 1000)
simultaneous connections, websockets included, and ``motcua run`` does not raise it, so with
1,000 clients no HTTP request gets in. Unless ``--as-is``, threading mode then runs the same
app through ``server.serve`` with only ``worker_connections`` raised (and the floor likewise).

Usage (from the project root):

    .venv/bin/python tests/bench/bench_realtime.py [--clients 1000] [--calls 30]
        [--modes threading,gevent] [--fanout-mode gevent] [--json] [--as-is]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import (  # noqa: E402 - after the path set-up
    BENCH_SERVER_ENV,
    CLK_TCK,
    HOST,
    BenchError,
    ClientPool,
    SocketProbe,
    bench_main,
    connect_all,
    disconnect_all,
    log,
    proc_stat,
)

SITE = "HACTHANH"
NAMESPACE = "/display"
CALL_SERVICE, CALL_COUNTER = "civil", 3  # counter 3 calls civil only
FANOUT_SERVICE, FANOUT_COUNTER = "land", 2  # counter 2 calls land only
TRACKED = ("ticket.called", "ticket.issued")
RATIO_TARGET = 2.0
GRACE_S = 5.0
PAUSE_S = 0.2
HTTP_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 20.0
IDLE_RECONNECT_S = 2.0  # gunicorn keeps idle connections 5 s: open a new one before that
HTTP_SLACK = 64  # connections beside the websockets: the bench's HTTP, keep-alives
FLOOR_SERVER = Path(__file__).resolve().parent / "floor_server.py"

# ``motcua run`` without its SQLite migration step (``motcua demo`` did it) and with gunicorn's
# worker_connections raised; everything else is server.serve's. See "connection cap" above.
PATCHED_RUN = """
import os, sys
from server.serve import _Gunicorn, gunicorn_options
host, port, mode, threads, conns = sys.argv[1:6]
options = gunicorn_options(host, int(port), mode, int(threads))
options["worker_connections"] = int(conns)
os.environ["MOTCUA_ACCESS_LOG"] = "0"
_Gunicorn(options).run()
"""


# --- client processes (asyncio Socket.IO clients) -------------------------------------------


class Probe(SocketProbe):
    """One display client: keeps ``seq`` like the browser does (an overtaken event is waited
    for up to 1 s; the floor server cannot answer a resync, so a gap still open then is counted
    and the held events are played) and notes when each tracked event (``ticket.called`` /
    ``ticket.issued`` + number) is first delivered."""

    def __init__(self, counts: dict[str, int], namespace: str = NAMESPACE,
                 resync: bool = False, sparse: bool = False) -> None:
        super().__init__(namespace, sparse=sparse, resync=resync)
        self.counts = counts
        self.got: dict[str, float] = {}

    def delivered(self, msg: dict[str, Any], t: float) -> None:
        if msg.get("type") in TRACKED:
            data = msg.get("data")
            number = data.get("number") if isinstance(data, dict) else None
            key = f"{msg['type']}:{number}"
            if isinstance(number, str) and key not in self.got:
                self.got[key] = t
                self.counts[key] = self.counts.get(key, 0) + 1


async def _connect(
    probes: list[Probe], counts: dict[str, int], args: tuple[Any, ...]
) -> dict[str, Any]:
    url, auth, count, batch, timeout, budget = args
    return await connect_all(
        probes, [None] * count, lambda _: (Probe(counts), url, auth), batch, timeout, budget
    )


async def _client_loop(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    counts: dict[str, int] = {}
    probes: list[Probe] = []
    while True:
        cmd, args = await loop.run_in_executor(None, conn.recv)
        if cmd == "connect":
            conn.send(await _connect(probes, counts, args))
        elif cmd == "wait":
            key, timeout = args
            deadline = time.monotonic() + timeout
            while counts.get(key, 0) < len(probes) and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            conn.send({"missing": len(probes) - counts.get(key, 0)})
        elif cmd == "report":
            times: dict[str, list[float]] = {}
            for probe in probes:
                for key, t in probe.got.items():
                    times.setdefault(key, []).append(t)
            conn.send(
                {
                    "clients": len(probes),
                    "times": times,
                    "events": sum(p.events for p in probes),
                    "gaps": sum(p.gaps for p in probes),
                    "gap_clients": sum(1 for p in probes if p.gaps),
                    "reordered": sum(p.reordered for p in probes),
                    "stale": sum(p.stale for p in probes),
                    "disconnected": sum(1 for p in probes if p.disconnected),
                }
            )
        elif cmd in ("drop", "close"):
            t0 = time.monotonic()
            await disconnect_all(probes)
            conn.send({"closed": len(probes), "seconds": time.monotonic() - t0})
            probes.clear()
            counts.clear()
            if cmd == "close":
                return
        else:
            conn.send({"error": f"unknown command {cmd!r}"})


class DisplayPool(ClientPool):
    """``procs`` processes sharing the /display clients."""

    def __init__(self, procs: int) -> None:
        super().__init__(procs, _client_loop)

    def all(self, cmd: str, timeout: float) -> list[dict[str, Any]]:
        return self.same(cmd, (), timeout)

    def connect(
        self, url: str, auth: dict[str, Any], clients: int, batch: int, budget: float
    ) -> dict[str, Any]:
        n = len(self.conns)
        shares = [clients // n + (1 if i < clients % n else 0) for i in range(n)]
        per_batch = max(1, batch // n)
        t0 = time.monotonic()
        replies = self.call(
            "connect",
            [(url, auth, s, per_batch, CONNECT_TIMEOUT_S, budget) for s in shares],
            budget + CONNECT_TIMEOUT_S + 30,
        )
        return {
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": [e for r in replies for e in r["errors"]][:5],
            "seconds": round(time.monotonic() - t0, 2),
        }

    def wait(self, key: str, timeout: float) -> int:
        """Wait until every client has event ``key``; the number of clients still without."""
        replies = self.call("wait", [(key, timeout)] * len(self.conns), timeout + 30)
        return sum(r["missing"] for r in replies)

    def report(self) -> dict[str, Any]:
        replies = self.all("report", 60)
        times: dict[str, list[float]] = {}
        for r in replies:
            for key, ts in r["times"].items():
                times.setdefault(key, []).extend(ts)
        return {
            "clients": sum(r["clients"] for r in replies),
            "times": times,
            **{
                k: sum(r[k] for r in replies)
                for k in ("events", "gaps", "gap_clients", "reordered", "stale", "disconnected")
            },
        }

    def drop(self) -> None:
        """Disconnect every client (the processes stay for the next ``connect``)."""
        replies = self.all("drop", 60)
        log(
            f"  {sum(r['closed'] for r in replies)} clients disconnected in "
            f"{max(r['seconds'] for r in replies):.1f} s"
        )

    def close(self) -> list[dict[str, Any]] | None:
        replies = super().close()
        if replies:
            log(
                f"  {sum(r['closed'] for r in replies)} clients disconnected in "
                f"{max(r['seconds'] for r in replies):.1f} s"
            )
        return replies


@contextlib.contextmanager
def client_pool(procs: int) -> Iterator[DisplayPool]:
    pool = DisplayPool(procs)
    try:
        yield pool
    finally:
        pool.close()


# --- HTTP -----------------------------------------------------------------------------------


class Http:
    """One keep-alive connection to the server under test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.last = 0.0

    def _fresh(self) -> http.client.HTTPConnection:
        if self.conn is None or time.monotonic() - self.last > IDLE_RECONNECT_S:
            self.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT_S)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.conn

    def expect(
        self,
        want: int,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, float, float]:
        """(json, ms, monotonic time the response was read); BenchError unless ``want``."""
        conn = self._fresh()
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise BenchError(f"{method} {path}: {type(err).__name__}: {err}") from None
        t1 = time.monotonic()
        self.last = t1
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw[:200]
        if resp.status != want:
            raise BenchError(f"{method} {path}: HTTP {resp.status} (wanted {want}): {payload}")
        return payload, (t1 - t0) * 1000, t1

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


def probe_http(port: int, path: str, timeout: float = 5.0) -> str | None:
    """None when ``GET path`` answers 200 within ``timeout`` on a new connection."""
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path)
        status = c.getresponse().status
        return None if status == 200 else f"HTTP {status}"
    except (OSError, http.client.HTTPException) as err:
        return f"{type(err).__name__}: {err}"
    finally:
        c.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- server processes -----------------------------------------------------------------------


def connection_cap(mode: str, threads: int) -> int:
    """The most simultaneous connections (websockets and HTTP alike) that the gunicorn worker
    of ``motcua run`` accepts: ``worker_connections`` as server.serve sets it."""
    from gunicorn.config import Config

    from server.node.serve import gunicorn_options

    cfg = Config()
    for key, value in gunicorn_options(HOST, 0, mode, threads).items():
        cfg.set(key, value)
    return int(cfg.worker_connections)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def motcua_executable() -> str:
    for candidate in (Path(sys.executable).parent / "motcua", ROOT / ".venv" / "bin" / "motcua"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("motcua")
    if found is None:
        raise SystemExit("cannot find the `motcua` console script (install the project first)")
    return found


@contextlib.contextmanager
def launched(
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    port: int,
    ping: str,
    logfile: Path,
    timeout: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in its own process group, wait for ``ping``; always stop the group."""
    out = open(logfile, "ab")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while probe_http(port, ping, 2.0) is not None:
            if proc.poll() is not None:
                raise BenchError(f"server exited ({proc.returncode}): {tail(logfile)}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"server did not answer {ping} in {timeout:.0f} s: {tail(logfile)}"
                )
            time.sleep(0.1)
        yield proc
    except BaseException:
        log(f"  server log tail ({logfile.name}):\n{tail(logfile)}")
        raise
    finally:
        stop_group(proc)
        out.close()


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        # SIGINT is gunicorn's quick shutdown (SIGTERM waits for open websockets).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    # A gthread worker with websockets still open outlives the quick shutdown: the group goes.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """Descendants of ``pid`` (from /proc/*/stat)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := proc_stat(int(entry))) is not None:
            parent[int(entry)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out.extend(kids)
        todo.extend(kids)
    return out


def cpu_s(pids: list[int]) -> float:
    """utime + stime of ``pids`` in seconds."""
    total = 0
    for pid in pids:
        if (fields := proc_stat(pid)) is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_rss(pid: int) -> dict[str, int]:
    """RSS in bytes of the gunicorn master and of its worker."""
    worker = sum(rss_kib(c) for c in children(pid)) * 1024
    return {"master": rss_kib(pid) * 1024, "worker": worker}


# --- demo -----------------------------------------------------------------------------------


@dataclass
class Demo:
    kiosk: str
    display: str
    clerks: dict[int, tuple[str, int]]  # counter number -> (token, counter id)


def parse_demo(out: str) -> Demo:
    tokens = out.split("API tokens", 1)[-1]
    kiosk = re.search(r"^\s+\S+\s+kiosk\s+(\S+)\s*$", tokens, re.M)
    display = re.search(r"^\s+\S+\s+display\s+(\S+)\s*$", tokens, re.M)
    clerks = {
        int(m[1]): (m[2], int(m[3]))
        for m in re.finditer(
            r"^\s+counter (\d+)\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", tokens, re.M
        )
    }
    if not (kiosk and display and CALL_COUNTER in clerks and FANOUT_COUNTER in clerks):
        raise BenchError(f"could not parse the tokens of `motcua demo`:\n{out[-1500:]}")
    return Demo(kiosk[1], display[1], clerks)


# --- statistics -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": _r(min(values, default=None)),
        "p50": _r(percentile(values, 0.50)),
        "p99": _r(percentile(values, 0.99)),
        "max": _r(max(values, default=None)),
        "negative": sum(1 for v in values if v < 0),
    }


def latencies(
    report: dict[str, Any], sent: list[tuple[str, float, float]], clients: int
) -> dict[str, Any]:
    """Receive time - response time over every (client, event) pair, the same from the time
    the request was sent, and the missing pairs."""
    from_resp: list[float] = []
    from_req: list[float] = []
    missing = 0
    for key, t_resp, t_req in sent:
        got = report["times"].get(key, [])
        from_resp.extend((t - t_resp) * 1000 for t in got)
        from_req.extend((t - t_req) * 1000 for t in got)
        missing += max(0, clients - len(got))
    req = summary(from_req)
    return {
        **summary(from_resp),
        "missing": missing,
        "from_request": {k: req[k] for k in ("p50", "p99", "max")},
    }


# --- phases ---------------------------------------------------------------------------------


@dataclass
class Options:
    clients: int
    calls: int
    modes: list[str]
    fanout_mode: str | None
    fanout_levels: list[int]
    fanout_samples: int
    procs: int
    batch: int
    threads: int
    budget: float
    json: bool
    as_is: bool


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise BenchError(f"time budget used up before {what}")

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


class App:
    """HTTP calls on the real server."""

    def __init__(self, port: int, demo: Demo, tag: str) -> None:
        self.http = Http(port)
        self.demo = demo
        self.tag = tag
        self.n = 0

    def issue(self, service: str) -> tuple[dict[str, Any], float, float]:
        self.n += 1
        return self.http.expect(
            201,
            "POST",
            f"/api/v1/sites/{SITE}/tickets",
            {"service": service},
            {**bearer(self.demo.kiosk), "Idempotency-Key": f"{self.tag}-{self.n}"},
        )

    def call_next(self, counter: int) -> tuple[dict[str, Any], float, float]:
        token, cid = self.demo.clerks[counter]
        payload, ms, t1 = self.http.expect(
            200, "POST", f"/api/v1/counters/{cid}/call-next", {}, bearer(token)
        )
        return payload["ticket"], ms, t1

    def serve(self, counter: int, ticket_id: int) -> None:
        token, _ = self.demo.clerks[counter]
        for action in ("start", "finish"):
            self.http.expect(
                200, "POST", f"/api/v1/tickets/{ticket_id}/{action}", {}, bearer(token)
            )

    def waiting(self, service: str) -> int:
        payload, _, _ = self.http.expect(
            200, "GET", f"/api/v1/sites/{SITE}/services", None, bearer(self.demo.kiosk)
        )
        return next(int(s["waiting"]) for s in payload if s["code"] == service)


@dataclass
class Meter:
    """Server worker and client process CPU over a block of rounds."""

    server: list[int]
    clients: list[int]

    def start(self) -> tuple[float, float, float]:
        return time.monotonic(), cpu_s(self.server), cpu_s(self.clients)

    def stop(self, t: tuple[float, float, float], rounds: int) -> dict[str, Any]:
        wall = time.monotonic() - t[0]
        server, clients = cpu_s(self.server) - t[1], cpu_s(self.clients) - t[2]
        return {
            "server_cpu_ms_per_round": _r(server * 1000 / max(rounds, 1)),
            "server_cpu_pct": _r(100 * server / wall),
            "clients_cpu_pct": _r(100 * clients / wall / max(len(self.clients), 1)),
            "wall_s": _r(wall),
        }


def app_rounds(
    app: App,
    pool: DisplayPool | None,
    meter: Meter,
    rounds: int,
    service: str,
    counter: int,
    deadline: Deadline,
    pause: float,
) -> dict[str, Any]:
    """``rounds`` x (issue, [wait for it], call-next, [wait for it], start, finish, pause)."""
    issue_ms, call_ms, missing = [], [], 0
    issued: list[tuple[str, float, float]] = []
    called: list[tuple[str, float, float]] = []
    t = meter.start()
    for _ in range(rounds):
        deadline.check("the next round")
        view, ms, t_resp = app.issue(service)
        issue_ms.append(ms)
        issued.append((f"ticket.issued:{view['number']}", t_resp, t_resp - ms / 1000))
        if pool is not None:
            missing += pool.wait(issued[-1][0], GRACE_S)
        ticket, ms, t_resp = app.call_next(counter)
        call_ms.append(ms)
        called.append((f"ticket.called:{ticket['number']}", t_resp, t_resp - ms / 1000))
        if pool is not None:
            missing += pool.wait(called[-1][0], GRACE_S)
        app.serve(counter, ticket["id"])
        time.sleep(pause)
    return {
        "issue_ms": summary(issue_ms),
        "call_next_ms": summary(call_ms),
        "wait_missing": missing,
        **meter.stop(t, rounds),
        "_issued": issued,
        "_called": called,
    }


def client_outcome(
    pool: DisplayPool, block: dict[str, Any], clients: int, events_before: int = 0
) -> dict[str, Any]:
    """Latencies of a block of rounds from the clients' report, and the clients' health."""
    report = pool.report()
    rounds = len(block["_called"])
    out = {
        "latency": latencies(report, block.pop("_called"), clients),
        "issued_latency": latencies(report, block.pop("_issued", []), clients),
        **{k: report[k] for k in ("gaps", "gap_clients", "reordered", "stale", "disconnected")},
    }
    if report["clients"] and rounds:
        out["events_per_round"] = _r(
            (report["events"] - events_before) / report["clients"] / rounds
        )
    return out


def connect_clients(
    pool: DisplayPool,
    port: int,
    auth: dict[str, Any],
    opts: Options,
    deadline: Deadline,
    api_ping: str,
) -> dict[str, Any]:
    deadline.check("connecting the clients")
    budget = min(180.0, max(10.0, deadline.left() - 60))
    res = pool.connect(f"http://{HOST}:{port}", auth, opts.clients, opts.batch, budget)
    log(
        f"  {res['connected']}/{opts.clients} clients connected in {res['seconds']:.1f} s"
        + (f"; errors: {res['errors']}" if res["errors"] else "")
    )
    blocked = probe_http(port, api_ping)
    if blocked:
        raise BenchError(
            f"the server serves no HTTP request with {res['connected']} websockets"
            f" connected ({blocked})"
        )
    return res


def bench_app(
    mode: str, opts: Options, deadline: Deadline, pool: DisplayPool, workdir: Path
) -> dict[str, Any]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")},
           **BENCH_SERVER_ENV}
    port = free_port()
    env.update(
        MOTCUA_DATABASE_URL=f"sqlite:///{workdir / 'motcua.sqlite3'}",
        MOTCUA_ASYNC_MODE=mode,
        MOTCUA_PUBLIC_BASE_URL=f"http://{HOST}:{port}",
        MOTCUA_SECRET_KEY=secrets.token_hex(16),
    )
    motcua = motcua_executable()
    demo_run = subprocess.run(
        [motcua, "demo"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    if demo_run.returncode != 0:
        raise BenchError(f"`motcua demo` failed:\n{demo_run.stdout}\n{demo_run.stderr}")
    demo = parse_demo(demo_run.stdout)
    cmd = [
        motcua,
        "run",
        "--host",
        HOST,
        "--port",
        str(port),
        "--threads",
        str(opts.threads),
        "--no-access-log",
    ]
    cap = connection_cap(mode, opts.threads)
    out: dict[str, Any] = {
        "launcher": "motcua run",
        "motcua_run_cap": cap,
        "worker_connections": None,
    }
    if cap < opts.clients + HTTP_SLACK and not opts.as_is:
        conns = max(opts.threads, opts.clients) + HTTP_SLACK
        log(
            f"  NOTE: `motcua run` ({mode}) accepts at most {cap} simultaneous connections "
            f"(gunicorn worker_connections), too few for {opts.clients} clients + HTTP: "
            f"running the same app via server.serve with worker_connections={conns}"
        )
        cmd = [
            sys.executable,
            "-c",
            PATCHED_RUN,
            HOST,
            str(port),
            mode,
            str(opts.threads),
            str(conns),
        ]
        out.update(launcher="server.serve, worker_connections raised", worker_connections=conns)
    with launched(cmd, env, workdir, port, "/api/v1/ping", workdir / "server.log") as proc:
        meter = Meter(children(proc.pid), pool.pids)
        app = App(port, demo, f"rt-{mode}-{secrets.token_hex(4)}")
        log(f"  app server up (pid {proc.pid}, worker {meter.server}); rounds with no client")
        out["baseline"] = app_rounds(
            app, None, meter, opts.calls, CALL_SERVICE, CALL_COUNTER, deadline, 0.02
        )
        for key in ("_issued", "_called"):
            out["baseline"].pop(key)
        time.sleep(0.5)
        out["rss_before"] = server_rss(proc.pid)
        out["connect"] = connect_clients(
            pool, port, {"token": demo.display}, opts, deadline, "/api/v1/ping"
        )
        time.sleep(1.0)  # let the last snapshots go out before reading RSS
        out["rss_after"] = server_rss(proc.pid)
        clients = out["connect"]["connected"]
        events0 = pool.report()["events"]
        log(f"  {opts.calls} rounds with {clients} clients")
        out["loaded"] = app_rounds(
            app, pool, meter, opts.calls, CALL_SERVICE, CALL_COUNTER, deadline, PAUSE_S
        )
        out.update(client_outcome(pool, out["loaded"], clients, events0))
        out["rss_end"] = server_rss(proc.pid)
        if opts.fanout_mode == mode:
            out["fanout"] = fanout(app, pool, meter, port, demo, opts, deadline, clients)
        app.http.close()
        pool.close()  # the clients leave before the server stops
    return out


def fanout(
    app: App,
    pool: DisplayPool,
    meter: Meter,
    port: int,
    demo: Demo,
    opts: Options,
    deadline: Deadline,
    clients: int,
) -> list[dict[str, Any]]:
    """Per-change cost at each queue length, with no client and with the clients."""
    rows = []
    connected = True
    for level in opts.fanout_levels:
        deadline.check(f"fan-out level {level}")
        row: dict[str, Any] = {"level": level}
        have = app.waiting(FANOUT_SERVICE)
        if have < level and connected:
            pool.drop()
            connected = False
        t0 = time.monotonic()
        for _ in range(max(0, level - have)):
            deadline.check(f"topping up to {level} waiting tickets")
            app.issue(FANOUT_SERVICE)
        row["waiting"] = app.waiting(FANOUT_SERVICE)
        log(
            f"  fan-out: {row['waiting']} waiting in {FANOUT_SERVICE} (topped up "
            f"{max(0, level - have)} in {time.monotonic() - t0:.1f} s)"
        )
        if not connected:
            row["none"] = app_rounds(
                app,
                None,
                meter,
                opts.fanout_samples,
                FANOUT_SERVICE,
                FANOUT_COUNTER,
                deadline,
                0.02,
            )
            row["connect"] = connect_clients(
                pool, port, {"token": demo.display}, opts, deadline, "/api/v1/ping"
            )
            connected = True
        events0 = pool.report()["events"]
        row["with"] = app_rounds(
            app, pool, meter, opts.fanout_samples, FANOUT_SERVICE, FANOUT_COUNTER, deadline, PAUSE_S
        )
        row["with"].update(client_outcome(pool, row["with"], clients, events0))
        if "none" not in row:
            pool.drop()
            connected = False
            row["none"] = app_rounds(
                app,
                None,
                meter,
                opts.fanout_samples,
                FANOUT_SERVICE,
                FANOUT_COUNTER,
                deadline,
                0.02,
            )
        for key in ("_issued", "_called"):
            row["none"].pop(key)
        rows.append(row)
    return rows


def bench_floor(
    mode: str,
    opts: Options,
    deadline: Deadline,
    pool: DisplayPool,
    workdir: Path,
    worker_connections: int | None,
) -> dict[str, Any]:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")},
           **BENCH_SERVER_ENV}
    cmd = [
        sys.executable,
        str(FLOOR_SERVER),
        "--host",
        HOST,
        "--port",
        str(port),
        "--mode",
        mode,
        "--threads",
        str(opts.threads),
    ]
    out: dict[str, Any] = {"worker_connections": worker_connections}
    if worker_connections is not None:  # the same gunicorn settings as the app's
        cmd += ["--worker-connections", str(worker_connections)]
    with launched(cmd, env, workdir, port, "/ping", workdir / "floor.log") as proc:
        meter = Meter(children(proc.pid), pool.pids)
        http = Http(port)
        for i in range(5):  # warm-up with no client
            http.expect(200, "POST", "/broadcast", {"number": f"W{i}"})
        time.sleep(0.5)
        out["rss_before"] = server_rss(proc.pid)
        out["connect"] = connect_clients(pool, port, {"token": "floor"}, opts, deadline, "/ping")
        time.sleep(1.0)
        out["rss_after"] = server_rss(proc.pid)
        clients = out["connect"]["connected"]
        events0 = pool.report()["events"]
        sent: list[tuple[str, float, float]] = []
        http_ms, missing = [], 0
        t = meter.start()
        for i in range(opts.calls):
            deadline.check("the next floor round")
            number = f"F{i:04d}"
            _, ms, t_resp = http.expect(200, "POST", "/broadcast", {"number": number})
            http_ms.append(ms)
            sent.append((f"ticket.called:{number}", t_resp, t_resp - ms / 1000))
            missing += pool.wait(sent[-1][0], GRACE_S)
            time.sleep(PAUSE_S)
        block = {
            "broadcast_ms": summary(http_ms),
            "wait_missing": missing,
            **meter.stop(t, opts.calls),
            "_called": sent,
        }
        out["loaded"] = block
        out.update(client_outcome(pool, block, clients, events0))
        http.close()
        pool.close()
    return out


def bench_mode(mode: str, opts: Options, deadline: Deadline) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"motcua-rt-{mode}-"))
    result: dict[str, Any] = {"mode": mode, "clients": opts.clients}
    try:
        log(f"[{mode}] app: {opts.clients} clients, {opts.calls} calls")
        with client_pool(opts.procs) as pool:
            result["app"] = bench_app(mode, opts, deadline, pool, workdir)
        log(f"[{mode}] floor: bare python-socketio")
        with client_pool(opts.procs) as pool:
            result["floor"] = bench_floor(
                mode, opts, deadline, pool, workdir, result["app"]["worker_connections"]
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- report ---------------------------------------------------------------------------------


def per_client(part: dict[str, Any]) -> int | None:
    n = part["connect"]["connected"]
    delta = part["rss_after"]["worker"] - part["rss_before"]["worker"]
    return round(delta / n) if n else None


def fmt(v: Any, suffix: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}{suffix}"
    return f"{v}{suffix}"


def mib(b: int) -> str:
    return f"{b / 2**20:.1f} MiB"


def p50_99(s: dict[str, Any]) -> str:
    return f"{fmt(s['p50'])} / {fmt(s['p99'])}"


def problems(r: dict[str, Any], clients: int) -> list[str]:
    out = []
    blocks = [(f"{r['mode']} {part}", r[part]) for part in ("app", "floor") if part in r]
    blocks += [
        (f"{r['mode']} fan-out at {row['level']}", {**row["with"], "connect": row.get("connect")})
        for row in r.get("app", {}).get("fanout", [])
    ]
    for name, p in blocks:
        c = p.get("connect")
        if c is not None and c["connected"] < clients:
            out.append(
                f"{name}: {clients - c['connected']} client(s) did not connect {c['errors']}"
            )
        for what in ("latency", "issued_latency"):
            if p[what]["missing"]:
                out.append(
                    f"{name}: {p[what]['missing']} (client, event) pairs missed their "
                    f"{what.replace('_latency', '').replace('latency', 'called')} event"
                )
        if p["disconnected"]:
            out.append(f"{name}: {p['disconnected']} client(s) were disconnected")
    return out


def table(results: list[dict[str, Any]], opts: Options) -> str:
    lines: list[str] = []

    def row(label: str, app: Any, floor: Any) -> None:
        lines.append(f"{label:<34}{app!s:>22}{floor!s:>22}")

    for r in results:
        a, f = r["app"], r["floor"]
        la, lf = a["latency"], f["latency"]
        ratio = (la["p99"] / lf["p99"]) if la["p99"] is not None and lf["p99"] else None
        verdict = "-" if ratio is None else ("met" if ratio <= RATIO_TARGET else "NOT met")
        worker = "gthread + simple-websocket" if r["mode"] == "threading" else "gevent worker"
        lines.append(
            f"== mode {r['mode']} ({worker}), {r['clients']} /display clients, "
            f"{opts.calls} calls =="
        )
        row("", "app", "floor (bare socketio)")
        if a["worker_connections"]:
            lines.append(
                f"  (app and floor with gunicorn worker_connections="
                f"{a['worker_connections']}; `motcua run` has {a['motcua_run_cap']})"
            )
        row("clients connected", a["connect"]["connected"], f["connect"]["connected"])
        row("connect time", f"{a['connect']['seconds']:.1f} s", f"{f['connect']['seconds']:.1f} s")
        row(
            "worker RSS before clients",
            mib(a["rss_before"]["worker"]),
            mib(f["rss_before"]["worker"]),
        )
        row(
            "worker RSS after connect", mib(a["rss_after"]["worker"]), mib(f["rss_after"]["worker"])
        )
        row("worker RSS after the rounds", mib(a["rss_end"]["worker"]), "")
        row("master RSS", mib(a["rss_after"]["master"]), mib(f["rss_after"]["master"]))
        row("memory per client (worker)", f"{fmt(per_client(a))} B", f"{fmt(per_client(f))} B")
        for key in ("p50", "p99", "max", "min"):
            row(f"called latency {key} ms", fmt(la[key]), fmt(lf[key]))
        for key in ("p50", "p99", "max"):
            row(
                f"  from the request {key} ms",
                fmt(la["from_request"][key]),
                fmt(lf["from_request"][key]),
            )
        row("samples (negative)", f"{la['n']} ({la['negative']})", f"{lf['n']} ({lf['negative']})")
        row("missing (client, call)", la["missing"], lf["missing"])
        row(
            "seq gaps after 1 s (clients)",
            f"{a['gaps']} ({a['gap_clients']})",
            f"{f['gaps']} ({f['gap_clients']})",
        )
        row("seq reordered, recovered <= 1 s", a["reordered"], f["reordered"])
        row("disconnected", a["disconnected"], f["disconnected"])
        row(
            "events per round per client",
            fmt(a.get("events_per_round")),
            fmt(f.get("events_per_round")),
        )
        row(
            "server CPU ms per round",
            fmt(a["loaded"]["server_cpu_ms_per_round"]),
            fmt(f["loaded"]["server_cpu_ms_per_round"]),
        )
        row(
            "client procs CPU % (each)",
            fmt(a["loaded"]["clients_cpu_pct"]),
            fmt(f["loaded"]["clients_cpu_pct"]),
        )
        row(
            "HTTP call-next | broadcast p50",
            fmt(a["loaded"]["call_next_ms"]["p50"], " ms"),
            fmt(f["loaded"]["broadcast_ms"]["p50"], " ms"),
        )
        qa, qf = la["from_request"]["p99"], lf["from_request"]["p99"]
        req_ratio = qa / qf if qa is not None and qf else None
        lines.append(
            f"p99 ratio app/floor: {fmt(ratio)} from the response (target <= "
            f"{RATIO_TARGET:g}: {verdict}); {fmt(req_ratio)} from the request"
        )
        ia = a["issued_latency"]
        lines.append(
            f"issue response -> ticket.issued at clients: p50 {fmt(ia['p50'])} ms, "
            f"p99 {fmt(ia['p99'])} ms, max {fmt(ia['max'])} ms"
        )
        lines.append(
            f"app HTTP ms p50 / p99, CPU ms/round {'no client':>22}"
            f"{str(a['connect']['connected']) + ' clients':>22}"
        )
        b, lo = a["baseline"], a["loaded"]
        for label, key in (
            (f"  issue ({CALL_SERVICE})", "issue_ms"),
            (f"  call-next (counter {CALL_COUNTER})", "call_next_ms"),
        ):
            row(label, p50_99(b[key]), p50_99(lo[key]))
        row(
            "  server CPU ms per round",
            fmt(b["server_cpu_ms_per_round"]),
            fmt(lo["server_cpu_ms_per_round"]),
        )
        lines.append("")
        if "fanout" in a:
            n = a["connect"]["connected"]
            lines += [
                f"== fan-out cost vs waiting tickets ({r['mode']}, service {FANOUT_SERVICE}, "
                f"counter {FANOUT_COUNTER}, {opts.fanout_samples} rounds per cell; HTTP ms "
                f"p50/p99, server CPU ms per round of 4 changes) ==",
                f"{'':8}{'---- no client ----':^42}{'---- ' + str(n) + ' clients ----':^60}",
                f"{'waiting':>8}{'issue':>16}{'call-next':>16}{'CPU':>10}"
                f"{'issue':>16}{'call-next':>16}{'CPU':>10}{'called p50/p99':>18}",
            ]
            for fr in a["fanout"]:
                nn, w = fr["none"], fr["with"]
                lines.append(
                    f"{fr['waiting']:>8}{p50_99(nn['issue_ms']):>16}"
                    f"{p50_99(nn['call_next_ms']):>16}{fmt(nn['server_cpu_ms_per_round']):>10}"
                    f"{p50_99(w['issue_ms']):>16}{p50_99(w['call_next_ms']):>16}"
                    f"{fmt(w['server_cpu_ms_per_round']):>10}{p50_99(w['latency']):>18}"
                )
            lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description="Realtime fan-out benchmark (see the docstring).")
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--modes", default="threading,gevent")
    p.add_argument(
        "--fanout-mode",
        default="gevent",
        help="the mode in which to measure cost vs queue length ('' for none)",
    )
    p.add_argument("--fanout-levels", default="0,200,1000")
    p.add_argument("--fanout-samples", type=int, default=30)
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--batch", type=int, default=50, help="clients connecting at once")
    p.add_argument("--threads", type=int, default=1200, help="gthread threads (threading)")
    p.add_argument("--budget", type=float, default=900, help="hard limit of the run, s")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--as-is",
        action="store_true",
        help="always launch `motcua run` unchanged, even where its gunicorn "
        "worker_connections cannot hold the clients plus HTTP",
    )
    a = p.parse_args(argv)
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if not modes or any(m not in ("threading", "gevent") for m in modes):
        p.error("--modes takes threading and/or gevent")
    if not 1 <= a.clients <= 5000 or not 1 <= a.calls <= 1000 or not 1 <= a.procs <= 8:
        p.error("--clients 1..5000, --calls 1..1000, --procs 1..8")
    if "threading" in modes and a.threads <= a.clients:
        p.error("--threads must exceed --clients (one thread per websocket in threading mode)")
    levels = [int(x) for x in a.fanout_levels.split(",") if x.strip()]
    if any(not 0 <= x <= 5000 for x in levels) or levels != sorted(levels):
        p.error("--fanout-levels: increasing, 0..5000 each")
    return Options(
        a.clients,
        a.calls,
        modes,
        a.fanout_mode or None,
        levels,
        max(1, min(a.fanout_samples, 500)),
        a.procs,
        max(1, a.batch),
        a.threads,
        a.budget,
        a.json,
        a.as_is,
    )


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


@bench_main
def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    deadline = Deadline(opts.budget)
    t0 = time.monotonic()
    results = [bench_mode(mode, opts, deadline) for mode in opts.modes]
    wall = time.monotonic() - t0
    print(table(results, opts))
    issues = [p for r in results for p in problems(r, opts.clients)]
    print(
        f"total wall time {wall:.0f} s; {os.cpu_count()} CPUs; {opts.procs} client "
        f"processes; aiohttp {_version('aiohttp')}, python-socketio "
        f"{_version('python-socketio')}, python-engineio {_version('python-engineio')}, "
        f"simple-websocket {_version('simple-websocket')}, gunicorn {_version('gunicorn')}, "
        f"gevent {_version('gevent')}"
    )
    if opts.json:
        print(
            json.dumps(
                {
                    "options": asdict(opts),
                    "results": results,
                    "problems": issues,
                    "wall_s": round(wall, 1),
                }
            )
        )
    if issues:
        for line in issues:
            print(f"FAIL: {line}")
        return 1
    print("OK: every client got every event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
