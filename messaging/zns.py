"""Zalo Notification Service (ZNS): template messages to a phone number's Zalo account.

The API takes ``POST`` with the Official Account's ``access_token`` header and the body
``{"phone": "84…", "template_id": "…", "template_data": {…}, "tracking_id": "…"}``; it answers
``{"error": 0, "message": "Success", "data": {"msg_id": "…"}}``, or a negative ``error`` code.
The ``tracking_id`` is the message's idempotency key: Zalo reports it back with the message, so
a retry after a crash is recognisable there.

Configuration::

    url:          default https://business.openapi.zalo.me/message/template
    access_token: the OA's access token
    templates:    per message kind: {"template_id": "…", "data": {"field": "{number}", …}};
                  "{…}" names a field of the message's data (number, counter, service, url,
                  ahead, site, text); a kind without a template fails permanently
    max_length:   the longest value of a template field (default 30, ZNS's own limit for
                  most parameter types)
    invalid_errors / retry_errors / rate_limited_errors: error codes, see the defaults below
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from messaging import http
from messaging.base import Message, Outcome
from messaging.phone import formatted

DEFAULT_URL = "https://business.openapi.zalo.me/message/template"
#: Transient errors: unknown error (-100), an access token expired or not yet renewed (-124,
#: messages wait for the new token instead of being lost).
RETRY_ERRORS = (-100, -124)
#: Sending too fast or the OA's quota for now used up: wait and try again.
RATE_LIMITED_ERRORS = (-144,)
#: Everything else (invalid phone -108, template id -109, template data -112, no Zalo account
#: -118, user refused ZNS -119…) is permanent for this message.


@dataclass
class ZnsChannel:
    config: dict[str, Any] = field(default_factory=dict)
    name: str = "zns"

    def __post_init__(self) -> None:
        self.max_length: int | None = int(self.config.get("max_length") or 30)
        self._retry = {int(v) for v in self.config.get("retry_errors") or RETRY_ERRORS}
        self._rate = {int(v) for v in self.config.get("rate_limited_errors")
                      or RATE_LIMITED_ERRORS}

    def request_body(self, message: Message) -> dict[str, Any] | None:
        template = (self.config.get("templates") or {}).get(message.kind)
        if not template or not template.get("template_id"):
            return None
        values = {k: v for k, v in message.data.items() if isinstance(k, str)}
        values.setdefault("text", message.text)
        data = http.fill(template.get("data") or {}, values)
        return {
            "phone": formatted(message.to, "84"),
            "template_id": str(template["template_id"]),
            "template_data": {k: str(v) for k, v in data.items()},
            "tracking_id": message.idempotency_key,
        }

    def send(self, message: Message, timeout: float) -> Outcome:
        body = self.request_body(message)
        if body is None:
            return Outcome.failed(f"no ZNS template for {message.kind}")
        too_long = [k for k, v in body["template_data"].items()
                    if self.max_length is not None and len(v) > self.max_length]
        if too_long:
            return Outcome.failed(f"template fields too long: {', '.join(too_long)}")
        headers = {"access_token": str(self.config.get("access_token") or "")}
        answer = http.request("POST", str(self.config.get("url") or DEFAULT_URL), body,
                              headers, timeout)
        return self.outcome(answer)

    def outcome(self, answer: http.Answer) -> Outcome:
        if answer.status == 0:
            return Outcome.retry(answer.error or "no answer")
        if answer.status == 429:
            return Outcome.retry("rate limited (HTTP 429)", answer.retry_after)
        if answer.status >= 500:
            return Outcome.retry(f"ZNS error HTTP {answer.status}", answer.retry_after)
        error = http.lookup(answer.body, "error")
        try:
            code = int(error) if error is not None else None
        except (TypeError, ValueError):
            code = None
        detail = str(http.lookup(answer.body, "message") or "")[:120]
        if code == 0 and 200 <= answer.status < 300:
            msg_id = http.lookup(answer.body, "data.msg_id")
            return Outcome.sent("accepted", None if msg_id is None else str(msg_id))
        if code is None:
            return Outcome.retry(f"unexpected answer HTTP {answer.status}")
        if code in self._rate:
            return Outcome.retry(f"rate limited ({code} {detail})", answer.retry_after)
        if code in self._retry:
            return Outcome.retry(f"ZNS {code} {detail}")
        return Outcome.failed(f"ZNS {code} {detail}")
