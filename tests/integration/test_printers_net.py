"""Sending and status over real sockets (the fake printer) and real files."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printers.layouts import ticket_bytes
from printers.status import PrinterStatus, query, query_status
from printers.uri import PrinterError, UnconfirmedError, open_printer, send
from tests.fakeprinter import FakePrinter, parse_escpos, strip_status_queries
from tests.unit.test_printers_layouts import TICKET, TRACK


@pytest.fixture
def printer() -> Iterator[FakePrinter]:
    with FakePrinter() as fake:
        yield fake


def test_send_over_tcp(printer: FakePrinter) -> None:
    data = ticket_bytes(TICKET, "TM-T20II")
    send(printer.uri + "?profile=TM-T20II", data)
    assert printer.wait_for(b"A042")
    assert printer.wait_for_bytes(len(data))
    # The slip, then the status query whose answer acknowledges it.
    assert printer.jobs == [data + b"\x10\x04\x01"]
    p = parse_escpos(printer.jobs[0])
    assert p.qr_codes == [TRACK.encode()] and p.cuts == 1


def test_a_printer_that_never_reads_leaves_the_slip_unconfirmed() -> None:
    with FakePrinter(mode="black-hole") as hole:
        started = time.monotonic()
        with pytest.raises(UnconfirmedError, match=r"did not acknowledge .* within 0\.5 s") as e:
            send(hole.uri, b"slip", timeout=0.5, ack_timeout=0.5)
        assert time.monotonic() - started < 2
        assert e.value.written and hole.accepted == 1 and hole.connections == []


def test_a_printer_without_status_acknowledges_by_reading_to_the_end() -> None:
    # It never answers DLE EOT, but it reads every byte and closes its side: that is enough.
    with FakePrinter(answer_status=False) as quiet:
        started = time.monotonic()
        send(quiet.uri, b"slip", timeout=1, ack_timeout=1)
        assert time.monotonic() - started < 0.9
        assert strip_status_queries(quiet.received) == b"slip"


def test_a_connection_killed_mid_slip_is_unconfirmed_not_refused() -> None:
    with FakePrinter(kill_after=100) as killer:
        with pytest.raises(UnconfirmedError) as e:
            send(killer.uri, b"x" * 5000, timeout=1, ack_timeout=1)
        assert e.value.written
        killer.wait_for_bytes(100)


def test_send_to_a_printer_that_is_down_fails_fast(printer: FakePrinter) -> None:
    printer.down()
    started = time.monotonic()
    with pytest.raises(PrinterError, match="connection refused") as info:
        send(printer.uri, b"x")
    assert time.monotonic() - started < 1
    assert info.value.uri == printer.uri and not info.value.written
    printer.up()
    send(printer.uri, b"back")
    assert printer.wait_for(b"back")


def test_send_times_out_when_the_printer_stops_reading() -> None:
    # A listener that accepts but never reads: the socket buffers fill and sendall must give
    # up after the timeout instead of hanging for python-escpos' 60 s.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(PrinterError, match=r"no answer .* within 0\.5 s"):
            send(f"tcp://127.0.0.1:{server.getsockname()[1]}", b"x" * 20_000_000, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        for conn in accepted:
            conn.close()
        server.close()


@pytest.mark.parametrize(
    ("state", "expected", "detail"),
    [
        ("online", PrinterStatus.ONLINE, ""),
        ("offline", PrinterStatus.OFFLINE, "cover open"),
        ("paper_near_end", PrinterStatus.PAPER_NEAR_END, "paper near end"),
        ("paper_out", PrinterStatus.PAPER_OUT, "paper out"),
    ],
)
def test_status_over_tcp(
    printer: FakePrinter, state: str, expected: PrinterStatus, detail: str
) -> None:
    printer.state = state  # type: ignore[assignment]
    report = query(printer.uri, timeout=1.0)
    assert (report.status, report.detail) == (expected, detail)
    assert printer.status_queries[:2] == [1, 4]
    assert printer.jobs == []  # status queries are not print jobs


def test_status_times_out_when_the_printer_does_not_answer() -> None:
    with FakePrinter(answer_status=False) as silent:
        started = time.monotonic()
        assert query_status(silent.uri, timeout=1.0) is PrinterStatus.UNKNOWN
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.5
    assert silent.status_queries == [1]


def test_status_of_a_printer_that_is_down(printer: FakePrinter) -> None:
    printer.down()
    started = time.monotonic()
    report = query(printer.uri, timeout=1.0)
    assert report.status is PrinterStatus.ERROR
    assert "refused" in report.detail
    assert time.monotonic() - started < 1.5


def test_status_of_file_and_usb_printers(tmp_path: Path) -> None:
    assert query_status(f"file://{tmp_path}/p.bin") is PrinterStatus.ONLINE
    assert query_status("usb://04b8:0202") is PrinterStatus.UNKNOWN


def test_file_printer_appends_and_creates_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a" / "b" / "kiosk.bin"
    send(f"file://{target}", b"one")
    send(f"file://{target}", b"two")
    assert target.read_bytes() == b"onetwo"
    # the demo seed's relative form
    monkeypatch.chdir(tmp_path)
    send("file://./var/printers/kiosk-1.bin", b"rel")
    assert (tmp_path / "var" / "printers" / "kiosk-1.bin").read_bytes() == b"rel"


def test_file_printer_rotates_past_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.bin"
    for i in range(5):
        send(f"file://{path}", bytes([65 + i]) * 40, file_max_bytes=100)
    # 40 + 40 fit; the third would pass 100: the file moves to kiosk.bin.1 first.
    assert path.read_bytes() == b"E" * 40
    assert (tmp_path / "kiosk.bin.1").read_bytes() == b"C" * 40 + b"D" * 40


def test_file_printer_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(PrinterError, match="cannot write"):
        send(f"file://{blocker}/p.bin", b"x")


def test_open_printer_gives_python_escpos_connections(tmp_path: Path, printer: FakePrinter) -> None:
    target = tmp_path / "escpos" / "p.bin"
    target.parent.mkdir()
    target.write_bytes(b"before|")
    p = open_printer(f"file://{target}?profile=TM-T20II")
    assert p.profile.profile_data["name"] == "TM-T20II"
    p.textln("hello")
    p.close()
    assert target.read_bytes().startswith(b"before|") and b"hello\n" in target.read_bytes()

    net = open_printer(printer.uri, timeout=2)
    assert net.device.gettimeout() == 2
    net.textln("over tcp")
    net.close()
    assert printer.wait_for(b"over tcp\n")

    printer.down()
    with pytest.raises(PrinterError, match="Could not open socket"):
        open_printer(printer.uri, timeout=0.5)


def test_a_status_query_inside_the_slip_is_not_taken_for_the_acknowledgement(
    printer: FakePrinter,
) -> None:
    # An image's bytes may contain DLE EOT n: its answer comes early, the last one counts.
    slip = b"<img \x10\x04\x01 img>" * 3
    send(printer.uri, slip, timeout=1, ack_timeout=1)
    assert printer.status_queries == [1, 1, 1, 1]
    assert strip_status_queries(printer.received) == b"<img  img>" * 3
