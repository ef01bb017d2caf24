"""Websocket readers that take turns (server/realtime/pacing.py) and the keys refused for a
while after a flood (server/realtime/throttle.py), without a server."""

from __future__ import annotations

from typing import Any

from server.realtime.pacing import SOCKET_KEY, PacedWebsockets, YieldingSocket
from server.realtime.throttle import Cooldown, TokenBucket


class FakeSocket:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.sent: list[bytes] = []

    def recv(self, n: int) -> bytes:
        return self.chunks.pop(0)[:n]

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def fileno(self) -> int:
        return 42


def test_each_read_gives_the_loop_a_turn() -> None:
    turns: list[int] = []
    raw = FakeSocket([b"a" * 4096, b"b" * 10, b""])
    sock = YieldingSocket(raw, lambda: turns.append(len(raw.chunks)))
    assert sock.recv(4096) == b"a" * 4096
    assert turns == [2]  # after the read, not before
    assert sock.recv(4096) == b"b" * 10
    assert sock.recv(4096) == b""  # the peer closed: still a turn, then the reader stops
    assert turns == [2, 1, 0]
    # Everything but recv is the socket's own.
    assert sock.send(b"xyz") == 3 and raw.sent == [b"xyz"]
    assert sock.fileno() == 42


def _seen_socket(environ: dict[str, Any]) -> Any:
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["sock"] = env.get(SOCKET_KEY)
        return [b""]

    PacedWebsockets(app, lambda: None)(environ, lambda *a: None)
    return seen["sock"]


def test_only_websocket_upgrades_get_the_yielding_socket() -> None:
    raw = FakeSocket([])
    upgraded = _seen_socket({SOCKET_KEY: raw, "HTTP_UPGRADE": "WebSocket"})
    assert isinstance(upgraded, YieldingSocket)
    assert upgraded.fileno() == 42
    # Plain requests (the API, long-polling) keep gunicorn's socket untouched.
    assert _seen_socket({SOCKET_KEY: raw}) is raw
    assert _seen_socket({SOCKET_KEY: raw, "HTTP_UPGRADE": "h2c"}) is raw
    # Another server (Werkzeug's in tests) gives no such socket: nothing to wrap.
    assert _seen_socket({"HTTP_UPGRADE": "websocket"}) is None


def test_cooldown_lapses() -> None:
    now = [100.0]
    cut = Cooldown(60, clock=lambda: now[0])
    assert not cut.active("eio-1")
    cut.add("eio-1")
    assert cut.active("eio-1") and not cut.active("eio-2")
    now[0] += 59.9
    assert cut.active("eio-1")
    now[0] += 0.2
    assert not cut.active("eio-1")


def test_a_scaled_bucket_holds_and_refills_that_many_times_more() -> None:
    now = [0.0]
    socket = TokenBucket("5 per 10 seconds", clock=lambda: now[0])
    connection = TokenBucket("5 per 10 seconds", clock=lambda: now[0], scale=2)
    assert [socket.allow("k") for _ in range(6)] == [True] * 5 + [False]
    assert [connection.allow("k") for _ in range(11)] == [True] * 10 + [False]
    now[0] += 1.0  # 0.5 token for the socket, 1 for the connection
    assert not socket.allow("k")
    assert connection.allow("k") and not connection.allow("k")
