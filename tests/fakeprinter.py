"""A fake ESC/POS network printer for tests.

A TCP server on 127.0.0.1 (an ephemeral port, kept across :meth:`FakePrinter.down` /
:meth:`FakePrinter.up`) that records every byte received, per connection, and answers the
real-time status queries ``DLE EOT 1/2/4`` from a settable state::

    with FakePrinter() as printer:
        send(printer.uri, b"hello")
        printer.wait_for(b"hello")
        printer.state = "paper_out"
        printer.down()            # connections are now refused
        printer.up()              # same port again

Modes: ``FakePrinter(mode="black-hole")`` accepts connections and never reads (its buffers
fill, nothing is acknowledged); ``answer_status=False`` reads everything but never answers a
status query (it acknowledges a slip only by closing after the end of the data);
``kill_after=N`` resets each print connection once it has read N bytes of it (a cable pulled
mid-slip; ``kill_connections`` limits how many are killed).

:func:`parse_escpos` reads the bytes back into printed lines, QR codes and images.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

#: Fake printers listen on loopback, which the server refuses as a printer address unless
#: the operator lists it: tests that point the server or the CLI at one add this to their env.
FAKE_PRINTER_ENV = {"MOTCUA_PRINTER_NETWORKS": "127.0.0.0/8"}

State = Literal["online", "offline", "paper_near_end", "paper_out"]
Mode = Literal["normal", "black-hole"]

DLE_EOT = b"\x10\x04"
_FIXED = 0x12  # bits 1 and 4 are always set in a status answer

#: Answers to DLE EOT n for each state: n=1 printer, n=2 offline cause, n=3 errors, n=4 paper.
ANSWERS: dict[str, dict[int, int]] = {
    "online": {1: _FIXED, 2: _FIXED, 3: _FIXED, 4: _FIXED},
    "offline": {1: _FIXED | 0x08, 2: _FIXED | 0x04, 3: _FIXED, 4: _FIXED},  # cover open
    "paper_near_end": {1: _FIXED, 2: _FIXED, 3: _FIXED, 4: _FIXED | 0x0C},
    "paper_out": {1: _FIXED | 0x08, 2: _FIXED | 0x20, 3: _FIXED, 4: _FIXED | 0x0C | 0x60},
}


def strip_status_queries(data: bytes) -> bytes:
    """``data`` without its ``DLE EOT n`` queries."""
    out = bytearray()
    i = 0
    while (pos := data.find(DLE_EOT, i)) != -1 and pos + 2 < len(data):
        out += data[i:pos]
        i = pos + 3
    out += data[i:]
    return bytes(out)


class FakePrinter:
    """See the module docstring. ``answer_status=False`` makes it ignore status queries (like a
    printer without real-time status), for timeout tests."""

    def __init__(
        self,
        state: State = "online",
        answer_status: bool = True,
        host: str = "127.0.0.1",
        mode: Mode = "normal",
        kill_after: int | None = None,
        kill_connections: int | None = None,
    ) -> None:
        self.state: State = state
        self.answer_status = answer_status
        self.mode: Mode = mode
        self.kill_after = kill_after
        self.kill_connections = kill_connections
        self.killed = 0
        self.accepted = 0
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._connections: list[bytearray] = []
        self._open: set[socket.socket] = set()
        self.status_queries: list[int] = []

    # lifecycle ----------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def start(self) -> FakePrinter:
        return self.up()

    def up(self) -> FakePrinter:
        """Listen (again, on the same port once it has one)."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                listener.bind((self.host, self.port))
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.05)
        if self.mode == "black-hole":
            # Small buffers: a slip that does not fit in them blocks its sender's write.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, args=(listener,), name=f"fakeprinter-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening and drop every open connection: new connections are refused."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if listener is not None:
            listener.close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    stop = down

    def __enter__(self) -> FakePrinter:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # serving ------------------------------------------------------------------------------

    def _serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self.mode == "black-hole":
                with self._lock:
                    self._open.add(conn)  # held open, never read, closed by down()
                continue
            with self._lock:
                self._connections.append(bytearray())
                index = len(self._connections) - 1
                self._open.add(conn)
            threading.Thread(
                target=self._handle,
                args=(conn, index),
                daemon=True,
                name=f"fakeprinter-{self.port}-conn{index}",
            ).start()

    def _answer(self, n: int) -> bytes:
        self.status_queries.append(n)
        if not self.answer_status:
            return b""
        return bytes([ANSWERS[self.state].get(n, _FIXED)])

    def _handle(self, conn: socket.socket, index: int) -> None:
        tail = b""  # the end of the previous chunk, for a query split across reads
        sel = selectors.DefaultSelector()
        try:
            sel.register(conn, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not sel.select(0.05):
                    continue
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                with self._changed:
                    received = self._connections[index]
                    if self._kill_now(received, chunk):
                        chunk = chunk[: max(0, (self.kill_after or 0) - len(received))]
                        received.extend(chunk)
                        self._changed.notify_all()
                        self._reset(conn)
                        break
                    received.extend(chunk)
                    self._changed.notify_all()
                data = tail + chunk
                reply = b""
                start = 0
                while (pos := data.find(DLE_EOT, start)) != -1 and pos + 2 < len(data):
                    if pos + 2 >= len(tail):  # not answered with the previous chunk
                        reply += self._answer(data[pos + 2])
                    start = pos + 3
                tail = data[-2:]
                if reply:
                    with contextlib.suppress(OSError):
                        conn.sendall(reply)
        finally:
            sel.close()
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _kill_now(self, received: bytearray, chunk: bytes) -> bool:
        if self.kill_after is None or len(received) + len(chunk) < self.kill_after:
            return False
        if not strip_status_queries(bytes(received) + chunk):
            return False  # a status query alone is not a slip
        if self.kill_connections is not None and self.killed >= self.kill_connections:
            return False
        self.killed += 1
        return True

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        """Close with a reset (RST), as a printer that loses power or its cable does."""
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            conn.close()

    # what was received --------------------------------------------------------------------

    @property
    def connections(self) -> list[bytes]:
        """Bytes received, one entry per connection, in order."""
        with self._lock:
            return [bytes(c) for c in self._connections]

    @property
    def jobs(self) -> list[bytes]:
        """Connections that carried more than status queries (i.e. print jobs)."""
        return [c for c in self.connections if strip_status_queries(c)]

    @property
    def received(self) -> bytes:
        """Everything received on every connection, concatenated."""
        return b"".join(self.connections)

    def clear(self) -> None:
        with self._lock:
            self._connections = [bytearray() for _ in self._connections]
            self.status_queries.clear()

    def wait_for(self, needle: bytes, timeout: float = 5.0, count: int = 1) -> bool:
        """Wait until ``needle`` has arrived ``count`` times (over all connections)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while b"".join(self._connections).count(needle) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_for_bytes(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` bytes have arrived in total."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(len(c) for c in self._connections) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True


# --- reading what was printed ---------------------------------------------------------------


@dataclass
class PrintedLine:
    """One line of text as the printer would print it, with the style of its first character.
    ``font`` is 0 (A) or 1 (B); ``width``/``height`` are the character size multipliers."""

    text: str
    width: int = 1
    height: int = 1
    bold: bool = False
    font: int = 0
    align: str = "left"
    invert: bool = False


@dataclass
class Printout:
    """What a stream of ESC/POS bytes prints (enough of the command set for our layouts)."""

    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[bytes] = field(default_factory=list)
    images: list[tuple[int, int]] = field(default_factory=list)  # (width dots, height dots)
    code_pages: list[int] = field(default_factory=list)  # every ESC t n, in order
    cuts: int = 0
    unknown: list[bytes] = field(default_factory=list)  # commands this reader skipped

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def find(self, needle: str) -> PrintedLine | None:
        return next((line for line in self.lines if needle in line.text), None)


def _code_table(n: int) -> Callable[[int], str]:
    if n in (30, 31):
        from escpos.capabilities import CAPABILITIES

        rows = "".join(CAPABILITIES["encodings"]["TCVN-3-1" if n == 30 else "TCVN-3-2"]["data"])
        return lambda b: chr(b) if b < 128 else rows[b - 128]
    codec = {0: "cp437", 16: "cp1252", 52: "cp1258", 94: "cp1258"}.get(n, "cp437")
    return lambda b: bytes([b]).decode(codec, errors="replace")


def parse_escpos(data: bytes) -> Printout:
    """Read ESC/POS bytes back into lines, QR codes (native ``GS ( k`` store data), raster
    images (``GS v 0``), code page changes and cuts."""
    out = Printout()
    style = PrintedLine("")
    decode = _code_table(0)
    chars: list[str] = []
    line_style: PrintedLine | None = None
    i = 0
    n = len(data)

    def end_line() -> None:
        nonlocal chars, line_style
        s = line_style or style
        out.lines.append(
            PrintedLine(
                unicodedata.normalize("NFC", "".join(chars)),
                s.width,
                s.height,
                s.bold,
                s.font,
                s.align,
                s.invert,
            )
        )
        chars, line_style = [], None

    while i < n:
        b = data[i]
        if b == 0x0A:
            end_line()
            i += 1
        elif b == 0x1B and i + 1 < n:  # ESC
            cmd = data[i + 1]
            arg = data[i + 2] if i + 2 < n else 0
            if cmd == 0x40:  # ESC @
                style, decode = PrintedLine(""), _code_table(0)
                i += 2
                continue
            if cmd == ord("t"):
                out.code_pages.append(arg)
                decode = _code_table(arg)
            elif cmd == ord("E"):
                style.bold = bool(arg & 1)
            elif cmd == ord("M"):
                style.font = arg & 1 if arg < 48 else arg - 48
            elif cmd == ord("a"):
                style.align = ("left", "center", "right")[arg % 48 if arg >= 48 else arg % 3]
            elif cmd == ord("d"):
                if chars:
                    end_line()
            elif cmd not in b"-G{3J!":
                out.unknown.append(data[i : i + 3])
            i += 3
        elif b == 0x1D and i + 1 < n:  # GS
            cmd = data[i + 1]
            if cmd == ord("!"):
                size = data[i + 2]
                style.width, style.height = (size >> 4) + 1, (size & 0x0F) + 1
                i += 3
            elif cmd == ord("B"):
                style.invert = bool(data[i + 2] & 1)
                i += 3
            elif cmd == ord("V"):
                out.cuts += 1
                i += 4 if data[i + 2] in (65, 66) else 3
            elif cmd == ord("v") and data[i + 2] == ord("0"):
                xl, xh, yl, yh = data[i + 4 : i + 8]
                width_bytes, height = xl + xh * 256, yl + yh * 256
                out.images.append((width_bytes * 8, height))
                i += 8 + width_bytes * height
            elif cmd == ord("(") and data[i + 2] in (ord("k"), ord("L")):
                length = data[i + 3] + data[i + 4] * 256
                body = data[i + 5 : i + 5 + length]
                if data[i + 2] == ord("k") and body[:3] == b"1P0":
                    out.qr_codes.append(body[3:])
                i += 5 + length
            else:
                out.unknown.append(data[i : i + 3])
                i += 3
        elif b == 0x10 and i + 2 < n and data[i + 1] == 0x04:  # DLE EOT n
            i += 3
        elif b < 0x20:
            i += 1
        else:
            if line_style is None:
                line_style = PrintedLine(
                    "", style.width, style.height, style.bold, style.font, style.align, style.invert
                )
            chars.append(decode(b))
            i += 1
    if chars:
        end_line()
    return out
