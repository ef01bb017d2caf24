"""The link emulator the thin-link tests rely on: delay, shared bandwidth, silent cut, reset."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.linkemu import Link


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            try:
                data = self.request.recv(65536)
            except ConnectionError:  # the link reset the connection
                return
            if not data:
                return
            if data.startswith(b"BIG"):
                self.request.sendall(b"x" * int(data[3:].split(b"\n")[0]))
            else:
                self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _recv(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def test_round_trip_takes_twice_the_one_way_delay(echo: int) -> None:
    with Link(echo, delay_ms=100) as link, socket.create_connection(("127.0.0.1", link.port)) as s:
        t0 = time.monotonic()
        s.sendall(b"ping")
        assert _recv(s, 4) == b"ping"
        rtt = time.monotonic() - t0
    assert 0.19 <= rtt < 3  # the lower bound is the point; the upper only catches a hang


def test_bandwidth_is_shared_between_connections(echo: int) -> None:
    # 2 × 25 kB at 800 kbit/s: 0.5 s for both together, whichever connection asks.
    with Link(echo, rate_bps=800_000) as link:
        a = socket.create_connection(("127.0.0.1", link.port))
        b = socket.create_connection(("127.0.0.1", link.port))
        t0 = time.monotonic()
        a.sendall(b"BIG25000\n")
        b.sendall(b"BIG25000\n")
        done: dict[str, float] = {}

        def read(name: str, s: socket.socket) -> None:
            assert len(_recv(s, 25000)) == 25000
            done[name] = time.monotonic() - t0

        threads = [threading.Thread(target=read, args=(n, s)) for n, s in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        a.close()
        b.close()
        assert link.counters()["down"] == 50000
    # Round robin: both finish near the end, neither waits for the other to finish first.
    assert min(done.values()) >= 0.45 and max(done.values()) < 5
    assert abs(done["a"] - done["b"]) < 0.4


def test_silent_cut_holds_bytes_and_restore_delivers_them(echo: int) -> None:
    with Link(echo) as link, socket.create_connection(("127.0.0.1", link.port)) as s:
        s.sendall(b"one")
        assert _recv(s, 3) == b"one"
        link.cut("silent")
        s.sendall(b"two")
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(10)
        # A connection opened during the cut is accepted and hangs too.
        late = socket.create_connection(("127.0.0.1", link.port))
        late.sendall(b"late")
        link.restore()
        s.settimeout(5)
        late.settimeout(5)
        assert _recv(s, 3) == b"two"
        assert _recv(late, 4) == b"late"
        late.close()


def test_answer_lost_when_the_link_resets_after_the_request_went_up(echo: int) -> None:
    with Link(echo) as link:
        s = socket.create_connection(("127.0.0.1", link.port))
        link.cut("silent", direction="down")
        s.sendall(b"request")
        time.sleep(0.2)
        assert link.counters()["up"] == 7  # the request reached the server
        link.cut("reset")
        s.settimeout(5)
        with pytest.raises(ConnectionError):
            while s.recv(10):
                pass
        s.close()
        # While reset, new connections are refused (closed at once); after restore they work.
        refused = socket.create_connection(("127.0.0.1", link.port))
        refused.settimeout(5)
        with pytest.raises(ConnectionError):
            refused.sendall(b"x")
            if not refused.recv(10):
                raise ConnectionResetError
        refused.close()
        link.restore()
        with socket.create_connection(("127.0.0.1", link.port)) as ok:
            ok.sendall(b"back")
            assert _recv(ok, 4) == b"back"
