"""Webhooks end to end: a site's subscription, events of its units of work written as outbox
rows, deliveries signed per Standard Webhooks (verified with the spec's reference library),
retries with backoff from a receiver answering 500, the dead-letter list and its retry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from messaging.webhook import new_secret
from server.core.db import Database
from server.models import OutboxMessage
from tests.webhookreceiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def webhook_rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "webhook")
                              .order_by(OutboxMessage.created_at)))


def send_due(app: Any) -> int:
    return int(app.extensions["motcua_outbox"].dispatcher.run_once(wait=True))


def subscribe(api: Any, url: str, secret: str, events: list[str], **extra: Any) -> Any:
    return api.call("PUT", "/api/v1/sites/PROV/channels/webhook", "admin",
                    json={"config": {"url": url, "secret": secret, "events": events,
                                     **extra}})


def test_signed_delivery_verifies_with_the_reference_library(
        api: Any, app: Any, db: Database, receiver: Receiver) -> None:
    secret = new_secret()
    r = subscribe(api, receiver.url, secret, ["ticket.*"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["config"]["secret"] == "***"
    seen = api.call("GET", "/api/v1/sites/HT/webhooks", "supervisor").get_json()
    assert seen["subscription"]["inherited"] is True
    assert seen["subscription"]["config"]["events"] == ["ticket.*"]

    ticket = api.issue("land")
    (row,) = webhook_rows(db)
    assert row.kind == "ticket.issued" and row.status == "queued"
    assert row.idempotency_key.startswith("msg_")
    send_due(app)
    (delivery,) = receiver.deliveries
    # The reference implementation checks the signature and the timestamp's tolerance.
    body = Webhook(secret).verify(delivery["body"], delivery["headers"])
    assert body["type"] == "ticket.issued"
    assert body["data"]["site"] == "HT" and body["data"]["ticket_id"] == ticket["id"]
    assert delivery["headers"]["webhook-id"] == row.idempotency_key
    assert delivery["headers"]["webhook-signature"].startswith("v1,")
    dt.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        Webhook(new_secret()).verify(delivery["body"], delivery["headers"])
    tampered = delivery["body"].replace(b"ticket.issued", b"ticket.called")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, delivery["headers"])
    assert [m.status for m in webhook_rows(db)] == ["sent"]


def test_unsubscribed_events_and_bad_settings(api: Any, app: Any, db: Database,
                                              receiver: Receiver) -> None:
    assert subscribe(api, receiver.url, new_secret(), ["dossier.*"]).status_code == 200
    api.issue("land")
    assert webhook_rows(db) == []  # ticket events are not subscribed
    for bad in ({"secret": "plain"}, {"events": ["print.*"]}, {"url": "ftp://x"}):
        config = {"url": receiver.url, "secret": new_secret(), "events": ["ticket.*"], **bad}
        r = api.call("PUT", "/api/v1/sites/HT/channels/webhook", "admin",
                     json={"config": config})
        assert r.status_code == 422, (bad, r.get_json())
        assert r.get_json()["error"]["code"] == "channel_config_invalid"


def test_500_retries_with_backoff_then_dead_letter_then_retry_delivers_once(
        api: Any, app: Any, db: Database, clock: Any, receiver: Receiver) -> None:
    clock.set(dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC))
    secret = new_secret()
    assert subscribe(api, receiver.url, secret, ["ticket.issued"],
                     max_attempts=3).status_code == 200
    receiver.fail = True
    api.issue("land")
    delays = []
    for attempt in (1, 2, 3):
        assert send_due(app) == 1
        (row,) = webhook_rows(db)
        assert row.attempts == attempt
        if attempt < 3:
            assert row.status == "queued" and "HTTP 500" in (row.last_error or "")
            delays.append((row.next_attempt_at - clock()).total_seconds())
            assert send_due(app) == 0  # not due before its backoff
            clock.advance(seconds=delays[-1] + 0.001)
    assert row.status == "failed", row.last_error
    assert delays[0] > 0 and delays[1] > delays[0], delays  # backoff grows
    assert len(receiver.deliveries) == 3
    ids = {d["headers"]["webhook-id"] for d in receiver.deliveries}
    assert ids == {row.idempotency_key}  # every attempt recognisable as the same delivery

    dead = api.call("GET", "/api/v1/sites/HT/dead-letters?channel=webhook",
                    "supervisor").get_json()["dead_letters"]
    assert [(d["id"], d["kind"], d["attempts"]) for d in dead] == [(row.id, "ticket.issued", 3)]
    assert api.call("POST", f"/api/v1/sites/HT/dead-letters/{row.id}/retry",
                    "supervisor").status_code == 403

    receiver.fail = False
    r = api.call("POST", f"/api/v1/sites/HT/dead-letters/{row.id}/retry", "admin")
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["status"] == "queued"
    again = api.call("POST", f"/api/v1/sites/HT/dead-letters/{row.id}/retry", "admin")
    assert again.status_code == 404  # a second click finds it queued: nothing more
    send_due(app)
    send_due(app)
    (ok,) = receiver.accepted()
    assert ok["headers"]["webhook-id"] == row.idempotency_key
    assert Webhook(secret).verify(ok["body"], ok["headers"])["type"] == "ticket.issued"
    (row,) = webhook_rows(db)
    assert row.status == "sent" and row.attempts == 1
    assert api.call("GET", "/api/v1/sites/HT/dead-letters",
                    "admin").get_json()["dead_letters"] == []
    assert len(receiver.deliveries) == 4


def test_test_message_goes_to_the_subscription(api: Any, app: Any, db: Database,
                                               receiver: Receiver) -> None:
    secret = new_secret()
    subscribe(api, receiver.url, secret, ["rating.*"])
    r = api.call("POST", "/api/v1/sites/PROV/channels/webhook/test", "admin",
                 json={"to": "https://ignored.invalid/", "lang": "en"})
    assert r.status_code == 202, r.get_json()
    send_due(app)
    (delivery,) = receiver.deliveries
    body = Webhook(secret).verify(delivery["body"], delivery["headers"])
    assert body["type"] == "webhook.test" and "Test message" in body["data"]["text"]
    assert json.loads(delivery["body"]) == body
