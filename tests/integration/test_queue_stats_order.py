"""Screens apply ``queue.stats`` (absolute waiting counts and call order) in ``seq`` order, so
the one numbered last must hold every change numbered before it, even when two units of work
at the site overlapped: a call that read its line while an issue was still open, and was
numbered after it, once told the lobby nobody waited while the new ticket did (the fault drill
saw displays left so until the next change)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text

from server.core import lookups
from server.core.auth import Principal
from server.core.db import Database
from server.features import tickets as ticket_ops
from server.models import Ticket
from tests.conftest import build_world
from tests.support import statements_sent

BASE = "http://motcua.test"

pytestmark = pytest.mark.postgres


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def pg_db(pg_database: str) -> Any:
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    database = Database(pg_database)
    yield database
    database.dispose()


def last_stats(published: list[Any], service: str) -> dict[str, Any]:
    stats = [e for e in published if e.type == "queue.stats" and e.data["service"] == service]
    return dict(max(stats, key=lambda e: e.seq).data)


def test_stats_numbered_after_an_overlapping_issue_include_it(pg_db: Database) -> None:
    """A call reads its line (the called ticket gone, a new one not yet committed), then waits
    on the issue's row lock; the issue commits and is numbered first. The call's stats,
    numbered last, must count the new ticket."""
    world = build_world(pg_db, now(), counters={3: [("civil", 1.0)]})
    published: list[Any] = []
    pg_db.subscribers.append(published.extend)
    with pg_db.read() as s:
        site_id = lookups.get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    clerk = Principal("token", 1, "clerk", site_id)
    with pg_db.write() as s:
        first, _ = ticket_ops.issue_ticket(s, kiosk, "HT", "civil", None, "vi", "k1", now(), BASE)

    issued: dict[str, Any] = {}
    errors: list[BaseException] = []

    def issue_held_until_the_call_waits() -> None:
        try:
            with pg_db.write() as s:  # holds the (service, day) row until it commits
                issued.update(ticket_ops.issue_ticket(s, kiosk, "HT", "civil", None, "vi", "k2",
                                                      now(), BASE)[0])
                waiting_on_lock.wait(10)  # the call has read its line and waits on the row
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    waiting_on_lock = threading.Event()
    issuer = threading.Thread(target=issue_held_until_the_call_waits)
    issuer.start()
    watcher = threading.Thread(target=_set_when_a_backend_waits_on_a_lock,
                               args=(pg_db, waiting_on_lock))
    while not issued and issuer.is_alive():
        time.sleep(0.01)  # the issue holds its lock now
    watcher.start()
    with pg_db.write() as s:
        called = ticket_ops.call_next(s, clerk, world.counters[3], now(), BASE)
    issuer.join(10)
    watcher.join(10)
    assert not errors, errors
    assert waiting_on_lock.is_set(), "the call never waited on the issue's lock"
    assert called is not None and called["id"] == first["id"]

    with pg_db.read() as s:
        waiting = s.scalar(select(func.count()).where(
            Ticket.service_id == world.services["civil"], Ticket.status == "waiting"))
    assert waiting == 1
    stats = last_stats(published, "civil")  # the call's, numbered last
    assert stats["waiting"] == waiting, stats
    assert stats["order"] == [issued["id"]]


def _set_when_a_backend_waits_on_a_lock(db: Database, flag: threading.Event) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not flag.is_set():
        with db.engine.connect() as conn:
            if conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")).scalar_one():
                flag.set()
                return
        time.sleep(0.02)
    flag.set()  # let the issue go on either way; the test then says the call did not wait


def test_stats_read_with_nothing_between_are_sent_as_read(pg_db: Database) -> None:
    """No unit of work numbered in between: the values read during the change stand (no
    second read of the line)."""
    build_world(pg_db, now(), counters={3: [("civil", 1.0)]})
    published: list[Any] = []
    pg_db.subscribers.append(published.extend)
    with pg_db.read() as s:
        site_id = lookups.get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    with statements_sent(pg_db.engine) as statements, pg_db.write() as s:
        ticket_ops.issue_ticket(s, kiosk, "HT", "civil", None, "vi", "k1", now(), BASE)
    waiting_reads = [q for q in statements if "tickets.status" in q and "ORDER BY" in q]
    assert len(waiting_reads) == 1, waiting_reads  # the issue's own read, not a second one
    assert last_stats(published, "civil")["waiting"] == 1
