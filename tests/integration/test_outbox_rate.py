"""A gateway's rate limit (messages a second, per gateway) holds for the whole cluster:

* in one process (SQLite and PostgreSQL), a message the limit does not let through yet stays
  queued and goes after the window, its attempt given back (never an error, never a dead
  letter for it);
* two dispatchers counting in the same Redis (as two nodes do) send together no more than the
  limit in any second;
* two real nodes on PostgreSQL + Redis against the fake SMS gateway: the gateway's received
  timestamps never hold more than the limit in any 1-s window, and every message arrives.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from messaging.base import Message, Outcome
from server.core.db import Database
from server.features import outbox
from server.models import OutboxMessage
from tests.fakegateway import FakeSms
from tests.smscluster import sms_cluster

#: Sends of one gateway reach it this much later or sooner than each other's counting instant
#: (the HTTP request after the count): the window checked is shortened by it.
JITTER_S = 0.15


class Recorder:
    """A channel that accepts everything and notes when."""

    name = "file"
    max_length = None

    def __init__(self) -> None:
        self.at: list[float] = []
        self._lock = threading.Lock()

    def send(self, message: Message, timeout: float) -> Outcome:
        with self._lock:
            self.at.append(time.time())
        return Outcome.sent()


def most_in_a_second(times: list[float], jitter: float = 0.0) -> int:
    """The most timestamps in any window of 1 s (less ``jitter``)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= 1.0 - jitter:
            j += 1
        best = max(best, i - j + 1)
    return best


def queue(db: Database, n: int, channel: str = "file", site_id: int | None = None) -> None:
    now = dt.datetime.now(dt.UTC)
    with db.write() as s:
        for i in range(n):
            outbox.enqueue(s, Message(channel=channel, kind="test", to=f"+8491200{i:04d}",
                                      text="x", idempotency_key=f"rate:{uuid.uuid4().hex}",
                                      ref="rate", created_at=now), site_id=site_id)


def run_until_sent(dispatchers: list[outbox.Dispatcher], db: Database, n: int,
                   timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    stop = threading.Event()

    def loop(d: outbox.Dispatcher) -> None:
        while not stop.is_set():
            if not d.run_once(wait=True):
                stop.wait(0.02)

    threads = [threading.Thread(target=loop, args=(d,), daemon=True) for d in dispatchers]
    for t in threads:
        t.start()
    try:
        while sum(1 for m in rows(db) if m.status == "sent") < n:
            assert time.monotonic() < deadline, [(m.status, m.last_error) for m in rows(db)]
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        for d in dispatchers:
            d.close()


def rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage)))


def test_the_rate_as_a_moving_window() -> None:
    assert (outbox.per_window(5).amount, outbox.per_window(5).get_expiry()) == (5, 1)
    assert (outbox.per_window(2.5).amount, outbox.per_window(2.5).get_expiry()) == (2, 1)
    assert (outbox.per_window(0.2).amount, outbox.per_window(0.2).get_expiry()) == (1, 5)


def test_a_message_over_the_rate_waits_queued_and_is_not_an_attempt(db: Database) -> None:
    channel = Recorder()
    dispatcher = outbox.Dispatcher(outbox.MessageStore(db),
                                   lambda name, site: (channel, 4.0, "file:test"), ["file"],
                                   max_attempts=1)
    queue(db, 10)
    assert dispatcher.run_once(wait=True) == 10  # claimed all, sent 4, the rest put back
    waiting = [m for m in rows(db) if m.status == "queued"]
    assert len(channel.at) == 4 and len(waiting) == 6
    assert all(m.attempts == 0 and m.last_error == "rate limit of the gateway"
               for m in waiting)
    run_until_sent([dispatcher], db, 10)
    # max_attempts=1: a refusal counted as an attempt would have made dead letters.
    assert all(m.status == "sent" and m.attempts == 1 for m in rows(db))
    assert most_in_a_second(channel.at, 0.05) <= 4
    assert max(channel.at) - min(channel.at) >= 2.0  # 10 at 4 a second: three windows


@pytest.mark.redis
def test_two_dispatchers_sharing_redis_keep_the_rate_together(db: Database,
                                                               redis_url: str) -> None:
    channel = Recorder()
    prefix = f"motcua-test-{uuid.uuid4().hex[:8]}"
    dispatchers = [
        outbox.Dispatcher(outbox.MessageStore(db),
                          lambda name, site: (channel, 5.0, "file:shared"), ["file"], batch=4,
                          limit=outbox.SendLimit(redis_url, prefix=prefix))
        for _ in range(2)
    ]
    queue(db, 20)
    run_until_sent(dispatchers, db, 20)
    assert most_in_a_second(channel.at, 0.05) <= 5, sorted(channel.at)
    assert all(m.attempts == 1 for m in rows(db))


def test_redis_unreachable_counts_in_the_process() -> None:
    limit = outbox.SendLimit("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert [limit.take("sms:1", 2) for _ in range(2)] == [0.0, 0.0]
    assert 0 < limit.take("sms:1", 2) <= 1.0


# --- two real nodes ------------------------------------------------------------------------

RATE = 4
MESSAGES = 32


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[dict[str, Any]]:
    with sms_cluster(tmp_path, redis_url, "motcua_outbox_rate", rate_per_second=RATE,
                     delay_s=0.05) as cluster:
        yield cluster


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_two_nodes_keep_a_gateways_rate_and_deliver_everything(
        cluster: dict[str, Any]) -> None:
    gw: FakeSms = cluster["gateway"]
    db: Database = cluster["db"]
    # Queued in four bursts, each above the rate, while both nodes' workers poll.
    for _ in range(4):
        queue(db, MESSAGES // 4, channel="sms", site_id=cluster["site_id"])
        time.sleep(0.7)
    deadline = time.monotonic() + 60
    while len(gw.accepted) < MESSAGES:
        assert time.monotonic() < deadline, (len(gw.accepted), [
            (m.status, m.attempts, m.last_error) for m in rows(db) if m.status != "sent"])
        time.sleep(0.2)
    at = [info["at"] for info in gw.accepted.values()]
    busiest = most_in_a_second(at, JITTER_S)
    spread = max(at) - min(at)
    print(f"\ntwo nodes, {RATE}/s: {len(at)} messages in {spread:.1f} s, at most {busiest} "
          f"in any {1 - JITTER_S:.2f}-s window, {most_in_a_second(at)} in any 1-s window")
    assert busiest <= RATE, sorted(at)
    assert spread >= (MESSAGES - RATE) / RATE - 1  # nobody sent twice the rate
    assert not gw.duplicates
    assert all(m.status == "sent" and m.attempts == 1 for m in rows(db))
