"""Websocket readers that take turns under gevent.

Each websocket has a reader (simple-websocket's thread, a greenlet under gevent) that reads the
connection's socket and parses its frames into a buffer for the connection's handler. A gevent
socket returns to the event loop only when it has nothing to read, so a client that writes
faster than the reader parses kept the reader going, and every other client of the node
waiting, until it paused: a resync flood on ``/track`` held the loop for tens of milliseconds at
a time and pushed ``/api/v1/ping`` p99 to hundreds of milliseconds
(tests/bench/bench_track_flood.py). Handed a socket whose reads yield, the reader gives the
loop a turn after each read (at most 4 kB, about 150 small messages); the handler yields after
each message (``Hub._pace_messages``).

gunicorn gives the connection's socket to the application as ``environ["gunicorn.socket"]``,
which is where simple-websocket takes it from; only websocket upgrades get the wrapper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

SOCKET_KEY = "gunicorn.socket"


class YieldingSocket:
    """A connection's socket whose ``recv`` lets the other greenlets run after each read;
    everything else is the socket's own."""

    __slots__ = ("_pause", "_sock")

    def __init__(self, sock: Any, pause: Callable[[], Any]) -> None:
        self._sock = sock
        self._pause = pause

    def recv(self, *args: Any) -> bytes:
        data: bytes = self._sock.recv(*args)
        self._pause()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class PacedWebsockets:
    """WSGI wrapper: a websocket upgrade's socket is handed on as a ``YieldingSocket``."""

    def __init__(self, wsgi_app: Any, pause: Callable[[], Any]) -> None:
        self.wsgi_app = wsgi_app
        self.pause = pause

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        sock = environ.get(SOCKET_KEY)
        if sock is not None and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            environ[SOCKET_KEY] = YieldingSocket(sock, self.pause)
        return self.wsgi_app(environ, start_response)  # type: ignore[no-any-return]
