"""Printer URIs and connections.

=====================================  =============================================================
``tcp://host[:port]``                  ESC/POS over TCP (raw port, default 9100)
``usb://VENDOR:PRODUCT``               USB, hex ids (``usb://04b8:0202``); needs ``pyusb``
``serial:///dev/ttyUSB0?baudrate=N``   serial port (default 9600 baud); needs ``pyserial``
``file:///abs/path``                   append the bytes to a file (demo, tests)
``file://./rel/path``                  the same, relative to the working directory
=====================================  =============================================================

Who may set which printer is decided by :func:`check_policy` with a :class:`UriPolicy`: the web
(admin console, pairing, configuration import, API) may set ``tcp://`` to addresses the operator
allows (never loopback, link-local, multicast or unspecified addresses unless listed), ``usb://``
and ``serial:///dev/...``; ``file://`` only from the command line, into one spool folder. The
sending side applies the same policy again at connect time, so a stored URI or a host name that
later resolves elsewhere cannot reach the server's own services or files.

Query options for every scheme: ``profile=`` (a python-escpos capability profile, default
``default``) and ``text=`` (``cp1258``, ``tcvn3``, ``image`` or ``ascii``: how Vietnamese is
printed, see :mod:`printers.vietnamese`; default: the best the profile supports).
USB also takes ``in_ep=`` / ``out_ep=`` (hex endpoints).
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from escpos.capabilities import CAPABILITIES
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import File, Network, Serial, Usb

from printers.vietnamese import TextMode

DEFAULT_TCP_PORT = 9100
DEFAULT_BAUDRATE = 9600
#: Connect/write timeout for sending jobs. python-escpos' own default (60 s) blocks far too long.
DEFAULT_TIMEOUT = 3.0
#: How long a network printer has, after the last byte of a slip, to acknowledge it (answer the
#: status query sent after the slip, or close the connection after reading it).
DEFAULT_ACK_TIMEOUT = 3.0

# ESC/POS real-time status (``DLE EOT n``, see :mod:`printers.status`): a query, and how an
# answer byte is told from anything else the printer sends (bits 1 and 4 set, 0 and 7 clear).
DLE_EOT = b"\x10\x04"
QUERY_PRINTER = DLE_EOT + b"\x01"
FIXED_MASK = 0x93
FIXED_BITS = 0x12
_QUERIES = re.compile(re.escape(DLE_EOT) + b"[\x01-\x04]")


def is_status_byte(value: int) -> bool:
    return value & FIXED_MASK == FIXED_BITS

SCHEMES = ("tcp", "usb", "serial", "file")
_COMMON_OPTIONS = ("profile", "text")
_OPTIONS = {
    "tcp": _COMMON_OPTIONS,
    "usb": (*_COMMON_OPTIONS, "in_ep", "out_ep"),
    "serial": (*_COMMON_OPTIONS, "baudrate"),
    "file": _COMMON_OPTIONS,
}


class PrinterError(Exception):
    """A printer could not be reached or written; ``reason`` is short enough for a UI.

    ``written`` is False: nothing of the job reached the printer (connection refused, no
    route, a bad URI), so sending it again cannot print it twice."""

    written = False

    def __init__(self, reason: str, uri: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.uri = uri


class UnconfirmedError(PrinterError):
    """Some or all of the job's bytes may have reached the printer, but it did not acknowledge
    them (it stopped reading, the connection broke mid-job, no answer in time): the slip may
    or may not have printed, and sending it again could print it twice."""

    written = True


@dataclass(frozen=True)
class PrinterURI:
    """A parsed printer URI."""

    uri: str
    scheme: str
    profile: str = "default"
    text: TextMode | None = None
    host: str | None = None
    port: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    in_ep: int | None = None
    out_ep: int | None = None
    device: str | None = None
    baudrate: int | None = None
    path: Path | None = None
    options: dict[str, str] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return self.uri

    @property
    def label(self) -> str:
        """A short human name: ``192.168.1.50:9100``, ``usb 04b8:0202``, a path."""
        if self.scheme == "tcp":
            return f"{self.host}:{self.port}"
        if self.scheme == "usb":
            return f"usb {self.vendor_id:04x}:{self.product_id:04x}"
        if self.scheme == "serial":
            return f"{self.device} @ {self.baudrate}"
        return str(self.path)


def _bad(uri: str, why: str) -> ValueError:
    return ValueError(f"bad printer URI {uri!r}: {why}")


def _hex_id(uri: str, value: str, what: str) -> int:
    text = value.strip().lower().removeprefix("0x")
    if not text or len(text) > 4 or any(c not in "0123456789abcdef" for c in text):
        raise _bad(uri, f"{what} must be a hex number of 1-4 digits, got {value!r}")
    return int(text, 16)


def _options(uri: str, scheme: str, query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise _bad(uri, f"cannot read the query string {query!r}") from exc
    allowed = _OPTIONS[scheme]
    options: dict[str, str] = {}
    for key, values in parsed.items():
        if key not in allowed:
            raise _bad(
                uri, f"unknown option {key!r} for {scheme}:// (allowed: {', '.join(allowed)})"
            )
        if len(values) != 1 or not values[0]:
            raise _bad(uri, f"option {key!r} needs exactly one value")
        options[key] = values[0]
    return options


def _profile(uri: str, name: str) -> str:
    profiles = CAPABILITIES["profiles"]
    if name in profiles:
        return name
    close = difflib.get_close_matches(name, list(profiles), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise _bad(uri, f"unknown printer profile {name!r}{hint}")


def parse_uri(uri: str) -> PrinterURI:
    """Parse a printer URI; raises :class:`ValueError` with the reason when it is wrong."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError("printer URI is empty")
    uri = uri.strip()
    if "://" not in uri:
        raise _bad(uri, "expected scheme://..., e.g. tcp://192.168.1.50:9100")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise _bad(uri, f"unsupported scheme {parts.scheme!r} (use tcp, usb, serial or file)")
    if parts.fragment:
        raise _bad(uri, "a fragment (#...) is not allowed")
    options = _options(uri, scheme, parts.query)
    profile = _profile(uri, options.get("profile", "default"))
    text: TextMode | None = None
    if "text" in options:
        try:
            text = TextMode(options["text"].lower())
        except ValueError:
            raise _bad(
                uri,
                f"text must be one of {', '.join(m.value for m in TextMode)}, got "
                f"{options['text']!r}",
            ) from None
    common: dict[str, Any] = {
        "uri": uri,
        "scheme": scheme,
        "profile": profile,
        "text": text,
        "options": options,
    }

    if scheme == "tcp":
        if parts.path not in ("", "/"):
            raise _bad(uri, "a tcp:// printer URI has no path")
        if parts.username or parts.password:
            raise _bad(uri, "user names are not supported")
        host = parts.hostname
        if not host:
            raise _bad(uri, "missing host, e.g. tcp://192.168.1.50:9100")
        try:
            port = parts.port
        except ValueError:
            raise _bad(uri, "port must be a number from 1 to 65535") from None
        if port == 0:
            raise _bad(uri, "port must be a number from 1 to 65535")
        return PrinterURI(**common, host=host, port=port or DEFAULT_TCP_PORT)

    if scheme == "usb":
        ids = parts.netloc or parts.path.strip("/")
        if parts.path.strip("/") and parts.netloc:
            raise _bad(uri, "expected usb://VENDOR:PRODUCT, e.g. usb://04b8:0202")
        if ids.count(":") != 1:
            raise _bad(uri, "expected usb://VENDOR:PRODUCT with hex ids, e.g. usb://04b8:0202")
        vendor, product = ids.split(":")
        extra: dict[str, Any] = {
            "vendor_id": _hex_id(uri, vendor, "vendor id"),
            "product_id": _hex_id(uri, product, "product id"),
        }
        for key in ("in_ep", "out_ep"):
            if key in options:
                extra[key] = _hex_id(uri, options[key], key)
        return PrinterURI(**common, **extra)

    if scheme == "serial":
        device = parts.path if not parts.netloc else parts.netloc + parts.path
        if not device or device == "/":
            raise _bad(uri, "missing device, e.g. serial:///dev/ttyUSB0?baudrate=19200")
        baud_text = options.get("baudrate", str(DEFAULT_BAUDRATE))
        if not baud_text.isdigit() or not 50 <= int(baud_text) <= 4_000_000:
            raise _bad(uri, f"baudrate must be a number like 9600 or 19200, got {baud_text!r}")
        return PrinterURI(**common, device=device, baudrate=int(baud_text))

    # file
    if parts.netloc in ("", "localhost"):
        path = Path(parts.path)
    elif parts.netloc in (".", ".."):
        path = Path(parts.netloc + parts.path)
    else:
        raise _bad(uri, "use file:///absolute/path or file://./relative/path")
    if not parts.path or parts.path.endswith("/"):
        raise _bad(uri, "missing file name, e.g. file:///var/lib/motcua/kiosk-1.bin")
    return PrinterURI(**common, path=path)


def as_uri(uri: str | PrinterURI) -> PrinterURI:
    return uri if isinstance(uri, PrinterURI) else parse_uri(uri)


# --- who may set which printer ---------------------------------------------------------------

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PolicyError(ValueError):
    """A printer URI that is well formed but not allowed here; ``code`` names the rule."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class UriPolicy:
    """What one caller may set.

    ``allow_file``: ``file://`` printers (the command line only), and then only inside
    ``spool_dir``. ``tcp_networks``: when not empty, a ``tcp://`` printer must resolve into one
    of these networks; listing a network is also the only way to allow a loopback or link-local
    address. ``resolve``: resolve host names to check their addresses (off in pure tests)."""

    allow_file: bool = False
    spool_dir: Path | None = None
    tcp_networks: tuple[IPNetwork, ...] = ()
    resolve: bool = True


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"192.168.0.0/16, 10.0.0.0/8"`` → networks; raises ValueError naming the bad entry."""
    out = []
    for part in text.replace(";", ",").split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"not a network: {part.strip()!r}") from exc
    return tuple(out)


def _special(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return (
        addr.is_loopback
        or addr.is_link_local
        or addr.is_unspecified
        or addr.is_multicast
        or addr.is_reserved
    )


def _addresses(host: str, port: int, resolve: bool) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise PolicyError("printer_host_unknown", f"unknown host {host}") from exc
    return sorted({str(info[4][0]).split("%")[0] for info in infos})


def check_address(host: str, port: int, policy: UriPolicy) -> None:
    """Refuse a TCP destination the policy does not allow (every address the name resolves to)."""
    for text in _addresses(host, port, policy.resolve):
        addr = ipaddress.ip_address(text)
        listed = any(addr in net for net in policy.tcp_networks)
        if policy.tcp_networks and not listed:
            raise PolicyError(
                "printer_address_not_allowed",
                f"{host} ({addr}) is outside the printer networks this server allows",
            )
        if _special(addr) and not listed:
            raise PolicyError(
                "printer_address_not_allowed",
                f"{host} ({addr}) is a loopback, link-local or reserved address: "
                "a printer cannot be there",
            )


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def check_policy(uri: str | PrinterURI, policy: UriPolicy) -> PrinterURI:
    """Parse ``uri`` and apply ``policy``; raises :class:`ValueError` for a malformed URI and
    :class:`PolicyError` (a ValueError) for one this caller may not set."""
    u = as_uri(uri)
    if u.scheme == "file":
        if not policy.allow_file:
            raise PolicyError(
                "printer_file_not_allowed", "file:// printers can only be set from the command line"
            )
        if policy.spool_dir is None:
            raise PolicyError("printer_file_not_allowed", "no spool folder is configured")
        assert u.path is not None
        if not _inside(u.path, policy.spool_dir):
            raise PolicyError(
                "printer_file_outside_spool",
                f"file:// printers must write inside {policy.spool_dir}",
            )
    elif u.scheme == "serial":
        assert u.device is not None
        if not (u.device.startswith("/dev/tty") or u.device.startswith("/dev/serial/")):
            raise PolicyError(
                "printer_device_not_allowed",
                "a serial printer is a /dev/tty* or /dev/serial/* device",
            )
    elif u.scheme == "tcp":
        assert u.host is not None and u.port is not None
        check_address(u.host, u.port, policy)
    return u


# --- python-escpos connections -------------------------------------------------------------


class AppendFile(File):
    """python-escpos' File printer, but appending (its own opens with ``wb``) and creating the
    parent folders."""

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        device: IO[bytes] | None = None
        try:
            Path(self.devfile).parent.mkdir(parents=True, exist_ok=True)
            device = open(self.devfile, "ab")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            if raise_not_found:
                raise PrinterError(f"cannot open {self.devfile}: {exc.strerror or exc}") from exc
        self.device = device


def open_printer(uri: str | PrinterURI, timeout: float = DEFAULT_TIMEOUT) -> Escpos:
    """An opened python-escpos printer for ``uri`` (``close()`` it when done).

    Raises :class:`PrinterError` when the device cannot be opened, and :class:`ValueError` for a
    bad URI."""
    u = as_uri(uri)
    printer: Escpos
    try:
        if u.scheme == "tcp":
            printer = Network(host=u.host, port=u.port, timeout=timeout, profile=u.profile)
        elif u.scheme == "usb":
            if not Usb.is_usable():
                raise PrinterError("USB printing needs the pyusb package", u.uri)
            kwargs: dict[str, Any] = {}
            if u.in_ep is not None:
                kwargs["in_ep"] = u.in_ep
            if u.out_ep is not None:
                kwargs["out_ep"] = u.out_ep
            printer = Usb(
                idVendor=u.vendor_id,
                idProduct=u.product_id,
                timeout=int(timeout * 1000),
                profile=u.profile,
                **kwargs,
            )
        elif u.scheme == "serial":
            if not Serial.is_usable():
                raise PrinterError("serial printing needs the pyserial package", u.uri)
            printer = Serial(
                devfile=u.device, baudrate=u.baudrate, timeout=timeout, profile=u.profile
            )
        else:
            printer = AppendFile(devfile=str(u.path), profile=u.profile)
        printer.open()
    except PrinterError:
        raise
    except ValueError as exc:
        # pyusb's NoBackendError: the libusb library itself is missing on this machine.
        if type(exc).__name__ == "NoBackendError":
            raise PrinterError(
                "USB printing needs the libusb 1.0 library (apt-get install libusb-1.0-0)", u.uri
            ) from exc
        raise PrinterError(_short(exc), u.uri) from exc
    except (EscposError, OSError, RuntimeError) as exc:
        raise PrinterError(_short(exc), u.uri) from exc
    return printer


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _tcp_reason(exc: OSError, u: PrinterURI, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer from {u.label} within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {u.label}"
    if isinstance(exc, socket.gaierror):
        return f"unknown host {u.host}"
    return f"{u.label}: {exc.strerror or _short(exc)}"


def _send_tcp(u: PrinterURI, data: bytes, timeout: float, policy: UriPolicy | None,
              ack_timeout: float | None) -> None:
    assert u.host is not None and u.port is not None
    host = u.host
    if policy is not None:
        # Connect to the very address that was checked: a name that resolves elsewhere between
        # the check and the connect (DNS rebinding) cannot redirect the job.
        try:
            addresses = _addresses(u.host, u.port, resolve=True)
        except PolicyError as exc:
            raise PrinterError(exc.reason, u.uri) from exc
        try:
            check_address(addresses[0], u.port, policy)
        except PolicyError as exc:
            raise PrinterError(exc.reason, u.uri) from exc
        host = addresses[0]
    try:
        sock = socket.create_connection((host, u.port), timeout=timeout)
    except OSError as exc:  # nothing was written: safe to send again
        raise PrinterError(_tcp_reason(exc, u, timeout), u.uri) from exc
    with sock:
        # ``timeout`` bounds the whole write (Python counts it for all of sendall), so a
        # printer that stopped reading costs at most that long.
        sock.settimeout(timeout)
        try:
            sock.sendall(data + (QUERY_PRINTER if ack_timeout is not None else b""))
            # Say we are done: a printer without real-time status acknowledges by reading to
            # the end and closing its side.
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise UnconfirmedError(
                f"{_tcp_reason(exc, u, timeout)} while sending: the slip may not have printed",
                u.uri) from exc
        if ack_timeout is None:
            _drain(sock, min(timeout, 1.0))
            return
        _await_ack(sock, u, len(_QUERIES.findall(data)) + 1, ack_timeout)


def _drain(sock: socket.socket, seconds: float) -> None:
    """Read (and drop) what the printer still sends until it closes, for ``seconds`` at most:
    closing with unread data would reset the connection."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return
        except OSError:
            return


def _await_ack(sock: socket.socket, u: PrinterURI, answers: int, ack_timeout: float) -> None:
    """Wait until the printer has answered every status query of the job (the last one was
    sent after the slip's last byte, so its answer means every byte was read), or closed the
    connection in order after reading to the end. Anything else within ``ack_timeout``
    (silence, a reset) raises :class:`UnconfirmedError`."""
    deadline = time.monotonic() + ack_timeout
    seen = 0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(256)
        except TimeoutError:
            break
        except OSError as exc:
            raise UnconfirmedError(
                f"{u.label}: connection lost before the slip was acknowledged "
                f"({exc.strerror or _short(exc)})", u.uri) from exc
        if not chunk:
            return  # read to our end of data, then closed: everything arrived
        seen += sum(1 for b in chunk if is_status_byte(b))
        if seen >= answers:
            return
    raise UnconfirmedError(
        f"{u.label} did not acknowledge the slip within {ack_timeout:g} s", u.uri)


def _append_file(u: PrinterURI, data: bytes, max_bytes: int | None) -> None:
    """Append to a ``file://`` printer; past ``max_bytes`` the file is first moved to
    ``NAME.1`` (replacing the previous one), so a demo or test spool never holds more than
    about twice the cap."""
    assert u.path is not None
    try:
        u.path.parent.mkdir(parents=True, exist_ok=True)
        if max_bytes is not None and max_bytes > 0:
            with contextlib.suppress(FileNotFoundError):
                if u.path.stat().st_size + len(data) > max_bytes:
                    os.replace(u.path, u.path.with_name(u.path.name + ".1"))
        with open(u.path, "ab") as fh:
            fh.write(data)
    except OSError as exc:
        raise PrinterError(f"cannot write {u.path}: {exc.strerror or exc}", u.uri) from exc


def send(
    uri: str | PrinterURI,
    data: bytes,
    timeout: float = DEFAULT_TIMEOUT,
    policy: UriPolicy | None = None,
    ack_timeout: float | None = DEFAULT_ACK_TIMEOUT,
    file_max_bytes: int | None = None,
) -> None:
    """Write raw ESC/POS bytes to the printer at ``uri``.

    TCP uses a plain socket with ``timeout`` for the connect and for the whole write, then
    (with ``ack_timeout``) waits for the printer to acknowledge the slip: a ``DLE EOT 1``
    status query follows the last byte and its answer, or the printer closing the connection
    after reading to the end, is the acknowledgement. ``file://`` appends (rotated past
    ``file_max_bytes``); USB and serial go through python-escpos. With ``policy`` the
    destination is checked again right before sending (a URI stored before the policy, or a
    name now resolving elsewhere). Raises :class:`PrinterError` with a short reason when
    nothing was written, :class:`UnconfirmedError` when bytes may have reached the printer
    without an acknowledgement."""
    u = as_uri(uri)
    if policy is not None and u.scheme != "tcp":
        try:
            check_policy(u, policy)
        except PolicyError as exc:
            raise PrinterError(exc.reason, u.uri) from exc
    if u.scheme == "tcp":
        _send_tcp(u, data, timeout, policy, ack_timeout)
        return
    if u.scheme == "file":
        _append_file(u, data, file_max_bytes)
        return
    printer = open_printer(u, timeout)
    try:
        printer._raw(data)
    except PrinterError:
        raise
    except Exception as exc:  # pyusb / pyserial raise their own types
        raise PrinterError(f"{u.label}: {_short(exc)}", u.uri) from exc
    finally:
        with contextlib.suppress(Exception):
            printer.close()
