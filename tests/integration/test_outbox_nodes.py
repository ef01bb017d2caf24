"""Two app nodes on PostgreSQL + Redis, both running the outbox worker, against a fake SMS
gateway on loopback:

* one node is SIGKILLed while it is sending: every "near" and "called" message still reaches
  the gateway, and no idempotency key is accepted twice (a message the killed node had handed
  over is sent again by the other node once its lease expires, and the gateway recognises it);
* the gateway is down for two minutes: every message is delivered afterwards, none is lost,
  and the "near" messages of tickets called meanwhile are dropped rather than sent late.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from server.core.db import Database
from server.models import OutboxMessage, Ticket
from tests.fakegateway import FakeSms
from tests.smscluster import sms_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

OUTAGE_S = 120.0


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[dict[str, Any]]:
    # each send takes a while (0.4 s): a kill finds some in flight
    with sms_cluster(tmp_path, redis_url, "motcua_he20a_outbox", rate_per_second=50,
                     delay_s=0.4, env={"MOTCUA_OUTBOX_MAX_DELAY_S": "8"}) as cluster:
        yield cluster


def issue(base: str, kiosk: str, phone: str) -> dict[str, Any]:
    r = requests.post(f"{base}/api/v1/sites/HACTHANH/tickets", timeout=10,
                      headers={"Authorization": f"Bearer {kiosk}",
                               "Idempotency-Key": uuid.uuid4().hex},
                      json={"service": "civil", "phone": phone, "phone_consent": True})
    assert r.status_code == 201, r.text
    return dict(r.json())


def call_and_release(base: str, clerk: tuple[str, int]) -> dict[str, Any]:
    """Call the next civil ticket at the clerk's counter, then mark it a no-show (the
    counter is free for the next call)."""
    headers = {"Authorization": f"Bearer {clerk[0]}"}
    r = requests.post(f"{base}/api/v1/counters/{clerk[1]}/call-next", timeout=10,
                      headers=headers)
    assert r.status_code == 200, r.text
    ticket = dict(r.json()["ticket"])
    r = requests.post(f"{base}/api/v1/tickets/{ticket['id']}/no-show", json={}, timeout=10,
                      headers=headers)
    assert r.status_code == 200, r.text
    return ticket


def rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage)))


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)


def settled(db: Database) -> bool:
    return all(m.status in ("sent", "dropped", "failed") for m in rows(db))


def test_a_node_killed_while_sending_loses_nothing_and_sends_nothing_twice(
        cluster: dict[str, Any]) -> None:
    gw: FakeSms = cluster["gateway"]
    db: Database = cluster["db"]
    n1, n2 = cluster["nodes"]
    kiosk = cluster["creds"]["kiosk"]
    clerks = [cluster["creds"]["clerks"][3], cluster["creds"]["clerks"][4]]
    tickets = [issue((n1, n2)[i % 2].url, kiosk, f"09{12000000 + i:08d}") for i in range(12)]
    # Calls alternate between the nodes; each node's worker sends what it can claim.
    for i in range(6):
        call_and_release((n1, n2)[i % 2].url, clerks[i % 2])
        wait_for(lambda: settled(db), 30, "messages of the calls so far sent")
    gw.delay_s = 1.5  # slow now: both nodes' lanes hold messages in flight
    for i in range(6, 8):
        call_and_release(n1.url, clerks[i % 2])
    # Claimed and in flight (the row's `sending_at` is written only when a long send renews
    # the claim's lease, so the status is what says a send is under way).
    wait_for(lambda: any(m.status == "sending" for m in rows(db)), 15, "a message being sent")
    n1.kill()
    gw.delay_s = 0.2
    # The killed node's leases expire (2 x 10 s + 5 s) and the other node sends them again.
    wait_for(lambda: settled(db), 90, "every message sent after the kill")
    messages = [m for m in rows(db) if not (m.status == "dropped"
                                            and (m.last_error or "").startswith("already"))]
    assert all(m.status == "sent" for m in messages), [
        (m.idempotency_key, m.status, m.attempts, m.last_error)
        for m in messages if m.status != "sent"]
    sent = {m.idempotency_key for m in messages}
    expected = {f"ticket:{t['id']}:called" for t in tickets[:8]}
    expected |= {f"ticket:{t['id']}:near" for t in tickets if t["ahead"] > 3}
    assert sent == expected
    assert set(gw.accepted) == expected  # every one reached the gateway, each key once
    taken_over = [m for m in messages if m.attempts >= 2]
    assert taken_over, "the kill found no message in flight"
    print(f"\nkill: {len(messages)} messages, {len(taken_over)} taken over from the killed "
          f"node, {sum(gw.duplicates.values())} of them re-sent and recognised by the gateway")


def test_gateway_down_two_minutes_then_everything_delivered_and_late_near_dropped(
        cluster: dict[str, Any]) -> None:
    gw: FakeSms = cluster["gateway"]
    db: Database = cluster["db"]
    n1, n2 = cluster["nodes"]
    kiosk = cluster["creds"]["kiosk"]
    clerks = [cluster["creds"]["clerks"][3], cluster["creds"]["clerks"][4]]
    gw.delay_s = 0.0
    tickets = [issue((n1, n2)[i % 2].url, kiosk, f"09{13000000 + i:08d}") for i in range(10)]
    gw.mode = "down"
    down_at = time.monotonic()
    called = [call_and_release((n1, n2)[i % 2].url, clerks[i % 2]) for i in range(5)]
    wait_for(lambda: any(m.attempts >= 2 and m.status == "queued" for m in rows(db)), 30,
             "retries against the gateway that is down")
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    before = {m.idempotency_key: (m.status, m.attempts) for m in rows(db)}
    assert not gw.accepted and all(s in ("queued", "sending", "dropped")
                                   for s, _a in before.values())
    gw.mode = "ok"
    up_at = time.time()
    wait_for(lambda: settled(db), 60, "every message delivered after the outage")
    messages = rows(db)
    assert not [m for m in messages if m.status == "failed"]
    called_ids = {t["id"] for t in called}
    for m in messages:
        if m.kind == "called":
            assert m.status == "sent" and m.ticket_id in called_ids
        elif m.ticket_id in called_ids:  # called during the outage: its "near" is not sent
            assert m.status == "dropped", (m.idempotency_key, m.status, m.last_error)
        elif m.status != "dropped" or not (m.last_error or "").startswith("already near"):
            assert m.status == "sent"
    assert {f"ticket:{t['id']}:called" for t in called} <= set(gw.accepted)
    with db.read() as s:
        called_at = {t.id: t.called_at for t in s.scalars(select(Ticket))}
    for key, info in gw.accepted.items():
        ticket_id = int(key.split(":")[1])
        if key.endswith(":near") and called_at.get(ticket_id) is not None:
            assert info["at"] <= called_at[ticket_id].timestamp() + 2, "a near sent late"
    waited = max(v["at"] for v in gw.accepted.values()) - up_at
    print(f"\noutage: {len(gw.accepted)} delivered within {waited:.1f} s of the gateway's "
          f"return; {sum(1 for m in messages if m.status == 'dropped')} dropped; "
          f"{len(tickets)} tickets")
