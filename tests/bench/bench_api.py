#!/usr/bin/env python
"""HTTP benchmark of the real Motcua server (gunicorn, ``motcua run``) on SQLite and PostgreSQL.

For each backend this script makes a temporary directory (and, for PostgreSQL, a fresh database
``motcua_bench_<random>`` that is dropped at the end), loads the demo with ``motcua demo``,
starts ``motcua run --host 127.0.0.1 --port <free port> --no-access-log`` as a subprocess and
measures it over loopback with one client process (this one) and N threads, each with its own
persistent keep-alive ``http.client.HTTPConnection``:

  floor      GET /api/v1/ping, the framework floor (requests per second);
  issue      POST /api/v1/sites/HACTHANH/tickets, a unique Idempotency-Key per request, spread
             over the 5 services; a second trial with 20% priority "elderly";
  call-next  one clerk thread per counter (1..8, each with its counter-bound clerk token)
             looping call-next -> finish over a pre-issued queue where the site's "call
             starts service" setting is on (``--call-starts-service on``, the default, set in
             the demo's database when its schema has it), else call-next -> start -> finish;
             it reports calls and tickets taken from waiting to done per second.

``--baseline PATH`` measures another checkout's ``motcua`` (the tree before a change) in the
same run, each backend right before this checkout's, and prints both side by side.

PostgreSQL is also run with two server processes on one fresh database, the client threads
spread over them (``--pg-nodes``; ``motcua run`` is one process, several of them behind a proxy
is how deploy/ scales). No Redis is configured (the REST figures do not need the fan-out).

Every measurement has a ~1 s warm-up that is not counted. Every response status is checked;
any unexpected status, transport error or integrity problem (a ticket number drawn twice, a
ticket called twice) is printed and makes the run exit 1. The server is always stopped (also on
Ctrl-C) and the temporary database dropped.

Usage (from the project root):

    .venv/bin/python tests/bench/bench_api.py [--backend sqlite|postgres|both]
        [--seconds N] [--clients N] [--json] [--baseline OTHER/.venv/bin/motcua]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
SITE = "HACTHANH"
SERVICES = ("land", "civil", "business", "construction", "other")
COUNTERS = tuple(range(1, 9))
PG_URL = "postgresql+psycopg://postgres@" + HOST + ":5432/{db}"
RATIO_TARGET = 0.50
MAX_PRINTED_ERRORS = 20
REQUEST_TIMEOUT = 30.0

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import BENCH_SERVER_ENV, CLK_TCK, pg_database, proc_stat  # noqa: E402


def motcua_executable() -> str:
    for candidate in (Path(sys.executable).parent / "motcua", ROOT / ".venv" / "bin" / "motcua"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("motcua")
    if found is None:
        raise SystemExit("cannot find the `motcua` console script (install the project first)")
    return found


# --- HTTP client ---------------------------------------------------------------------------


class Connection(http.client.HTTPConnection):
    """A keep-alive connection that counts how often it (re)connects."""

    def __init__(self, port: int) -> None:
        super().__init__(HOST, port, timeout=REQUEST_TIMEOUT)
        self.connects = 0

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1


@dataclass
class Reply:
    status: int  # 0: transport error
    body: bytes
    headers: dict[str, str]
    t0: float
    t1: float

    @property
    def ms(self) -> float:
        return (self.t1 - self.t0) * 1000.0

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    conn: Connection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    t0 = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return Reply(0, f"{type(exc).__name__}: {exc}".encode(), {}, t0, time.perf_counter())
    return Reply(resp.status, data, dict(resp.getheaders()), t0, time.perf_counter())


# --- recording -----------------------------------------------------------------------------


@dataclass
class Recorder:
    """Per-thread results of one measurement; merged after the threads end."""

    t_measure: float
    t_end: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    seen: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    connects: int = 0
    server_cpu_s: float | None = None  # over the counted window
    client_cpu_s: float | None = None

    def cpu_ms_per(self, requests: int) -> dict[str, float | None]:
        """Server and client CPU ms per counted request."""
        return {
            f"{who}_cpu_ms": (round(v * 1000 / requests, 3) if v is not None and requests else None)
            for who, v in (("server", self.server_cpu_s), ("client", self.client_cpu_s))
        }

    def counted(self, r: Reply) -> bool:
        return self.t_measure <= r.t0 < self.t_end

    def add(self, kind: str, r: Reply, ok: bool, why: str = "") -> None:
        """Record one request; ``ok`` False records an error (counted during warm-up too)."""
        if ok:
            if self.counted(r):
                self.latencies[kind].append(r.ms)
                self.statuses[f"{kind} {r.status}"] += 1
            return
        self.error_count += 1
        self.error_kinds[f"{kind} HTTP {r.status}{' ' + why if why else ''}"] += 1
        if len(self.errors) < MAX_PRINTED_ERRORS:
            text = r.body[:300].decode("utf-8", "replace")
            self.errors.append(f"{kind}: HTTP {r.status} {why} {text}".strip())

    def error(self, message: str) -> None:
        self.error_count += 1
        self.error_kinds[message.split(":")[0]] += 1
        if len(self.errors) < MAX_PRINTED_ERRORS:
            self.errors.append(message)

    def merge(self, other: Recorder) -> None:
        for k, v in other.latencies.items():
            self.latencies[k].extend(v)
        self.statuses.update(other.statuses)
        self.errors.extend(other.errors[: max(0, MAX_PRINTED_ERRORS - len(self.errors))])
        self.error_count += other.error_count
        self.error_kinds.update(other.error_kinds)
        for k, v in other.seen.items():
            self.seen[k].extend(v)
        self.connects += other.connects


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None without samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


Worker = Callable[[int, Connection, Recorder, threading.Event], None]


class Aborted(Exception):
    pass


STOP = threading.Event()  # set on Ctrl-C / SIGTERM: every worker stops at once


def run_threads(
    ports: list[int], n: int, worker: Worker, warmup: float, seconds: float
) -> Recorder:
    """Run ``worker`` on ``n`` threads, each with its own connection (thread i to server
    ``ports[i % len(ports)]``). Requests that start in
    [start + warmup, start + warmup + seconds) are counted; workers stop starting new work at
    the end of the window."""
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + seconds
    recorders = [Recorder(t_measure, t_end) for _ in range(n)]

    def body(i: int) -> None:
        conn = Connection(ports[i % len(ports)])
        try:
            worker(i, conn, recorders[i], STOP)
        except Exception as exc:  # a bug in the client must not pass silently
            recorders[i].error(f"client thread {i} crashed: {type(exc).__name__}: {exc}")
        finally:
            recorders[i].connects = conn.connects
            conn.close()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    cpu: dict[str, float] = {}

    def meter() -> None:
        # Server and client CPU over the counted window only (not the warm-up).
        time.sleep(max(0.0, t_measure - time.perf_counter()))
        c0, s0 = _own_cpu(), server_cpu_s(ports)
        time.sleep(max(0.0, t_end - time.perf_counter()))
        cpu["client"], cpu["server"] = _own_cpu() - c0, server_cpu_s(ports) - s0

    metering = threading.Thread(target=meter, daemon=True)
    try:
        metering.start()
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        metering.join(5)
    except BaseException:
        STOP.set()  # Ctrl-C: stop every client thread before the server goes away
        raise
    if STOP.is_set():
        raise Aborted
    total = Recorder(t_measure, t_end)
    for r in recorders:
        total.merge(r)
    total.server_cpu_s = cpu.get("server")
    total.client_cpu_s = cpu.get("client")
    return total


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- the measurements ----------------------------------------------------------------------


@dataclass
class Demo:
    kiosk_tokens: list[str]
    clerk_tokens: dict[int, str]  # counter number -> token
    counter_ids: dict[int, int]  # counter number -> id


def parse_demo(output: str) -> Demo:
    kiosks = re.findall(r"^\s+kiosk-\d+\s+kiosk\s+(\S+)\s*$", output, re.M)
    clerks: dict[int, str] = {}
    ids: dict[int, int] = {}
    for number, token, cid in re.findall(
        r"^\s+counter (\d+)\s+clerk\s+(\S+)\s+\(counter id (\d+)\)\s*$", output, re.M
    ):
        clerks[int(number)] = token
        ids[int(number)] = int(cid)
    missing = [n for n in COUNTERS if n not in clerks]
    if not kiosks or missing:
        raise RuntimeError(
            f"could not parse the tokens from `motcua demo` (kiosks: {len(kiosks)},"
            f" counters missing: {missing}):\n{output}"
        )
    return Demo(kiosks, clerks, ids)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ping_worker(_i: int, conn: Connection, rec: Recorder, stop: threading.Event) -> None:
    while not stop.is_set() and time.perf_counter() < rec.t_end:
        r = send(conn, "GET", "/api/v1/ping")
        rec.add("ping", r, r.status == 200 and r.body.strip() == b'{"ok":true}')


def authread_worker(demo: Demo) -> Worker:
    """GET /api/v1/priorities with a kiosk token: the floor plus a token check and one small
    read, for context beside the framework floor."""

    def worker(i: int, conn: Connection, rec: Recorder, stop: threading.Event) -> None:
        headers = auth(demo.kiosk_tokens[i % len(demo.kiosk_tokens)])
        while not stop.is_set() and time.perf_counter() < rec.t_end:
            r = send(conn, "GET", "/api/v1/priorities", None, headers)
            rec.add("authread", r, r.status == 200)

    return worker


def issue_worker(demo: Demo, tag: str, priority_share: float, limit: int | None = None) -> Worker:
    """Issue tickets until the end of the window (or ``limit`` tickets per thread)."""
    path = f"/api/v1/sites/{SITE}/tickets"

    key_prefix = "bench-" + re.sub(r"[^A-Za-z0-9_.-]", "-", tag)  # printable ASCII, no space

    def worker(i: int, conn: Connection, rec: Recorder, stop: threading.Event) -> None:
        rng = random.Random(f"{tag}-{i}")
        base = {
            **auth(demo.kiosk_tokens[i % len(demo.kiosk_tokens)]),
            "Content-Type": "application/json",
        }
        seq = 0
        while not stop.is_set() and time.perf_counter() < rec.t_end:
            if limit is not None and seq >= limit:
                break
            service = SERVICES[(i + seq) % len(SERVICES)]
            priority = "elderly" if rng.random() < priority_share else None
            payload = json.dumps({"service": service, "priority": priority, "lang": "vi"})
            headers = {**base, "Idempotency-Key": f"{key_prefix}-{i}-{seq}"}
            seq += 1
            r = send(conn, "POST", path, payload.encode(), headers)
            if r.status != 201:
                rec.add("issue", r, False)
                continue
            try:
                t = r.json()
            except ValueError:
                rec.add("issue", r, False, "(not JSON)")
                continue
            if (
                t.get("service") != service
                or t.get("priority") != priority
                or t.get("status") != "waiting"
                or "Idempotent-Replayed" in r.headers
            ):
                rec.add("issue", r, False, "(unexpected ticket)")
                continue
            rec.add("issue", r, True)
            rec.seen["ticket_id"].append(t["id"])
            rec.seen["number"].append(t["number"])

    return worker


def clerk_worker(demo: Demo, call_starts_service: bool = False) -> Worker:
    """Thread i works counter COUNTERS[i]: call-next -> start -> finish, until the end; where
    the site's call starts the service, call-next -> finish (two requests a citizen)."""
    steps = (("finish", "done"),) if call_starts_service else (("start", "serving"),
                                                               ("finish", "done"))

    def worker(i: int, conn: Connection, rec: Recorder, stop: threading.Event) -> None:
        number = COUNTERS[i]
        cid = demo.counter_ids[number]
        headers = {**auth(demo.clerk_tokens[number]), "Content-Type": "application/json"}
        while not stop.is_set() and time.perf_counter() < rec.t_end:
            r = send(conn, "POST", f"/api/v1/counters/{cid}/call-next", b"{}", headers)
            if r.status == 204:
                rec.add("call_next", r, True)
                if rec.counted(r):
                    rec.statuses["call_next_empty"] += 1
                time.sleep(0.005)
                continue
            if r.status != 200:
                rec.add("call_next", r, False)
                time.sleep(0.05)
                continue
            t = r.json().get("ticket") or {}
            if t.get("status") != "called" or t.get("counter_id") != cid:
                rec.add("call_next", r, False, "(unexpected ticket)")
                continue
            rec.add("call_next", r, True)
            if rec.counted(r):
                rec.statuses["call_next_called"] += 1
            rec.seen["called"].append(t["id"])
            # Always finish the ticket, even past the end, so the counter is left free.
            for action, expected in steps:
                r = send(conn, "POST", f"/api/v1/tickets/{t['id']}/{action}", b"{}", headers)
                ok = r.status == 200 and r.json().get("status") == expected
                rec.add(action, r, ok)
                if not ok:
                    break
                if action == "finish" and rec.counted(r):
                    rec.statuses["finished"] += 1

    return worker


def set_call_starts_service(url: str, on: bool) -> bool | None:
    """Set the demo site's "call starts service" setting in its database; None when this
    checkout's schema has no such setting (an older tree: it serves in three requests)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("sites")}
        if "call_starts_service" not in columns:
            return None
        with engine.begin() as conn:
            conn.execute(text("UPDATE sites SET call_starts_service = :on WHERE code = :site"),
                         {"on": on, "site": SITE})
        return on
    finally:
        engine.dispose()


def free_counters(url: str) -> int:
    """Finish the tickets the demo left at its site's counters: its day is replayed up to the
    clock, so at some hours a counter is still serving one (and call-next answers 409 there).
    The number of tickets finished."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return conn.execute(text(
                "UPDATE tickets SET status = 'done', finished_at = CURRENT_TIMESTAMP "
                "WHERE status IN ('called', 'serving') AND site_id = "
                "(SELECT id FROM sites WHERE code = :site)"), {"site": SITE}).rowcount
    finally:
        engine.dispose()


def waiting(ports: list[int], demo: Demo) -> dict[str, int]:
    conn = Connection(ports[0])
    try:
        r = send(conn, "GET", f"/api/v1/sites/{SITE}/services", None, auth(demo.kiosk_tokens[0]))
    finally:
        conn.close()
    if r.status != 200:
        raise RuntimeError(f"GET services: HTTP {r.status} {r.body[:300]!r}")
    return {s["code"]: int(s["waiting"]) for s in r.json()}


def ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summarize_issue(rec: Recorder, seconds: float) -> dict[str, Any]:
    lat = rec.latencies["issue"]
    return {
        **rec.cpu_ms_per(len(lat)),
        "rps": round(len(lat) / seconds, 1),
        "requests": len(lat),
        "p50_ms": ms(percentile(lat, 50)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(max(lat, default=None)),
    }


def get_p50(result: dict[str, Any], name: str) -> float | None:
    value = result.get(name, {}).get("p50_ms")
    return float(value) if value is not None else None


def check_unique(rec: Recorder, key: str, what: str) -> None:
    dups = [v for v, n in Counter(rec.seen[key]).items() if n > 1]
    if dups:
        rec.error(f"integrity: {len(dups)} {what} seen more than once, e.g. {dups[:5]}")


# --- one backend ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) != 0


SERVER_PROBLEM = re.compile(r'Traceback|\[(ERROR|CRITICAL)\]|"level": "(error|critical)"')


@dataclass
class ServerLog:
    """What the server wrote: warnings (e.g. "retrying unit of work") and errors."""

    warnings: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def read_server_log(path: Path, into: ServerLog) -> None:
    if not path.exists():
        return
    for line in path.read_text(errors="replace").splitlines():
        if SERVER_PROBLEM.search(line):
            into.problems.append(line[:500])
        elif '"level": "warning"' in line:
            try:
                into.warnings[json.loads(line).get("msg", "?")] += 1
            except ValueError:
                into.warnings[line[:80]] += 1


SERVER_PIDS: dict[int, int] = {}  # port -> pid of the `motcua run` process (gunicorn master)
def server_cpu_s(ports: list[int]) -> float:
    """utime + stime of the server processes on ``ports`` and of their descendants (the
    gunicorn workers), in seconds: the server's own CPU, whatever else runs on the machine."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := proc_stat(int(entry))) is not None:
            parent[int(entry)] = int(fields[1])
    todo = [SERVER_PIDS[p] for p in ports if p in SERVER_PIDS]
    total = 0
    while todo:
        pid = todo.pop()
        if (fields := proc_stat(pid)) is not None:
            total += int(fields[11]) + int(fields[12])
        todo.extend(c for c, pp in parent.items() if pp == pid)
    return total / CLK_TCK


@contextlib.contextmanager
def server(
    motcua: str, workdir: Path, env: dict[str, str], name: str, server_log: ServerLog
) -> Iterator[int]:
    """One ``motcua run`` process on a free port of 127.0.0.1; yields the port."""
    port = free_port()
    if not port_is_free(port):
        raise RuntimeError(f"port {port} is not free")
    log_path = workdir / f"{name}.log"
    cmd = [motcua, "run", "--host", HOST, "--port", str(port), "--no-access-log"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    SERVER_PIDS[port] = proc.pid
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {proc.returncode}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            conn = Connection(port)
            r = send(conn, "GET", "/api/v1/ping")
            conn.close()
            if r.status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "the server did not answer /api/v1/ping within 30 s:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.1)
        yield port
    finally:
        stop_server(proc)
        read_server_log(log_path, server_log)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (gunicorn master and workers), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the master and its workers
        proc.wait(timeout=5)


@dataclass
class Options:
    seconds: float
    warmup: float
    clients: int
    preissue: int
    elderly_trial: bool = True
    deep: int = 2000  # waiting tickets of the second one-client issue measurement
    sequential: int = 300  # at most this many requests in each one-client issue measurement
    motcua: str | None = None  # another checkout's `motcua`, to compare before/after
    call_starts_service: bool = True  # the demo site's setting, where the schema has it


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def bench_backend(label: str, backend: str, nodes: int, opts: Options) -> dict[str, Any]:
    """Everything for one backend; ``nodes`` server processes share the database and the
    client threads are spread over them (the deployment model of deploy/: several
    single-process nodes behind a proxy)."""
    motcua = opts.motcua or motcua_executable()
    result: dict[str, Any] = {
        "backend": backend,
        "nodes": nodes,
        "errors": 0,
        "error_samples": [],
        "loadavg_before": os.getloadavg(),
    }
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="motcua-bench-")))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **BENCH_SERVER_ENV}
        env.pop("MOTCUA_DATABASE_URL", None)  # SQLite: the file in the working directory
        env.pop("MOTCUA_REDIS_URL", None)  # no fan-out: never publish into someone's Redis
        if backend == "postgres":
            db = stack.enter_context(pg_database())
            env["MOTCUA_DATABASE_URL"] = PG_URL.format(db=db)
            result["database"] = db
        demo_out = subprocess.run(
            [motcua, "demo"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
        )
        if demo_out.returncode != 0:
            raise RuntimeError(f"`motcua demo` failed:\n{demo_out.stdout}\n{demo_out.stderr}")
        demo = parse_demo(demo_out.stdout)
        url = env.get("MOTCUA_DATABASE_URL") or f"sqlite:///{workdir / 'motcua.sqlite3'}"
        flow = set_call_starts_service(url, opts.call_starts_service)
        result["call_starts_service"] = flow
        result["demo_tickets_finished"] = free_counters(url)
        server_log = ServerLog()
        ports = [
            stack.enter_context(server(motcua, workdir, env, f"server{n}", server_log))
            for n in range(nodes)
        ]
        result["async_mode"] = env.get("MOTCUA_ASYNC_MODE", "gevent (default of motcua run)")
        log(f"{label}: {nodes} server process(es) on {HOST}:{','.join(map(str, ports))}, {workdir}")

        errors: list[str] = []

        def account(name: str, rec: Recorder) -> None:
            result["errors"] += rec.error_count
            for kind, n in rec.error_kinds.items():
                result.setdefault("error_kinds", {})[f"{name}: {kind}"] = n
            room = max(0, MAX_PRINTED_ERRORS - len(errors))
            errors.extend(f"[{label} {name}] {e}" for e in rec.errors[:room])
            if rec.connects:
                result.setdefault("connections", {})[name] = rec.connects

        # a. the framework floor
        rec = run_threads(ports, opts.clients, ping_worker, opts.warmup, opts.seconds)
        account("floor", rec)
        lat = rec.latencies["ping"]
        result["floor"] = {
            **rec.cpu_ms_per(len(lat)),
            "rps": round(len(lat) / opts.seconds, 1),
            "p50_ms": ms(percentile(lat, 50)),
            "p99_ms": ms(percentile(lat, 99)),
        }
        log(f"{label}: floor {result['floor']['rps']} rps")
        rec = run_threads(ports, opts.clients, authread_worker(demo), opts.warmup, opts.seconds)
        account("authread", rec)
        lat = rec.latencies["authread"]
        result["authread"] = {
            **rec.cpu_ms_per(len(lat)),
            "rps": round(len(lat) / opts.seconds, 1),
            "p50_ms": ms(percentile(lat, 50)),
            "p99_ms": ms(percentile(lat, 99)),
        }
        log(f"{label}: authenticated read {result['authread']['rps']} rps")

        # b0. one client issuing, at (about) nobody waiting: the latency without contention
        def sequential(name: str) -> None:
            before = sum(waiting(ports, demo).values())
            rec = run_threads(ports, 1, issue_worker(demo, f"{name}-{label}", 0.0,
                                                     opts.sequential), opts.warmup, opts.seconds)
            account(name, rec)
            issued.merge(rec)
            result[name] = {**summarize_issue(rec, opts.seconds), "waiting_before": before,
                            "waiting_after": sum(waiting(ports, demo).values())}
            log(f"{label}: {name} p50 {result[name]['p50_ms']} ms (waiting {before})")

        issued = Recorder(0, 0)
        sequential("issue_1client")

        # b. issue, then issue with 20% elderly
        trials = [("issue", 0.0)] + ([("issue_elderly", 0.2)] if opts.elderly_trial else [])
        for name, share in trials:
            before = sum(waiting(ports, demo).values())
            rec = run_threads(
                ports,
                opts.clients,
                issue_worker(demo, f"{name}-{label}", share),
                opts.warmup,
                opts.seconds,
            )
            account(name, rec)
            issued.merge(rec)
            result[name] = {
                **summarize_issue(rec, opts.seconds),
                "priority_share": share,
                "waiting_before": before,
                "waiting_after": sum(waiting(ports, demo).values()),
            }
            log(
                f"{label}: {name} {result[name]['rps']} rps "
                f"(waiting {before} -> {result[name]['waiting_after']})"
            )
        result["issue_ratio"] = (
            round(result["issue"]["rps"] / result["floor"]["rps"], 3)
            if result["floor"]["rps"]
            else None
        )

        # b2. one client issuing again with `deep` tickets waiting: the cost of a long line
        missing = max(0, opts.deep - sum(waiting(ports, demo).values()))
        if missing:
            per_thread = -(-missing // opts.clients)
            rec = run_threads(ports, opts.clients,
                              issue_worker(demo, f"deep-{label}", 0.2, per_thread), 0.0, 300.0)
            account("deep", rec)
            issued.merge(rec)
        sequential("issue_1client_deep")
        a, b = get_p50(result, "issue_1client"), get_p50(result, "issue_1client_deep")
        result["issue_depth_ratio"] = round(b / a, 3) if a and b else None

        # c. call-next: top the queues up to `preissue` waiting tickets, then one clerk thread
        # per counter.
        missing = max(0, opts.preissue - sum(waiting(ports, demo).values()))
        if missing:
            per_thread = -(-missing // opts.clients)
            rec = run_threads(
                ports,
                opts.clients,
                issue_worker(demo, f"fill-{label}", 0.2, per_thread),
                0.0,
                300.0,
            )
            account("preissue", rec)
            issued.merge(rec)
        before = waiting(ports, demo)
        rec = run_threads(ports, len(COUNTERS), clerk_worker(demo, bool(flow)), opts.warmup,
                          opts.seconds)
        check_unique(rec, "called", "tickets called")
        account("call_next", rec)
        lat = rec.latencies["call_next"]
        result["call_next"] = {
            # per call-next -> start -> finish round (three requests)
            "server_cpu_ms_per_call": (
                round(rec.server_cpu_s * 1000 / rec.statuses["call_next_called"], 3)
                if rec.server_cpu_s is not None and rec.statuses["call_next_called"]
                else None
            ),
            "p50_ms": ms(percentile(lat, 50)),
            "p99_ms": ms(percentile(lat, 99)),
            "max_ms": ms(max(lat, default=None)),
            "calls_per_s": round(rec.statuses["call_next_called"] / opts.seconds, 1),
            # tickets taken from waiting to done per second, whichever the flow
            "finished_per_s": round(rec.statuses["finished"] / opts.seconds, 1),
            "requests_per_ticket": 2 if flow else 3,
            "calls": rec.statuses["call_next_called"],
            "empty_204": rec.statuses["call_next_empty"],
            "start_p50_ms": ms(percentile(rec.latencies["start"], 50)),
            "finish_p50_ms": ms(percentile(rec.latencies["finish"], 50)),
            "waiting_before": sum(before.values()),
            "waiting_before_by_service": before,
            "waiting_after": sum(waiting(ports, demo).values()),
        }
        log(
            f"{label}: call-next {result['call_next']['calls_per_s']} calls/s, "
            f"p50 {result['call_next']['p50_ms']} ms"
        )

        # integrity over every ticket this backend issued: no id or number twice
        integrity = Recorder(0, 0)
        integrity.seen = issued.seen
        check_unique(integrity, "ticket_id", "ticket ids")
        check_unique(integrity, "number", "ticket numbers")
        account("integrity", integrity)
        result["tickets_issued"] = len(issued.seen["ticket_id"])
        result["loadavg_after"] = os.getloadavg()
    # The server is stopped now and its log read: errors it logged fail the run too.
    result["server_warnings"] = dict(server_log.warnings)
    if server_log.problems:
        result["errors"] += len(server_log.problems)
        result.setdefault("error_kinds", {})["server log: errors"] = len(server_log.problems)
        room = max(0, MAX_PRINTED_ERRORS - len(errors))
        errors.extend(f"[{label} server log] {line}" for line in server_log.problems[:room])
    result["error_samples"] = errors
    return result


# --- output --------------------------------------------------------------------------------


def fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}" if value >= 100 else f"{value:.2f}{suffix}"
    return f"{value:,}{suffix}" if isinstance(value, int) else f"{value}{suffix}"


def table(results: dict[str, dict[str, Any]], opts: Options) -> str:
    def get(r: dict[str, Any], *path: str) -> Any:
        for p in path:
            if not isinstance(r, dict) or p not in r:
                return None
            r = r[p]
        return r

    def ratio(r: dict[str, Any]) -> str:
        v = r.get("issue_ratio")
        if v is None:
            return "-"
        return f"{v:.0%} ({'ok' if v >= RATIO_TARGET else 'BELOW'} {RATIO_TARGET:.0%})"

    def cpu_ratio(r: dict[str, Any]) -> str:
        # What the ratio would be with the server alone on a core: ping CPU / issue CPU.
        a, b = get(r, "floor", "server_cpu_ms"), get(r, "issue", "server_cpu_ms")
        return f"{a / b:.0%}" if a and b else "-"

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("floor GET /ping (req/s)", lambda r: fmt(get(r, "floor", "rps"))),
        ("token + 1 read GET /priorities (req/s)", lambda r: fmt(get(r, "authread", "rps"))),
        (
            "  server / client CPU ms per ping",
            lambda r: f"{fmt(get(r, 'floor', 'server_cpu_ms'))} / "
            f"{fmt(get(r, 'floor', 'client_cpu_ms'))}",
        ),
        (
            "  server CPU ms per authenticated read",
            lambda r: fmt(get(r, "authread", "server_cpu_ms")),
        ),
        (
            "issue 1 client p50 (ms), waiting before",
            lambda r: f"{fmt(get(r, 'issue_1client', 'p50_ms'))}, "
            f"{fmt(get(r, 'issue_1client', 'waiting_before'))}",
        ),
        (
            "  again at a long line: p50 (ms), waiting",
            lambda r: f"{fmt(get(r, 'issue_1client_deep', 'p50_ms'))}, "
            f"{fmt(get(r, 'issue_1client_deep', 'waiting_before'))}",
        ),
        ("  long / short line p50", lambda r: fmt(r.get("issue_depth_ratio"))),
        (
            "  server CPU ms per issue, 1 client short / long",
            lambda r: f"{fmt(get(r, 'issue_1client', 'server_cpu_ms'))} / "
            f"{fmt(get(r, 'issue_1client_deep', 'server_cpu_ms'))}",
        ),
        ("issue (req/s)", lambda r: fmt(get(r, "issue", "rps"))),
        (
            "  server / client CPU ms per issue",
            lambda r: f"{fmt(get(r, 'issue', 'server_cpu_ms'))} / "
            f"{fmt(get(r, 'issue', 'client_cpu_ms'))}",
        ),
        ("  issue/floor by server CPU", cpu_ratio),
        ("issue/floor ratio (target)", ratio),
        (
            "issue p50 / p99 (ms)",
            lambda r: f"{fmt(get(r, 'issue', 'p50_ms'))} / {fmt(get(r, 'issue', 'p99_ms'))}",
        ),
        (
            "issue waiting before->after",
            lambda r: (
                f"{fmt(get(r, 'issue', 'waiting_before'))} -> "
                f"{fmt(get(r, 'issue', 'waiting_after'))}"
            ),
        ),
        ("issue 20% elderly (req/s)", lambda r: fmt(get(r, "issue_elderly", "rps"))),
        (
            "  p50 / p99 (ms)",
            lambda r: (
                f"{fmt(get(r, 'issue_elderly', 'p50_ms'))} / "
                f"{fmt(get(r, 'issue_elderly', 'p99_ms'))}"
            ),
        ),
        (
            "  waiting before->after",
            lambda r: (
                f"{fmt(get(r, 'issue_elderly', 'waiting_before'))} -> "
                f"{fmt(get(r, 'issue_elderly', 'waiting_after'))}"
            ),
        ),
        (
            "call-next p50 / p99 / max (ms)",
            lambda r: " / ".join(
                fmt(get(r, "call_next", k)) for k in ("p50_ms", "p99_ms", "max_ms")
            ),
        ),
        ("calls/s (8 counters)", lambda r: fmt(get(r, "call_next", "calls_per_s"))),
        (
            "  tickets waiting->done /s (requests each)",
            lambda r: f"{fmt(get(r, 'call_next', 'finished_per_s'))} "
            f"({fmt(get(r, 'call_next', 'requests_per_ticket'))})",
        ),
        (
            "  server CPU ms per call+start+finish",
            lambda r: fmt(get(r, "call_next", "server_cpu_ms_per_call")),
        ),
        ("call-next 204 (nobody waiting)", lambda r: fmt(get(r, "call_next", "empty_204"))),
        (
            "call waiting before->after",
            lambda r: (
                f"{fmt(get(r, 'call_next', 'waiting_before'))} -> "
                f"{fmt(get(r, 'call_next', 'waiting_after'))}"
            ),
        ),
        (
            "start / finish p50 (ms)",
            lambda r: (
                f"{fmt(get(r, 'call_next', 'start_p50_ms'))} / "
                f"{fmt(get(r, 'call_next', 'finish_p50_ms'))}"
            ),
        ),
        ("server log warnings", lambda r: fmt(sum(r.get("server_warnings", {}).values()))),
        ("errors", lambda r: fmt(r.get("errors"))),
    ]
    labels = list(results)
    cells = [[fn(results[lb]) for lb in labels] for _, fn in rows]
    w0 = max(len(name) for name, _ in rows)
    widths = [max(len(lb), *(len(c[j]) for c in cells)) for j, lb in enumerate(labels)]
    load = ", ".join(
        f"{lb} {r['loadavg_before'][0]:.1f}->{r['loadavg_after'][0]:.1f}"
        for lb, r in results.items()
    )
    out = [
        f"Motcua API benchmark: {opts.seconds:g} s per measurement after {opts.warmup:g} s "
        f"warm-up, {opts.clients} client threads (call-next: {len(COUNTERS)}), keep-alive, "
        f"{HOST}, {os.cpu_count()} CPUs shared by client, server and database",
        f"1-min load average before->after: {load}",
        "",
        " | ".join([" " * w0, *(lb.rjust(w) for lb, w in zip(labels, widths, strict=True))]),
        "-+-".join(["-" * w0, *("-" * w for w in widths)]),
    ]
    for (name, _), row in zip(rows, cells, strict=True):
        out.append(
            " | ".join([name.ljust(w0), *(c.rjust(w) for c, w in zip(row, widths, strict=True))])
        )
    return "\n".join(out)


# --- main ----------------------------------------------------------------------------------


def _sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=10.0, help="per measurement (default 10)")
    ap.add_argument("--warmup", type=float, default=1.0, help="before each measurement")
    ap.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    ap.add_argument(
        "--preissue",
        type=int,
        default=1500,
        help="waiting tickets ensured before call-next (default 1500)",
    )
    ap.add_argument(
        "--pg-nodes",
        type=int,
        default=2,
        help="also run PostgreSQL with this many server processes sharing the "
        "database, client threads spread over them (default 2; 0: skip)",
    )
    ap.add_argument("--deep", type=int, default=2000,
                    help="waiting tickets for the second one-client issue run (default 2000)")
    ap.add_argument("--sequential", type=int, default=300,
                    help="at most this many requests (warm-up included) in each one-client "
                    "issue run, so the line barely grows during it (default 300)")
    ap.add_argument("--json", action="store_true", help="also print one JSON object")
    ap.add_argument(
        "--motcua",
        default=None,
        help="the `motcua` command to benchmark (default: this checkout's); another "
        "checkout's gives before/after figures under the same conditions",
    )
    ap.add_argument(
        "--baseline",
        default=None,
        help="another checkout's `motcua` (the tree before a change) measured in the same "
        "run, each backend right before this one's: its figures in the columns marked "
        "'before'",
    )
    ap.add_argument("--call-starts-service", choices=["on", "off"], default="on",
                    help="the demo site's setting where the schema has it (default on: "
                    "call-next -> finish; off: call-next -> start -> finish)")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0:
        ap.error("--clients and --seconds must be positive")
    opts = Options(args.seconds, args.warmup, args.clients, args.preissue, motcua=args.motcua,
                   deep=args.deep, sequential=args.sequential,
                   call_starts_service=args.call_starts_service == "on")

    plan: list[tuple[str, str, int, bool]] = []  # label, backend, nodes, elderly trial
    if args.backend in ("sqlite", "both"):
        plan.append(("sqlite", "sqlite", 1, True))
    if args.backend in ("postgres", "both"):
        plan.append(("postgres", "postgres", 1, True))
        if args.pg_nodes > 1:
            plan.append((f"postgres x{args.pg_nodes}", "postgres", args.pg_nodes, False))
    trees: list[tuple[str, str | None]] = [("", args.motcua)]
    if args.baseline:
        trees.insert(0, ("before: ", args.baseline))

    signal.signal(signal.SIGTERM, _sigterm)
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    t0 = time.monotonic()
    try:
        for base_label, backend, nodes, elderly in plan:
            for prefix, motcua in trees:  # before and after side by side, one backend at once
                label = prefix + base_label
                opts.elderly_trial = elderly
                opts.motcua = motcua
                try:
                    results[label] = bench_backend(label, backend, nodes, opts)
                except (RuntimeError, OSError) as exc:
                    failures.append(f"[{label}] {exc}")
                    log(f"{label}: FAILED: {exc}")
    except (KeyboardInterrupt, Aborted):
        STOP.set()
        log("interrupted: server stopped, temporary directory and database removed")
        return 130
    elapsed = time.monotonic() - t0

    if results:
        print(table(results, opts))
        for label, r in results.items():
            for msg, n in r.get("server_warnings", {}).items():
                print(f"  [{label}] server warning x{n}: {msg}")
    errors = [e for r in results.values() for e in r["error_samples"]]
    total_errors = sum(r["errors"] for r in results.values())
    if total_errors or failures:
        print(f"\nFAILED: {total_errors} unexpected error(s), {len(failures)} backend failure(s)")
        for label, r in results.items():
            for kind, n in r.get("error_kinds", {}).items():
                print(f"  [{label}] {n} x {kind}")
        print("First errors:" if errors else "", end="\n" if errors else "")
        for e in failures + errors:
            print(f"  {e}")
    print(f"\n(total {elapsed:.0f} s)")
    if args.json:
        print(
            json.dumps(
                {
                    "seconds": opts.seconds,
                    "warmup": opts.warmup,
                    "clients": opts.clients,
                    "ratio_target": RATIO_TARGET,
                    "cpus": os.cpu_count(),
                    "elapsed_s": round(elapsed, 1),
                    "failures": failures,
                    "results": results,
                },
                ensure_ascii=False,
            )
        )
    return 1 if total_errors or failures else 0


if __name__ == "__main__":
    sys.exit(main())
