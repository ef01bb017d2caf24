"""Test helpers: real server processes and a Socket.IO client that speaks the seq protocol."""

from __future__ import annotations

import contextlib
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
from pathlib import Path
from typing import Any

import requests
import socketio
from requests.adapters import HTTPAdapter


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
            self.seq = None
        self.sio.emit("resync", namespace=self.namespace)

    def _on_snapshot(self, data: dict[str, Any]) -> None:
        with self.cond:
            self._drop_held()
            self.snapshot = data
            self.seq = data["seq"]
            self.snapshots += 1
            self.cond.notify_all()

    def _on_event(self, msg: dict[str, Any]) -> None:
        with self.cond:
            if self.drop_next:
                self.drop_next -= 1
                return
            if self.seq is None or msg["seq"] <= self.seq:
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
