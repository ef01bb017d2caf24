"""Test helpers: real server processes and a Socket.IO client that speaks the seq protocol."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import socketio
from requests.adapters import HTTPAdapter
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, proc: subprocess.Popen[str] | None = None, timeout: float = 30,
                  log: Path | None = None) -> None:
    """Poll ``/api/v1/ping`` until the server answers (or its process exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-3000:] if log else ''}")
        try:
            if requests.get(f"{base}/api/v1/ping", timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"server did not start: {log.read_text()[-3000:] if log else ''}")


@contextlib.contextmanager
def statements_sent(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends inside the ``with`` block, in order."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def demo(db_url: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``motcua demo`` on ``db_url`` (with ``env`` besides); its kiosk, display and clerk tokens
    (clerks by counter number: (token, counter id)) and its whole ``output``."""
    from click.testing import CliRunner

    from server.cli import main

    out = (
        CliRunner()
        .invoke(main, ["demo"], env={**(env or {}), "MOTCUA_DATABASE_URL": db_url},
                catch_exceptions=False)
        .output
    )
    return parse_demo(out)


def parse_demo(out: str) -> dict[str, Any]:
    """The tokens ``motcua demo`` printed in ``out`` (as :func:`demo` returns them): also for
    the output of another checkout's ``motcua demo``, run as a process."""
    clerks = {
        int(n): (tok, int(cid))
        for n, tok, cid in re.findall(r"counter (\d+)\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", out)
    }
    return {
        "kiosk": re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1),  # type: ignore[union-attr]
        "display": re.search(r"display-lobby\s+display\s+(\S+)", out).group(1),  # type: ignore[union-attr]
        "clerks": clerks,
        "output": out,
    }


def two_node_demo(pg_url: str, redis_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The demo on an emptied PostgreSQL database, and the environment of app nodes that share
    it and a Redis channel of their own: (``demo`` tokens, env)."""
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_url)
    creds = demo(pg_url)
    env = {
        "MOTCUA_DATABASE_URL": pg_url,
        "MOTCUA_REDIS_URL": redis_url,
        "MOTCUA_REDIS_CHANNEL": f"motcua-test-{uuid.uuid4().hex[:8]}",
    }
    return creds, env


def issue(base: str, token: str, service_code: str = "civil") -> dict[str, Any]:
    """A ticket at the demo site over HTTP (kiosk token, a fresh Idempotency-Key)."""
    r = requests.post(
        f"{base}/api/v1/sites/HACTHANH/tickets",
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
        json={"service": service_code},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def call_next(base: str, clerk: tuple[str, int]) -> dict[str, Any]:
    """Call-next over HTTP with a clerk's (token, counter id); the called ticket."""
    r = requests.post(
        f"{base}/api/v1/counters/{clerk[1]}/call-next",
        timeout=10,
        headers={"Authorization": f"Bearer {clerk[0]}"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["ticket"])


class SourceAddress(HTTPAdapter):
    """Requests from another loopback address (mount on a ``requests.Session``): another
    client of the server; behind nginx, whose ``hash $remote_addr`` picks the node by it."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def node_behind(port: int, source: str) -> str:
    """The node nginx on ``port`` sends a client at ``source`` to (``/healthz`` names it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert resp.status == 200
        return str(json.loads(resp.read())["node"])
    finally:
        conn.close()


ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """``motcua run`` in a subprocess on 127.0.0.1, or with ``deploy=True`` gunicorn with
    ``deploy/gunicorn.conf.py`` as the systemd unit and the container start it."""

    def __init__(
        self, cwd: Path, env: dict[str, str] | None = None, port: int | None = None,
        deploy: bool = False,
    ) -> None:
        self.deploy = deploy
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.log = cwd / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServerProcess:
        out = open(self.log, "a")  # noqa: SIM115 - closed with the process
        argv = [sys.executable, "-m", "server.cli", "run", "--port", str(self.port),
                "--no-access-log"]
        env = self.env
        if self.deploy:
            argv = [str(Path(sys.executable).parent / "gunicorn"), "-c",
                    str(ROOT / "deploy" / "gunicorn.conf.py"), "server.app:create_app()"]
            env = {**env, "MOTCUA_BIND": f"127.0.0.1:{self.port}", "MOTCUA_ACCESS_LOG": "0"}
        self.proc = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: kill() reaches the worker too
        )
        wait_until_up(self.url, self.proc, timeout, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, as in a power cut."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


class SeqClient:
    """A Socket.IO client keeping the state of one audience with the snapshot + seq protocol,
    like the browser's realtime.js: events past a gap are held for ``REORDER_S`` in case the
    missing one was only overtaken; a gap still open then counts in ``gaps`` and resyncs.
    ``drop_next`` simulates a lost event."""

    REORDER_S = 1.0

    def __init__(
        self,
        url: str,
        namespace: str,
        auth: dict[str, Any],
        reconnection: bool = True,
        transports: list[str] | None = None,
        http_session: Any = None,
    ) -> None:
        self.url, self.namespace, self.auth = url, namespace, auth
        self.transports = transports or ["websocket"]
        self.sio = socketio.Client(
            reconnection=reconnection,
            reconnection_delay=0.2,
            reconnection_delay_max=1,
            request_timeout=5,
            http_session=http_session,  # e.g. bound to another loopback source address
        )
        self.snapshot: dict[str, Any] | None = None
        self.snapshots = 0
        self.seq: int | None = None
        self.events: list[dict[str, Any]] = []
        self.gaps = 0
        self.reordered = 0  # gaps that closed within the window (events overtaken, not lost)
        self.held: dict[int, dict[str, Any]] = {}
        self.early: list[dict[str, Any]] = []  # events before their snapshot, played after it
        self.gap_timer: threading.Timer | None = None
        self.drop_next = 0
        self.refused: str | None = None
        self.cond = threading.Condition()
        ns = namespace
        self.sio.on("snapshot", self._on_snapshot, namespace=ns)
        self.sio.on("event", self._on_event, namespace=ns)
        self.sio.on("connect_error", self._on_refused, namespace=ns)

    def connect(self, wait: bool = True) -> SeqClient:
        self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            auth=self.auth,
            transports=self.transports,
            wait_timeout=10,
        )
        if wait:
            self.wait_for(lambda: self.snapshot is not None)
        return self

    def _on_refused(self, data: Any = None) -> None:
        self.refused = str(data)

    def _drop_held(self) -> None:
        self.held.clear()
        if self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None

    def _gap_expired(self) -> None:
        with self.cond:
            if self.gap_timer is None or not self.held:
                return
            self.gap_timer = None
            self.gaps += 1
            self.held.clear()
            self.early.clear()
            self.seq = None
        self.sio.emit("resync", namespace=self.namespace)

    def _on_snapshot(self, data: dict[str, Any]) -> None:
        with self.cond:
            self._drop_held()
            self.snapshot = data
            self.seq = data["seq"]
            self.snapshots += 1
            early, self.early = self.early, []
            for msg in early:
                self._on_event(msg)
            self.cond.notify_all()

    def _on_event(self, msg: dict[str, Any]) -> None:
        with self.cond:
            if self.drop_next:
                self.drop_next -= 1
                return
            if self.seq is None:
                self.early.append(msg)
                return
            if msg["seq"] <= self.seq:
                return
            if msg["seq"] != self.seq + 1:
                self.held.setdefault(msg["seq"], msg)
                if self.gap_timer is None:
                    self.gap_timer = threading.Timer(self.REORDER_S, self._gap_expired)
                    self.gap_timer.daemon = True
                    self.gap_timer.start()
                return
            self.seq = msg["seq"]
            self.events.append(msg)
            while self.seq + 1 in self.held:
                nxt = self.held.pop(self.seq + 1)
                self.seq = nxt["seq"]
                self.events.append(nxt)
            if not self.held and self.gap_timer is not None:
                self.gap_timer.cancel()
                self.gap_timer = None
                self.reordered += 1
            self.cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout=timeout):
                raise AssertionError(
                    f"timed out; seq={self.seq} events={[e['type'] for e in self.events]}"
                )

    def event_types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def close(self) -> None:
        with self.cond:
            self._drop_held()
        with contextlib.suppress(Exception):  # closing a dead connection is fine
            self.sio.disconnect()


class PrivatePostgres:
    """A PostgreSQL server of the test's own on a free port (initdb as the ``postgres`` user),
    so a test can stop and start it without touching the shared one."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: its folders are private to root, and the server runs
        # as ``postgres``.
        self.dir = Path(tempfile.mkdtemp(prefix="motcua-pg-")) / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str, check: bool = True) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=check, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        self.dir.mkdir()
        self.dir.parent.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres")
        return self.start()

    def start(self) -> PrivatePostgres:
        self._as_postgres("pg_ctl", "-D", str(self.dir), "-w", "-l", str(self.dir / "log"),
                          "-o", f"-p {self.port} -h 127.0.0.1 -k {self.dir}", "start")
        return self

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.dir), "-m", "immediate", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir.parent, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the test's own on a free port, stopped and started by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start_again(self) -> PrivateRedis:
        return self.start()

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ):
                return self
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def full_schema(url: str) -> dict[str, Any]:
    """Everything reflection tells about a schema, in a form two databases of the same dialect
    can be compared by (==)."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        out: dict[str, Any] = {}
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                            for c in insp.get_columns(table)],
                "primary_key": insp.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in insp.get_indexes(table)),
                "unique": sorted((u["name"], tuple(u["column_names"]))
                                 for u in insp.get_unique_constraints(table)),
                "foreign_keys": sorted(
                    (f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"],
                     tuple(f["referred_columns"])) for f in insp.get_foreign_keys(table)),
                "checks": sorted((c["name"] or "", " ".join(c["sqltext"].split()))
                                 for c in insp.get_check_constraints(table)),
            }
        return out
    finally:
        engine.dispose()


# Values for columns a check constraint limits (every other column gets a value of its type).
SAMPLE_VALUES: dict[tuple[str, str], Any] = {
    ("sites", "kind"): "province",
    ("users", "role"): "admin",
    ("api_tokens", "role"): "admin",
    ("counters", "status"): "open",
    ("devices", "kind"): "kiosk",
    ("tickets", "channel"): "kiosk",
    ("tickets", "status"): "waiting",
    ("dossiers", "status"): "received",
    ("dossiers", "delivery"): "counter",
    ("ratings", "score"): "satisfied",
    ("ratings", "source"): "track",
    ("restore_fences", "kind"): "backup",
    ("daily_stats", "dim"): "service",
    ("outbox_messages", "status"): "queued",
    ("bookings", "status"): "held",
}
WHEN = dt.datetime(2026, 1, 5, 8, 30)


def _sample_value(table: str, column: Any) -> Any:
    if (table, column.name) in SAMPLE_VALUES:
        return SAMPLE_VALUES[(table, column.name)]
    if column.foreign_keys:
        return 1  # every table holds one row, id 1
    kind = column.type
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, Float):
        return 1.5
    if isinstance(kind, DateTime):
        return WHEN
    if isinstance(kind, Date):
        return WHEN.date()
    if isinstance(kind, JSON):
        return []
    if isinstance(kind, LargeBinary):
        return b"\x1b@"
    if isinstance(kind, String):
        return "1"[: kind.length or 1]
    raise AssertionError(f"no sample value for {table}.{column.name} ({kind!r}): add one to "
                         "SAMPLE_VALUES")


def fill_every_table(url: str) -> dict[str, int]:
    """One row in every table the schema has (every column set), in dependency order; returns
    the row count per table."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    counts = {}
    try:
        with engine.begin() as conn:
            for table in meta.sorted_tables:
                if table.name == "alembic_version":
                    continue
                conn.execute(table.insert().values(
                    {c.name: _sample_value(table.name, c) for c in table.columns}))
                counts[table.name] = 1
                if conn.dialect.name == "postgresql" and "id" in table.columns:
                    # The row took id 1 explicitly: move the id sequence past it, so the
                    # application's next insert does not collide with it.
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), 1) "
                        f"WHERE pg_get_serial_sequence('{table.name}', 'id') IS NOT NULL")
    finally:
        engine.dispose()
    return counts


def row_counts(url: str, tables: list[str]) -> dict[str, int]:
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=tables)
    try:
        with engine.connect() as conn:
            return {t: conn.scalar(select(func.count()).select_from(meta.tables[t])) or 0
                    for t in tables}
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own (``<prefix>_<random>``) on the server of ``admin_url``,
    without a schema; its URL, and it is dropped on leaving (its connections ended first)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
