"""Request-rate limits through the real server: a kiosk flood is refused (429, Retry-After,
``rate_limited``) while another kiosk issues normally, the limit holds across two nodes
sharing Redis, pairing codes are limited per client address (not province-wide), and a
socket flooding ``resync`` gets no answers and is disconnected, its whole connection closed while
other clients are served."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import websocket

from server.app import create_app
from server.config import Settings
from server.core.db import Database
from server.features import admin
from tests.conftest import BASE_URL, Clock, World
from tests.support import ServerProcess, demo, two_node_demo

LIMITS_ON = {"MOTCUA_RATE_LIMITS": "1", "MOTCUA_PRINT_WORKER": "0"}


def _issue(base: str, token: str, lang: str = "vi") -> requests.Response:
    return requests.post(
        f"{base}/api/v1/sites/HACTHANH/tickets?lang={lang}",
        json={"service": "civil"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _kiosk_2(out: str) -> str:
    return re.search(r"kiosk-2\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]


def test_kiosk_flood_refused_while_another_kiosk_issues(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    creds = demo(url)
    server = ServerProcess(tmp_path, {**LIMITS_ON, "MOTCUA_DATABASE_URL": url}).start()
    try:
        # The default kiosk limit: 5 per 10 seconds, 20 per minute.
        answers = [_issue(server.url, creds["kiosk"]) for _ in range(12)]
        statuses = [r.status_code for r in answers]
        assert statuses[:5] == [201] * 5, statuses
        assert set(statuses[5:]) == {429}, statuses
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "Quý khách" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 11
        en = _issue(server.url, creds["kiosk"], lang="en")
        assert en.status_code == 429
        assert en.json()["error"]["message"].startswith("Too many requests")
        # The other kiosk of the centre is not slowed down by the first one's flood.
        other = [_issue(server.url, _kiosk_2(creds["output"])) for _ in range(3)]
        assert [r.status_code for r in other] == [201, 201, 201]
        # Refused requests issued nothing: 5 + 3 tickets.
        numbers = {r.json()["number"] for r in answers[:5] + other}
        assert len(numbers) == 8
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_kiosk_limit_holds_across_nodes(pg_database: str, redis_url: str, tmp_path: Path) -> None:
    creds, env = two_node_demo(pg_database, redis_url)
    env = {**env, **LIMITS_ON}
    a = ServerProcess(tmp_path, env).start()
    b = ServerProcess(tmp_path, env).start()
    try:
        statuses = [_issue(a.url, creds["kiosk"]).status_code for _ in range(5)]
        assert statuses == [201] * 5
        # The same kiosk through the other node: the count is shared in Redis.
        refused = _issue(b.url, creds["kiosk"])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "Retry-After" in refused.headers
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def limited_app(db: Database, clock: Clock, world: World) -> Iterator[Any]:
    application = create_app(
        Settings(database_url=db.url, public_base_url=BASE_URL, print_worker=False,
                 outbox_worker=False,
                 rate_limits=True, rate_pairing="10 per minute"),
        db=db, clock=clock,
    )
    application.testing = True
    yield application
    application.extensions["motcua_printing"].stop()


def _pair(client: Any, address: str, n: int) -> requests.Response:
    return client.post(  # type: ignore[no-any-return]
        "/api/v1/pairing", json={"secret": f"s{n:031d}x"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_pairing_limited_per_address_not_province_wide(limited_app: Any) -> None:
    client = limited_app.test_client()
    ok = [_pair(client, "10.0.0.1", n).status_code for n in range(10)]
    assert ok == [201] * 10
    refused = _pair(client, "10.0.0.1", 99)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another centre (another address) still gets its codes, and more than the 200 pending
    # codes that used to close pairing for the whole province.
    statuses = [_pair(client, f"10.1.{n // 10}.{n % 10}", n).status_code for n in range(250)]
    assert statuses == [201] * 250
    assert admin.MAX_PENDING_CODES >= 5000


def test_socket_flood_is_dropped_then_disconnected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    creds = demo(url)
    server = ServerProcess(tmp_path, {**LIMITS_ON, "MOTCUA_DATABASE_URL": url}).start()
    try:
        ticket = _issue(server.url, creds["kiosk"]).json()
        token = ticket["track_url"].rstrip("/").rsplit("/", 1)[-1]
        sio = socketio.Client(reconnection=False)
        snapshots: list[Any] = []
        sio.on("snapshot", lambda data: snapshots.append(data), namespace="/track")
        sio.connect(server.url, namespaces=["/track"], auth={"token": token},
                    transports=["websocket"], wait_timeout=10)
        deadline = time.monotonic() + 10
        while not snapshots and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(snapshots) == 1
        for _ in range(200):
            if not sio.connected:
                break
            sio.emit("resync", namespace="/track")
        deadline = time.monotonic() + 10
        while sio.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        # 5 answered (the bucket), the rest dropped; the socket was closed by the server.
        assert not sio.connected
        assert 1 + 5 <= len(snapshots) <= 1 + 6
        # The same token is refused for a while (no flooding again at once)...
        again = socketio.Client(reconnection=False)
        refusals: list[Any] = []
        again.on("connect_error", lambda data=None: refusals.append(data), namespace="/track")
        with pytest.raises(socketio.exceptions.ConnectionError):
            again.connect(server.url, namespaces=["/track"], auth={"token": token},
                          transports=["websocket"], wait_timeout=10)
        assert refusals and refusals[0]["message"] == "rate_limited"
        # ...while another phone is served as usual.
        other = _issue(server.url, creds["kiosk"]).json()
        other_token = other["track_url"].rstrip("/").rsplit("/", 1)[-1]
        phone = socketio.Client(reconnection=False)
        got: list[Any] = []
        phone.on("snapshot", lambda data: got.append(data), namespace="/track")
        phone.connect(server.url, namespaces=["/track"], auth={"token": other_token},
                      transports=["websocket"], wait_timeout=10)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got and got[0]["ticket_id"] == other["id"]
        phone.disconnect()
    finally:
        server.stop()


FLOOD_FRAMES = 20_000  # resyncs written at once, without reading: ~0.5 MB for the server to face


def _track_token(ticket: dict[str, Any]) -> str:
    return str(ticket["track_url"].rstrip("/").rsplit("/", 1)[-1])


def _frames(ws: websocket.WebSocket, until: Any) -> list[str]:
    """Text frames from ``ws`` up to the one ``until`` accepts, or up to the close."""
    out: list[str] = []
    while True:
        try:
            frame = ws.recv()
        except (websocket.WebSocketException, OSError):
            return out
        if not frame:  # the close frame
            return out
        out.append(frame)
        if until(frame):
            return out


@pytest.mark.parametrize(
    ("message", "answered"),
    [
        ('42/track,["resync"]', (5, 6)),  # its socket's limit: 5 answered, then dropped
        # Messages no namespace counts (to one it has not joined): the connection's own
        # allowance (twice the socket's) drops them, then cuts it off the same way.
        ('42/display,["resync"]', (0, 0)),
    ],
)
def test_track_flood_is_cut_off_while_other_clients_are_served(
    tmp_path: Path, message: str, answered: tuple[int, int]
) -> None:
    """A phone's connection writes 20,000 messages at once. It is answered within its limit,
    told ``rate_limited``, disconnected and its whole connection closed (not only the
    namespace: the rest of what it wrote is never read), while another client's requests and
    another phone's socket are answered as usual."""
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    creds = demo(url)
    server = ServerProcess(tmp_path, {**LIMITS_ON, "MOTCUA_DATABASE_URL": url}).start()
    try:
        token = _track_token(_issue(server.url, creds["kiosk"]).json())
        other = _issue(server.url, creds["kiosk"]).json()
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", timeout=15)
        assert ws.recv().startswith("0")  # Engine.IO open
        ws.send("40/track," + json.dumps({"token": token}))
        first = _frames(ws, lambda f: f.startswith('42/track,["snapshot"'))
        assert first and first[-1].startswith('42/track,["snapshot"'), first

        # Another client asks the API all along the flood.
        answers: list[int] = []

        def ask() -> None:
            for _ in range(30):
                r = requests.get(f"{server.url}/api/v1/ping", timeout=10)
                answers.append(r.status_code)
                time.sleep(0.05)

        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        written = 0
        try:
            for _ in range(FLOOD_FRAMES):
                ws.send(message)
                written += 1
        except (websocket.WebSocketException, OSError):
            pass  # the server closed the connection while the client was still writing
        frames = _frames(ws, lambda f: f == "1")  # up to Engine.IO's close, else the close
        ws.close()
        asker.join(timeout=60)

        snapshots = [f for f in frames if f.startswith('42/track,["snapshot"')]
        assert answered[0] <= len(snapshots) <= answered[1], len(snapshots)
        assert '42/track,["error",{"code":"rate_limited"}]' in frames, frames[-5:]
        # Told first, then disconnected from /track, then the connection itself is closed.
        tail = frames[frames.index('42/track,["error",{"code":"rate_limited"}]'):]
        assert tail == ['42/track,["error",{"code":"rate_limited"}]', "41/track,", "1"], tail
        assert written >= 16, written
        assert answers == [200] * 30, answers

        # Another phone is served as usual, and the flooding token is refused for a while.
        phone = socketio.Client(reconnection=False)
        got: list[Any] = []
        phone.on("snapshot", lambda data: got.append(data), namespace="/track")
        phone.connect(server.url, namespaces=["/track"], auth={"token": _track_token(other)},
                      transports=["websocket"], wait_timeout=10)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got and got[0]["ticket_id"] == other["id"]
        phone.disconnect()
        again = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            again.connect(server.url, namespaces=["/track"], auth={"token": token},
                          transports=["websocket"], wait_timeout=10)
        assert server.output().count("socket flooding: disconnected") == 1
    finally:
        server.stop()
