"""Business-day rollover at the site's local midnight: numbers restart, history stays."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from server.models import Ticket, TicketEvent
from tests.conftest import Api, Clock

# Asia/Ho_Chi_Minh is UTC+7: local midnight is 17:00 UTC.
LATE = dt.datetime(2026, 11, 25, 16, 58, tzinfo=dt.UTC)  # 23:58 local, 25 Nov
EARLY = dt.datetime(2026, 11, 25, 17, 1, tzinfo=dt.UTC)  # 00:01 local, 26 Nov


def test_numbers_restart_at_local_midnight_and_history_stays(api: Api, clock: Clock) -> None:
    clock.set(LATE)
    a1 = api.issue("land")
    a2 = api.issue("land")
    b1 = api.issue("civil")
    assert [a1["number"], a2["number"], b1["number"]] == ["A001", "A002", "B001"]
    called = api.call_next(1)
    assert called["id"] == a1["id"]
    api.act(a1["id"], "start")
    api.act(a1["id"], "finish")

    clock.set(EARLY)
    new = api.issue("land")
    assert new["number"] == "A001" and new["id"] != a1["id"]
    assert new["ahead"] == 0, "yesterday's waiting ticket is not ahead of today's first"
    assert api.issue("civil")["number"] == "B001"

    # Today's call takes today's ticket; yesterday's A002 is not called into a new day.
    assert api.call_next(1)["id"] == new["id"]

    # History stays: yesterday's tickets and events are all still there and trackable.
    with api.world.db.read() as s:
        days = {t.id: t.business_day for t in s.scalars(select(Ticket))}
        assert days[a1["id"]] == dt.date(2026, 11, 25)
        assert days[new["id"]] == dt.date(2026, 11, 26)
        assert len(days) == 5
        types = [
            e.type
            for e in s.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == a1["id"])
                .order_by(TicketEvent.id)
            )
        ]
        assert types == ["ticket.issued", "ticket.called", "ticket.serving", "ticket.done"]
    old = api.call("GET", f"/api/v1/track/{a1['token']}").get_json()
    assert old["number"] == "A001" and old["status"] == "done"

    # Local 23:59:59 on the new day still counts for that day.
    clock.set(dt.datetime(2026, 11, 26, 16, 59, 59, tzinfo=dt.UTC))
    assert api.issue("land")["number"] == "A002"
    clock.set(dt.datetime(2026, 11, 26, 17, 0, 0, tzinfo=dt.UTC))
    assert api.issue("land")["number"] == "A001"
