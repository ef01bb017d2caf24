"""Webhooks signed per the Standard Webhooks specification (https://www.standardwebhooks.com).

Each delivery is one ``POST`` of a JSON body ``{"type", "timestamp", "data"}`` (the payload
documented in docs/api.md) with the three headers of the specification:

* ``webhook-id``: the outbox message's idempotency key, the same on every attempt, so a
  receiver recognises a delivery repeated after a crash or a retry from the dead letters;
* ``webhook-timestamp``: seconds since the epoch, of this attempt;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` with the
  subscription's secret (``whsec_`` + base64), computed by the ``standardwebhooks`` library.

The outbox message's ``to`` is the receiver's URL and its ``data`` the payload; the secret is
in the channel's settings (never in the message row). Answers: 2xx sent; 5xx, 408, 429 and no
answer are retried with the outbox's backoff; 410 Gone and other 4xx are permanent (a dead
letter, which an administrator may send again).

Configuration (a dict, from the site's ``webhook`` channel settings)::

    url:          the receiver (https in production; http allowed for a local receiver)
    secret:       whsec_<base64>, the signing secret shared with the receiver
    events:       the event types sent, with ``*`` patterns (e.g. ["ticket.*", "dossier.*"])
    max_attempts: attempts before a delivery becomes a dead letter (default: the outbox's)
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook

from messaging.base import Message, Outcome

#: Families of events a subscription may name (``family.*`` or an exact type).
EVENT_FAMILIES = ("ticket", "dossier", "rating")


def new_secret() -> str:
    """A fresh signing secret in the specification's format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_patterns(patterns: Any) -> list[str]:
    """The subscription's event patterns, each within a known family; ValueError otherwise."""
    if not isinstance(patterns, list) or not patterns:
        raise ValueError("events: a list such as [\"ticket.*\", \"dossier.*\"]")
    out = []
    for p in patterns:
        family = str(p).split(".", 1)[0]
        if family not in EVENT_FAMILIES or "." not in str(p):
            raise ValueError(f"events: {p!r} (families: {', '.join(EVENT_FAMILIES)})")
        out.append(str(p))
    return out


def matches(patterns: list[str], event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def body_bytes(message: Message) -> bytes:
    """The exact bytes sent and signed (compact JSON, UTF-8)."""
    return json.dumps(message.data, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class WebhookChannel:
    config: dict[str, Any] = field(default_factory=dict)
    name: str = "webhook"
    max_length: int | None = None

    def __post_init__(self) -> None:
        c = self.config
        if not str(c.get("url") or "").startswith(("https://", "http://")):
            raise ValueError("a webhook needs the receiver's url (https://…)")
        secret = str(c.get("secret") or "")
        if not secret.startswith("whsec_"):
            raise ValueError("a webhook needs a secret whsec_<base64>")
        self._signer = Webhook(secret)  # raises on a secret that is not base64
        check_patterns(c.get("events"))
        self.max_attempts: int | None = (int(c["max_attempts"]) if c.get("max_attempts")
                                         else None)

    def headers(self, message: Message, at: dt.datetime) -> dict[str, str]:
        body = body_bytes(message).decode()
        return {
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._signer.sign(message.idempotency_key, at, body),
        }

    def send(self, message: Message, timeout: float) -> Outcome:
        data = body_bytes(message)
        req = urllib.request.Request(message.to, data=data, method="POST")
        req.add_header("Content-Type", "application/json")
        for name, value in self.headers(message, dt.datetime.now(dt.UTC)).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Outcome.sent(f"HTTP {resp.status}")
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = exc.headers.get("Retry-After")
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            if status >= 500 or status in (408, 429):
                return Outcome.retry(f"receiver answered HTTP {status}", wait)
            return Outcome.failed(f"receiver refused: HTTP {status}")
        except TimeoutError:
            return Outcome.retry("timeout")
        except (urllib.error.URLError, OSError) as exc:
            return Outcome.retry(f"connection failed: {getattr(exc, 'reason', exc)}")
