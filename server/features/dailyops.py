"""Daily operations: when a service may issue tickets, and closing the day.

A service stops issuing (kiosk tile greyed, issue API refuses with 409) when, in this order:

1. today is a holiday of the site's province (``holidays``, see ``server.procedures``);
2. the site has opening hours and is outside them now (before opening, lunch break, after
   closing, a closed weekday);
3. the service's last-ticket time (site local "HH:MM") has passed;
4. today's issued count reached the service's daily cap.

Each refusal names WHY and WHAT TO DO: the next opening time computed from the opening hours
and holidays ("come back tomorrow from 7:30") and, when there is one, a nearby reception point
(a child or sibling site offering the same service code, available now, fewest waiting).

Staff (clerks, supervisors, admins) may issue past a cap, a last-ticket time or outside opening
hours with an explicit ``override_limits`` flag (e.g. a citizen with an appointment); the
ticket's ``ticket.issued`` event records which limit was overridden. Kiosks never override.

Closing (``close_day``): tickets still *waiting* or *parked* become ``unserved_at_close`` with a
TicketEvent each. Tickets *called* or *being served* are left to their clerk, who finishes them
(or marks a no-show) as usual. The automatic close (``auto_close``) runs the same function for
every site whose opening hours are over for today, and for tickets left from earlier business
days at any site (the rollover).

No Flask here: plain functions of a session and an explicit ``now``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.core import audit, auth, events
from server.core.auth import Principal
from server.core.catalogs import catalogs
from server.core.db import unavailable_kind
from server.core.errors import AppError
from server.features import aggregates, queues, retention
from server.features.queues import queue_snapshot
from server.models import Holiday, Service, ServiceDay, Site, Ticket
from server.rules.calendar import business_day, local
from server.rules.fields import parse_hhmm
from server.rules.opening_hours import (
    HORIZON_DAYS,
    NextOpen,
    clock_label,
    closed_for_today,
    is_open,
    next_opening,
)
from server.rules.states import OPEN_AT_CLOSE, Status, next_status

log = logging.getLogger("motcua.dailyops")

MAX_ALTERNATIVES = 10  # reception points looked at for a suggestion
LOOKBACK_DAYS = 31  # the automatic close looks this far back (close-day itself closes all)
RETENTION_EVERY = dt.timedelta(hours=1)  # the retention pass runs at most this often




# --- availability of a service ------------------------------------------------------------------


def next_open_words(nxt: NextOpen, lang: str, today: dt.date) -> str:
    """ "ngày mai từ 07:30" / "tomorrow from 07:30"; "Thứ Hai 30/11" beyond tomorrow (the
    catalogs' "dailyops" entries)."""
    delta = (nxt.day - today).days
    if delta == 0:
        when = catalogs.text("dailyops", "when_today", lang)
    elif delta == 1:
        when = catalogs.text("dailyops", "when_tomorrow", lang)
    else:
        weekday = catalogs.text("dailyops", f"weekday_{nxt.day.weekday()}", lang)
        when = catalogs.text("dailyops", "when_day", lang).format(
            weekday=weekday, date=f"{nxt.day:%d/%m}")
    if nxt.time is None:
        return when
    return catalogs.text("dailyops", "when_from", lang).format(
        when=when, time=clock_label(nxt.time))


@dataclass
class Unavailable:
    """Why a service does not issue now, and what to do."""

    code: str  # an error code of server/errors.py
    params: dict[str, Any]
    next_open: NextOpen | None
    today: dt.date
    alternative: dict[str, Any] | None = None

    def _advice(self, lang: str) -> str:
        def text(key: str, **params: Any) -> str:
            return catalogs.text("dailyops", key, lang).format(**params)

        parts = []
        if self.next_open is not None:
            parts.append(text("come_back", when=next_open_words(self.next_open, lang, self.today)))
        alt = self.alternative
        if alt is not None:
            go = text("go_elsewhere", name=alt["name"][lang], waiting=alt["waiting"])
            parts.append(go if parts else text("go_elsewhere_first", go=go))
        if not parts:
            return ""
        joined = parts[0]
        for part in parts[1:]:
            joined = text("or", first=joined, second=part)
        return joined + "."

    def error(self) -> AppError:
        return AppError(
            self.code, advice_vi=self._advice("vi"), advice_en=self._advice("en"), **self.params
        )

    def view(self) -> dict[str, Any]:
        err = self.error()
        return {
            "code": self.code,
            "message": {"vi": err.message("vi"), "en": err.message("en")},
            "next_open": self.next_open.iso() if self.next_open else None,
            "alternative": self.alternative,
        }


@dataclass
class SiteDay:
    """What availability needs about a site today, loaded once."""

    site: Site
    now_local: dt.datetime
    holidays: dict[dt.date, tuple[str, str]]
    issued: dict[int, int] = field(default_factory=dict)  # service id -> numbers drawn today

    @property
    def today(self) -> dt.date:
        return self.now_local.date()


def province_holidays(
    session: Session, site: Site, since: dt.date, until: dt.date
) -> dict[dt.date, tuple[str, str]]:
    """The holidays of the site's province (nearest ancestor of kind province, or the root)."""
    chain: list[Site] = []
    current: Site | None = site
    while current is not None and current not in chain:
        chain.append(current)
        current = session.get(Site, current.parent_id) if current.parent_id else None
    province = next((s for s in chain if s.kind == "province"), chain[-1])
    rows = session.execute(
        select(Holiday.day, Holiday.name_vi, Holiday.name_en).where(
            Holiday.site_id == province.id, Holiday.day >= since, Holiday.day <= until
        )
    ).all()
    return {d: (vi, en) for d, vi, en in rows}


def load_site_day(session: Session, site: Site, now: dt.datetime, counts: bool = True) -> SiteDay:
    """Holidays ahead and (``counts``) today's issued numbers per service of the site."""
    now_local = local(now, site.timezone)
    today = now_local.date()
    holidays = province_holidays(session, site, today, today + dt.timedelta(days=HORIZON_DAYS))
    if not counts:
        return SiteDay(site, now_local, holidays)
    issued = dict(
        session.execute(
            # Numbers a restore fence jumped over were never printed here: not counted.
            select(ServiceDay.service_id, ServiceDay.last_number - ServiceDay.skipped)
            .join(Service, Service.id == ServiceDay.service_id)
            .where(Service.site_id == site.id, ServiceDay.business_day == today)
        ).all()
    )
    return SiteDay(site, now_local, holidays, issued)


def check(sd: SiteDay, svc: Service, issued_today: int | None = None) -> Unavailable | None:
    """Why ``svc`` cannot issue now (holiday, closed, last-ticket time, cap), or None."""
    site, now_local, today = sd.site, sd.now_local, sd.today
    hours = site.opening_hours
    holidays = sd.holidays.keys()
    if today in sd.holidays:
        vi, en = sd.holidays[today]
        nxt = next_opening(hours, holidays, now_local, site.timezone, not_today=True)
        return Unavailable("site_holiday", {"holiday_vi": vi, "holiday_en": en}, nxt, today)
    if not is_open(hours, now_local):
        nxt = next_opening(hours, holidays, now_local, site.timezone)
        return Unavailable("site_closed_now", {}, nxt, today)
    if svc.last_ticket_time:
        try:
            last = parse_hhmm(svc.last_ticket_time)
        except ValueError:
            last = None  # a bad value in the database must not stop the kiosk
        if last is not None and now_local.time().replace(tzinfo=None) >= last:
            nxt = next_opening(hours, holidays, now_local, site.timezone, not_today=True)
            params = {
                "name_vi": svc.name_vi,
                "name_en": svc.name_en,
                "time": clock_label(last),
            }
            return Unavailable("service_after_last_ticket", params, nxt, today)
    if svc.daily_cap is not None:
        count = sd.issued.get(svc.id, 0) if issued_today is None else issued_today
        if count >= svc.daily_cap:
            nxt = next_opening(hours, holidays, now_local, site.timezone, not_today=True)
            params = {"name_vi": svc.name_vi, "name_en": svc.name_en, "cap": svc.daily_cap}
            return Unavailable("service_cap_reached", params, nxt, today)
    return None


def find_alternative(
    session: Session, site: Site, svc: Service, now: dt.datetime
) -> dict[str, Any] | None:
    """A nearby reception point offering the same service code and taking tickets now, fewest
    waiting first: the site's extra reception points (children of kind point); for a point,
    also its parent centre and sibling points. Not every centre of the province: that would
    be 50+ sites to read for each greyed tile."""

    cond = [(Site.parent_id == site.id) & (Site.kind == "point")]
    if site.kind == "point" and site.parent_id is not None:
        cond.append((Site.parent_id == site.parent_id) & (Site.kind == "point"))
        cond.append((Site.id == site.parent_id) & (Site.kind != "province"))
    candidates = session.execute(
        select(Service, Site)
        .join(Site, Site.id == Service.site_id)
        .where(
            or_(*cond),
            Site.id != site.id,
            Service.code == svc.code,
            Service.active.is_(True),
        )
        .order_by(Site.id)
        .limit(MAX_ALTERNATIVES)
    ).all()
    best: dict[str, Any] | None = None
    for other_svc, other_site in candidates:
        sd = load_site_day(session, other_site, now)
        if check(sd, other_svc) is not None:
            continue
        line = queue_snapshot(session, other_site, now, services=[other_svc]).lines[other_svc.id]
        if best is None or line.waiting < best["waiting"]:
            best = {
                "site": other_site.code,
                "name": {"vi": other_site.name_vi, "en": other_site.name_en},
                "address": other_site.address,
                "waiting": line.waiting,
            }
    return best


def availability(
    session: Session, sd: SiteDay, svc: Service, now: dt.datetime, issued_today: int | None = None
) -> Unavailable | None:
    """``check`` plus a nearby alternative when the service is unavailable."""
    why = check(sd, svc, issued_today)
    if why is not None and why.code != "site_holiday":  # a holiday closes the whole province
        why.alternative = find_alternative(session, sd.site, svc, now)
    return why


def check_issue(
    session: Session,
    p: Principal,
    site: Site,
    svc: Service,
    now: dt.datetime,
    number: int | None,
    override: bool,
) -> str | None:
    """Called by ``tickets.issue_ticket``: before drawing a number (``number`` None: holiday,
    hours, last-ticket time) and after (``number`` = the drawn number: the cap; the draw is
    rolled back with the refusal, so concurrent issues can never exceed the cap). Raises the
    refusal, or returns the code of the limit a staff override passed (None if none)."""
    if override and p.role not in auth.STAFF:
        raise AppError("forbidden")
    sd = load_site_day(session, site, now, counts=False)  # the count is given
    if number is None:
        why = check(sd, svc, issued_today=0)
    else:
        skipped = session.scalar(
            select(ServiceDay.skipped).where(
                ServiceDay.service_id == svc.id, ServiceDay.business_day == sd.today
            )
        )
        why = check(sd, svc, issued_today=number - 1 - (skipped or 0))
        if why is not None and why.code != "service_cap_reached":
            why = None  # already decided before the draw
    if why is None:
        return None
    if override:
        return why.code
    if why.code != "site_holiday":
        why.alternative = find_alternative(session, site, svc, now)
    raise why.error()


# --- closing the day ----------------------------------------------------------------------------


def close_day(
    session: Session,
    p: Principal,
    site: Site,
    now: dt.datetime,
    reason: str = "close_day",
    only_before: dt.date | None = None,
) -> dict[str, Any]:
    """Tickets still waiting or parked at ``site`` become ``unserved_at_close`` (one
    TicketEvent each, realtime events, one audit row). Called/serving tickets stay with their
    clerk. ``only_before``: close only tickets of earlier business days (the rollover)."""
    pass

    auth.require(auth.can_rebalance(session, p, site.id))
    today = business_day(now, site.timezone)
    q = select(Ticket).where(Ticket.site_id == site.id, Ticket.status.in_(list(OPEN_AT_CLOSE)))
    if only_before is not None:
        q = q.where(Ticket.business_day < only_before)
    tickets = list(session.scalars(q.order_by(Ticket.id).with_for_update()))
    by_service: dict[str, int] = {}
    touched: set[int] = set()
    for ticket in tickets:
        before = ticket.status
        ticket.status = next_status(before, "close_day")
        ticket.finished_at = now
        session.flush()
        audit.record_ticket_event(
            session,
            ticket,
            "ticket.unserved_at_close",
            before,
            p,
            now,
            {"reason": reason, "business_day": ticket.business_day.isoformat()},
        )
        events.emit(
            session,
            site.id,
            "ticket.unserved_at_close",
            {
                "ticket_id": ticket.id,
                "number": ticket.label,
                "service": ticket.service.code,
                "status": ticket.status,
            },
        )
        by_service[ticket.service.code] = by_service.get(ticket.service.code, 0) + 1
        if ticket.business_day == today:
            touched.add(ticket.service_id)
    left = session.scalar(
        select(Ticket.id)
        .where(Ticket.site_id == site.id, Ticket.status.in_([Status.CALLED, Status.SERVING]))
        .limit(1)
    )
    summary = {
        "site": site.code,
        "business_day": today.isoformat(),
        "unserved_at_close": len(tickets),
        "by_service": dict(sorted(by_service.items())),
        "at_counters_left": left is not None,
        "reason": reason,
    }
    if tickets:
        audit.audit(
            session,
            p,
            now,
            site.id,
            "site.close_day",
            "site",
            site.code,
            {"open_tickets": len(tickets)},
            {k: summary[k] for k in ("unserved_at_close", "by_service", "reason")},
        )
        events.emit(session, site.id, "day.closed", summary)
        if touched:
            queues.emit_queue_stats(session, site.id, touched, now)
    return summary


def sites_due_for_close(session: Session, now: dt.datetime) -> list[tuple[Site, dt.date | None]]:
    """Sites with tickets to close now: (site, None) when today's opening is over (close all
    open tickets), (site, today) when only tickets of earlier business days are left."""
    # Runs every minute on every node: probe the index (site, status, business day) for each
    # site's open tickets: only those are read, not every ticket of the recent days (the queue
    # index, led by the service and the day, read a month of each service's tickets).
    since = now.date() - dt.timedelta(days=LOOKBACK_DAYS)
    rows = session.execute(
        select(Ticket.site_id, Ticket.business_day)
        .where(
            Ticket.site_id.in_(select(Site.id)),
            Ticket.business_day >= since,
            Ticket.status.in_(list(OPEN_AT_CLOSE)),
        )
        .distinct()
    ).all()
    sites = {
        s.id: s for s in session.scalars(select(Site).where(Site.id.in_({r[0] for r in rows})))
    }
    days: dict[int, tuple[Site, set[dt.date]]] = {}
    for site_id, day in rows:
        days.setdefault(site_id, (sites[site_id], set()))[1].add(day)
    out: list[tuple[Site, dt.date | None]] = []
    for site, open_days in days.values():
        now_local = local(now, site.timezone)
        today = now_local.date()
        if site.opening_hours is not None:
            holidays = province_holidays(session, site, today, today)
            if closed_for_today(site.opening_hours, holidays, now_local):
                out.append((site, None))
                continue
        if any(d < today for d in open_days):
            out.append((site, today))
    return out


def auto_close(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Close every site whose day is over (see ``sites_due_for_close``)."""
    done = []
    for site, only_before in sites_due_for_close(session, now):
        summary = close_day(session, auth.SYSTEM, site, now, "auto", only_before)
        if summary["unserved_at_close"]:
            done.append(summary)
    return done


class DayCloser:
    """A background thread of the app process: every ``interval`` seconds runs ``auto_close``
    in its own unit of work, and at most once an hour the history pass (``history_once``):
    the daily aggregates of settled days not yet aggregated (``server/features/aggregates.py``,
    catching up days closed late or never), then retention (``server/features/retention.py``:
    ID-card scans of past business days, print jobs older than ``retention_days``, ticket
    detail and aggregates past their ``periods``). Several app nodes may run it: the row locks
    and the guarded state machine make a second close of the same tickets a no-op, a second
    aggregation of a day replaces its rows with the same ones, and a second retention pass finds
    nothing left to remove."""

    def __init__(self, db: Any, clock: Callable[[], dt.datetime], interval: float = 60.0,
                 retention_days: int = 30,
                 periods: retention.Periods | None = None,
                 every_round: Sequence[Callable[[Session, dt.datetime], Any]] = ()) -> None:
        self.db = db
        # Other periodic passes of features above this one (the appointments' sweep), each in
        # its own unit of work after the close.
        self.every_round = list(every_round)
        self.clock = clock
        self.interval = interval
        self.retention_days = retention_days
        self.periods = periods
        self._retained_at: dt.datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="motcua-day-closer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> list[dict[str, Any]]:
        with self.db.write() as s:
            closed = auto_close(s, self.clock())
        for one_pass in self.every_round:
            with self.db.write() as s:
                one_pass(s, self.clock())
        return closed

    def retain_once(self) -> dict[str, Any] | None:
        """The history pass, if the last one is an hour old (None when not due): the retention
        summary with the aggregation's under ``aggregates``."""
        now = self.clock()
        if self._retained_at is not None and now - self._retained_at < RETENTION_EVERY:
            return None
        summary = history_pass(self.db, now, self.retention_days, self.periods)
        self._retained_at = now
        return summary

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for summary in self.run_once():
                    log.info("day closed", extra=summary)
                kept = self.retain_once()
                if kept is not None and (kept["aggregates"]["days"] or any(
                    kept[k] for k in ("applicant_scans", "print_jobs", "detail_tickets",
                                      "aggregate_rows")
                )):
                    log.info("history pass applied", extra=kept)
            except Exception as exc:  # keep the thread alive; the next round tries again
                if unavailable_kind(exc) is None:  # an outage is logged once, as an incident
                    log.exception("automatic day close failed")


def history_pass(
    db: Any,
    now: dt.datetime,
    retention_days: int,
    periods: retention.Periods | None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """What the daily close does with history, each in its own unit of work: aggregate the
    settled days not aggregated yet, then apply retention (ticket detail only of aggregated
    days). ``dry_run``: say what would be written and removed, change nothing."""
    unit = db.read if dry_run else db.write
    with db.read() as s:
        site_ids = list(s.scalars(select(Site.id).order_by(Site.id)))
    made: dict[str, Any] = {"dry_run": dry_run, "days": 0, "by_site": {}, "left": 0}
    for site_id in site_ids:  # one unit of work per site: a catch-up is many days' writes
        with unit() as s:
            part = aggregates.catch_up(s, now, dry_run=dry_run, site_ids=[site_id])
        made["days"] += part["days"]
        made["left"] += part["left"]
        made["by_site"].update(part["by_site"])
    with unit() as s:
        summary = retention.apply(s, now, retention_days, dry_run=dry_run, periods=periods)
    return {**summary, "aggregates": made}
