"""Machinery shared by the benchmark scripts of tests/bench: asyncio Socket.IO clients that keep
``seq`` like the browser's realtime.js, the client processes that run them, /proc readings and
throwaway PostgreSQL databases.

Scripts import it as ``tests.bench.common`` (each puts the project root on ``sys.path``), so that
one class object exists per name (``BenchError`` above all) however a script was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, ParamSpec

P = ParamSpec("P")

HOST = "127.0.0.1"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REORDER_S = 1.0  # realtime.js REORDER_MS and tests/support.py SeqClient.REORDER_S


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def bench_main(main: Callable[P, int]) -> Callable[P, int]:
    """A benchmark script's ``main``: SIGTERM stops it as Ctrl-C does (the ``finally`` blocks
    stop its servers and client processes), a ``BenchError`` is logged and exits 1, an
    interruption exits 130."""

    @functools.wraps(main)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> int:
        signal.signal(signal.SIGTERM, _sigterm)
        try:
            return main(*args, **kwargs)
        except BenchError as err:
            log(f"FAILED: {err}")
            return 1
        except KeyboardInterrupt:
            log("interrupted")
            return 130

    return wrapped


# --- Socket.IO clients ----------------------------------------------------------------------


class SocketProbe:
    """One asyncio Socket.IO client of ``namespace`` that keeps ``seq`` as realtime.js does.

    A sparse audience (``/track``: the server sends it only the events that concern it) takes
    jumps as normal (counted in ``gaps``) and, like realtime.js, also delivers an event that was
    overtaken by a later one, once (counted in ``late``); only what the snapshot already held or
    a duplicate is dropped (``stale``). For any other audience an event at or below the last
    seen ``seq`` is dropped (``stale``), and the events past
    a gap are held for ``REORDER_S`` in case the missing one was only overtaken (concurrent
    commits reach Redis out of order): when it comes, the held ones are delivered in order and
    the gap counts in ``reordered``; when it does not, the gap counts in ``gaps`` and the client
    either resyncs (``resync=True``: emits ``resync`` and ignores events until the snapshot, as
    the browser does) or, against a server that cannot answer a resync (the bare floor server),
    delivers what it held and goes on.

    Subclasses act on ``delivered(msg, t)`` (each event in order; ``t`` is when the client could
    act on it: its arrival, or the arrival of the event that filled the gap) and
    ``took_snapshot(data, t)``.
    """

    def __init__(self, namespace: str, *, sparse: bool = False, resync: bool = False,
                 request_timeout: float = 10) -> None:
        import socketio

        self.namespace = namespace
        self.sparse, self.resync = sparse, resync
        self.sio = socketio.AsyncClient(reconnection=False, request_timeout=request_timeout)
        self.seq: int | None = None
        self.events = 0
        self.gaps = 0
        self.reordered = 0
        self.stale = 0
        self.late = 0
        self.snap_seq: int | None = None
        self.seen: set[int] = set()
        self.resyncs = 0
        self.resyncing = False
        self.held: dict[int, dict[str, Any]] = {}
        self.gap_timer: asyncio.TimerHandle | None = None
        self.pending: set[asyncio.Task[None]] = set()  # resync emits under way
        self.disconnected = False
        self.snapshot = asyncio.Event()
        self.sio.on("snapshot", self._on_snapshot, namespace=namespace)
        self.sio.on("event", self._on_event, namespace=namespace)
        self.sio.on("disconnect", self._on_disconnect, namespace=namespace)

    def delivered(self, msg: dict[str, Any], t: float) -> None:
        """One event, in ``seq`` order."""

    def took_snapshot(self, data: dict[str, Any], t: float) -> None:
        """A snapshot (on connect, or after a resync: ``self.resyncing`` is still True)."""

    def _drop_held(self) -> None:
        self.held.clear()
        if self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None

    async def _on_snapshot(self, data: Any) -> None:
        t = time.monotonic()
        self._drop_held()
        if isinstance(data, dict):
            self.seq = data.get("seq")
            self.snap_seq = self.seq
            self.seen.clear()
            self.took_snapshot(data, t)
        else:
            self.seq = None
        self.resyncing = False
        self.snapshot.set()

    def _deliver(self, msg: dict[str, Any], t: float) -> None:
        if isinstance(msg.get("seq"), int):
            self.seq = msg["seq"]
        self.events += 1
        self.delivered(msg, t)

    async def _on_event(self, msg: Any) -> None:
        t = time.monotonic()
        if self.resyncing or not isinstance(msg, dict):
            return
        seq = msg.get("seq")
        if self.sparse and isinstance(seq, int) and self.snap_seq is not None:
            if seq <= self.snap_seq or seq in self.seen:
                self.stale += 1
                return
            self.seen.add(seq)
            if seq < (self.seq or 0):
                self.late += 1
                self.events += 1
                self.delivered(msg, t)
                return
            if self.seq is not None and seq != self.seq + 1:
                self.gaps += 1
            self._deliver(msg, t)
            return
        if isinstance(seq, int) and self.seq is not None:
            if seq <= self.seq:
                self.stale += 1
                return
            if seq != self.seq + 1:
                if self.sparse:
                    self.gaps += 1
                else:
                    self.held.setdefault(seq, msg)
                    if self.gap_timer is None:
                        self.gap_timer = asyncio.get_running_loop().call_later(
                            REORDER_S, self._gap_expired)
                    return
        self._deliver(msg, t)
        self._play_held(t)
        if not self.held and self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None
            self.reordered += 1

    def _play_held(self, t: float) -> None:
        while self.seq is not None and self.seq + 1 in self.held:
            self._deliver(self.held.pop(self.seq + 1), t)

    def _gap_expired(self) -> None:
        self.gap_timer = None
        if not self.held:
            return
        self.gaps += 1
        if self.resync:
            self.held.clear()
            self.resyncs += 1
            self.resyncing = True
            task = asyncio.ensure_future(self._emit_resync())
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            return
        t = time.monotonic()  # no resync possible: what was held is shown now, in order
        while self.held:
            self.seq = min(self.held) - 1
            self._play_held(t)

    async def _emit_resync(self) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone meanwhile
            await self.sio.emit("resync", namespace=self.namespace)

    async def _on_disconnect(self, *_args: Any) -> None:
        self.disconnected = True
        self._drop_held()

    async def connect(self, url: str, auth: dict[str, Any], timeout: float) -> None:
        await asyncio.wait_for(
            self.sio.connect(url, namespaces=[self.namespace], auth=auth,
                             transports=["websocket"], wait_timeout=timeout),
            timeout + 1,
        )
        await asyncio.wait_for(self.snapshot.wait(), timeout)


async def connect_all(
    probes: list[Any],
    specs: list[Any],
    make: Callable[[Any], tuple[SocketProbe, str, dict[str, Any]]],
    batch: int,
    timeout: float,
    budget: float | None = None,
) -> dict[str, Any]:
    """Connect a probe per spec (``make(spec)`` -> probe, url, auth), ``batch`` at a time, each
    waiting for its snapshot; the connected ones are appended to ``probes``."""
    t0 = time.monotonic()
    errors: list[str] = []
    failed = 0
    for start in range(0, len(specs), batch):
        if budget is not None and time.monotonic() - t0 > budget:
            failed += len(specs) - start
            errors.append(f"connect budget of {budget:.0f} s used up")
            break
        chunk = [make(spec) for spec in specs[start:start + batch]]
        results = await asyncio.gather(
            *(probe.connect(url, auth, timeout) for probe, url, auth in chunk),
            return_exceptions=True,
        )
        for (probe, _url, _auth), result in zip(chunk, results, strict=True):
            if isinstance(result, BaseException):
                failed += 1
                if len(errors) < 5:
                    errors.append(f"{probe.namespace}: {type(result).__name__}: {result}"[:200])
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(probe.sio.disconnect(), 2)
            else:
                probes.append(probe)
    return {"connected": len(probes), "failed": failed, "errors": errors,
            "seconds": time.monotonic() - t0}


async def disconnect_all(probes: list[Any], timeout: float = 15) -> None:
    await asyncio.gather(*(asyncio.wait_for(p.sio.disconnect(), timeout) for p in probes),
                         return_exceptions=True)
    for probe in probes:  # a disconnect that timed out leaves its aiohttp session open
        http = getattr(probe.sio.eio, "http", None)
        if http is not None and not http.closed:
            with contextlib.suppress(Exception):
                await http.close()


# --- client processes -----------------------------------------------------------------------

ClientLoop = Callable[[Connection], Awaitable[None]]


def client_process(loop: ClientLoop, conn: Connection) -> None:
    """Entry point of a client process (spawned): ``loop`` answers the commands on ``conn``."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(loop(conn))
    conn.close()


class ClientPool:
    """``procs`` spawned processes, each running ``loop`` (a module-level coroutine function
    that answers ``(command, args)`` on its pipe); a command goes to all and waits for all."""

    def __init__(self, procs: int, loop: ClientLoop) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        self.closed = False
        for _ in range(procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_process, args=(loop, child), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def call(self, cmd: str, per_proc: list[Any], timeout: float) -> list[dict[str, Any]]:
        try:
            for conn, args in zip(self.conns, per_proc, strict=True):
                conn.send((cmd, args))
            deadline = time.monotonic() + timeout
            out = []
            for conn in self.conns:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    raise BenchError(f"client processes did not answer {cmd!r} in {timeout:.0f} s")
                out.append(conn.recv())
        except (EOFError, OSError) as err:
            raise BenchError(f"a client process died ({cmd!r}: {err!r})") from None
        return out

    def same(self, cmd: str, args: tuple[Any, ...], timeout: float) -> list[dict[str, Any]]:
        return self.call(cmd, [args] * len(self.conns), timeout)

    def close(self) -> list[dict[str, Any]] | None:
        """``close`` to every process (the answers, None if they failed), then stop them."""
        if self.closed:
            return None
        self.closed = True
        replies = None
        try:
            replies = self.same("close", (), 60)
        except BenchError as err:
            log(f"  closing the clients: {err}")
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in self.conns:
            conn.close()
        return replies


# --- /proc and PostgreSQL -------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat from the 3rd (state) on; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


@contextlib.contextmanager
def pg_database(prefix: str = "motcua_bench", admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL database ``<prefix>_<random>`` (its name), always dropped;
    ``admin_url``: the server's maintenance database (libpq URL)."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Set on every benchmark server: benchmarks drive kiosks and counters far faster than people
#: do, so the request-rate limits (docs/security.md) would turn them into 429s; the fake
#: printers listen on loopback, which a printer URI may name only when the network is listed.
BENCH_SERVER_ENV = {"MOTCUA_RATE_LIMITS": "0", "MOTCUA_PRINTER_NETWORKS": "127.0.0.0/8,::1/128"}
