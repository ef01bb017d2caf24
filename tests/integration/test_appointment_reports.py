"""Appointment figures in the KPI reports, the daily aggregates and the exports, and the wait
estimate of a booking placed at its slot, on SQLite and PostgreSQL: a small hand-made day
through the real booking functions and the check-in API."""

from __future__ import annotations

import datetime as dt

import pytest

from server.core.db import Database
from server.features import aggregates, bookings, reports
from server.models import Site
from tests.conftest import Api, Clock, World, build_world

DAY = "2026-11-25"  # a Wednesday
T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # 08:00 in Hà Nội
EVE = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 the day before


def at(clock: Clock, minutes: float) -> dt.datetime:
    clock.set(T0 + dt.timedelta(minutes=minutes))
    return clock()


def slot(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def world(db: Database, clock: Clock) -> World:
    """One counter for land, one for civil: the line of each is plain FIFO."""
    return build_world(db, clock(), counters={1: [("land", 1.0)], 2: [("civil", 1.0)]})


def _book(world: World, service: str, start: dt.datetime, n: int) -> dict:
    with world.db.write() as s:
        booking, otp = bookings.hold(s, "HT", service, start, f"0012030{n:05d}",
                                     f"09123{n:05d}", "vi", EVE + dt.timedelta(minutes=n))
        ref = booking.ref
    with world.db.write() as s:
        view = bookings.confirm(s, ref, otp, EVE + dt.timedelta(minutes=n))
    assert view is not None and view["status"] == "confirmed"
    return view


def _serve(api: Api, ticket_id: int) -> None:
    assert api.act(ticket_id, "start").status_code == 200
    assert api.act(ticket_id, "finish").status_code == 200


def _check_in(api: Api, booking: dict) -> dict:
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": booking["code"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["ticket"]


@pytest.fixture
def day(api: Api, clock: Clock, world: World) -> dict[str, dict]:
    """Booked the day before: B1 land 08:30, B2 land 09:00, B3 civil 08:30 (never comes),
    B4 civil 09:00 (cancelled), B5 land 09:30 (comes at 09:50: too late, a walk-in ticket).
    08:10 W1 land walks in, counter 1 calls it at 08:12 and serves it until 08:40; 08:20 B1
    checks in (placed at 08:30); 08:25 W2 walks in (placed before B1); 08:40 counter 1 calls
    W2, 08:45 B1 (15 min after its slot); 09:05 B2 checks in, called 09:06; 09:50 B5."""
    b = {name: _book(world, svc, start, n) for n, (name, svc, start) in enumerate([
        ("B1", "land", slot(30)), ("B2", "land", slot(60)), ("B3", "civil", slot(30)),
        ("B4", "civil", slot(60)), ("B5", "land", slot(90))], start=1)}
    clock.set(EVE + dt.timedelta(hours=2))
    r = api.call("POST", f"/api/v1/bookings/{b['B4']['token']}/cancel")
    assert r.status_code == 200, r.get_json()
    at(clock, 10)
    w1 = api.issue("land")
    at(clock, 12)
    assert api.call_next(1)["id"] == w1["id"]
    assert api.act(w1["id"], "start").status_code == 200
    at(clock, 20)
    t1 = _check_in(api, b["B1"])
    assert t1["appointment"] is True and t1["late"] is False
    at(clock, 25)
    w2 = api.issue("land")
    out = {"b": b, "w1": w1, "w2": w2, "t1": t1}
    at(clock, 40)
    assert api.act(w1["id"], "finish").status_code == 200
    assert api.call_next(1)["id"] == w2["id"]  # came before B1's slot: called first
    _serve(api, w2["id"])
    at(clock, 45)
    assert api.call_next(1)["id"] == t1["id"]
    _serve(api, t1["id"])
    at(clock, 65)
    t2 = _check_in(api, b["B2"])
    at(clock, 66)
    assert api.call_next(1)["id"] == t2["id"]
    _serve(api, t2["id"])
    with world.db.write() as s:  # the periodic sweep: B3 not checked in by 08:45
        assert bookings.sweep(s, at(clock, 80))["no_show"] == 1
    at(clock, 110)
    t5 = _check_in(api, b["B5"])
    assert t5["appointment"] is False and t5["late"] is True
    assert api.call_next(1)["id"] == t5["id"]
    _serve(api, t5["id"])
    out.update(t2=t2, t5=t5)
    return out


def test_a_walk_in_goes_before_a_booking_placed_later_and_its_estimate_says_so(
    api: Api, clock: Clock, world: World
) -> None:
    b = _book(world, "land", slot(30), 1)
    at(clock, 10)
    w1 = api.issue("land")
    at(clock, 12)
    api.call_next(1)  # counter 1 busy with W1
    at(clock, 20)
    t1 = _check_in(api, b)
    assert t1["ahead"] == 0 and t1["appointment"] is True
    # Its slot is 10 min away: it waits at least until then for the walk-ins to come.
    assert t1["eta_minutes"] is not None and t1["eta_minutes"] >= 10
    at(clock, 25)
    w2 = api.issue("land")
    assert w2["ahead"] == 0  # the booking placed at 08:30 is behind this 08:25 walk-in
    assert w2["eta_minutes"] < t1["eta_minutes"]
    r = api.call("GET", f"/api/v1/tickets/{t1['id']}", "clerk")
    assert r.get_json()["ahead"] == 1  # W2 is ahead of it now
    del w1


def test_report_figures_by_service_hour_and_slot(api: Api, day: dict) -> None:
    r = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&to={DAY}", "supervisor")
    assert r.status_code == 200, r.get_json()
    rep = r.get_json()
    t = rep["totals"]
    assert (t["bookings"], t["bookings_checked_in"], t["bookings_no_show"],
            t["bookings_cancelled"]) == (5, 2, 2, 1)
    assert t["issued"] == 5 and t["appointments"] == 2 and t["online_share_used"] == 0.4
    # B1 called 15 min after its slot (W2 came before the slot), B2 6 min after.
    assert t["appointments_punctual"] == 1 and t["punctuality"] == 0.5
    svc = {row["service"]: row for row in rep["by_service"]}
    assert (svc["land"]["bookings"], svc["land"]["appointments"]) == (3, 2)
    assert (svc["civil"]["bookings"], svc["civil"]["bookings_no_show"],
            svc["civil"]["bookings_cancelled"], svc["civil"]["issued"]) == (2, 1, 1, 0)
    hours = {row["hour"]: row for row in rep["by_hour"]}
    assert hours[8]["bookings"] == 2 and hours[9]["bookings"] == 3  # by the slot's hour
    slots = {(row["service"], row["slot"]): row for row in rep["by_slot"]}
    assert set(slots) == {("land", "08:30"), ("civil", "08:30"), ("land", "09:00"),
                          ("civil", "09:00"), ("land", "09:30")}
    assert (slots[("land", "08:30")]["appointments"],
            slots[("land", "08:30")]["appointments_punctual"]) == (1, 0)
    assert slots[("land", "09:00")]["punctuality"] == 1.0
    assert slots[("land", "09:30")]["bookings_no_show"] == 1
    assert slots[("land", "09:30")]["appointments"] == 0
    assert [row["slot"] for row in rep["by_slot"]] == ["08:30", "08:30", "09:00", "09:00",
                                                       "09:30"]
    csv = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&format=csv", "supervisor")
    lines = csv.data.decode("utf-8-sig").strip().split("\r\n")
    assert lines[0].endswith(",bookings,bookings_checked_in,bookings_no_show,"
                             "bookings_cancelled,appointments,online_share_used,"
                             "appointments_punctual,punctuality")
    assert any(line.startswith("slot,land 09:00,") for line in lines)
    assert lines[1].endswith(",5,2,2,1,2,0.4,1,0.5")
    xlsx = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&format=xlsx", "admin")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_the_closed_day_keeps_its_appointment_figures_in_the_aggregates(
    clock: Clock, world: World, day: dict
) -> None:
    now = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
    with world.db.write() as s:
        assert aggregates.catch_up(s, now)["by_site"] == {"HT": 1}
    with world.db.read() as s:
        site = s.query(Site).filter_by(code="HT").one()
        stored = reports.kpis(s, site, dt.date(2026, 11, 25), dt.date(2026, 11, 25), now)
        live = reports.kpis(s, site, dt.date(2026, 11, 25), dt.date(2026, 11, 25), now,
                            source="tickets")
        inp = reports.kpi_inputs(s, site, dt.date(2026, 11, 25), dt.date(2026, 11, 25), now)
    assert inp.live == [] and inp.live_bookings == [] and inp.stored  # read from aggregates
    assert stored == live
    assert stored["totals"]["punctuality"] == 0.5 and len(stored["by_slot"]) == 5
