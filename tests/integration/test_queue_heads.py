"""Places and estimates from counts (``queue_snapshot`` reads the head of each class and the
counts, ``routing.calls_before_place``) equal the full scan they replace (every waiting ticket
read, ``routing.call_order`` over all of them), on random lines, both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from server.core.db import Database
from server.features import queues
from server.models import PriorityCategory, ServiceDay, Site, Ticket
from server.rules import routing
from server.rules.calendar import business_day
from tests.conftest import World

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 09:00 in Hac Thanh, a Monday
HEAD = 4  # a small head, so most tickets lie beyond it


def _full_scan(session: Any, service_id: int, day: dt.date) -> tuple[list[int], list[int]]:
    """The old read: every waiting ticket of the line, in queue order, by class."""
    p: list[int] = []
    n: list[int] = []
    for tid, prio in session.execute(
        select(Ticket.id, Ticket.priority_id).where(
            Ticket.service_id == service_id, Ticket.business_day == day,
            Ticket.status == "waiting",
        ).order_by(Ticket.queue_pos, Ticket.id)
    ):
        (p if prio is not None else n).append(tid)
    return p, n


lines = st.lists(
    st.tuples(st.booleans(), st.integers(0, 6), st.sampled_from(["waiting", "waiting", "done"])),
    max_size=20,
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    line=lines,
    ratio=st.tuples(st.integers(1, 3), st.integers(0, 3)),
    last=st.sampled_from([None, routing.PRIORITY, routing.NORMAL]),
    run=st.integers(0, 4),
)
def test_places_from_counts_equal_the_full_scan(
    db: Database, world: World, monkeypatch: Any, line: list[tuple[bool, int, str]],
    ratio: tuple[int, int], last: str | None, run: int,
) -> None:
    monkeypatch.setattr(queues, "STATS_ORDER_LIMIT", HEAD)
    sid = world.services["land"]
    with db.write() as s:
        site = s.scalar(select(Site).where(Site.code == world.site))
        assert site is not None
        site.interleave_priority, site.interleave_normal = ratio
        day = business_day(NOW, site.timezone)
        s.execute(delete(Ticket).where(Ticket.service_id == sid))
        s.execute(delete(ServiceDay).where(ServiceDay.service_id == sid))
        s.add(ServiceDay(service_id=sid, business_day=day, last_number=len(line),
                         last_class=last, run_length=run if last else 0))
        elderly = s.scalar(select(PriorityCategory.id).limit(1))
        for i, (priority, pos, status) in enumerate(line, start=1):
            s.add(Ticket(
                site_id=site.id, service_id=sid, business_day=day, number=i, label=f"A{i:03}",
                priority_id=elderly if priority else None, channel="kiosk", status=status,
                queue_pos=pos, lang="vi", issued_at=NOW, tracking_token=f"tok-{sid}-{i}",
            ))
    with db.read() as s:
        site = s.scalar(select(Site).where(Site.code == world.site))
        assert site is not None
        snap = queues.queue_snapshot(s, site, NOW, [sid])
        got = snap.lines[sid]
        p, n = _full_scan(s, sid, snap.day)
        state = routing.ClassState(last, run if last else 0)
        ratio_ = routing.Interleave(*ratio)
        order = routing.call_order(p, n, state, ratio_)

        assert (got.waiting, got.waiting_priority) == (len(p) + len(n), len(p))
        stats = got.stats()
        assert stats["order"] == order[:HEAD]
        assert stats["eta_minutes"] == [got.eta(i) for i in range(len(stats["order"]))]
        for tid in order:
            ticket = s.get(Ticket, tid)
            assert ticket is not None
            assert queues.ticket_ahead(s, got, ticket) == order.index(tid)
        assert got.ahead_of_new(False) == routing.calls_before(-1, p, [*n, -1], state, ratio_)
        assert got.ahead_of_new(True) == routing.calls_before(-1, [*p, -1], n, state, ratio_)
