"""``motcua demo`` lives a working day of Hạc Thành through the real engine (the simulator's
loop: kiosk issues, the demo clerks call, serve and finish), so the KPIs, the charts and the
staffing advice have something to show from the first minute; its output says whom to sign
in as on every staff page, the counter tablet's included."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from server.cli import main
from server.core import migrate
from server.core.db import Database
from server.features import advice, reports, seed, simulate
from server.models import Booking, Site, Ticket, TicketEvent, User

# Wednesday 25/11/2026, 10:30 in Hạc Thành (UTC+7)
MORNING = dt.datetime(2026, 11, 25, 3, 30, tzinfo=dt.UTC)


def _demo_db(tmp_path: Path, now: dt.datetime) -> Database:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.write() as s:
        seed.seed_demo(s, now)
    return db


def test_a_morning_of_history_feeds_kpis_charts_and_advice(tmp_path: Path) -> None:
    db = _demo_db(tmp_path, MORNING)
    try:
        lived = simulate.demo_history(db, "HACTHANH", MORNING)
        assert lived is not None
        assert lived.day == dt.date(2026, 11, 25) and lived.until == MORNING
        assert lived.issued > 60 and lived.served > 30
        with db.read() as s:
            site = s.scalar(select(Site).where(Site.code == "HACTHANH"))
            assert site is not None
            # Nothing after "now": the history does not invent the afternoon.
            assert s.scalar(select(func.max(Ticket.issued_at))) <= MORNING
            # The engine wrote it: every ticket has its events, the clerks are the demo's.
            assert s.scalar(select(func.count()).select_from(TicketEvent)) > 3 * lived.issued
            clerks = set(s.scalars(select(User.username).join(
                Ticket, Ticket.clerk_id == User.id).distinct()))
            assert clerks and clerks <= {f"canbo{n}" for n in range(1, 9)}
            kpis = reports.kpis(s, site, lived.day, lived.day, MORNING)
            assert kpis["totals"]["issued"] == lived.issued
            assert kpis["totals"]["served"] == lived.served
            assert kpis["totals"]["awt_min"] is not None
            # Some citizens booked their slot the day before (simulate.HISTORY_BOOKED_SHARE):
            # the morning's checked in at the kiosk, the afternoon's are still to come.
            assert kpis["totals"]["appointments"] > 5 and kpis["by_slot"]
            assert kpis["totals"]["bookings"] > kpis["totals"]["bookings_checked_in"]
            later = s.scalar(select(func.count()).select_from(Booking).where(
                Booking.status == "confirmed", Booking.slot_start > MORNING))
            assert later and later > 5
            chart = reports.series(s, site, lived.day)
            assert len(chart["buckets"]) >= 8  # 08:00 to 10:30 in quarter hours
            assert sum(sum(sv["arrivals"]) for sv in chart["services"]) == lived.issued
            adv = advice.compute(s, site, MORNING).as_dict()
            busy = [sv for sv in adv["services"] if sv["arrivals_per_hour"] > 0]
            assert len(busy) >= 4
            assert all(sv["state"] in ("ok", "short", "overloaded") for sv in busy)
        # Loading the demo again adds no second history to the same day.
        assert simulate.demo_history(db, "HACTHANH", MORNING) is None
    finally:
        db.dispose()


def test_before_opening_the_last_working_day_is_lived_whole(tmp_path: Path) -> None:
    monday_early = dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.UTC)  # Monday 07:30 local
    db = _demo_db(tmp_path, monday_early)
    try:
        lived = simulate.demo_history(db, "HACTHANH", monday_early, per_day=80)
        assert lived is not None
        assert lived.day == dt.date(2026, 11, 20)  # Friday: the weekend is skipped
        assert lived.issued == 80
        assert lived.until == dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)  # 17:00
    finally:
        db.dispose()


def test_the_demo_prints_its_history_and_whom_to_sign_in_as(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    out = CliRunner().invoke(main, ["demo", "--history"],
                             env={"MOTCUA_DATABASE_URL": url}, catch_exceptions=False).output
    assert re.search(r"History of Hạc Thành on \d\d/\d\d/\d{4} until \d\d:\d\d: \d+ tickets "
                     r"taken, \d+ served", out), out
    counter3 = re.search(r"counter 3\s+clerk\s+\S+\s+\(counter id (\d+)\)", out)
    assert counter3
    tablet = next(line for line in out.splitlines() if "Counter tablet" in line)
    assert f"/counter/{counter3.group(1)}/rate" in tablet
    assert "sign in as canbo3, password motcua-demo" in tablet
    for page, account in (("Supervisor", "giamsat.hacthanh"), ("Admin console", "quantri"),
                          ("Counter station", "canbo1..canbo8")):
        line = next(x for x in out.splitlines() if x.strip().startswith(page + ":"))
        assert f"sign in as {account}, password motcua-demo" in line, line
    # The test suite's default (MOTCUA_DEMO_HISTORY=0, tests/conftest.py): no history.
    url2 = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    out2 = CliRunner().invoke(main, ["demo"], env={"MOTCUA_DATABASE_URL": url2},
                              catch_exceptions=False).output
    assert "History of" not in out2
