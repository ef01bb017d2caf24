"""Request-rate limits of the REST API (Flask-Limiter), counted in Redis when
``MOTCUA_REDIS_URL`` is set (so a limit holds across every node) and in memory otherwise.

- every ``/api/v1`` request: ``rate_api`` per caller (its bearer token, else its signed-in
  user, else its client address);
- issuing a ticket: ``rate_issue`` per device or token (a kiosk: a few at once, then about one
  every 3 s; a person takes longer than that at a kiosk); only tickets actually issued count;
- asking for a pairing code (public): ``rate_pairing`` per client address.

A refused request gets 429 with ``Retry-After`` (seconds) and the error code ``rate_limited``.
The limit strings are in ``server/config.py`` (``MOTCUA_RATE_*``, docs/security.md)."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from flask import Flask, Response, current_app, request, session
from flask_limiter import Limiter, RequestLimit

from server.api.http import error_response
from server.core.errors import AppError
from server.web.client import client_address

log = logging.getLogger("motcua.limits")


def _settings() -> Any:
    return current_app.extensions["motcua"].settings


def caller_key() -> str:
    """Who is asking: the bearer token (a device or a staff token), else the signed-in user
    (the session cookie), else the client address."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "tok:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    uid = session.get("uid")
    if isinstance(uid, int):
        return f"user:{uid}"
    return "addr:" + client_address()


def address_key() -> str:
    return "addr:" + client_address()


def _refused(limit: RequestLimit) -> Response:
    """The 429 answer: the catalogue's ``rate_limited`` error with ``Retry-After``."""
    resp = error_response(AppError("rate_limited"))
    resp.headers["Retry-After"] = str(max(1, math.ceil(limit.reset_at - time.time())))
    return resp


def _not_api() -> bool:
    return not request.path.startswith("/api/")


limiter = Limiter(
    caller_key,
    application_limits=[lambda: _settings().rate_api],
    application_limits_exempt_when=_not_api,
    headers_enabled=False,
    strategy="moving-window",
    # A Redis outage must not stop the API: the request passes, the error is logged.
    swallow_errors=True,
    on_breach=_refused,
    key_prefix="motcua",
)


def init_app(app: Flask) -> None:
    settings = app.extensions["motcua"].settings
    app.config["RATELIMIT_ENABLED"] = settings.rate_limits
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    limiter.init_app(app)


def issued(resp: Response) -> bool:
    return resp.status_code == 201


# Per device or token: only what was actually issued counts (a replay with the same
# Idempotency-Key answers 200 and costs nothing; a refused request neither).
issue_limit = limiter.limit(
    lambda: _settings().rate_issue, key_func=caller_key, deduct_when=issued,
    override_defaults=False,
)
pairing_limit = limiter.limit(
    lambda: _settings().rate_pairing, key_func=address_key, override_defaults=False
)



def _phone_key() -> str:
    """The phone number a booking sends its one-time code to (as typed: digits only), so one
    number cannot be flooded with codes from many addresses."""
    data = request.get_json(silent=True, cache=True)
    raw = data.get("phone") if isinstance(data, dict) else None
    digits = "".join(ch for ch in str(raw or "") if ch.isdigit())[-9:]
    return "phone:" + (digits or "none")


# Bookings held (each sends a one-time code): per address and per phone number; only holds
# actually made count.
booking_limit = limiter.limit(
    lambda: _settings().rate_booking, key_func=address_key, deduct_when=issued,
    override_defaults=False,
)
booking_phone_limit = limiter.limit(
    lambda: _settings().rate_booking_phone, key_func=_phone_key, deduct_when=issued,
    override_defaults=False,
)
# Confirmation codes tried, per address (a wrong code counts too).
booking_confirm_limit = limiter.limit(
    lambda: _settings().rate_booking_confirm, key_func=address_key, override_defaults=False
)
