"""The one interface every outbound message channel implements.

A *message* is what the outbox hands to a channel: who it goes to, the rendered text, the
structured data a template-based gateway needs, and an idempotency key that the channel passes
on to the receiving side (as a header, a tracking id or a field) so that a retry after a crash
is recognisable there. A channel answers with an :class:`Outcome`:

* ``sent``: the receiving side accepted the message (``provider_id`` is its own id, if any);
* ``retry``: a transient failure (a 5xx answer, a timeout, a refused connection, rate limited);
  ``retry_after`` is the delay the gateway asked for, in seconds, when it said one;
* ``failed``: a permanent refusal (an invalid number, a rejected template, a 4xx answer other
  than rate limiting): the outbox stops trying and keeps the message as a dead letter.

A channel never raises for a gateway's answer; an exception out of :meth:`Channel.send` is
treated by the outbox as ``retry`` (a bug or a network error it did not foresee), and a channel
must not write anything anywhere else (the outbox records attempts, errors and outcomes).

This package imports nothing else of ours, so channels can be tested and reused alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: Channel names known to the outbox and its metrics (``motcua_outbox_*{channel=...}``).
CHANNEL_NAMES = ("print", "sms", "zns", "email", "webhook", "file")

Status = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Message:
    """One message to send.

    ``channel``: the channel's name (``sms``, ``zns``, ``file``...); ``kind``: what it says
    (``near``, ``called``, ``booking_code``, ``test``...), used to pick a template;
    ``to``: the full address (an E.164 phone number, an e-mail address or a URL);
    ``text``: the rendered text in ``lang`` (``vi`` or ``en``); ``data``: the template's fields
    (ticket number, counter, tracking link...) for channels that send structured templates;
    ``idempotency_key``: the same for every attempt of this message, shown to the receiver;
    ``ref``: what caused it (``ticket:123``, ``booking:AB12``); ``created_at``: UTC, when the
    cause committed."""

    channel: str
    kind: str
    to: str
    text: str
    idempotency_key: str
    ref: str
    lang: str = "vi"
    data: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class Outcome:
    """What a channel made of one attempt (see the module docstring)."""

    status: Status
    detail: str = ""
    retry_after: float | None = None
    provider_id: str | None = None

    @staticmethod
    def sent(detail: str = "", provider_id: str | None = None) -> Outcome:
        return Outcome("sent", detail, None, provider_id)

    @staticmethod
    def retry(detail: str, retry_after: float | None = None) -> Outcome:
        return Outcome("retry", detail, retry_after)

    @staticmethod
    def failed(detail: str) -> Outcome:
        return Outcome("failed", detail)


@runtime_checkable
class Channel(Protocol):
    """A way out for messages. ``name`` is one of :data:`CHANNEL_NAMES`; ``max_length`` is the
    longest text the channel accepts (templates are checked against it), ``None`` for no limit.
    :meth:`send` makes one attempt within ``timeout`` seconds and returns its outcome."""

    name: str
    max_length: int | None

    def send(self, message: Message, timeout: float) -> Outcome: ...
