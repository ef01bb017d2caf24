"""Printer URIs, status byte parsing and retry backoff (no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest
from escpos.printer import Usb

from printers.spool import backoff_delay
from printers.status import PrinterStatus, parse_status
from printers.uri import PrinterError, open_printer, parse_uri
from printers.vietnamese import TextMode


def test_tcp() -> None:
    u = parse_uri("tcp://192.168.1.50")
    assert (u.scheme, u.host, u.port, u.profile, u.text) == (
        "tcp",
        "192.168.1.50",
        9100,
        "default",
        None,
    )
    u = parse_uri("tcp://printer-3.local:9101?profile=TM-T20II&text=tcvn3")
    assert (u.host, u.port, u.profile, u.text) == (
        "printer-3.local",
        9101,
        "TM-T20II",
        TextMode.TCVN3,
    )
    assert u.label == "printer-3.local:9101"
    assert parse_uri("tcp://[::1]:9100").host == "::1"
    assert parse_uri("TCP://10.0.0.9/").host == "10.0.0.9"
    assert str(parse_uri(" tcp://h:1 ")) == "tcp://h:1"


def test_usb() -> None:
    u = parse_uri("usb://04b8:0202")
    assert (u.vendor_id, u.product_id) == (0x04B8, 0x0202)
    assert u.label == "usb 04b8:0202"
    u = parse_uri("usb://0x0416:0x5011?profile=TM-T88V&in_ep=81&out_ep=0x03")
    assert (u.vendor_id, u.product_id, u.in_ep, u.out_ep, u.profile) == (
        0x416,
        0x5011,
        0x81,
        0x03,
        "TM-T88V",
    )


def test_serial() -> None:
    u = parse_uri("serial:///dev/ttyUSB0?baudrate=19200")
    assert (u.device, u.baudrate) == ("/dev/ttyUSB0", 19200)
    assert parse_uri("serial:///dev/ttyS1").baudrate == 9600
    assert parse_uri("serial://COM3?baudrate=38400").device == "COM3"


def test_file() -> None:
    assert parse_uri("file:///var/lib/motcua/kiosk-1.bin").path == Path(
        "/var/lib/motcua/kiosk-1.bin"
    )
    # the demo seed's form: relative to the working directory
    assert parse_uri("file://./var/printers/hacthanh-kiosk-1.bin").path == Path(
        "var/printers/hacthanh-kiosk-1.bin"
    )
    assert parse_uri("file://localhost/tmp/p.bin?profile=TM-T88IV").profile == "TM-T88IV"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty"),
        ("192.168.1.50:9100", "expected scheme://"),
        ("http://192.168.1.50", "unsupported scheme 'http'"),
        ("tcp://", "missing host"),
        ("tcp://host:0", "port must be a number"),
        ("tcp://host:70000", "port must be a number"),
        ("tcp://host:abc", "port must be a number"),
        ("tcp://host/queue", "no path"),
        ("tcp://host?profile=TM-T20", "did you mean"),
        ("tcp://host?profile=nope-nope", "unknown printer profile 'nope-nope'"),
        ("tcp://host?baudrate=9600", "unknown option 'baudrate' for tcp://"),
        ("tcp://host?profile=a&profile=b", "exactly one value"),
        ("tcp://host?text=utf8", "text must be one of"),
        ("tcp://host#x", "fragment"),
        ("usb://04b8", "VENDOR:PRODUCT"),
        ("usb://04b8:xyz1", "product id must be a hex number"),
        ("usb://12345:0202", "vendor id must be a hex number"),
        ("serial://", "missing device"),
        ("serial:///dev/ttyUSB0?baudrate=fast", "baudrate must be a number"),
        ("file://", "missing file name"),
        ("file://server/share/x.bin", "file:///absolute/path"),
        ("file:///tmp/", "missing file name"),
    ],
)
def test_bad_uris_say_why(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match="printer URI") as info:
        parse_uri(uri)
    assert message in str(info.value)


def test_usb_printer_that_is_not_plugged_in_is_a_printer_error() -> None:
    """pyusb is a dependency; without the device (or without pyusb, or without the libusb
    library under it) the answer is a PrinterError with a reason, never a crash."""
    expected = "not found|libusb" if Usb.is_usable() else "pyusb"
    with pytest.raises(PrinterError, match=expected) as info:
        open_printer("usb://04b8:0202")
    assert info.value.uri == "usb://04b8:0202"


# --- status bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printer", "paper", "cause", "expected", "detail"),
    [
        (0x12, 0x12, None, PrinterStatus.ONLINE, ""),
        (0x16, 0x12, None, PrinterStatus.ONLINE, ""),  # drawer pin high: still online
        (0x1A, 0x12, 0x16, PrinterStatus.OFFLINE, "cover open"),
        (0x1A, 0x12, 0x52, PrinterStatus.OFFLINE, "printer error"),
        (0x1A, 0x12, None, PrinterStatus.OFFLINE, "offline"),
        (0x12, 0x1E, None, PrinterStatus.PAPER_NEAR_END, "paper near end"),
        (0x12, 0x16, None, PrinterStatus.PAPER_NEAR_END, "paper near end"),  # one sensor bit
        (0x1A, 0x72, None, PrinterStatus.PAPER_OUT, "paper out"),
        (0x1A, 0x7E, 0x32, PrinterStatus.PAPER_OUT, "paper out"),
        (0x12, 0x32, None, PrinterStatus.PAPER_OUT, "paper out"),
        (None, None, None, PrinterStatus.UNKNOWN, "no status answer"),
        (0x00, 0x12, None, PrinterStatus.UNKNOWN, "no status answer"),  # fixed bits wrong
        (0x12, 0x01, None, PrinterStatus.ONLINE, "paper sensor not reported"),
    ],
)
def test_parse_status(
    printer: int | None, paper: int | None, cause: int | None, expected: PrinterStatus, detail: str
) -> None:
    report = parse_status(printer, paper, cause)
    assert report.status is expected
    assert report.detail == detail


def test_status_properties() -> None:
    assert PrinterStatus.ONLINE.can_print and PrinterStatus.ONLINE.ok
    assert PrinterStatus.PAPER_NEAR_END.can_print and not PrinterStatus.PAPER_NEAR_END.ok
    assert PrinterStatus.UNKNOWN.can_print
    assert not PrinterStatus.PAPER_OUT.can_print
    assert not PrinterStatus.OFFLINE.can_print
    assert not PrinterStatus.ERROR.can_print


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff_delay(n) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(1000) == 60
    assert backoff_delay(3, base=0.5, cap=1.5) == 1.5


def test_the_package_imports_nothing_else_of_ours() -> None:
    import ast
    import sys

    allowed = {"printers", "escpos", "PIL", "qrcode"} | set(sys.stdlib_module_names)
    package = Path(__file__).resolve().parents[2] / "printers"
    imported = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert imported - allowed == set()
    assert "escpos" in imported
