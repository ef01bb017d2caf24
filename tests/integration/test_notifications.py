"""Messages to citizens through the API and the outbox: a phone number at issue, one "near"
message when N are ahead and one "called" message with the counter, never more; limits,
dropping late "near" messages, masking and deleting numbers, channel settings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.core.db import Database
from server.features import notifications
from server.models import OutboxMessage, TicketContact
from tests.fakegateway import FakeSms
from tests.support import statements_sent

PHONE = "0912 345 678"
E164 = "+84912345678"


@pytest.fixture
def app_settings(tmp_path: Path) -> dict[str, object]:
    return {"messages_file": str(tmp_path / "messages.jsonl"), "message_quiet_hours": ""}


@pytest.fixture(autouse=True)
def file_channel(app: Any, db: Database, clock: Any) -> None:
    """The province offers messages through the demo's file (kiosks then ask for a number)."""
    from server.core.lookups import get_site

    with db.write() as s:
        notifications.configure_channel(s, get_site(s, "PROV").id, "file", now=clock(),
                                        policy=app.extensions["motcua_outbox"].policy)


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "messages.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines()]


def rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at,
                                                             OutboxMessage.kind)))


def send_due(app: Any) -> int:
    return int(app.extensions["motcua_outbox"].dispatcher.run_once(wait=True))


def issue_with_phone(api: Any, service: str = "land", phone: str = PHONE,
                     consent: bool = True, lang: str = "vi") -> Any:
    return api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                    json={"service": service, "phone": phone, "phone_consent": consent,
                          "lang": lang})


def test_refusals_issue_nothing(api: Any, db: Database) -> None:
    r = issue_with_phone(api, phone="0281234567")  # a landline
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_phone"
    r = issue_with_phone(api, phone="12345")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_phone"
    r = issue_with_phone(api, consent=False)
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "phone_consent_required"
    assert "Quý khách" in r.get_json()["error"]["message"]
    ticket = api.issue("land")
    assert ticket["number"] == "A001"  # the refusals drew no number


def next_at_counter_1(api: Any) -> dict[str, Any] | None:
    """Call the next ticket at counter 1 (land), after marking the one it had a no-show."""
    called = api.call_next(1)
    if called is not None:
        assert api.act(called["id"], "no-show", json={}).status_code == 200, called
    return called


def test_near_then_called_never_more(api: Any, app: Any, db: Database,
                                     tmp_path: Path) -> None:
    for _ in range(5):
        api.issue("land")
    r = issue_with_phone(api)
    assert r.status_code == 201, r.get_json()
    mine = r.get_json()
    assert mine["ahead"] == 5
    assert mine["messages"] == {"phone": "+84******678", "near_ahead": 3,
                                "consent": notifications.CONSENT_VERSION}
    next_at_counter_1(api)  # 4 ahead
    assert not rows(db)
    next_at_counter_1(api)  # 3 ahead: near
    assert [(m.kind, m.status, m.recipient) for m in rows(db)] == [("near", "queued", E164)]
    send_due(app)
    next_at_counter_1(api)  # 2 ahead: nothing more
    next_at_counter_1(api)
    next_at_counter_1(api)
    called = api.call_next(1)
    assert called["id"] == mine["id"]
    api.act(mine["id"], "recall", json={})
    send_due(app)
    out = lines(tmp_path)
    assert [m["kind"] for m in out] == ["near", "called"]
    near, call = out
    assert near["to"] == E164 and near["channel"] == "file"
    assert "sắp đến lượt" in near["text"] and "còn 3 người" in near["text"]
    assert f"/t/{mine['token']}" in near["text"]
    assert near["idempotency_key"] == f"ticket:{mine['id']}:near"
    assert call["text"] == "Mời Quý khách số A006 đến quầy 1 (Phường Hạc Thành)."
    assert all(m.status == "sent" for m in rows(db)) and len(rows(db)) == 2


def test_english_ticket_and_already_near_at_issue(api: Any, app: Any, db: Database,
                                                  tmp_path: Path) -> None:
    api.issue("land")
    mine = issue_with_phone(api, lang="en").get_json()
    assert mine["ahead"] == 1
    assert [(m.kind, m.status) for m in rows(db)] == [("near", "dropped")]  # no late "near"
    next_at_counter_1(api)
    api.call_next(1)
    send_due(app)
    (call,) = lines(tmp_path)
    assert call["text"] == "Number A002, please come to counter 1 (Hac Thanh Ward)."


def test_near_for_a_ticket_called_before_sending_is_dropped(api: Any, app: Any, db: Database,
                                                            tmp_path: Path) -> None:
    for _ in range(4):
        api.issue("land")
    mine = issue_with_phone(api).get_json()
    next_at_counter_1(api)  # 3 ahead: near queued, not sent yet (gateway slow, say)
    for _ in range(3):
        next_at_counter_1(api)
    assert api.call_next(1)["id"] == mine["id"]
    send_due(app)
    assert [m["kind"] for m in lines(tmp_path)] == ["called"]
    near = next(m for m in rows(db) if m.kind == "near")
    assert near.status == "dropped" and "not sent late" in near.last_error


def test_daily_limit_per_number(api: Any, app: Any, db: Database, clock: Any) -> None:
    app.extensions["motcua_outbox"].policy.daily_limit = 2
    ids = []
    for _ in range(3):
        ids.append(issue_with_phone(api).get_json()["id"])  # each near at issue: dropped
        next_at_counter_1(api)
    statuses = [(m.kind, m.status, m.last_error) for m in rows(db) if m.kind == "called"]
    assert [s for _k, s, _e in statuses] == ["queued", "queued", "dropped"]
    assert "daily limit" in statuses[-1][2]


def test_numbers_deleted_after_the_business_day(api: Any, app: Any, db: Database,
                                                clock: Any) -> None:
    mine = issue_with_phone(api).get_json()
    api.call_next(1)
    send_due(app)
    with db.write() as s:
        assert notifications.purge_contacts(s, clock()) == 0  # same day: kept
    clock.advance(days=1)
    with db.write() as s:
        assert notifications.purge_contacts(s, clock()) == 1
    with db.read() as s:
        contact = s.get(TicketContact, mine["id"])
        assert contact.phone is None and contact.purged_at is not None
        assert contact.consent_version == notifications.CONSENT_VERSION
        recipients = {m.recipient for m in s.scalars(select(OutboxMessage))}
    assert recipients == {"+84******678"}


def test_channel_settings_inherited_and_test_message(api: Any, app: Any, db: Database) -> None:
    sms = FakeSms().start()
    try:
        r = api.call("PUT", "/api/v1/sites/PROV/channels/sms", "admin",
                     json={"config": sms.config(), "templates": {}})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["config"]["body"]["SecretKey"] == "***"
        r = api.call("GET", "/api/v1/sites/HT/channels", "supervisor")
        assert r.status_code == 200
        assert r.get_json()["delivery"] == "sms"
        assert r.get_json()["channels"][0]["inherited"] is True
        r = api.call("POST", "/api/v1/sites/HT/channels/sms/test", "admin",
                     json={"to": PHONE, "lang": "vi"})
        assert r.status_code == 202, r.get_json()
        assert r.get_json()["to"] == "+84******678"
        send_due(app)
        (accepted,) = sms.accepted.values()
        assert accepted["phone"] == "84912345678"
        assert "Tin nhắn thử" in accepted["body"]["Content"]
        too_long = api.call("PUT", "/api/v1/sites/HT/channels/sms", "admin",
                            json={"config": sms.config(max_length=40), "templates": {}})
        assert too_long.status_code == 422
        assert too_long.get_json()["error"]["code"] == "template_too_long"
        assert api.call("PUT", "/api/v1/sites/HT/channels/sms", "supervisor",
                        json={"config": sms.config()}).status_code == 403
        r = api.call("GET", "/api/v1/sites/HT/outbox", "supervisor")
        assert r.get_json()["counts"]["sms"] == {"sent": 1}
    finally:
        sms.stop()


def test_gateway_failing_raises_an_alert(api: Any, app: Any, db: Database) -> None:
    sms = FakeSms().start()
    try:
        api.call("PUT", "/api/v1/sites/HT/channels/sms", "admin",
                 json={"config": sms.config(), "templates": {}})
        sms.mode = "down"
        issue_with_phone(api)
        api.call_next(1)
        send_due(app)
        (msg,) = [m for m in rows(db) if m.status != "dropped"]
        assert msg.status == "queued" and msg.attempts == 1 and "503" in msg.last_error
        dash = api.call("GET", "/api/v1/sites/HT/dashboard", "supervisor").get_json()
        kinds = [a["kind"] for a in dash["alerts"]]
        assert "gateway_failing" in kinds, kinds
        offer = api.call("GET", "/api/v1/sites/HT/notifications", "kiosk").get_json()
        assert offer["available"] is True and offer["near_ahead"]["land"] == 3
    finally:
        sms.stop()


def test_channels_and_near_count_in_the_config_file(api: Any, app: Any, db: Database,
                                                    clock: Any) -> None:
    from server.core.auth import Principal
    from server.core.errors import AppError
    from server.features import siteconfig
    from server.models import MessageChannel, Service

    config = {"url": "http://127.0.0.1:9/sms/send",
              "headers": {"Authorization": "Basic c2VjcmV0"},
              "result_field": "CodeResult", "ok_codes": ["100"]}
    r = api.call("PUT", "/api/v1/sites/PROV/channels/sms", "admin",
                 json={"config": config, "templates": {"called": {
                     "vi": "Mời số {number} đến quầy {counter}."}}})
    assert r.status_code == 200, r.get_json()
    system = Principal(kind="system", id=None, role="system", site_id=None)
    with db.read() as s:
        doc = siteconfig.export_site(s, system, "PROV")
    channel = next(c for c in doc["channels"] if c["channel"] == "sms")
    assert channel["config"]["headers"]["Authorization"] == "***"
    ht = next(child for child in doc["children"] if child["site"]["code"] == "HT")
    land = next(sv for sv in ht["services"] if sv["code"] == "land")
    assert "notify_ahead" not in land  # the default
    land["notify_ahead"] = 5
    with db.write() as s:
        siteconfig.import_config(s, system, siteconfig.dump(doc), clock())
    with db.read() as s:
        row = s.scalar(select(MessageChannel).where(MessageChannel.channel == "sms"))
        assert {c.channel for c in s.scalars(select(MessageChannel))} == {"file", "sms"}
        assert row.config["headers"]["Authorization"] == "Basic c2VjcmV0"  # kept
        assert row.templates["called"]["vi"] == "Mời số {number} đến quầy {counter}."
        assert s.get(Service, api.world.services["land"]).notify_ahead == 5
    doc["channels"] = [{"channel": "pager", "config": {}}]
    with db.write() as s, pytest.raises(AppError) as refused:
        siteconfig.import_config(s, system, siteconfig.dump(doc), clock())
    assert "channels[0].channel" in str(refused.value.params)


def test_a_message_whose_key_is_stored_is_not_written_again(db: Database) -> None:
    """``enqueue`` says whether it wrote the row: the same idempotency key a second time writes
    nothing and says so (on PostgreSQL the insert's row count said 1 either way)."""
    from messaging.base import Message
    from server.features import outbox

    now = dt.datetime.now(dt.UTC)
    message = Message(channel="file", kind="test", to="+84900000000", text="x",
                      idempotency_key="same-key", ref="", lang="vi", created_at=now)
    with db.write() as s:
        assert outbox.enqueue(s, message) is True
    with db.write() as s:
        assert outbox.enqueue(s, message) is False
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


#: Statements of one call-next unit of work with the outbox's hook, when it writes the called
#: ticket's "called" message and the "near" message of the ticket now 3 ahead. Pinned: the
#: hook reuses the line the call read for the screens and reads only the first N+1 of it, so
#: the count does not grow with the line (it read every waiting ticket with a number, and
#: counted the places of those beyond the loaded heads one query each).
CALL_NEXT_STATEMENTS = {"sqlite": 35, "postgresql": 34}


def test_call_next_with_the_outbox_runs_a_fixed_number_of_statements(
        api: Any, app: Any, db: Database, clock: Any) -> None:

    from server.core.auth import Principal
    from server.features import tickets

    system = Principal(kind="system", id=None, role="system", site_id=None)
    counter = api.world.counters[1]

    def call_counted() -> tuple[int, dict[str, Any]]:
        with statements_sent(db.engine) as statements, db.write() as s:
            view = tickets.call_next(s, system, counter, clock(), "http://motcua.test")
        assert view is not None
        with db.write() as s:
            tickets.ticket_action(s, system, view["id"], "no_show", clock(), "")
        return len(statements), view

    def written() -> set[str]:
        return {m.idempotency_key for m in rows(db)}

    first = [issue_with_phone(api, phone=f"09123{i:05d}").get_json() for i in range(8)]
    short, called = call_counted()  # 8 waiting: the 5th now has 3 ahead
    assert called["id"] == first[0]["id"]
    assert {f"ticket:{first[0]['id']}:called", f"ticket:{first[4]['id']}:near"} <= written()
    for i in range(60):
        issue_with_phone(api, phone=f"09124{i:05d}")
    before = written()
    long, called = call_counted()  # 66 waiting, every one with a number
    assert called["id"] == first[1]["id"]
    assert written() - before == {f"ticket:{first[1]['id']}:called",
                                  f"ticket:{first[5]['id']}:near"}
    assert short == long == CALL_NEXT_STATEMENTS[db.engine.dialect.name], (short, long)
