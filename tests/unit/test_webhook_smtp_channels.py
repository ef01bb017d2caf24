"""The webhook and e-mail channels alone: Standard Webhooks signatures checked by the spec's
reference library, answers sorted into outcomes; an SMTP server from aiosmtpd on loopback
receives the e-mail with the outbox's key as its Message-ID."""

from __future__ import annotations

import datetime as dt
import email
from collections.abc import Iterator
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from messaging.base import Message
from messaging.smtp import SmtpChannel, message_id
from messaging.webhook import WebhookChannel, check_patterns, matches, new_secret
from tests.webhookreceiver import Receiver

SMTP_PORT = 19425  # this suite's range


def hook(key: str = "msg_abc", data: dict[str, Any] | None = None, to: str = "") -> Message:
    return Message(channel="webhook", kind="ticket.called", to=to or "http://127.0.0.1:9/x",
                   text="ticket.called", idempotency_key=key, ref="site:HT",
                   data=data or {"type": "ticket.called", "timestamp": "2026-11-23T02:00:00Z",
                                 "data": {"site": "HT", "number": "A001", "counter": 3}})


def test_signature_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    ch = WebhookChannel({"url": "https://example.invalid/h", "secret": secret,
                         "events": ["ticket.*"]})
    m = hook(data={"type": "dossier.changed", "timestamp": "x",
                   "data": {"site": "HT", "name": "Hạc Thành"}})
    at = dt.datetime.now(dt.UTC)
    headers = ch.headers(m, at)
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    from messaging.webhook import body_bytes
    assert Webhook(secret).verify(body_bytes(m), headers)["data"]["name"] == "Hạc Thành"
    old = ch.headers(m, at - dt.timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):  # outside the spec's tolerance
        Webhook(secret).verify(body_bytes(m), old)


def test_settings_are_checked() -> None:
    good = {"url": "https://example.invalid/h", "secret": new_secret(), "events": ["rating.*"]}
    WebhookChannel(good)
    for bad in ({"url": ""}, {"secret": "whsec_!!notbase64"}, {"secret": "abc"},
                {"events": []}, {"events": ["queue.*"]}, {"events": "ticket.*"}):
        with pytest.raises(ValueError):
            WebhookChannel({**good, **bad})
    assert check_patterns(["ticket.*", "dossier.changed"]) == ["ticket.*", "dossier.changed"]
    assert matches(["ticket.*"], "ticket.called") and not matches(["ticket.*"], "rating.added")


def test_answers_become_outcomes() -> None:
    r = Receiver().start()
    try:
        ch = WebhookChannel({"url": r.url, "secret": new_secret(), "events": ["ticket.*"],
                             "max_attempts": 4})
        assert ch.max_attempts == 4
        assert ch.send(hook(to=r.url), 2.0).status == "sent"
        r.fail = True
        out = ch.send(hook(to=r.url), 2.0)
        assert out.status == "retry" and "500" in out.detail
        assert [d["headers"]["webhook-id"] for d in r.deliveries] == ["msg_abc", "msg_abc"]
    finally:
        r.stop()
    gone = ch.send(hook(to="http://127.0.0.1:1/none"), 1.0)
    assert gone.status == "retry" and "connection" in gone.detail


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[Envelope, email.message.EmailMessage]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any,
                          envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=default_policy)
        self.received.append((envelope, msg))  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield handler
    controller.stop()


def mail(to: str, key: str = "test:1:email:1") -> Message:
    return Message(channel="email", kind="test", to=to, idempotency_key=key, ref="site:HT",
                   text="Tin nhắn thử của Phường Hạc Thành qua kênh email.", lang="vi")


def test_smtp_server_receives_the_mail(inbox: Inbox) -> None:
    ch = SmtpChannel({"host": "127.0.0.1", "port": SMTP_PORT, "security": "none",
                      "from": "Trung tâm PVHCC <noreply@motcua.invalid>"})
    out = ch.send(mail("citizen@example.vn"), 5.0)
    assert out.status == "sent", out
    ((envelope, msg),) = inbox.received
    assert envelope.rcpt_tos == ["citizen@example.vn"]
    assert envelope.mail_from == "noreply@motcua.invalid"
    assert msg["Message-ID"] == message_id("test:1:email:1") == "<test.1.email.1@motcua>"
    assert msg["Subject"] == "Thông báo từ Trung tâm Phục vụ hành chính công"
    assert msg.get_content().strip() == "Tin nhắn thử của Phường Hạc Thành qua kênh email."
    refused = ch.send(mail("nobody@example.vn"), 5.0)
    assert refused.status == "failed" and "550" in refused.detail
    assert ch.send(mail("not an address"), 5.0).status == "failed"
    assert len(inbox.received) == 1


def test_smtp_server_away_is_retried() -> None:
    ch = SmtpChannel({"host": "127.0.0.1", "port": SMTP_PORT + 1, "security": "none",
                      "from": "noreply@motcua.invalid"})
    assert ch.send(mail("citizen@example.vn"), 2.0).status == "retry"
    with pytest.raises(ValueError):
        SmtpChannel({"host": "127.0.0.1", "from": "x@y.z", "security": "tls1"})
