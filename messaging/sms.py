"""SMS over an HTTP gateway, configured rather than coded: the Vietnamese brand-name SMS
gateways each have their own JSON API, but all take a POST with credentials, a brand name, the
number, the text and a request id, and answer a result code in the JSON body.

Configuration (a dict, from the site's channel settings)::

    url:            the gateway's send endpoint (required)
    method:         POST (default) or PUT
    headers:        extra headers, e.g. {"Authorization": "Basic ..."} (credentials)
    body:           the JSON body as a template; strings "{to}", "{text}", "{brandname}",
                    "{idempotency_key}", "{ref}", "{kind}" are filled in
    brandname:      the registered sender name
    phone_format:   "84" (default: 84912345678), "0" (0912345678) or "e164" (+84912345678)
    ascii:          true to send Vietnamese without diacritics (cheaper single-part SMS)
    max_length:     the longest text accepted (default 459: three parts)
    idempotency_header: header carrying the idempotency key (default "Idempotency-Key")
    result_field:   where the gateway puts its result code (e.g. "CodeResult"; empty: none,
                    then any 2xx answer means sent)
    ok_codes:       result codes meaning accepted (e.g. ["100"])
    duplicate_codes: codes meaning "this request id was already accepted" (sent, not again)
    rate_limited_codes: codes meaning "too fast, try later" (as well as HTTP 429)
    invalid_codes:  codes that are permanent (an invalid number, a blocked number, a template
                    refused); any other code is treated as transient
    id_field:       where the gateway puts its message id (e.g. "SMSID")
    retry_after_field: where it says how long to wait when rate limited (seconds)

HTTP 5xx, 408, 429 and no answer (timeout, refused connection) are transient; other 4xx
answers are permanent (the request itself is wrong and would be refused again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from messaging import http
from messaging.base import Message, Outcome
from messaging.phone import formatted
from messaging.text import without_diacritics

DEFAULT_BODY = {"to": "{to}", "text": "{text}", "sender": "{brandname}",
                "request_id": "{idempotency_key}"}


def _codes(values: Any) -> frozenset[str]:
    return frozenset(str(v) for v in (values or []))


@dataclass
class HttpSmsChannel:
    """An SMS gateway reached over HTTP/JSON (see the module docstring for ``config``)."""

    config: dict[str, Any] = field(default_factory=dict)
    name: str = "sms"

    def __post_init__(self) -> None:
        c = self.config
        if not c.get("url"):
            raise ValueError("an SMS channel needs the gateway's url")
        self.max_length: int | None = int(c.get("max_length") or 459)
        self._ok = _codes(c.get("ok_codes"))
        self._duplicate = _codes(c.get("duplicate_codes"))
        self._rate = _codes(c.get("rate_limited_codes"))
        self._invalid = _codes(c.get("invalid_codes"))

    def text_for(self, message: Message) -> str:
        return without_diacritics(message.text) if self.config.get("ascii") else message.text

    def request_body(self, message: Message) -> Any:
        values = {
            "to": formatted(message.to, str(self.config.get("phone_format") or "84")),
            "text": self.text_for(message),
            "brandname": self.config.get("brandname") or "",
            "idempotency_key": message.idempotency_key,
            "ref": message.ref,
            "kind": message.kind,
        }
        return http.fill(self.config.get("body") or DEFAULT_BODY, values)

    def send(self, message: Message, timeout: float) -> Outcome:
        c = self.config
        text = self.text_for(message)
        if self.max_length is not None and len(text) > self.max_length:
            return Outcome.failed(f"text longer than {self.max_length} characters")
        headers = {str(k): str(v) for k, v in (c.get("headers") or {}).items()}
        headers[str(c.get("idempotency_header") or "Idempotency-Key")] = message.idempotency_key
        answer = http.request(str(c.get("method") or "POST"), str(c["url"]),
                              self.request_body(message), headers, timeout)
        return self.outcome(answer)

    def outcome(self, answer: http.Answer) -> Outcome:
        c = self.config
        code = http.lookup(answer.body, str(c.get("result_field") or ""))
        code_s = None if code is None or not c.get("result_field") else str(code)
        provider = http.lookup(answer.body, str(c.get("id_field") or ""))
        provider_id = None if provider is None or not c.get("id_field") else str(provider)
        waited = http.lookup(answer.body, str(c.get("retry_after_field") or ""))
        retry_after = answer.retry_after
        if retry_after is None and c.get("retry_after_field") and waited is not None:
            try:
                retry_after = float(waited)
            except (TypeError, ValueError):
                retry_after = None
        if answer.status == 0:
            return Outcome.retry(answer.error or "no answer")
        if answer.status == 429 or (code_s is not None and code_s in self._rate):
            return Outcome.retry(f"rate limited (HTTP {answer.status}, code {code_s})",
                                 retry_after)
        if answer.status >= 500 or answer.status == 408:
            return Outcome.retry(f"gateway error HTTP {answer.status}", retry_after)
        if code_s is not None and code_s in self._invalid:
            return Outcome.failed(f"refused: code {code_s}")
        if 200 <= answer.status < 300:
            if code_s is None or code_s in self._ok:
                return Outcome.sent(f"HTTP {answer.status}", provider_id)
            if code_s in self._duplicate:
                return Outcome.sent(f"already accepted (code {code_s})", provider_id)
            return Outcome.retry(f"unexpected code {code_s}")
        if answer.status == 409 and code_s in self._duplicate | {None}:
            return Outcome.sent("already accepted (HTTP 409)", provider_id)
        return Outcome.failed(f"refused: HTTP {answer.status}" +
                              (f", code {code_s}" if code_s is not None else ""))
