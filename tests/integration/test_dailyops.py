"""Daily operations: caps, last-ticket time, opening hours, holidays, closing the day.

Site HT is Asia/Ho_Chi_Minh (UTC+7). Wednesday 25 Nov 2026; 27 Nov is a Friday.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from server.core.lookups import get_site
from server.features import tickets
from server.features.dailyops import DayCloser
from server.models import AuditLog, Holiday, Service, Site, Ticket, TicketEvent
from server.realtime import snapshots
from tests.conftest import Api, Clock, World

API = "/api/v1"
HOURS = {str(d): [["07:30", "11:30"], ["13:30", "17:00"]] for d in range(5)}  # Mon-Fri


def at(day: int, hh: int, mm: int = 0) -> dt.datetime:
    """Local Hanoi time on ``day`` November 2026, as UTC."""
    return dt.datetime(2026, 11, day, hh, mm, tzinfo=dt.timezone(dt.timedelta(hours=7))).astimezone(
        dt.UTC
    )


def configure(world: World, site: str = "HT", hours: Any = HOURS, **service: Any) -> None:
    """Opening hours of ``site``; ``land={"daily_cap": 2}`` style service settings."""
    with world.db.write() as s:
        row = get_site(s, site)
        row.opening_hours = hours
        for code, fields in service.items():
            svc = s.scalar(select(Service).where(Service.site_id == row.id, Service.code == code))
            for k, v in fields.items():
                setattr(svc, k, v)


def refused_issue(api: Api, code: str, role: str = "kiosk", **body: Any) -> dict[str, Any]:
    before = ticket_count(api.world)
    r = api.call("POST", f"{API}/sites/HT/tickets?lang=en", role, json={"service": "land", **body})
    assert r.status_code == 409, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == code, err
    assert ticket_count(api.world) == before, "a refused issue must not create a ticket"
    return err


def override_issue(api: Api, role: str) -> Any:
    """A land ticket asked with ``override_limits`` (staff only); the response."""
    return api.call(
        "POST", f"{API}/sites/HT/tickets", role, json={"service": "land", "override_limits": True}
    )


def ticket_count(world: World) -> int:
    with world.db.read() as s:
        return len(s.scalars(select(Ticket.id)).all())


def land_row(api: Api, lang: str = "en") -> dict[str, Any]:
    rows = api.call("GET", f"{API}/sites/HT/services?lang={lang}", "kiosk").get_json()
    return next(r for r in rows if r["code"] == "land")


def no_alternative(world: World) -> None:
    """The reception point HT-P1 and the sibling centre OTHER also offer land; switch them
    off for the plain messages."""
    configure(world, "HT-P1", hours=None, land={"active": False})
    configure(world, "OTHER", hours=None, land={"active": False})


# --- daily cap ---------------------------------------------------------------------------------


def test_cap_refuses_with_the_reason_and_the_next_opening(
    api: Api, world: World, clock: Clock
) -> None:
    clock.set(at(25, 9))
    configure(world, land={"daily_cap": 2})
    no_alternative(world)
    assert land_row(api)["available"] is True
    api.issue("land")
    api.issue("land")
    err = refused_issue(api, "service_cap_reached")
    assert err["message"] == (
        'Service "Land" has issued all 2 tickets for today. Please come back tomorrow from 07:30.'
    )
    row = land_row(api)
    assert row["available"] is False
    assert row["reason"]["code"] == "service_cap_reached"
    assert row["reason"]["next_open"] == "2026-11-26T07:30:00+07:00"
    assert row["reason"]["message"]["vi"] == (
        'Lĩnh vực "Đất đai" đã cấp hết 2 số của hôm nay. Mời quay lại ngày mai từ 07:30.'
    )
    # Other services are not capped.
    assert api.issue("civil")["number"] == "B001"
    # The kiosk snapshot (socket) carries the same reason.
    with world.db.read() as s:
        snap = snapshots.kiosk(s, get_site(s, "HT"), clock())
    land = next(x for x in snap["services"] if x["code"] == "land")
    assert land["available"] is False and land["reason"]["code"] == "service_cap_reached"


def test_cap_suggests_a_reception_point_with_a_shorter_wait(
    api: Api, world: World, clock: Clock
) -> None:
    clock.set(at(25, 9))
    configure(world, land={"daily_cap": 1})
    api.issue("land")
    err = refused_issue(api, "service_cap_reached")
    assert err["message"] == (
        'Service "Land" has issued all 1 tickets for today. Please come back tomorrow from 07:30,'
        " or go to Extra point, which has a shorter wait (0 waiting)."
    )
    reason = land_row(api)["reason"]
    assert reason["alternative"]["site"] == "HT-P1"
    assert reason["alternative"]["waiting"] == 0


def test_staff_may_override_the_cap_explicitly_kiosks_may_not(
    api: Api, world: World, clock: Clock
) -> None:
    clock.set(at(25, 9))
    configure(world, land={"daily_cap": 1})
    api.issue("land")
    refused_issue(api, "service_cap_reached", role="supervisor")  # no flag: refused like a kiosk
    r = override_issue(api, "kiosk")
    assert r.status_code == 403
    r = override_issue(api, "clerk")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["number"] == "A002"
    with world.db.read() as s:
        ev = s.scalar(
            select(TicketEvent).where(
                TicketEvent.ticket_id == r.get_json()["id"], TicketEvent.type == "ticket.issued"
            )
        )
        assert ev.data == {"override": "service_cap_reached"}


def test_idempotent_retry_after_the_cap_returns_the_same_ticket(
    api: Api, world: World, clock: Clock
) -> None:
    clock.set(at(25, 9))
    configure(world, land={"daily_cap": 1})
    first = api.issue("land", key="retry-1")
    again = api.issue("land", key="retry-1")
    assert again["id"] == first["id"]


def test_numbers_restart_the_next_day_and_the_cap_too(api: Api, world: World, clock: Clock) -> None:
    clock.set(at(25, 9))
    configure(world, land={"daily_cap": 1})
    no_alternative(world)
    api.issue("land")
    refused_issue(api, "service_cap_reached")
    clock.set(at(26, 7, 30))
    assert api.issue("land")["number"] == "A001"


# --- last-ticket time and opening hours ------------------------------------------------------


def test_last_ticket_time_refuses_from_that_minute(api: Api, world: World, clock: Clock) -> None:
    configure(world, land={"last_ticket_time": "16:00"})
    no_alternative(world)
    clock.set(at(25, 15, 59))
    assert api.issue("land")["number"] == "A001"
    clock.set(at(25, 16, 0))
    err = refused_issue(api, "service_after_last_ticket")
    assert err["message"] == (
        'Service "Land" stopped issuing tickets at 16:00 today.'
        " Please come back tomorrow from 07:30."
    )
    # On a Friday the next opening is Monday.
    clock.set(at(27, 16, 30))
    err = refused_issue(api, "service_after_last_ticket")
    assert err["message"].endswith("Please come back on Monday 30/11 from 07:30.")
    assert land_row(api)["reason"]["next_open"] == "2026-11-30T07:30:00+07:00"
    vi = land_row(api, "vi")["reason"]["message"]["vi"]
    assert vi.endswith("Mời quay lại Thứ Hai 30/11 từ 07:30.")


def test_opening_hours_lunch_break_evening_and_weekend(
    api: Api, world: World, clock: Clock
) -> None:
    configure(world)
    no_alternative(world)
    clock.set(at(25, 7, 0))
    err = refused_issue(api, "site_closed_now")
    assert err["message"] == "The centre is closed now. Please come back today from 07:30."
    clock.set(at(25, 7, 30))
    api.issue("land")
    clock.set(at(25, 12, 0))
    err = refused_issue(api, "site_closed_now")
    assert err["message"].endswith("Please come back today from 13:30.")
    clock.set(at(25, 17, 0))
    assert refused_issue(api, "site_closed_now")["message"].endswith("tomorrow from 07:30.")
    clock.set(at(28, 9))  # Saturday
    assert refused_issue(api, "site_closed_now")["message"].endswith("on Monday 30/11 from 07:30.")
    assert land_row(api)["available"] is False


def test_holiday_refuses_and_is_skipped_for_the_next_opening(
    api: Api, world: World, clock: Clock
) -> None:
    configure(world)
    no_alternative(world)
    with world.db.write() as s:
        prov = get_site(s, "PROV")
        s.add(
            Holiday(site_id=prov.id, day=dt.date(2026, 11, 25), name_vi="Nghỉ A", name_en="Day A")
        )
        s.add(
            Holiday(site_id=prov.id, day=dt.date(2026, 11, 26), name_vi="Nghỉ B", name_en="Day B")
        )
    clock.set(at(25, 9))
    err = refused_issue(api, "site_holiday")
    assert err["message"] == (
        "Today is a public holiday (Day A); no tickets are issued."
        " Please come back on Friday 27/11 from 07:30."
    )
    assert land_row(api)["reason"]["next_open"] == "2026-11-27T07:30:00+07:00"
    clock.set(at(27, 8))
    assert api.issue("land")["number"] == "A001"


def test_a_site_without_opening_hours_is_always_open(api: Api, world: World, clock: Clock) -> None:
    clock.set(at(29, 3))  # Sunday, 03:00
    assert api.issue("land")["number"] == "A001"
    assert land_row(api)["available"] is True and land_row(api)["reason"] is None


def test_staff_may_override_opening_hours(api: Api, world: World, clock: Clock) -> None:
    configure(world)
    clock.set(at(25, 18))
    refused_issue(api, "site_closed_now", role="clerk")
    r = override_issue(api, "clerk")
    assert r.status_code == 201


# --- closing the day ---------------------------------------------------------------------------


def _scene(api: Api, clock: Clock) -> dict[str, int]:
    """C001 done, A001 called at counter 1, A002 parked, A003 + B001 waiting."""
    ids = {}
    for label, code in [
        ("C001", "business"),
        ("A001", "land"),
        ("A002", "land"),
        ("A003", "land"),
        ("B001", "civil"),
    ]:
        ids[label] = api.issue(code)["id"]
        clock.advance(seconds=30)
    assert api.call_next(3)["id"] == ids["C001"]
    assert api.act(ids["C001"], "start", "supervisor").status_code == 200
    assert api.act(ids["C001"], "finish", "supervisor").status_code == 200
    assert api.call_next(1)["id"] == ids["A001"]
    assert api.call_next(3)["id"] == ids["A002"]
    assert api.act(ids["A002"], "park", "supervisor").status_code == 200
    return ids


def statuses(world: World) -> dict[int, str]:
    with world.db.read() as s:
        return {t.id: t.status for t in s.scalars(select(Ticket))}


def test_close_day_marks_waiting_and_parked_unserved(api: Api, world: World, clock: Clock) -> None:
    clock.set(at(25, 16, 50))
    ids = _scene(api, clock)
    r = api.call("POST", f"{API}/sites/HT/close-day", "clerk")
    assert r.status_code == 403
    assert statuses(world)[ids["A003"]] == "waiting"

    clock.set(at(25, 17, 5))
    r = api.call("POST", f"{API}/sites/HT/close-day", "supervisor")
    assert r.status_code == 200, r.get_json()
    summary = r.get_json()
    assert summary["unserved_at_close"] == 3
    assert summary["by_service"] == {"civil": 1, "land": 2}
    assert summary["at_counters_left"] is True
    st = statuses(world)
    assert st[ids["A002"]] == st[ids["A003"]] == st[ids["B001"]] == "unserved_at_close"
    assert st[ids["A001"]] == "called", "a called ticket stays with its clerk"
    assert st[ids["C001"]] == "done"

    with world.db.read() as s:
        evs = s.scalars(
            select(TicketEvent).where(TicketEvent.type == "ticket.unserved_at_close")
        ).all()
        assert {e.ticket_id for e in evs} == {ids["A002"], ids["A003"], ids["B001"]}
        assert {e.from_status for e in evs} == {"waiting", "parked"}
        assert all(e.data["reason"] == "close_day" and e.actor.startswith("token:") for e in evs)
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "site.close_day"))
        assert audit.after["unserved_at_close"] == 3

    # Terminal: nothing more happens to them; the clerk still finishes A001.
    assert api.act(ids["A003"], "cancel", "supervisor").status_code == 409
    assert api.call_next(2) is None
    assert api.act(ids["A001"], "start").status_code == 200
    assert api.act(ids["A001"], "finish").status_code == 200

    # A second close changes nothing.
    again = api.call("POST", f"{API}/sites/HT/close-day", "supervisor").get_json()
    assert again["unserved_at_close"] == 0

    # The next business day numbers restart.
    clock.set(at(26, 7, 31))
    assert api.issue("land")["number"] == "A001"
    assert api.issue("civil")["number"] == "B001"


def test_close_day_sends_events_to_screens(app: Any, api: Api, world: World, clock: Clock) -> None:
    clock.set(at(25, 10))
    t = api.issue("land")
    seen: list[Any] = []
    world.db.subscribers.append(seen.extend)
    api.call("POST", f"{API}/sites/HT/close-day", "supervisor")
    types = [e.type for e in seen]
    assert "ticket.unserved_at_close" in types and "day.closed" in types
    assert "queue.stats" in types
    unserved = next(e for e in seen if e.type == "ticket.unserved_at_close")
    assert unserved.data["ticket_id"] == t["id"] and unserved.data["status"] == "unserved_at_close"
    stats = next(e for e in seen if e.type == "queue.stats")
    assert stats.data["waiting"] == 0


def test_automatic_close_after_opening_hours(api: Api, world: World, clock: Clock) -> None:
    configure(world)
    clock.set(at(25, 16, 30))
    ids = _scene(api, clock)
    closer = DayCloser(world.db, clock)
    clock.set(at(25, 16, 59))
    assert closer.run_once() == []  # still open
    assert statuses(world)[ids["A003"]] == "waiting"
    clock.set(at(25, 17, 0))
    done = closer.run_once()
    assert [d["site"] for d in done] == ["HT"] and done[0]["unserved_at_close"] == 3
    assert done[0]["reason"] == "auto"
    assert statuses(world)[ids["A003"]] == "unserved_at_close"
    with world.db.read() as s:
        ev = s.scalar(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ids["A003"], TicketEvent.type == "ticket.unserved_at_close"
            )
        )
        assert ev.actor == "system" and ev.data["reason"] == "auto"
    assert closer.run_once() == []


def test_rollover_closes_yesterdays_leftovers_at_a_site_without_hours(
    api: Api, world: World, clock: Clock
) -> None:
    clock.set(at(25, 23, 50))
    old = api.issue("land")
    clock.set(at(26, 0, 5))
    new = api.issue("land")
    assert new["number"] == "A001"
    closer = DayCloser(world.db, clock)
    done = closer.run_once()
    assert done and done[0]["unserved_at_close"] == 1
    st = statuses(world)
    assert st[old["id"]] == "unserved_at_close"
    assert st[new["id"]] == "waiting", "today's tickets at a site without hours stay"


def test_unserved_tickets_are_counted_per_day(api: Api, world: World, clock: Clock) -> None:
    """What reports count: TicketEvents of type ticket.unserved_at_close per business day."""
    clock.set(at(25, 10))
    for _ in range(4):
        api.issue("land")
    api.call("POST", f"{API}/sites/HT/close-day", "supervisor")
    with world.db.read() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        rows = s.scalars(
            select(Ticket).where(Ticket.site_id == site.id, Ticket.status == "unserved_at_close")
        ).all()
        assert len(rows) == 4
        assert {t.business_day for t in rows} == {dt.date(2026, 11, 25)}


# --- concurrency and the public tracking page ---------------------------------------------------


def test_concurrent_kiosks_never_exceed_the_cap(db: Any, world: World) -> None:
    """8 threads x 5 attempts on a cap of 12: exactly 12 tickets, numbers 1..12, the other 28
    refused with the cap's error (the draw of a number past the cap is rolled back)."""
    import threading

    from server.core.auth import Principal
    from server.core.db import retrying
    from server.core.errors import AppError

    configure(world, land={"daily_cap": 12})
    with db.read() as s:
        site_id = get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    when = at(25, 9)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(5):

            def unit() -> str:
                with db.write() as s:
                    view, _ = tickets.issue_ticket(
                        s, kiosk, "HT", "land", None, "vi", None, when, "http://x"
                    )
                    return str(view["number"])

            try:
                result = retrying(unit)
            except AppError as exc:
                result = exc.code
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    numbers = sorted(o for o in outcomes if o.startswith("A"))
    assert numbers == [f"A{i:03d}" for i in range(1, 13)]
    assert outcomes.count("service_cap_reached") == 28
    with db.read() as s:
        from server.models import ServiceDay

        row = s.get(ServiceDay, (world.services["land"], dt.date(2026, 11, 25)))
        assert row.last_number == 12


def test_tracking_page_says_the_centre_closed(api: Api, world: World, clock: Clock) -> None:
    clock.set(at(25, 10))
    t = api.issue("land")
    api.call("POST", f"{API}/sites/HT/close-day", "supervisor")
    assert api.call("GET", f"{API}/track/{t['token']}").get_json()["status"] == "unserved_at_close"
    page = api.client.get(f"/t/{t['token']}?lang=en").get_data(as_text=True)  # type: ignore[attr-defined]
    assert "The centre closed before your turn" in page


def test_kpi_report_counts_tickets_unserved_at_close(api: Api, world: World, clock: Clock) -> None:
    clock.set(at(25, 10))
    for _ in range(3):
        api.issue("land")
    api.issue("civil")
    api.call("POST", f"{API}/sites/HT/close-day", "supervisor")
    r = api.call("GET", f"{API}/sites/HT/reports/kpis?from=2026-11-25&to=2026-11-25", "supervisor")
    assert r.status_code == 200, r.get_json()
    rep = r.get_json()
    assert rep["totals"]["unserved_at_close"] == 4
    by_service = {row["service"]: row["unserved_at_close"] for row in rep["by_service"]}
    assert (by_service["land"], by_service["civil"]) == (3, 1)
