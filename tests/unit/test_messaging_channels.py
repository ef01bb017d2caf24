"""The channel adapters against fake gateways on loopback: each answer of the documented
shapes (accepted, duplicate, invalid number, rate limited, 5xx, no answer) becomes the right
outcome, and the request carries the idempotency key the gateway sees."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from messaging import FileChannel, HttpSmsChannel, Message, ZnsChannel, masked
from messaging.text import without_diacritics
from tests.fakegateway import FakeSms, FakeZns


def message(kind: str = "near", to: str = "+84912345678", key: str = "ticket:1:near",
            text: str = "Quý khách số A005 sắp đến lượt") -> Message:
    return Message(channel="sms", kind=kind, to=to, text=text, idempotency_key=key,
                   ref="ticket:1", lang="vi",
                   data={"number": "A005", "ahead": 3, "counter": 4, "url": "http://x/t/abc"},
                   created_at=dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC))


@pytest.fixture
def sms() -> FakeSms:
    gw = FakeSms().start()
    gw.timeout_s = 1.5
    yield gw
    gw.stop()


@pytest.fixture
def zns() -> FakeZns:
    gw = FakeZns().start()
    gw.timeout_s = 1.5
    yield gw
    gw.stop()


def test_sms_accepted_then_recognised_as_a_duplicate(sms: FakeSms) -> None:
    ch = HttpSmsChannel(sms.config())
    first = ch.send(message(), 2.0)
    assert first.status == "sent" and first.provider_id
    body = sms.requests[0]["body"]
    assert body["Phone"] == "84912345678" and body["RequestId"] == "ticket:1:near"
    assert body["Content"] == "Quý khách số A005 sắp đến lượt"
    assert sms.requests[0]["headers"]["Idempotency-Key"] == "ticket:1:near"
    again = ch.send(message(), 2.0)  # a retry after a crash: the gateway knows the key
    assert again.status == "sent" and "already accepted" in again.detail
    assert list(sms.accepted) == ["ticket:1:near"] and sms.duplicates["ticket:1:near"] == 1


def test_sms_error_answers(sms: FakeSms) -> None:
    ch = HttpSmsChannel(sms.config())
    sms.invalid.add("84912345678")
    bad = ch.send(message(), 2.0)
    assert bad.status == "failed" and "108" in bad.detail
    sms.invalid.clear()
    sms.mode, sms.retry_after = "rate_limited", 7
    limited = ch.send(message(), 2.0)
    assert limited.status == "retry" and limited.retry_after == 7.0
    sms.mode = "down"
    down = ch.send(message(), 2.0)
    assert down.status == "retry" and "503" in down.detail
    sms.mode = "timeout"
    late = ch.send(message(), 0.5)
    assert late.status == "retry" and late.detail == "timeout"
    sms.stop()
    refused = ch.send(message(), 0.5)
    assert refused.status == "retry" and "connection" in refused.detail
    assert not sms.accepted


def test_sms_wrong_credentials_are_permanent_unless_listed_and_ascii_option(sms: FakeSms) -> None:
    wrong = HttpSmsChannel(sms.config(body={**sms.config()["body"], "ApiKey": "nope"}))
    out = wrong.send(message(), 2.0)
    assert out.status == "retry" and "101" in out.detail  # unknown code: transient
    plain = HttpSmsChannel(sms.config(ascii=True))
    assert plain.send(message(key="k2"), 2.0).status == "sent"
    assert sms.accepted["k2"]["body"]["Content"] == "Quy khach so A005 sap den luot"
    too_long = HttpSmsChannel(sms.config(max_length=10)).send(message(key="k3"), 2.0)
    assert too_long.status == "failed"


def test_zns_template_message_and_errors(zns: FakeZns) -> None:
    ch = ZnsChannel(zns.config())
    out = ch.send(message(), 2.0)
    assert out.status == "sent" and out.provider_id
    body = zns.requests[0]["body"]
    assert body == {"phone": "84912345678", "template_id": "301001",
                    "template_data": {"so_thu_tu": "A005", "con_lai": "3",
                                      "theo_doi": "http://x/t/abc"},
                    "tracking_id": "ticket:1:near"}
    assert ch.send(message(kind="booking_code", key="b"), 2.0).status == "failed"  # no template
    zns.invalid.add("84912345678")
    assert ch.send(message(key="x"), 2.0).status == "failed"
    zns.invalid.clear()
    token = ZnsChannel(zns.config(access_token="old")).send(message(key="y"), 2.0)
    assert token.status == "retry" and "-124" in token.detail  # waits for a new token
    zns.mode, zns.retry_after = "rate_limited", 5
    limited = ch.send(message(key="z"), 2.0)
    assert limited.status == "retry" and limited.retry_after == 5.0
    zns.mode = "down"
    assert ch.send(message(key="z"), 2.0).status == "retry"
    zns.mode = "timeout"
    assert ch.send(message(key="z"), 0.5).detail == "timeout"


def test_file_channel_writes_the_contract_fields(tmp_path: Path) -> None:
    path = tmp_path / "data" / "messages.jsonl"
    ch = FileChannel(path)
    assert ch.send(message(), 1.0).status == "sent"
    assert ch.send(message(kind="called", key="ticket:1:called"), 1.0).status == "sent"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 2
    for field in ("channel", "kind", "to", "text", "idempotency_key", "ref", "created_at",
                  "sent_at"):
        assert field in lines[0]
    assert lines[0]["to"] == "+84912345678" and lines[1]["kind"] == "called"


def test_masks_and_diacritics() -> None:
    assert masked("+84912345678") == "+84******678"
    assert "912345" not in masked("+84912345678")
    assert without_diacritics("Đến quầy số 3, Quý khách") == "Den quay so 3, Quy khach"
