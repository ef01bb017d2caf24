"""The address of the client of the current request (rate limits, logs).

Until the proxy-aware helper (``X-Forwarded-For`` from ``MOTCUA_FORWARDED_ALLOW_IPS``, see
ARCHITECTURE.md) is in place, this is the socket's peer address; every caller asks here, so
changing how the address is found is one line."""

from __future__ import annotations

from flask import request


def client_address() -> str:
    return request.remote_addr or "unknown"
