"""A fault-injection drill: two app nodes behind the shipped nginx site, a steady workload, and
one fault after another, with what each fault cost the people in the hall.

    .venv/bin/python -m tests.bench.drill_faults [--faults redis,postgres,...] [--seconds 30]

What runs, all on loopback and all private to the drill: a PostgreSQL (initdb in a temporary
folder, its own port) and a redis-server on their own ports, two app nodes started the production
way (``motcua run``: gunicorn with the settings of ``deploy/gunicorn.conf.py``, gevent, drain on
SIGTERM) with ``MOTCUA_DATABASE_URL``/``MOTCUA_REDIS_URL`` pointing at them, and nginx with the
shipped site (``tests/nginxconf.for_loopback``) in front. The workload goes through nginx:

- 2 kiosks issue tickets (kiosk-1 from 127.0.0.1, kiosk-2 from a loopback address nginx's hash
  sends to the other node), each with an Idempotency-Key kept for up to 60 s of retries on no
  answer, 502, 503 and 504 (Retry-After honoured, at most 5 s), as ``kiosk.js`` does;
- 4 counters call, start and finish, retrying only a 503 for up to 60 s (as ``station.js``:
  after no answer the call may have been made) and reloading their counter otherwise;
- 6 lobby displays (``tests.support.SeqClient``: snapshot + seq): 3 on websockets from
  127.0.0.1, 3 on long-polling from an address of the other node.

The faults (``--faults``, in this order by default), each given ``--seconds`` of observation
(default 30; the outages last 20 s for Redis, 15 s for PostgreSQL and 10 s for the table lock,
or two thirds of ``--seconds`` if that is less):

``redis``      Redis stopped, then started again;
``postgres``   PostgreSQL stopped (immediate), then started;
``kill``       the node of 127.0.0.1 SIGKILLed (a power cut), started again after the systemd
               unit's RestartSec (2 s);
``drain``      the other node stopped with SIGTERM (graceful drain), then started again;
``terminate``  every backend of the app's connections killed (``pg_terminate_backend``) in
               five bursts;
``printer``    kiosk-2's printer becomes a black hole (accepts TCP, never reads);
``lock``       ``tickets`` (or ``--lock-table counters``) locked (ACCESS EXCLUSIVE) by an
               open transaction.

For each fault a table: acknowledged tickets lost (every 2xx the kiosks got must exist with its
number afterwards), duplicate numbers (same service, business day, number), double calls (a
ticket called by two counters or twice, in the database's events and as the counters saw it),
displays converged (each display's state, its snapshot with the events after it applied as
``display.js`` does, equals a fresh snapshot), client-visible errors by kind (500 must be 0),
time to healthy (from the end of the fault, for a kill from the kill and for a drain from the
restart, until both nodes' ``/readyz`` say ready and a probe ticket is issued and called through
nginx, its call shown by a display on each node, with no manual action), tracebacks in the node
logs, and for the lock the ``/healthz`` figures of one node during it, for the printer what
became of every slip (printed once on a healthy printer, flagged as failed or retrying, or
neither). Exit status 1 when an invariant broke (a lost ticket, a duplicate, a double call, a
500, a display that did not converge, a node that did not heal, a traceback, a slip neither
printed nor flagged).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import BENCH_SERVER_ENV, BenchError, bench_main, log  # noqa: E402
from tests.fakeprinter import FakePrinter, parse_escpos  # noqa: E402
from tests.nginxconf import NginxProcess, for_loopback, nginx_binary, write_conf  # noqa: E402
from tests.support import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    SeqClient,
    ServerProcess,
    SourceAddress,
    demo,
    free_port,
    node_behind,
)

SITE = "HACTHANH"
KIOSK_SERVICES = ("land", "civil", "business")
WORK_COUNTERS = (1, 3, 5, 7)  # land+other, civil, business+other, civil+business
PROBE_COUNTER = 6  # set to call "construction" only: the heal probe's own line
PROBE_SERVICE = "construction"
RETRY_FOR_S = 60.0  # kiosk.js ISSUE_RETRY_MS, station.js retryForMs
REQUEST_TIMEOUT_S = 15.0  # motcua.js timeoutMs
HEAL_LIMIT_S = 120.0
CONVERGE_LIMIT_S = 15.0
RESTART_SEC = 2.0  # deploy/systemd/motcua@.service: Restart=on-failure, RestartSec=2
PROBE_WAIT_S = 3.0  # a healthy cluster shows a call on every display well within this
DISPLAYS_WS, DISPLAYS_POLL = 3, 3
FAULTS = ("redis", "postgres", "kill", "drain", "terminate", "printer", "lock")
ENDED = ("ticket.done", "ticket.no_show", "ticket.parked", "ticket.transferred",
         "ticket.unserved_at_close")


def error_kind(resp: requests.Response) -> str:
    """``503 database_unavailable``, ``502``, ``500 internal``...: what a client saw."""
    code = ""
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        code = str(resp.json()["error"]["code"])
    return f"{resp.status_code} {code}".strip()


def retry_wait(attempt: int, resp: requests.Response | None) -> float:
    """motcua.js: the Retry-After given (at most 5 s), else 0.5, 1, 2, 3, 3... s."""
    if resp is not None:
        with contextlib.suppress(KeyError, ValueError):
            after = float(resp.headers["Retry-After"])
            if after > 0:
                return min(after, 5.0)
    return float(min(0.5 * 2 ** (attempt - 1), 3.0))


@dataclass
class Ack:
    ticket_id: int
    number: str
    service: str
    kiosk: str
    phase: str
    replayed: bool


@dataclass
class Recorder:
    """What the clients saw, by phase (the fault under way, or ``baseline``)."""

    phase: str = "setup"
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: dict[str, Counter[str]] = field(default_factory=dict)
    acked: list[Ack] = field(default_factory=list)
    gave_up: Counter[str] = field(default_factory=Counter)
    called_by: dict[int, list[int]] = field(default_factory=dict)  # ticket id -> counters
    served: Counter[str] = field(default_factory=Counter)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors.setdefault(self.phase, Counter())[kind] += 1

    def ack(self, a: Ack) -> None:
        with self.lock:
            self.acked.append(a)

    def called(self, ticket_id: int, counter: int) -> None:
        with self.lock:
            self.called_by.setdefault(ticket_id, []).append(counter)

    def give_up(self) -> None:
        with self.lock:
            self.gave_up[self.phase] += 1

    def finished(self) -> None:
        with self.lock:
            self.served[self.phase] += 1


class Worker(threading.Thread):
    """A workload thread that the drill can pause between two actions (``Drill.pause``)."""

    def __init__(self, drill: Drill, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.drill = drill
        self.idle = threading.Event()

    def step(self) -> bool:
        """Wait while paused; False once the drill stops."""
        if not self.drill.running.is_set():
            self.idle.set()
            while not self.drill.running.wait(0.2):
                if self.drill.stopping.is_set():
                    return False
            self.idle.clear()
        return not self.drill.stopping.is_set()

    def run(self) -> None:
        try:
            while self.step():
                self.once()
        except Exception as exc:  # a drill bug must show, not end a thread silently
            log(f"  worker {self.name} crashed: {exc!r}")
            self.drill.rec.error(f"drill worker crashed {type(exc).__name__}")
        finally:
            self.idle.set()

    def once(self) -> None:
        raise NotImplementedError


class Kiosk(Worker):
    def __init__(self, drill: Drill, name: str, token: str, http: requests.Session) -> None:
        super().__init__(drill, name)
        self.token, self.http = token, http
        self.n = 0

    def once(self) -> None:
        service = KIOSK_SERVICES[self.n % len(KIOSK_SERVICES)]
        self.n += 1
        ack = self.drill.issue(self.http, self.token, service, self.name)
        if ack is not None:
            self.drill.rec.ack(ack)
        time.sleep(0.4)  # a citizen at the screen


class Station(Worker):
    """A counter station: call next, start, finish; like station.js, only a 503 is retried
    (nothing was done); after no answer or any other failure it reloads its counter."""

    def __init__(self, drill: Drill, counter_id: int, token: str, http: requests.Session) -> None:
        super().__init__(drill, f"counter-{counter_id}")
        self.counter_id, self.token, self.http = counter_id, token, http
        self.current: dict[str, Any] | None = None
        self.loaded = False

    def act(self, path: str) -> requests.Response | None:
        until = time.monotonic() + RETRY_FOR_S
        attempt = 0
        rec = self.drill.rec
        while True:
            attempt += 1
            try:
                r = self.http.post(f"{self.drill.base}/api/v1{path}", json={},
                                   headers={"Authorization": f"Bearer {self.token}"},
                                   timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as exc:
                rec.error(f"connection {type(exc).__name__}")
                return None
            if r.status_code < 400:
                return r
            rec.error(error_kind(r))
            if r.status_code != 503:
                return None if r.status_code >= 500 else r
            wait = retry_wait(attempt, r)
            if self.drill.stopping.is_set():
                return None
            if time.monotonic() + wait > until:
                rec.give_up()
                return None
            time.sleep(wait)

    def reload(self) -> None:
        """The station's snapshot, as after a reconnect: the ticket at this counter."""
        attempt = 0
        while not self.drill.stopping.is_set():
            attempt += 1
            try:
                r = self.http.get(f"{self.drill.base}/api/v1/sites/{SITE}/counters",
                                  headers={"Authorization": f"Bearer {self.token}"},
                                  timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as exc:
                self.drill.rec.error(f"connection {type(exc).__name__}")
                r = None
            if r is not None and r.status_code == 200:
                row = next(c for c in r.json() if c["id"] == self.counter_id)
                self.current = row["current_ticket"]
                self.loaded = True
                return
            if r is not None:
                self.drill.rec.error(error_kind(r))
            time.sleep(retry_wait(attempt, r))

    def once(self) -> None:
        if not self.loaded:
            self.reload()
            return
        cur = self.current
        if cur is None:
            r = self.act(f"/counters/{self.counter_id}/call-next")
            if r is None or r.status_code >= 400:
                self.loaded = False
            elif r.status_code == 204:
                time.sleep(0.3)  # nobody waiting for this counter
            else:
                t = r.json()["ticket"]
                self.drill.rec.called(t["id"], self.counter_id)
                self.current = {"id": t["id"], "number": t["number"], "status": t["status"]}
        else:
            action = "start" if cur["status"] == "called" else "finish"
            r = self.act(f"/tickets/{cur['id']}/{action}")
            if r is None or r.status_code >= 400:
                self.loaded = False
            elif action == "start":
                cur["status"] = "serving"
            else:
                self.drill.rec.finished()
                self.current = None
        time.sleep(0.15)  # the clerk's hand


def display_view(snapshot: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What a lobby display shows: its snapshot with the later events applied as display.js
    applies them (now serving by ticket, waiting per service)."""
    serving = {r["ticket_id"]: (r["number"], r["status"], r["counter"])
               for r in snapshot["now_serving"]}
    waiting = {s["code"]: s["waiting"] for s in snapshot["services"]}
    seq = snapshot["seq"]
    for e in events:
        if e["seq"] <= snapshot["seq"]:
            continue
        seq = max(seq, e["seq"])
        t, d = e["type"], e["data"]
        if t in ("ticket.called", "ticket.recalled"):
            serving[d["ticket_id"]] = (d["number"], "called", d["counter"])
        elif t == "ticket.serving":
            serving[d["ticket_id"]] = (d["number"], "serving", d["counter"])
        elif t in ENDED:
            serving.pop(d["ticket_id"], None)
        elif t == "queue.stats" and d.get("service") in waiting:
            waiting[d["service"]] = d["waiting"]
    return {"seq": seq, "now_serving": sorted(serving.values()), "waiting": waiting}


def view_diff(got: dict[str, Any] | None, want: dict[str, Any]) -> str:
    """What a display shows that a fresh snapshot does not, and the other way round."""
    if got is None:
        return "; no snapshot"
    extra = sorted(set(map(tuple, got["now_serving"])) - set(map(tuple, want["now_serving"])))
    missing = sorted(set(map(tuple, want["now_serving"])) - set(map(tuple, got["now_serving"])))
    waiting = {k: (got["waiting"].get(k), v) for k, v in want["waiting"].items()
               if got["waiting"].get(k) != v}
    out = ""
    if extra or missing:
        out += f"; now serving: shows {extra}, not {missing}"
    if waiting:
        out += f"; waiting (shows, true): {waiting}"
    return out


def client_view(client: SeqClient) -> dict[str, Any] | None:
    with client.cond:
        if client.snapshot is None:
            return None
        return display_view(client.snapshot, list(client.events))


class BlackHolePrinter:
    """A printer that accepts TCP connections and never reads a byte (a jammed or hung
    printer on the network); a tiny receive buffer, so a ticket does not vanish into the
    kernel."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True, name="black-hole")
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop_flag.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.held.append(conn)  # kept open, never read

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@dataclass
class FaultResult:
    name: str
    outage_s: float
    acked: int = 0
    served: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: int = 0
    double_calls_db: int = 0
    double_calls_seen: int = 0
    converged: int = 0
    displays: int = 0
    converge_s: float | None = None
    not_converged: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0
    healthy_s: float | None = None
    tracebacks: int = 0  # in the nodes' logs during the fault
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors_500(self) -> int:
        return sum(n for k, n in self.errors.items() if k.startswith("500"))

    @property
    def unflagged_slips(self) -> int:
        return sum(n for k, n in self.extra.items() if k.startswith("UNFLAGGED"))

    @property
    def ok(self) -> bool:
        return (not self.lost and self.duplicates == 0 and self.double_calls_db == 0
                and self.double_calls_seen == 0 and self.errors_500 == 0
                and self.converged == self.displays and self.healthy_s is not None
                and self.tracebacks == 0 and self.unflagged_slips == 0
                and not self.extra.get("broken"))


class Drill:
    """The cluster, the workload and the faults. ``with Drill(...) as d: d.run_fault(...)``."""

    def __init__(self, seconds: float = 30.0, workdir: Path | None = None,
                 lock_table: str = "tickets") -> None:
        self.seconds = seconds
        self.lock_table = lock_table
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="motcua-drill-"))
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis()
        self.nodes: dict[str, ServerProcess] = {}
        self.proxy: NginxProcess | None = None
        self.printers: dict[str, FakePrinter] = {}
        self.rec = Recorder()
        self.running = threading.Event()
        self.stopping = threading.Event()
        self.workers: list[Worker] = []
        self.displays: list[SeqClient] = []
        self.creds: dict[str, Any] = {}
        self.base = ""
        self.home = self.away = ""  # node names: of 127.0.0.1, and of the other address
        self.away_addr = ""
        self.engine: Any = None
        self.seen_double: set[int] = set()
        self.seen_dup_db = 0
        self.seen_double_db = 0
        self.checked_acks = 0
        self.results: list[FaultResult] = []
        self.after_heal: Callable[[], None] | None = None  # a fault's figures taken once healed

    # --- the cluster ------------------------------------------------------------------------

    def __enter__(self) -> Drill:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if nginx_binary() is None:
            raise BenchError("nginx is not installed (apt-get install nginx-light)")
        log(f"drill folder {self.workdir}")
        self.pg.init()
        self.redis.start()
        self.engine = create_engine(self.pg.url, poolclass=NullPool)
        self.creds = demo(self.pg.url, env=dict(BENCH_SERVER_ENV))
        sup = next(line.split()[2] for line in self.creds["output"].splitlines()
                   if line.split()[:2] == ["giamsat.hacthanh", "supervisor"]
                   and len(line.split()) == 3 and line.split()[2].startswith("sup_"))
        self.creds["supervisor"] = sup
        for kiosk in ("kiosk-1", "kiosk-2"):
            self.printers[kiosk] = FakePrinter().start()
            self.set_printer(kiosk, self.printers[kiosk].uri)
        env = {
            **BENCH_SERVER_ENV,
            "MOTCUA_DATABASE_URL": self.pg.url,
            "MOTCUA_REDIS_URL": self.redis.url,
            "MOTCUA_REDIS_CHANNEL": f"motcua-drill-{uuid.uuid4().hex[:8]}",
        }
        for name in ("node-a", "node-b"):
            self.nodes[name] = ServerProcess(self.workdir, {**env, "MOTCUA_NODE_NAME": name})
        for node in self.nodes.values():
            node.start(timeout=60)
        port = free_port()
        conf = write_conf(self.workdir / "nginx",
                          for_loopback(port, [n.port for n in self.nodes.values()]))
        self.proxy = NginxProcess(conf, port).start()
        self.base = self.proxy.url
        self.home = node_behind(port, "127.0.0.1")
        self.away_addr = next(a for a in (f"127.0.0.{i}" for i in range(2, 200))
                              if node_behind(port, a) != self.home)
        self.away = node_behind(port, self.away_addr)
        log(f"nginx {self.base}: 127.0.0.1 -> {self.home}, {self.away_addr} -> {self.away}")
        r = requests.put(f"{self.base}/api/v1/counters/{PROBE_COUNTER}/profile", timeout=10,
                         headers={"Authorization": f"Bearer {sup}"},
                         json={"services": [{"code": PROBE_SERVICE, "weight": 1}]})
        if r.status_code != 200:
            raise BenchError(f"probe counter profile: {r.status_code} {r.text[:300]}")
        self.start_workload()

    def session(self, away: bool) -> requests.Session:
        http = requests.Session()
        if away:
            http.mount("http://", SourceAddress(self.away_addr))
        return http

    def set_printer(self, kiosk: str, uri: str) -> None:
        """``motcua printer set``, as an operator would run it."""
        subprocess.run(
            [sys.executable, "-m", "server.cli", "printer", "set", "--site", SITE,
             "--device", kiosk, "--uri", uri],
            cwd=ROOT, check=True, capture_output=True, timeout=60,
            env={**os.environ, **BENCH_SERVER_ENV,
                 "MOTCUA_DATABASE_URL": self.pg.url},
        )

    def start_workload(self) -> None:
        kiosk_tokens = self.kiosk_tokens()
        for i, (name, token) in enumerate(kiosk_tokens.items()):
            self.workers.append(Kiosk(self, name, token, self.session(away=i == 1)))
        clerks = self.creds["clerks"]
        for i, number in enumerate(WORK_COUNTERS):
            token, counter_id = clerks[number]
            self.workers.append(Station(self, counter_id, token, self.session(away=i % 2 == 1)))
        auth = {"token": self.creds["display"]}
        for _ in range(DISPLAYS_WS):
            self.displays.append(SeqClient(self.base, "/display", auth).connect())
        for _ in range(DISPLAYS_POLL):
            self.displays.append(SeqClient(self.base, "/display", auth, transports=["polling"],
                                           http_session=self.session(away=True)).connect())
        self.rec.phase = "baseline"
        self.running.set()
        for w in self.workers:
            w.start()

    def kiosk_tokens(self) -> dict[str, str]:
        out = self.creds["output"]
        tokens: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("kiosk-1", "kiosk-2") and parts[1] == "kiosk":
                tokens[parts[0]] = parts[2]
        return tokens

    def close(self) -> None:
        self.stopping.set()
        self.running.set()
        for w in self.workers:
            w.join(RETRY_FOR_S + 20)
        for c in self.displays:
            c.close()
        if self.proxy is not None:
            self.proxy.stop()
        for node in self.nodes.values():
            node.stop()
        for p in self.printers.values():
            p.down()
        self.redis.stop()
        if self.engine is not None:
            self.engine.dispose()
        self.pg.remove()

    def pause(self, timeout: float = RETRY_FOR_S + 20) -> None:
        self.running.clear()
        deadline = time.monotonic() + timeout
        for w in self.workers:
            if not w.idle.wait(max(0.0, deadline - time.monotonic())):
                raise BenchError(f"{w.name} did not pause in {timeout:.0f} s")

    def resume(self) -> None:
        self.running.set()

    # --- client actions ---------------------------------------------------------------------

    def issue(self, http: requests.Session, token: str, service: str, kiosk: str,
              record: bool = True) -> Ack | None:
        """One ticket as the kiosk takes it: one Idempotency-Key, retried for up to 60 s."""
        key = uuid.uuid4().hex
        until = time.monotonic() + RETRY_FOR_S
        attempt = 0
        while True:
            attempt += 1
            resp = None
            try:
                resp = http.post(f"{self.base}/api/v1/sites/{SITE}/tickets",
                                 json={"service": service}, timeout=REQUEST_TIMEOUT_S,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Idempotency-Key": key})
            except requests.RequestException as exc:
                if record:
                    self.rec.error(f"connection {type(exc).__name__}")
            else:
                if resp.status_code == 201:
                    t = resp.json()
                    return Ack(t["id"], t["number"], t["service"], kiosk, self.rec.phase,
                               resp.headers.get("Idempotent-Replayed") == "true")
                if record:
                    self.rec.error(error_kind(resp))
                if resp.status_code not in (502, 503, 504):
                    return None
            wait = retry_wait(attempt, resp)
            if not record or self.stopping.is_set():
                return None
            if time.monotonic() + wait > until:
                self.rec.give_up()
                return None
            time.sleep(wait)

    # --- measuring --------------------------------------------------------------------------

    def ready(self, node: ServerProcess) -> bool:
        try:
            r = requests.get(f"{node.url}/readyz", timeout=2)
            return r.status_code == 200 and r.json().get("status") == "ready"
        except (requests.RequestException, ValueError):
            return False

    def probe(self) -> bool:
        """A ticket issued and called through nginx, the probe counter's own line."""
        http = requests.Session()
        try:
            ack = self.issue(http, self.kiosk_tokens()["kiosk-1"], PROBE_SERVICE, "probe",
                             record=False)
            if ack is None:
                return False
            self.rec.ack(ack)
            token, counter_id = self.creds["clerks"][PROBE_COUNTER]
            auth = {"Authorization": f"Bearer {token}"}
            r = http.post(f"{self.base}/api/v1/counters/{counter_id}/call-next", json={},
                          headers=auth, timeout=5)
            if r.status_code != 200:
                return False
            t = r.json()["ticket"]
            self.rec.called(t["id"], PROBE_COUNTER)
            # The call reaches a display on each node: events between the nodes flow again.
            watchers = [self.displays[0], self.displays[DISPLAYS_WS]]
            seen = all(self.knows_call(c, t["id"], PROBE_WAIT_S) for c in watchers)
            for action in ("start", "finish"):  # leave the probe counter free
                http.post(f"{self.base}/api/v1/tickets/{t['id']}/{action}", json={},
                          headers=auth, timeout=5)
            return seen
        except requests.RequestException:
            return False
        finally:
            http.close()

    @staticmethod
    def knows_call(client: SeqClient, ticket_id: int, timeout: float) -> bool:
        def known() -> bool:
            if any(e["type"] == "ticket.called" and e["data"].get("ticket_id") == ticket_id
                   for e in client.events[-200:]):
                return True
            snap = client.snapshot or {}
            return any(row.get("ticket_id") == ticket_id for row in snap.get("now_serving", []))

        with client.cond:
            return client.cond.wait_for(known, timeout=timeout)

    def time_to_healthy(self, since: float) -> float | None:
        while time.monotonic() - since < HEAL_LIMIT_S:
            if all(self.ready(n) for n in self.nodes.values()) and self.probe():
                return time.monotonic() - since
            time.sleep(0.25)
        return None

    def fresh_view(self) -> dict[str, Any]:
        fresh = SeqClient(self.base, "/display", {"token": self.creds["display"]},
                          reconnection=False)
        try:
            fresh.connect()
            view = client_view(fresh)
            assert view is not None
            return view
        finally:
            fresh.close()

    def check_displays(self, res: FaultResult) -> None:
        """Workload paused, the events settled: every display must show what a fresh
        snapshot shows."""
        time.sleep(SeqClient.REORDER_S + 1.0)
        want = self.fresh_view()
        t0 = time.monotonic()
        pending = set(range(len(self.displays)))
        while pending and time.monotonic() - t0 < CONVERGE_LIMIT_S:
            for i in list(pending):
                if client_view(self.displays[i]) == want:
                    pending.discard(i)
            if pending:
                time.sleep(0.1)
        res.displays = len(self.displays)
        res.converged = res.displays - len(pending)
        res.converge_s = time.monotonic() - t0
        for i in sorted(pending):
            c = self.displays[i]
            got = client_view(c)
            res.not_converged.append(
                f"display {i + 1} ({c.transports[0]}, connected={c.sio.connected}): seq "
                f"{got and got['seq']} vs {want['seq']}, snapshots={c.snapshots} gaps={c.gaps}"
                f"{view_diff(got, want)}")

    def check_data(self, res: FaultResult) -> None:
        with self.rec.lock:
            acks = list(self.rec.acked)
            called_by = {k: list(v) for k, v in self.rec.called_by.items()}
        new = acks[self.checked_acks:]
        self.checked_acks = len(acks)
        res.acked = len(new)
        with self.engine.connect() as conn:
            rows = {r[0]: (r[1], r[2]) for r in conn.execute(text(
                "SELECT t.id, t.label, s.code FROM tickets t JOIN services s "
                "ON s.id = t.service_id WHERE t.id = ANY(:ids)"),
                {"ids": [a.ticket_id for a in new]})}
            dup = conn.execute(text(
                "SELECT count(*) FROM (SELECT 1 FROM tickets WHERE number IS NOT NULL "
                "GROUP BY service_id, business_day, number HAVING count(*) > 1) d")).scalar_one()
            double = conn.execute(text(
                "SELECT count(*) FROM (SELECT ticket_id FROM ticket_events "
                "WHERE type = 'ticket.called' AND from_status = 'waiting' "
                "GROUP BY ticket_id HAVING count(*) > 1) d")).scalar_one()
        for a in new:
            if rows.get(a.ticket_id) != (a.number, a.service):
                res.lost.append(f"{a.number} (id {a.ticket_id}, {a.kiosk})")
        # The same number acknowledged for two tickets: what the kiosks printed.
        by_number: dict[tuple[str, str], set[int]] = {}
        for a in acks:
            by_number.setdefault((a.service, a.number), set()).add(a.ticket_id)
        res.duplicates = (int(dup) - self.seen_dup_db) + sum(
            1 for ids in by_number.values() if len(ids) > 1)
        self.seen_dup_db = int(dup)
        res.double_calls_db = int(double) - self.seen_double_db
        self.seen_double_db = int(double)
        seen = {t for t, cs in called_by.items() if len(cs) > 1} - self.seen_double
        res.double_calls_seen = len(seen)
        self.seen_double |= seen

    # --- the faults -------------------------------------------------------------------------

    def outage(self, default_s: float) -> float:
        return min(default_s, self.seconds * 2 / 3)

    def run_fault(self, name: str) -> FaultResult:
        fault: Callable[[FaultResult], float] = getattr(self, f"fault_{name}")
        res = FaultResult(name, 0.0)
        log(f"fault {name}")
        self.rec.phase = name
        served0 = self.rec.served[name]
        t0 = time.monotonic()
        logs0 = self.node_log_problems()
        self.after_heal = None
        fault_end = fault(res)
        res.healthy_s = self.time_to_healthy(fault_end)
        log(f"  healthy after {res.healthy_s}")
        if self.after_heal is not None:
            self.after_heal()
        # The rest of the fault's window, and at least 3 s of traffic after healing, so that
        # a display that missed events sees the gap in the next ones (as in a real hall).
        time.sleep(max(3.0, self.seconds - (time.monotonic() - t0)))
        self.pause()
        self.check_displays(res)
        self.check_data(res)
        logs1 = self.node_log_problems()
        res.tracebacks = sum(logs1[n] - logs0.get(n, 0) for n in logs1)
        with self.rec.lock:
            res.errors = Counter(self.rec.errors.get(name, Counter()))
            res.gave_up = self.rec.gave_up[name]
            res.served = self.rec.served[name] - served0
        self.rec.phase = f"after {name}"
        self.resume()
        self.results.append(res)
        return res

    def node(self, name: str) -> ServerProcess:
        return self.nodes[name]

    def fault_redis(self, res: FaultResult) -> float:
        res.outage_s = self.outage(20)
        self.redis.stop()
        time.sleep(res.outage_s)
        self.redis.start_again()
        return time.monotonic()

    def fault_postgres(self, res: FaultResult) -> float:
        res.outage_s = self.outage(15)
        self.pg.stop()
        time.sleep(res.outage_s)
        self.pg.start()
        return time.monotonic()

    def fault_kill(self, res: FaultResult) -> float:
        """SIGKILL to the node's process group; started again after the systemd unit's
        RestartSec. Time to healthy counts from the kill: the restart is no manual action."""
        node = self.node(self.home)
        res.extra["node"] = self.home
        t0 = time.monotonic()
        node.kill()
        time.sleep(RESTART_SEC)
        node.start(timeout=60)
        res.extra["node up again after s"] = round(time.monotonic() - t0, 1)
        res.outage_s = time.monotonic() - t0
        return t0

    def fault_drain(self, res: FaultResult) -> float:
        """SIGTERM (systemctl stop, an upgrade): the node drains and exits; started again.
        Time to healthy counts from the restart, the operator's action."""
        node = self.node(self.away)
        res.extra["node"] = self.away
        t0 = time.monotonic()
        code = node.stop()
        res.extra["stopped in s"] = round(time.monotonic() - t0, 2)
        res.extra["exit code"] = code
        res.extra["drained logged"] = "drained" in node.output()
        if code != 0:
            res.extra["broken"] = f"exit code {code}"
        time.sleep(RESTART_SEC)
        restart = time.monotonic()
        node.start(timeout=60)
        res.extra["node up again after s"] = round(time.monotonic() - restart, 1)
        res.outage_s = time.monotonic() - t0
        return restart

    def terminate_backends(self) -> int:
        admin = create_engine(self.pg.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                return int(conn.execute(text(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                    "pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid() AND datname = current_database()) k"
                )).scalar_one())
        finally:
            admin.dispose()

    def fault_terminate(self, res: FaultResult, bursts: int = 5) -> float:
        gap = max(0.5, self.outage(12) / bursts)
        killed = []
        t0 = time.monotonic()
        for _ in range(bursts):
            killed.append(self.terminate_backends())
            time.sleep(gap)
        res.extra["backends terminated per burst"] = killed
        res.outage_s = time.monotonic() - t0
        return time.monotonic()

    def fault_printer(self, res: FaultResult) -> float:
        res.outage_s = self.outage(20)
        hole = BlackHolePrinter()
        since_ack = len(self.rec.acked)
        self.set_printer("kiosk-2", hole.uri)
        t0 = time.monotonic()
        time.sleep(res.outage_s)
        res.extra["printer states on the dashboard (end of the black hole)"] = (
            self.printer_states())
        self.set_printer("kiosk-2", self.printers["kiosk-2"].uri)
        end = time.monotonic()
        res.extra["black hole for s"] = round(end - t0, 1)
        with self.rec.lock:
            acks = [a for a in self.rec.acked[since_ack:] if a.kiosk in self.printers]

        def fates() -> None:
            # Once healed, and after the spool had time for its retries against the hole.
            time.sleep(max(0.0, min(10.0, self.seconds / 3) - (time.monotonic() - end)))
            res.extra.update(self.slip_fates(acks, hole))
            hole.close()

        self.after_heal = fates
        return end

    def slip_fates(self, acks: list[Ack], hole: BlackHolePrinter) -> dict[str, Any]:
        """Every slip of the phase: printed once on a healthy printer, flagged (its print job
        failed, unknown — sent but never acknowledged — or retrying with an error), or neither
        (reported done while nothing printed)."""
        printed: Counter[str] = Counter()
        for printer in self.printers.values():
            for job in printer.jobs:
                out = parse_escpos(job)
                for a in acks:
                    if out.find(a.number) is not None:
                        printed[a.number] += 1
        with self.engine.connect() as conn:
            jobs = conn.execute(text(
                "SELECT ticket_id, uri, status, last_error FROM print_jobs "
                "WHERE ticket_id = ANY(:ids)"), {"ids": [a.ticket_id for a in acks]}).all()
        by_ticket: dict[int, list[Any]] = {}
        for j in jobs:
            by_ticket.setdefault(j[0], []).append(j)
        fates: Counter[str] = Counter()
        for a in acks:
            mine = by_ticket.get(a.ticket_id, [])
            if printed[a.number] == 1:
                fates["printed once"] += 1
            elif printed[a.number] > 1:
                fates["printed more than once"] += 1
            elif any(j[2] == "failed" for j in mine):
                fates["flagged failed"] += 1
            elif any(j[2] == "unknown" for j in mine):
                # Sent, never acknowledged: the kiosk and the supervisor are told, with a reprint.
                fates["flagged unknown (maybe printed; reprint offered)"] += 1
            elif any(j[2] in ("queued", "printing") and j[3] for j in mine):
                fates["flagged retrying (queued with an error)"] += 1
            elif any(j[2] in ("queued", "printing") for j in mine):
                fates["still queued, no error yet"] += 1
            elif any(j[2] == "done" and j[1] == hole.uri for j in mine):
                fates["UNFLAGGED: done on the black hole, never printed"] += 1
            else:
                fates["UNFLAGGED: no job or done without printing"] += 1
        return {"slips": len(acks), **dict(fates)}

    def printer_states(self) -> dict[str, Any]:
        """The kiosks' printer states as a supervisor sees them (the dashboard API)."""
        dash = requests.get(f"{self.base}/api/v1/sites/{SITE}/dashboard", timeout=10,
                            headers={"Authorization": f"Bearer {self.creds['supervisor']}"})
        if dash.status_code != 200:
            return {"dashboard": error_kind(dash)}
        return {p["name"]: f"{p['status']}" + (f" ({p['detail']})" if p.get("detail") else "")
                for p in dash.json().get("printers", []) if p.get("name")}

    def fault_lock(self, res: FaultResult) -> float:
        table = self.lock_table
        res.outage_s = self.outage(10)
        held, release = threading.Event(), threading.Event()

        def locker() -> None:
            with self.engine.begin() as conn:
                conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
                held.set()
                release.wait(res.outage_s)

        thread = threading.Thread(target=locker, daemon=True)
        thread.start()
        if not held.wait(10):
            raise BenchError("could not lock the table")
        node = self.node(self.home)
        times: list[float] = []
        failed = 0
        end = time.monotonic() + res.outage_s - 0.2
        with requests.Session() as http:
            while time.monotonic() < end:
                t0 = time.perf_counter()
                try:
                    ok = http.get(f"{node.url}/healthz", timeout=5).status_code == 200
                except requests.RequestException:
                    ok = False
                times.append((time.perf_counter() - t0) * 1000)
                failed += not ok
                time.sleep(0.01)
        release.set()
        thread.join(30)
        lock_end = time.monotonic()
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        res.extra.update({
            "table": table, "healthz node": self.home, "healthz n": len(times),
            "healthz failed": failed, "healthz p50 ms": round(statistics.median(times), 1),
            "healthz p99 ms": round(p99, 1), "healthz max ms": round(times[-1], 1),
            "healthz p99 <= 50 ms": p99 <= 50,
        })
        return lock_end

    def node_log_problems(self) -> dict[str, int]:
        """Log lines with a traceback, per node (a chained exception is one line)."""
        return {name: sum(1 for line in n.output().splitlines() if "Traceback" in line)
                for name, n in self.nodes.items()}


# --- printing the figures ---------------------------------------------------------------------


def kinds(errors: Counter[str]) -> str:
    return ", ".join(f"{k}: {n}" for k, n in sorted(errors.items(), key=lambda x: -x[1])) or "none"


def print_result(res: FaultResult) -> None:
    rows: list[tuple[str, Any]] = [
        ("outage (s)", f"{res.outage_s:.1f}"),
        ("tickets acknowledged (2xx to a kiosk or the probe)", res.acked),
        ("tickets served (finished)", res.served),
        ("acknowledged tickets lost", len(res.lost) if not res.lost else
         f"{len(res.lost)}: {', '.join(res.lost[:10])}"),
        ("duplicate numbers", res.duplicates),
        ("double calls (database events / as the counters saw it)",
         f"{res.double_calls_db} / {res.double_calls_seen}"),
        ("displays converged", f"{res.converged}/{res.displays}"
         + (f" (within {res.converge_s:.1f} s)" if res.converge_s is not None else "")),
        ("client-visible errors", kinds(res.errors)),
        ("  of which 500", res.errors_500),
        ("issues given up after 60 s of retries", res.gave_up),
        ("time to healthy (s)", "NOT HEALED" if res.healthy_s is None
         else f"{res.healthy_s:.1f}"),
        ("tracebacks in the node logs", res.tracebacks),
    ]
    rows += [(k, v) for k, v in res.extra.items()]
    rows += [("display not converged", line) for line in res.not_converged]
    width = max(len(k) for k, _ in rows)
    print(f"\n== fault: {res.name} ({'ok' if res.ok else 'INVARIANT BROKEN'}) ==")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def print_summary(results: list[FaultResult], baseline: FaultResult | None) -> None:
    print("\n== summary ==")
    head = (f"  {'fault':<10} {'acked':>6} {'lost':>5} {'dup':>4} {'double':>7} "
            f"{'displays':>9} {'500':>4} {'503':>5} {'conn':>5} {'other':>6} {'healthy s':>10}"
            f" {'tb':>3} {'unflagged slips':>16}")
    print(head)
    for r in ([baseline] if baseline else []) + results:
        e503 = sum(n for k, n in r.errors.items() if k.startswith("503"))
        conn = sum(n for k, n in r.errors.items() if k.startswith("connection"))
        other = sum(r.errors.values()) - e503 - conn - r.errors_500
        healthy = "-" if r.healthy_s is None else f"{r.healthy_s:.1f}"
        print(f"  {r.name:<10} {r.acked:>6} {len(r.lost):>5} {r.duplicates:>4} "
              f"{r.double_calls_db:>3}/{r.double_calls_seen:<3} "
              f"{r.converged:>4}/{r.displays:<4} {r.errors_500:>4} {e503:>5} {conn:>5} "
              f"{other:>6} {healthy:>10} {r.tracebacks:>3} {r.unflagged_slips:>16}")
    print("  (double: database events / as the counters saw it; 503/conn/other: client-visible"
          " errors by kind; tb: tracebacks in the node logs)")


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    log(f"{label} in {time.monotonic() - t0:.1f} s")


@bench_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"comma-separated, from {','.join(FAULTS)}")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="observation window of each fault (outages are shorter)")
    parser.add_argument("--baseline", type=float, default=10.0,
                        help="seconds of workload before the first fault")
    parser.add_argument("--lock-table", choices=("tickets", "counters"), default="tickets",
                        help="the table the lock fault locks")
    args = parser.parse_args(argv)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; choose from {','.join(FAULTS)}")
    if args.seconds < 5:
        parser.error("--seconds must be at least 5")
    t_start = time.monotonic()
    with timed("cluster started"):
        drill = Drill(args.seconds, lock_table=args.lock_table)
        drill.__enter__()
    try:
        time.sleep(args.baseline)
        drill.pause()
        baseline = FaultResult("baseline", 0.0, healthy_s=0.0)
        drill.check_displays(baseline)
        drill.check_data(baseline)
        baseline.errors = Counter(drill.rec.errors.get("baseline", Counter()))
        baseline.served = drill.rec.served["baseline"]
        baseline.tracebacks = sum(drill.node_log_problems().values())
        drill.resume()
        print_result(baseline)
        for name in faults:
            print_result(drill.run_fault(name))
            sys.stdout.flush()
        print_summary(drill.results, baseline)
        print(f"\n  node log tracebacks: {drill.node_log_problems()}")
        print(f"  drill took {time.monotonic() - t_start:.0f} s; node logs in {drill.workdir}")
    finally:
        drill.close()
    broken = [r.name for r in [baseline, *drill.results] if not r.ok]
    if broken:
        print(f"  INVARIANTS BROKEN in: {', '.join(broken)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
