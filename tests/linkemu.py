"""A thin, breakable network link between a browser (or any TCP client) and a server on loopback.

Commune centres reach the provincial server over shared links of a few hundred kbit/s with
long round trips, and the link sometimes drops: silently (packets vanish, nothing is closed) or
with connections reset. The end-to-end tests and benchmarks put this relay between Chromium and
``motcua run`` to reproduce such a link without touching the server:

- ``delay_ms`` one way, per direction (a 300 ms round trip is ``delay_ms=150``);
- ``rate_bps`` bits per second per direction, shared by every connection in round robin (one
  segment each in turn), as a fair queue on a real router shares a link;
- :meth:`Link.cut` ``"silent"`` holds every byte (new connections are accepted and hang), and
  :meth:`Link.restore` delivers what was held, as TCP does after a short outage;
  ``"reset"`` aborts every connection (RST) and refuses new ones until restored; ``direction``
  ``"down"`` cuts only server → client, so a request reaches the server while its answer is
  held (then a reset loses the answer: the "answer lost" case);
- :meth:`Link.counters` counts the bytes carried each way (for "kB per call" figures).

The relay runs an asyncio loop in a daemon thread; its methods are called from the test's
thread. It is a test tool: loopback only, no configuration file, nothing of the server imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

SEGMENT = 1460  # bytes moved per turn: one Ethernet-sized TCP segment


@dataclass
class _Pipe:
    """One direction of one connection: segments waiting for the wire, then for delivery."""

    writer: asyncio.StreamWriter
    waiting: deque[bytes] = field(default_factory=deque)
    delivering: asyncio.Queue[tuple[float, bytes | None]] = field(default_factory=asyncio.Queue)


class _Direction:
    """A shared wire in one direction: round robin over the pipes with data, ``rate_bps``."""

    def __init__(self, link: Link, name: str) -> None:
        self.link = link
        self.name = name
        self.pipes: list[_Pipe] = []
        self.turn = 0
        self.wake = asyncio.Event()
        self.carried = 0

    def cut(self) -> bool:
        return self.link._cut is not None and self.link._cut_direction in ("both", self.name)

    async def run(self) -> None:
        while True:
            pipe = self._next()
            if pipe is None or self.cut():
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 0.05)
                continue
            chunk = pipe.waiting.popleft()  # b"": the end of the stream, kept in order
            if chunk and self.link.rate_bps:
                await asyncio.sleep(len(chunk) * 8 / self.link.rate_bps)
            self.carried += len(chunk)
            pipe.delivering.put_nowait((time.monotonic() + self.link.delay_ms / 1000, chunk))

    def _next(self) -> _Pipe | None:
        n = len(self.pipes)
        for i in range(n):
            pipe = self.pipes[(self.turn + i) % n]
            if pipe.waiting:
                self.turn = (self.turn + i + 1) % n
                return pipe
        return None


class Link:
    """Listen on 127.0.0.1:``port`` (0: any free port) and relay to ``upstream``."""

    def __init__(self, upstream_port: int, *, delay_ms: float = 0, rate_bps: int = 0,
                 upstream_host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_ms = delay_ms
        self.rate_bps = rate_bps
        self._port = port
        self._cut: str | None = None
        self._cut_direction = "both"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="linkemu")
        self._server: asyncio.base_events.Server | None = None
        self._conns: dict[int, tuple[tuple[asyncio.StreamWriter, ...], tuple[_Pipe, ...]]] = {}
        self._ids = itertools.count(1)
        self.connections_opened = 0

    # --- control, from the test's thread ------------------------------------------------------
    def start(self) -> Link:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> Link:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self, mode: str = "silent", direction: str = "both") -> None:
        """Cut the link: ``"silent"`` holds every byte, ``"reset"`` aborts every connection and
        refuses new ones. ``direction`` is ``"both"``, ``"down"`` (server → client) or ``"up"``."""
        if mode not in ("silent", "reset") or direction not in ("both", "down", "up"):
            raise ValueError(f"cut({mode!r}, {direction!r})")
        self._call(self._set_cut, mode, direction)

    def restore(self) -> None:
        """Bring the link back: held bytes are delivered, new connections accepted."""
        self._call(self._set_cut, None, "both")

    def reset(self) -> None:
        """Abort every open connection now (held bytes are lost), the link staying as it is."""
        self._call(self._abort_all)

    def configure(self, *, delay_ms: float | None = None, rate_bps: int | None = None) -> None:
        if delay_ms is not None:
            self.delay_ms = delay_ms
        if rate_bps is not None:
            self.rate_bps = rate_bps

    def counters(self) -> dict[str, int]:
        """Bytes carried so far: ``down`` (server → client) and ``up``."""
        return {"down": self._down.carried, "up": self._up.carried,
                "connections": self.connections_opened}

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, int]]:
        """``with link.measure() as m:`` → ``m["down"]``/``m["up"]``: the bytes carried inside."""
        before = self.counters()
        figures: dict[str, int] = {}
        yield figures
        after = self.counters()
        figures.update({k: after[k] - before[k] for k in after})

    # --- inside the loop ----------------------------------------------------------------------
    def _call(self, fn, *args):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    async def _start(self) -> None:
        self._down = _Direction(self, "down")
        self._up = _Direction(self, "up")
        self._tasks = [asyncio.ensure_future(self._down.run()),
                       asyncio.ensure_future(self._up.run())]
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._abort_all()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _set_cut(self, mode: str | None, direction: str) -> None:
        self._cut, self._cut_direction = mode, direction
        if mode == "reset":
            self._abort_all()
        for d in (self._down, self._up):
            d.wake.set()

    @staticmethod
    def _rst(writer: asyncio.StreamWriter) -> None:
        """Close with a TCP reset (SO_LINGER 0), as a router that drops a connection does."""
        with contextlib.suppress(Exception):
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(Exception):
            writer.transport.abort()

    def _abort_all(self) -> None:
        for writers, pipes in list(self._conns.values()):
            for writer in writers:
                self._rst(writer)
            for pipe in pipes:
                pipe.waiting.clear()
                pipe.delivering.put_nowait((0.0, None))  # stop its delivery task
        self._conns.clear()
        for d in (self._down, self._up):
            d.pipes.clear()

    async def _accept(self, c_reader: asyncio.StreamReader,
                      c_writer: asyncio.StreamWriter) -> None:
        if self._cut == "reset":
            self._rst(c_writer)
            return
        self.connections_opened += 1
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._rst(c_writer)
            return
        up = _Pipe(s_writer)
        down = _Pipe(c_writer)
        key = next(self._ids)
        self._conns[key] = ((c_writer, s_writer), (up, down))
        self._up.pipes.append(up)
        self._down.pipes.append(down)
        tasks = [
            asyncio.ensure_future(self._read(c_reader, up, self._up)),
            asyncio.ensure_future(self._read(s_reader, down, self._down)),
            asyncio.ensure_future(self._deliver(up)),
            asyncio.ensure_future(self._deliver(down)),
        ]
        try:
            await asyncio.gather(*tasks)
        except Exception:
            pass
        finally:
            for task in tasks:
                task.cancel()
            self._conns.pop(key, None)
            for d, p in ((self._up, up), (self._down, down)):
                with contextlib.suppress(ValueError):
                    d.pipes.remove(p)
            for writer in (c_writer, s_writer):
                with contextlib.suppress(Exception):
                    writer.close()

    async def _read(self, reader: asyncio.StreamReader, pipe: _Pipe, d: _Direction) -> None:
        while True:
            try:
                data = await reader.read(SEGMENT)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                pipe.waiting.append(b"")  # end of stream: after what is queued, in order
                d.wake.set()
                return
            pipe.waiting.append(data)
            d.wake.set()

    async def _deliver(self, pipe: _Pipe) -> None:
        """Write each segment when its delay has passed; the end of the stream comes through
        the wire like a segment, so it arrives after every segment before it."""
        while True:
            due, chunk = await pipe.delivering.get()
            if chunk is None:  # the connection was aborted
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(Exception):
                    pipe.writer.write_eof()
                return
            try:
                pipe.writer.write(chunk)
                await pipe.writer.drain()
            except (ConnectionError, OSError):
                return
