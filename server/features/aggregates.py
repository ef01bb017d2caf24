"""Daily aggregates: what the KPI reports need of a closed business day, stored once.

For each site and business day whose tickets are all settled (the day is before the site's
today and none of its tickets is still waiting, parked, called or being served), one
``daily_stats`` row per service, per counter and clerk that first called a ticket and per
local hour of issue holds a ``server.rules.kpis.Cell`` (counts, sums of seconds, each
called ticket's wait), and one ``stat_days`` row says the day is aggregated. A year's report then
merges ~365 rows per service instead of reading every ticket and its events
(``reports.report_cells``); days not aggregated (today, a day still open) come from the tickets,
through the same cells.

- ``write_day`` replaces the rows of one day (idempotent: running the close or the back-fill
  again for a day gives the same rows);
- ``pending_days`` lists the settled days of a site not yet aggregated, from the first ticket or
  the last aggregated day: a site that never closed (or closed late) is caught up;
- ``catch_up`` (the daily close, a bounded number of days per pass) and ``backfill`` (the
  command, every day, with progress) write them.

No Flask here: plain functions of a session and an explicit ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from server.features import reports
from server.models import DailyStat, Site, StatDay, Ticket
from server.rules import kpis as kpis_rules
from server.rules.calendar import business_day
from server.rules.states import OPEN_AT_CLOSE, Status

#: A day with a ticket in one of these statuses may still change: not aggregated yet.
UNSETTLED = [*(str(s) for s in OPEN_AT_CLOSE), str(Status.CALLED), str(Status.SERVING)]
#: Days the close looks back for a day left unaggregated behind the last aggregated one (a day
#: whose last ticket was finished late).
RECHECK_DAYS = 31
CATCH_UP_DAYS = 31  # days aggregated per site in one pass of the daily close


def write_day(session: Session, site: Site, day: dt.date, now: dt.datetime) -> int:
    """Replace the aggregates of ``day`` at ``site`` with its tickets' cells; the tickets.
    A day whose tickets retention removed keeps its aggregates (returns -1)."""
    if session.scalar(
        select(StatDay.detail_dropped_at).where(
            StatDay.site_id == site.id, StatDay.business_day == day
        )
    ) is not None:
        return -1
    facts = reports.load_facts(session, site, day, day)
    session.execute(
        delete(DailyStat)
        .where(DailyStat.site_id == site.id, DailyStat.business_day == day)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(StatDay)
        .where(StatDay.site_id == site.id, StatDay.business_day == day)
        .execution_options(synchronize_session=False)
    )
    rows: list[dict[str, Any]] = []
    bookings = reports.load_booking_facts(session, site, day, day)
    for (dim, key, _day), cell in sorted(
        reports.cells(facts, site.timezone, bookings).items()
    ):
        rows.append(
            {
                "site_id": site.id,
                "business_day": day,
                "dim": dim,
                "key": key,
                **{name: getattr(cell, name) for name in kpis_rules.COUNTS},
                "waits": cell.sorted_waits(),
            }
        )
    if rows:
        session.execute(insert(DailyStat), rows)
    session.add(StatDay(site_id=site.id, business_day=day, tickets=len(facts), written_at=now))
    session.flush()
    return len(facts)


def pending_days(session: Session, site: Site, now: dt.datetime) -> list[dt.date]:
    """Settled business days of ``site`` with tickets and no aggregates, oldest first."""
    today = business_day(now, site.timezone)
    last = session.scalar(
        select(func.max(StatDay.business_day)).where(StatDay.site_id == site.id)
    )
    # From the last aggregated day (less a month, for a day settled late), else from the start.
    since = last - dt.timedelta(days=RECHECK_DAYS) if last is not None else None
    q = select(
        Ticket.business_day,
        func.count(),
        func.count().filter(Ticket.status.in_(UNSETTLED)),
    ).where(Ticket.site_id == site.id, Ticket.business_day < today)
    if since is not None:
        q = q.where(Ticket.business_day >= since)
    days = session.execute(q.group_by(Ticket.business_day)).all()
    done = set(
        session.scalars(
            select(StatDay.business_day).where(
                StatDay.site_id == site.id,
                *([StatDay.business_day >= since] if since is not None else []),
            )
        )
    )
    return sorted(d for d, _n, unsettled in days if not unsettled and d not in done)


def catch_up(
    session: Session,
    now: dt.datetime,
    limit: int = CATCH_UP_DAYS,
    dry_run: bool = False,
    site_ids: list[int] | None = None,
) -> dict[str, Any]:
    """The daily close's pass: aggregate up to ``limit`` pending days per site (of
    ``site_ids``, default every site)."""
    written: dict[str, int] = {}
    left = 0
    q = select(Site).order_by(Site.id)
    if site_ids is not None:
        q = q.where(Site.id.in_(site_ids))
    for site in session.scalars(q):
        days = pending_days(session, site, now)
        left += max(len(days) - limit, 0)
        if dry_run:
            if days:
                written[site.code] = min(len(days), limit)
            continue
        for day in days[:limit]:
            write_day(session, site, day, now)
        if days:
            written[site.code] = min(len(days), limit)
    return {"dry_run": dry_run, "days": sum(written.values()), "by_site": written, "left": left}


def backfill(
    begin: Callable[[], Any],
    now: dt.datetime,
    site_codes: list[str] | None = None,
    rewrite: bool = False,
) -> Iterator[dict[str, Any]]:
    """Aggregate every pending day of every site (or ``site_codes``), one day per unit of work
    from ``begin()`` (a context manager giving a session), yielding progress after each day:
    ``{"site", "day", "tickets", "done", "total"}``. ``rewrite``: every settled day again,
    aggregated or not (after a change of definition)."""
    plan: list[tuple[int, dt.date]] = []
    with begin() as s:
        q = select(Site).order_by(Site.id)
        if site_codes:
            q = q.where(Site.code.in_(site_codes))
        for site in s.scalars(q):
            if rewrite:
                today = business_day(now, site.timezone)
                days = [
                    d for d, unsettled in s.execute(
                        select(
                            Ticket.business_day,
                            func.count().filter(Ticket.status.in_(UNSETTLED)),
                        )
                        .where(Ticket.site_id == site.id, Ticket.business_day < today)
                        .group_by(Ticket.business_day)
                    )
                    if not unsettled
                ]
            else:
                days = pending_days(s, site, now)
            plan.extend((site.id, d) for d in sorted(days))
    for done, (site_id, day) in enumerate(plan, start=1):
        with begin() as s:
            site = s.get(Site, site_id)
            assert site is not None
            tickets = write_day(s, site, day, now)
            code = site.code
        yield {"site": code, "day": day.isoformat(), "tickets": tickets, "done": done,
               "total": len(plan)}
