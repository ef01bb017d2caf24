"""Real-time printer status (ESC/POS ``DLE EOT n``) over TCP, never blocking past a timeout.

``DLE EOT 1`` (printer status): bit 3 (0x08) set = offline.
``DLE EOT 2`` (offline cause, asked only when offline): bit 2 cover open, bit 5 stopped at paper
end, bit 6 error.
``DLE EOT 4`` (roll paper sensor): bits 2-3 (0x0C) = paper near its end, bits 5-6 (0x60) = paper
end. Every answer byte has bits 1 and 4 set and bits 0 and 7 clear (``b & 0x93 == 0x12``), which
also tells it from Automatic Status Back messages that some printers send unasked.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from enum import StrEnum

# The query and the answer-byte test are shared with the acknowledgement of a sent slip.
from printers.uri import DLE_EOT, QUERY_PRINTER, PrinterURI, as_uri, is_status_byte

QUERY_OFFLINE_CAUSE = DLE_EOT + b"\x02"
QUERY_PAPER = DLE_EOT + b"\x04"

OFFLINE_BIT = 0x08
COVER_OPEN_BIT = 0x04
PAPER_STOP_BIT = 0x20
ERROR_BIT = 0x40
PAPER_NEAR_END_BITS = 0x0C
PAPER_END_BITS = 0x60

DEFAULT_STATUS_TIMEOUT = 1.0


class PrinterStatus(StrEnum):
    """What is known about a printer. ``ERROR``: it cannot be reached (refused, no route, write
    failed); ``UNKNOWN``: it was reached but did not answer the status query in time (many
    printers, and every file or USB/serial printer here, do not report status)."""

    ONLINE = "online"
    PAPER_NEAR_END = "paper_near_end"
    OFFLINE = "offline"
    PAPER_OUT = "paper_out"
    ERROR = "error"
    UNKNOWN = "unknown"

    @property
    def can_print(self) -> bool:
        """Whether a job should be sent now (``UNKNOWN`` is tried: sending will tell)."""
        return self in (PrinterStatus.ONLINE, PrinterStatus.PAPER_NEAR_END, PrinterStatus.UNKNOWN)

    @property
    def ok(self) -> bool:
        """Nothing a person needs to fix (paper near its end is a warning, not ok)."""
        return self is PrinterStatus.ONLINE


@dataclass(frozen=True)
class StatusReport:
    """A status and its detail, e.g. ``(OFFLINE, "cover open")``; raw answer bytes kept."""

    status: PrinterStatus
    detail: str = ""
    printer_byte: int | None = None
    paper_byte: int | None = None


def parse_status(
    printer_byte: int | None, paper_byte: int | None, cause_byte: int | None = None
) -> StatusReport:
    """Combine the answers to ``DLE EOT 1``, ``4`` (and ``2``) into one report.

    Paper out wins over offline (a printer at paper end also goes offline), offline over paper
    near end. A missing or malformed answer gives ``UNKNOWN``."""
    if printer_byte is None or not is_status_byte(printer_byte):
        return StatusReport(PrinterStatus.UNKNOWN, "no status answer", printer_byte, paper_byte)
    if paper_byte is not None and not is_status_byte(paper_byte):
        paper_byte = None
    if paper_byte is not None and paper_byte & PAPER_END_BITS:
        return StatusReport(PrinterStatus.PAPER_OUT, "paper out", printer_byte, paper_byte)
    if printer_byte & OFFLINE_BIT:
        detail = "offline"
        if cause_byte is not None and is_status_byte(cause_byte):
            if cause_byte & COVER_OPEN_BIT:
                detail = "cover open"
            elif cause_byte & PAPER_STOP_BIT:
                detail = "stopped at paper end"
            elif cause_byte & ERROR_BIT:
                detail = "printer error"
        return StatusReport(PrinterStatus.OFFLINE, detail, printer_byte, paper_byte)
    if paper_byte is not None and paper_byte & PAPER_NEAR_END_BITS:
        return StatusReport(
            PrinterStatus.PAPER_NEAR_END, "paper near end", printer_byte, paper_byte
        )
    if paper_byte is None:
        return StatusReport(PrinterStatus.ONLINE, "paper sensor not reported", printer_byte)
    return StatusReport(PrinterStatus.ONLINE, "", printer_byte, paper_byte)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def _ask(sock: socket.socket, query: bytes, deadline: _Deadline) -> int | None:
    """Send one query and return the first real-time status byte that comes back in time."""
    sock.sendall(query)
    while (left := deadline.left()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(64)
        except (TimeoutError, BlockingIOError):
            return None
        if not chunk:
            return None
        for value in chunk:
            if is_status_byte(value):
                return value
    return None


def query_tcp(host: str, port: int, timeout: float = DEFAULT_STATUS_TIMEOUT) -> StatusReport:
    """Ask a network printer for its status; returns within ``timeout`` seconds (plus a few
    milliseconds), whatever the printer does."""
    deadline = _Deadline(timeout)
    try:
        sock = socket.create_connection((host, port), timeout=max(0.01, deadline.left()))
    except TimeoutError:
        return StatusReport(
            PrinterStatus.ERROR, f"no connection to {host}:{port} within {timeout:g} s"
        )
    except ConnectionRefusedError:
        return StatusReport(PrinterStatus.ERROR, f"connection refused by {host}:{port}")
    except OSError as exc:
        return StatusReport(PrinterStatus.ERROR, f"{host}:{port}: {exc.strerror or exc}")
    with sock:
        try:
            printer_byte = _ask(sock, QUERY_PRINTER, deadline)
            if printer_byte is None:
                return StatusReport(PrinterStatus.UNKNOWN, f"no status answer within {timeout:g} s")
            paper_byte = _ask(sock, QUERY_PAPER, deadline)
            cause_byte = None
            if printer_byte & OFFLINE_BIT and (
                paper_byte is None or not paper_byte & PAPER_END_BITS
            ):
                cause_byte = _ask(sock, QUERY_OFFLINE_CAUSE, deadline)
        except OSError as exc:
            return StatusReport(PrinterStatus.ERROR, f"{host}:{port}: {exc.strerror or exc}")
    return parse_status(printer_byte, paper_byte, cause_byte)


def query(uri: str | PrinterURI, timeout: float = DEFAULT_STATUS_TIMEOUT) -> StatusReport:
    """Status of the printer at ``uri``. TCP printers are asked; a ``file://`` printer is
    ``ONLINE``; USB and serial printers are ``UNKNOWN`` (sending tells)."""
    u = as_uri(uri)
    if u.scheme == "tcp":
        assert u.host is not None and u.port is not None
        return query_tcp(u.host, u.port, timeout)
    if u.scheme == "file":
        return StatusReport(PrinterStatus.ONLINE, "file")
    return StatusReport(PrinterStatus.UNKNOWN, f"status is not read over {u.scheme}")


def query_status(uri: str | PrinterURI, timeout: float = DEFAULT_STATUS_TIMEOUT) -> PrinterStatus:
    """Just the status of :func:`query`."""
    return query(uri, timeout).status
