"""The ``queue.stats`` a call-next sends must already follow the interleave state that call
left behind: the call order a screen shows depends on which class was called last and how
many of it in a row. Read before that state was written, the order was one call behind until
the next change at the site (a tracking page showed the wrong place meanwhile)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core import lookups
from server.core.auth import Principal
from server.core.db import Database
from server.features import tickets as ticket_ops
from server.features.queues import queue_snapshot
from tests.conftest import build_world

BASE = "http://motcua.test"
NOON_IN_HANOI = dt.datetime(2026, 3, 10, 5, 0, tzinfo=dt.UTC)


def _last_stats(published: list[Any], service: str) -> dict[str, Any]:
    stats = [e for e in published if e.type == "queue.stats" and e.data["service"] == service]
    return dict(max(stats, key=lambda e: e.seq).data)


def test_stats_after_each_call_follow_the_new_interleave_state(db: Database) -> None:
    now = NOON_IN_HANOI
    world = build_world(db, now, counters={1: [("land", 1.0)]}, interleave=(1, 2))
    published: list[Any] = []
    db.subscribers.append(published.extend)
    with db.read() as s:
        site = lookups.get_site(s, "HT")
    kiosk = Principal("device", 1, "kiosk", site.id)
    clerk = Principal("token", 1, "clerk", site.id)
    # Two priority and four normal tickets: every call changes which class comes next.
    for k, priority in enumerate([None, "elderly", None, None, "elderly", None]):
        now += dt.timedelta(seconds=10)
        with db.write() as s:
            ticket_ops.issue_ticket(s, kiosk, "HT", "land", priority, "vi", f"k{k}", now, BASE)
    for _call in range(5):
        now += dt.timedelta(seconds=10)
        with db.write() as s:
            called = ticket_ops.call_next(s, clerk, world.counters[1], now, BASE)
        assert called is not None
        with db.write() as s:
            ticket_ops.ticket_action(s, clerk, called["id"], "start", now, BASE)
            ticket_ops.ticket_action(s, clerk, called["id"], "finish", now, BASE)
        sent = _last_stats(published, "land")
        with db.read() as s:
            site = lookups.get_site(s, "HT")
            fresh = queue_snapshot(s, site, now, [world.services["land"]])
        truth = fresh.lines[world.services["land"]].stats()
        assert sent["order"] == truth["order"], (_call, sent["order"], truth["order"])
        assert sent["waiting"] == truth["waiting"]
