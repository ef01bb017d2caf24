"""The client's address: ``request.remote_addr`` after the trusted proxies' X-Forwarded-For.

Behind nginx every request comes from 127.0.0.1; the citizen's address is the last
``X-Forwarded-For`` entry, added by the proxy. That header is believed only when the request
comes from an address in ``MOTCUA_FORWARDED_ALLOW_IPS`` (default ``127.0.0.1``, as gunicorn
does; addresses or networks, comma separated, ``*`` for any): anyone else could write any
address into it. :func:`trust_proxies` installs werkzeug's ProxyFix behind that check;
:func:`client_address` is what sign-in throttling, rate limits, audit and logs use.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix


def parse_allowed(text: str) -> tuple[Any, ...] | None:
    """``"127.0.0.1, 10.0.0.0/8"`` → networks; ``"*"`` → None (any proxy is believed)."""
    nets = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if part == "*":
            return None
        if part:
            nets.append(ipaddress.ip_network(part, strict=False))
    return tuple(nets)


class TrustedProxyFix:
    """ProxyFix (one proxy: X-Forwarded-For, -Proto, -Host) for requests whose direct peer is
    a trusted proxy; every other request keeps its own address."""

    def __init__(self, wsgi_app: Any, allowed: str) -> None:
        self.wsgi_app = wsgi_app
        self.fixed = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=1)
        self.allowed = parse_allowed(allowed)

    def trusted(self, peer: str | None) -> bool:
        if self.allowed is None:
            return True
        try:
            addr = ipaddress.ip_address((peer or "").split("%")[0])
        except ValueError:
            return False
        return any(addr in net for net in self.allowed)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        return self.wsgi_app(environ, start_response)


def trust_proxies(app: Any, allowed: str) -> None:
    app.wsgi_app = TrustedProxyFix(app.wsgi_app, allowed)


def client_address() -> str:
    """The address of the client of the current request (see the module's docstring)."""
    return request.remote_addr or "unknown"


# Paths whose last part is a secret (a citizen's tracking token, a booking's token) and query
# values named like one: masked before a request is logged (access lines, errors).
_SECRET_PATH = re.compile(
    r"^(/t/|/d/|/b/|/api/v1/track/|/api/v1/dossier-track/|/api/v1/bookings/)([^/]+)"
)
_SECRET_QUERY = re.compile(r"(^|&)((?:[a-z_]*token|secret|code)=)[^&]*", re.IGNORECASE)
MASK = "***"


def redact_path(path: str) -> str:
    """``/t/AbC123...`` → ``/t/***`` (also /d/, /b/, the tracking and booking API)."""
    return _SECRET_PATH.sub(lambda m: m.group(1) + MASK, path)


def redact_query(query: str) -> str:
    """``token=AbC&lang=vi`` → ``token=***&lang=vi``."""
    return _SECRET_QUERY.sub(lambda m: m.group(1) + m.group(2) + MASK, query)
