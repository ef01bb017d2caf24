"""Who may set which printer (printers.uri.check_policy) and the same check at send time."""

from __future__ import annotations

import itertools
import socket
import threading
from pathlib import Path

import pytest

from printers.uri import (
    PolicyError,
    PrinterError,
    UriPolicy,
    check_policy,
    parse_networks,
    send,
)

WEB = UriPolicy(resolve=False)


def _cases(word: str) -> list[str]:
    """Every upper/lower-case spelling of ``word``."""
    return [
        "".join(c.upper() if up else c for c, up in zip(word, mask, strict=True))
        for mask in itertools.product((False, True), repeat=len(word))
    ]


@pytest.mark.parametrize("scheme", _cases("file"))
def test_the_web_never_sets_a_file_printer_in_any_letter_case(scheme: str) -> None:
    with pytest.raises(PolicyError) as err:
        check_policy(f"{scheme}:///home/motcua/.profile", WEB)
    assert err.value.code == "printer_file_not_allowed"


def test_the_command_line_sets_file_printers_inside_the_spool_folder_only(tmp_path: Path) -> None:
    spool = tmp_path / "printed"
    spool.mkdir()
    cli = UriPolicy(allow_file=True, spool_dir=spool, resolve=False)
    assert check_policy(f"file://{spool}/kiosk-1.bin", cli).path == spool / "kiosk-1.bin"
    for outside in (f"file://{spool}/../x.sh", f"FILE://{tmp_path}/x.sh", "file:///etc/profile"):
        with pytest.raises(PolicyError) as err:
            check_policy(outside, cli)
        assert err.value.code == "printer_file_outside_spool"
    # A symbolic link inside the spool folder that points out of it does not escape either.
    (spool / "link").symlink_to(tmp_path)
    with pytest.raises(PolicyError):
        check_policy(f"file://{spool}/link/x.sh", cli)
    with pytest.raises(PolicyError):
        check_policy(f"file://{spool}/kiosk-1.bin", UriPolicy(allow_file=True, resolve=False))


@pytest.mark.parametrize(
    "uri",
    [
        "tcp://127.0.0.1:6379",
        "TCP://127.8.9.10:5432",
        "tcp://[::1]:5432",
        "tcp://[::ffff:127.0.0.1]:6379",
        "tcp://169.254.169.254:80",
        "tcp://[fe80::1]:9100",
        "tcp://0.0.0.0:9100",
        "tcp://224.0.0.1:9100",
    ],
)
def test_the_web_never_points_a_printer_at_the_server_itself(uri: str) -> None:
    with pytest.raises(PolicyError) as err:
        check_policy(uri, WEB)
    assert err.value.code == "printer_address_not_allowed"


def test_host_names_are_checked_by_what_they_resolve_to() -> None:
    with pytest.raises(PolicyError):
        check_policy("tcp://localhost:6379", UriPolicy())


def test_printer_networks_limit_and_explicitly_allow() -> None:
    lan = UriPolicy(tcp_networks=parse_networks("192.168.10.0/24"), resolve=False)
    assert check_policy("tcp://192.168.10.50:9100", lan).host == "192.168.10.50"
    with pytest.raises(PolicyError):
        check_policy("tcp://192.168.11.50:9100", lan)
    # Loopback only when the operator lists it (the test bench's fake printers).
    bench = UriPolicy(tcp_networks=parse_networks("127.0.0.0/8"), resolve=False)
    assert check_policy("tcp://127.0.0.1:9100", bench).port == 9100
    with pytest.raises(ValueError, match="not a network"):
        parse_networks("192.168.1.0/24, printers")


def test_ordinary_printers_pass() -> None:
    for uri in ("tcp://192.168.1.50:9100", "tcp://10.2.3.4", "usb://04b8:0202",
                "serial:///dev/ttyUSB0?baudrate=19200", "serial:///dev/serial/by-id/x"):
        assert check_policy(uri, WEB).uri == uri


@pytest.mark.parametrize("device", ["/etc/passwd", "/home/motcua/x", "/proc/self/mem"])
def test_serial_printers_are_devices(device: str) -> None:
    with pytest.raises(PolicyError) as err:
        check_policy(f"serial://{device}", WEB)
    assert err.value.code == "printer_device_not_allowed"


def test_send_applies_the_policy_again(tmp_path: Path) -> None:
    """A URI stored before the policy existed is refused when a job is sent, and nothing is
    written or connected."""
    target = tmp_path / "victim.sh"
    with pytest.raises(PrinterError, match="command line"):
        send(f"File://{target}", b"echo owned\n", policy=UriPolicy())
    assert not target.exists()

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted: list[bytes] = []

    def accept() -> None:
        server.settimeout(2)
        try:
            conn, _ = server.accept()
            got = b""
            while chunk := conn.recv(100):  # to the end: closing then acknowledges the job
                got += chunk
            accepted.append(got)
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    port = server.getsockname()[1]
    with pytest.raises(PrinterError, match="loopback"):
        send(f"tcp://localhost:{port}", b"job", policy=UriPolicy())
    # The same printer is reachable when the operator allows loopback (fake printers in tests).
    bench = UriPolicy(tcp_networks=parse_networks("127.0.0.0/8, ::1/128"))
    send(f"tcp://localhost:{port}", b"job", policy=bench)
    t.join()
    server.close()
    assert accepted == [b"job\x10\x04\x01"]  # the job, then the status query acknowledging it
