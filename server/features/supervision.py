"""Supervision: the live dashboard of a site (and its reception points), rebalancing moves and
the audit trail. Plain functions over a SQLAlchemy session with an explicit ``now``; no Flask.

Definitions (shown to supervisors, so kept simple and stable):

- **Waiting / longest wait**: tickets waiting in a service's queue today; the longest wait is
  the time since the oldest of them entered this queue (issue, or transfer into it).
- **Average wait over the last hour**: mean of (called at - entered queue) of the tickets of
  the service called in the last 60 minutes; ``None`` when none was called.
- **SLA state**: from the longest current wait against the service's target:
  ``green`` below 75 % of the target, ``amber`` from 75 % to below 100 %, ``red`` at or above
  the target (somebody is waiting past the target now: an SLA breach).
- **Clerk of a counter**: the clerk (user) recorded on the ticket now at the counter, else on
  the last ticket the counter called today (``tickets.clerk_id`` is set at every call from
  the signed-in user or the user-bound token). ``None`` when unknown.
- **Idle time**: for an open counter with no ticket called or being served, the time since
  the latest of: its last ticket ended today, it was opened, the first ticket of the day at
  the site (0 while the site has no ticket today).
- **Slips to check**: the site's print jobs that ended ``unknown`` (sent to a printer that
  never acknowledged them: maybe printed) or ``failed`` (never sent), and were not printed
  again since; each can be reprinted from the dashboard.
- **Alerts**: SLA breach (red service), printer paper out / offline / error (paper near its
  end as a warning), slips to check (a warning), and an open counter idle for
  ``idle_minutes`` (default 5) or more while a queue it serves is long (``LONG_QUEUE``
  tickets or more waiting, or its SLA state is not green).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.core import audit, auth, events, formats, lookups
from server.core.auth import Principal
from server.core.catalogs import LANGS, catalogs
from server.core.errors import AppError
from server.features import audit_log as audit_reader
from server.features import fences, notifications, printing, queues, tickets
from server.features.counters import nearby_sites
from server.models import (
    Counter,
    CounterService,
    Device,
    PrinterState,
    Service,
    Site,
    Ticket,
    User,
)
from server.rules.calendar import business_day, day_start
from server.rules.states import AT_COUNTER, Status

SLA_AMBER = 0.75
IDLE_ALERT_MINUTES = 5
LONG_QUEUE = 5
AVERAGE_WINDOW = dt.timedelta(hours=1)
PRINTER_PROBLEMS = {"paper_out": "critical", "offline": "critical", "error": "critical",
                    "paper_near_end": "warning"}
MAX_MOVE = 200
AUDIT_LIMIT = 200


def _minutes(delta: dt.timedelta) -> float:
    return round(max(delta.total_seconds(), 0.0) / 60.0, 1)


def sla_state(wait_minutes: float | None, target_minutes: float) -> str:
    """green < 75 % of the target, amber < 100 %, red at or past it."""
    if wait_minutes is None or wait_minutes < SLA_AMBER * target_minutes:
        return "green"
    return "amber" if wait_minutes < target_minutes else "red"


def _site_names(site: Site) -> dict[str, str]:
    return {"vi": site.name_vi, "en": site.name_en}


def _user_names(session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    return {
        u.id: {"id": u.id, "username": u.username, "name": u.full_name or u.username}
        for u in session.scalars(select(User).where(User.id.in_(ids)))
    }


# --- dashboard ----------------------------------------------------------------------------


def _services_block(
    session: Session, site: Site, now: dt.datetime, day: dt.date
) -> list[dict[str, Any]]:
    services = list(
        session.scalars(
            select(Service).where(Service.site_id == site.id).order_by(
                Service.sort_order, Service.id
            )
        )
    )
    ids = [s.id for s in services]
    snap = queues.queue_snapshot(session, site, now, services=services)
    oldest: dict[int, dt.datetime] = {}
    reserved: dict[int, int] = defaultdict(int)
    for sid, issued_at, reserved_for in session.execute(
        select(Ticket.service_id, Ticket.issued_at, Ticket.reserved_counter_id).where(
            Ticket.service_id.in_(ids),
            Ticket.business_day == day,
            Ticket.status == Status.WAITING,
        )
    ):
        if sid not in oldest or issued_at < oldest[sid]:
            oldest[sid] = issued_at
        if reserved_for is not None:
            reserved[sid] += 1
    waits: dict[int, list[float]] = defaultdict(list)
    for sid, issued_at, called_at in session.execute(
        select(Ticket.service_id, Ticket.issued_at, Ticket.called_at).where(
            Ticket.service_id.in_(ids),
            Ticket.business_day == day,
            Ticket.called_at.is_not(None),
            Ticket.called_at > now - AVERAGE_WINDOW,
            Ticket.called_at <= now,
        )
    ):
        waits[sid].append(max((called_at - issued_at).total_seconds(), 0.0) / 60.0)
    # Counters of other sites that serve these queues (an extra reception point helping).
    helpers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for sid, number, code, status in session.execute(
        select(CounterService.service_id, Counter.number, Site.code, Counter.status)
        .join(Counter, Counter.id == CounterService.counter_id)
        .join(Site, Site.id == Counter.site_id)
        .where(CounterService.service_id.in_(ids), Counter.site_id != site.id)
        .order_by(Site.code, Counter.number)
    ):
        helpers[sid].append({"site": code, "counter": number, "status": status})
    out = []
    for sv in services:
        line = snap.lines[sv.id]
        longest = _minutes(now - oldest[sv.id]) if sv.id in oldest else None
        recent = waits.get(sv.id, [])
        out.append(
            {
                "code": sv.code,
                "name": {"vi": sv.name_vi, "en": sv.name_en},
                "prefix": sv.prefix,
                "active": sv.active,
                "sla_target_minutes": sv.sla_target_minutes,
                "waiting": line.waiting,
                "waiting_priority": line.waiting_priority,
                "reserved": reserved.get(sv.id, 0),
                "longest_wait_min": longest,
                "avg_wait_last_hour_min": round(sum(recent) / len(recent), 1) if recent else None,
                "called_last_hour": len(recent),
                "sla_state": sla_state(longest, sv.sla_target_minutes),
                "open_counters": line.open_counters,
                "eta_new_min": line.eta(line.ahead_of_new()),
                "other_site_counters": helpers.get(sv.id, []),
            }
        )
    return out


def _counters_block(
    session: Session, site: Site, now: dt.datetime, day: dt.date
) -> list[dict[str, Any]]:
    counters = list(
        session.scalars(
            select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
        )
    )
    ids = [c.id for c in counters]
    if not ids:
        return []
    current: dict[int, Ticket] = {
        t.counter_id: t
        for t in session.scalars(
            select(Ticket).where(Ticket.counter_id.in_(ids), Ticket.status.in_(AT_COUNTER))
        )
        if t.counter_id is not None
    }
    served = dict(
        session.execute(
            select(Ticket.counter_id, func.count())
            .where(
                Ticket.counter_id.in_(ids),
                Ticket.business_day == day,
                Ticket.status == Status.DONE,
            )
            .group_by(Ticket.counter_id)
        ).all()
    )
    last_end = dict(
        session.execute(
            select(Ticket.counter_id, func.max(Ticket.finished_at))
            .where(Ticket.counter_id.in_(ids), Ticket.business_day == day)
            .group_by(Ticket.counter_id)
        ).all()
    )
    # The clerk: of the current ticket, else of the last ticket called today at the counter.
    last_clerk: dict[int, int] = {}
    for cid, clerk_id in session.execute(
        select(Ticket.counter_id, Ticket.clerk_id)
        .where(
            Ticket.counter_id.in_(ids),
            Ticket.business_day == day,
            Ticket.clerk_id.is_not(None),
        )
        .order_by(Ticket.called_at)
    ):
        last_clerk[cid] = clerk_id
    for cid, t in current.items():
        if t.clerk_id is not None:
            last_clerk[cid] = t.clerk_id
    users = _user_names(session, set(last_clerk.values()))
    reserved = dict(
        session.execute(
            select(Ticket.reserved_counter_id, func.count())
            .where(Ticket.reserved_counter_id.in_(ids), Ticket.status == Status.WAITING)
            .group_by(Ticket.reserved_counter_id)
        ).all()
    )
    # Idle time cannot start before there was work: the day's first ticket at the site.
    first_issue = session.scalar(
        select(func.min(Ticket.issued_at)).where(
            Ticket.site_id == site.id, Ticket.business_day == day
        )
    )
    work_start = max(first_issue or now, day_start(day, site.timezone))
    attended = queues.attended_counters(session, ids, now, day)
    out = []
    for c in counters:
        cur = current.get(c.id)
        idle = None
        if c.status == "open" and cur is None:
            marks = [work_start]
            if c.status_changed_at is not None:
                marks.append(c.status_changed_at)
            if last_end.get(c.id) is not None:
                marks.append(last_end[c.id])
            idle = _minutes(now - max(marks))
        out.append(
            {
                "id": c.id,
                "number": c.number,
                "name": c.name,
                "status": c.status,
                "pause_reason": c.status_reason if c.status == "paused" else None,
                "status_changed_at": formats.iso(c.status_changed_at),
                # open with a clerk at it (None when not open): the ETA counts only these
                "attended": (c.id in attended) if c.status == "open" else None,
                "clerk": users.get(last_clerk[c.id]) if c.id in last_clerk else None,
                "current_ticket": (
                    {
                        "id": cur.id,
                        "number": cur.label,
                        "status": cur.status,
                        "service": cur.service.code,
                        "site": cur.service.site.code,
                        "called_at": formats.iso(cur.called_at),
                    }
                    if cur is not None
                    else None
                ),
                "served_today": int(served.get(c.id, 0)),
                "idle_min": idle,
                "reserved_waiting": int(reserved.get(c.id, 0)),
                "services": [
                    {
                        "code": line.service.code,
                        "site": line.service.site.code,
                        "weight": line.weight,
                        "name": {"vi": line.service.name_vi, "en": line.service.name_en},
                    }
                    for line in c.profile
                ],
            }
        )
    return out


def _printers_block(session: Session, site: Site) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, kind, uri in session.execute(
        select(Device.name, Device.kind, Device.printer_uri).where(
            Device.site_id == site.id, Device.printer_uri.is_not(None), Device.revoked_at.is_(None)
        )
    ):
        rows.append({"kind": kind, "name": name, "counter": None, "uri": uri})
    for number, uri in session.execute(
        select(Counter.number, Counter.printer_uri).where(
            Counter.site_id == site.id, Counter.printer_uri.is_not(None)
        )
    ):
        rows.append({"kind": "counter", "name": None, "counter": number, "uri": uri})
    states = {
        st.uri: st
        for st in session.scalars(
            select(PrinterState).where(PrinterState.uri.in_([r["uri"] for r in rows]))
        )
    } if rows else {}
    out = []
    for r in rows:
        st = states.get(r.pop("uri"))
        out.append(
            {
                **r,
                "status": st.status if st else "unknown",
                "detail": st.detail if st else None,
                "changed_at": formats.iso(st.changed_at) if st else None,
            }
        )
    return out


def _alert_text(key: str, **params: Any) -> dict[str, str]:
    """An alert's sentence in both languages (the catalogs' "supervision" entries)."""
    return catalogs.both("supervision", key, **params)


def _alerts(
    site: Site,
    services: list[dict[str, Any]],
    counters: list[dict[str, Any]],
    printers: list[dict[str, Any]],
    idle_minutes: float,
) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    by_code = {(site.code, s["code"]): s for s in services}
    for s in services:
        if s["sla_state"] == "red":
            alerts.append(
                {
                    "kind": "sla_breach",
                    "severity": "critical",
                    "site": site.code,
                    "service": s["code"],
                    "text": _alert_text(
                        "sla_breach", service=s["name"], waited=f"{s['longest_wait_min']:g}",
                        target=s["sla_target_minutes"]),
                }
            )
    for p in printers:
        severity = PRINTER_PROBLEMS.get(p["status"])
        if severity is None:
            continue
        what = (_alert_text("printer_of_counter", counter=p["counter"])
                if p["kind"] == "counter" else str(p["name"]))
        alerts.append(
            {
                "kind": f"printer_{p['status']}",
                "severity": severity,
                "site": site.code,
                "printer": p["name"] or f"counter-{p['counter']}",
                "text": _alert_text("printer", printer=what,
                                    state=_alert_text(f"printer_state_{p['status']}")),
            }
        )
    unattended = [c for c in counters if c["attended"] is False]
    if unattended:
        numbers = ", ".join(str(c["number"]) for c in unattended)
        minutes = round(queues.UNATTENDED_AFTER.total_seconds() / 60)
        alerts.append(
            {
                "kind": "counter_unattended",
                "severity": "warning",
                "site": site.code,
                "counters": [c["number"] for c in unattended],
                "text": _alert_text(
                    "unattended_many" if len(unattended) > 1 else "unattended_one",
                    counters=numbers, minutes=minutes),
            }
        )
    for c in counters:
        if c["attended"] is False:
            continue  # said above: nobody there to call
        if c["idle_min"] is None or c["idle_min"] < idle_minutes:
            continue
        long = [
            by_code[key]
            for key in ((line["site"], line["code"]) for line in c["services"])
            if key in by_code
            and (by_code[key]["waiting"] >= LONG_QUEUE or by_code[key]["sla_state"] != "green")
            and by_code[key]["waiting"] > 0
        ]
        if not long:
            continue
        names = {lang: ", ".join(f"{s['name'][lang]} ({s['waiting']})" for s in long)
                 for lang in LANGS}
        alerts.append(
            {
                "kind": "counter_idle",
                "severity": "warning",
                "site": site.code,
                "counter": c["number"],
                "counter_id": c["id"],
                "text": _alert_text("counter_idle", counter=c["number"],
                                    minutes=f"{c['idle_min']:g}", queues=names),
            }
        )
    return alerts


def _site_dashboard(
    session: Session, site: Site, now: dt.datetime, idle_minutes: float
) -> dict[str, Any]:
    day = business_day(now, site.timezone)
    services = _services_block(session, site, now, day)
    counters = _counters_block(session, site, now, day)
    printers = _printers_block(session, site)
    count, problem_rows = printing.open_problems(session, site.id)
    slips = {"count": count,
             "jobs": [printing.job_problem(session, row) for row in problem_rows]}
    alerts = _alerts(site, services, counters, printers, idle_minutes)
    if count:
        alerts.append({
            "kind": "print_unconfirmed",
            "severity": "warning",
            "site": site.code,
            "count": count,
            "text": _alert_text("print_unconfirmed", count=count),
        })
    # A message gateway failing is raised like a printer out of paper.
    for gw in notifications.failing_gateways(session, site.id, now):
        alerts.append({
            "kind": "gateway_failing",
            "severity": "critical",
            "site": site.code,
            "channel": gw["channel"],
            "count": gw["messages"],
            "text": _alert_text("gateway_failing", channel=gw["channel"].upper(),
                                count=gw["messages"], error=gw["error"] or ""),
        })
    return {
        "site": site.code,
        "name": _site_names(site),
        "kind": site.kind,
        "timezone": site.timezone,
        "business_day": day.isoformat(),
        "services": services,
        "counters": counters,
        "printers": printers,
        "print_problems": slips,
        "messages": notifications.outbox_view(session, site.id, now, limit=20),
        "alerts": alerts,
    }


def child_points(session: Session, p: Principal, site: Site) -> list[Site]:
    return [
        s
        for s in session.scalars(
            select(Site).where(Site.parent_id == site.id, Site.kind == "point").order_by(Site.id)
        )
        if auth.can_rebalance(session, p, s.id)
    ]


def dashboard(
    session: Session,
    p: Principal,
    site_code: str,
    now: dt.datetime,
    include_points: bool = False,
    idle_minutes: float = IDLE_ALERT_MINUTES,
) -> dict[str, Any]:
    """``GET /sites/{site}/dashboard``: supervisors and admins of the site."""
    site = lookups.get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    out = _site_dashboard(session, site, now, idle_minutes)
    out["at"] = formats.iso(now)
    out["thresholds"] = {
        "sla_amber_ratio": SLA_AMBER,
        "idle_alert_minutes": idle_minutes,
        "long_queue": LONG_QUEUE,
    }
    out["seq"] = events.current_seq(session, site.id)
    # The day of a restore: from when the data came back and where the numbers continue.
    out["restore"] = fences.site_notice(session, site, now)
    if out["restore"] is not None:
        out["alerts"].insert(0, {"kind": "restored", "severity": "warning", "site": site.code,
                                 "text": out["restore"]["text"]})
    out["points"] = (
        [_site_dashboard(session, pt, now, idle_minutes) for pt in child_points(session, p, site)]
        if include_points
        else []
    )
    return out


# --- reachable sites for a counter's profile ------------------------------------------------


def profile_options(
    session: Session, p: Principal, counter_id: int
) -> list[dict[str, Any]]:
    """Services a supervisor may put in this counter's profile, grouped by site."""
    counter = lookups.get_counter(session, counter_id)
    auth.require(auth.can_rebalance(session, p, counter.site_id))
    ids = [
        i for i in nearby_sites(session, counter.site) if auth.can_rebalance(session, p, i)
    ]
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(ids)))}
    rows = session.scalars(
        select(Service)
        .where(Service.site_id.in_(ids))
        .order_by(Service.site_id, Service.sort_order, Service.id)
    )
    return [
        {
            "site": sites[sv.site_id].code,
            "site_name": _site_names(sites[sv.site_id]),
            "own_site": sv.site_id == counter.site_id,
            "code": sv.code,
            "name": {"vi": sv.name_vi, "en": sv.name_en},
        }
        for sv in rows
    ]


# --- moving waiting tickets -----------------------------------------------------------------


def _waiting_of(
    session: Session, sv: Service, day: dt.date, count: int, which: str,
    ticket_ids: list[int] | None,
) -> list[Ticket]:
    q = select(Ticket).where(
        Ticket.service_id == sv.id, Ticket.business_day == day, Ticket.status == Status.WAITING
    )
    if ticket_ids is not None:
        q = q.where(Ticket.id.in_(ticket_ids))
    order = (Ticket.queue_pos.desc(), Ticket.id.desc()) if which == "last" else (
        Ticket.queue_pos, Ticket.id)
    rows = list(session.scalars(q.order_by(*order).limit(count).with_for_update()))
    if ticket_ids is not None and len(rows) != len(set(ticket_ids)):
        raise AppError("tickets_not_waiting")
    # Keep their order in the queue when they land somewhere else.
    return sorted(rows, key=lambda t: (t.queue_pos, t.id))


def move_tickets(
    session: Session,
    p: Principal,
    site_code: str,
    from_service: str,
    now: dt.datetime,
    base_url: str,
    *,
    count: int | None = None,
    which: str = "last",
    ticket_ids: list[int] | None = None,
    to_service: str | None = None,
    to_counter_id: int | None = None,
    position: str = "back",
) -> dict[str, Any]:
    """Move waiting tickets of a service: to another service of the site (a transfer each,
    the citizen keeps the number), or to one counter (reserved: only that counter may call
    them, before anything else it serves). ``which`` = ``last`` or ``first`` picks ``count``
    tickets in call order; or ``ticket_ids`` names them. One audit row for the move."""
    site = lookups.get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    if (to_service is None) == (to_counter_id is None):
        raise AppError("validation_error", detail="to_service or to_counter_id")
    if ticket_ids is None and count is None:
        raise AppError("validation_error", detail="count or ticket_ids")
    sv = session.scalar(
        select(Service).where(Service.site_id == site.id, Service.code == from_service)
    )
    if sv is None:
        raise AppError("unknown_service", code=from_service)
    day = business_day(now, site.timezone)
    n = min(len(ticket_ids) if ticket_ids is not None else (count or 0), MAX_MOVE)
    waiting = _waiting_of(session, sv, day, n, which, ticket_ids)
    labels = [t.label for t in waiting]
    moved: list[dict[str, Any]] = []
    if to_service is not None:
        if to_service == sv.code:
            raise AppError("same_service")
        for t in waiting:
            moved.append(tickets.transfer(session, p, t.id, to_service, position, now, base_url))
        target: dict[str, Any] = {"service": to_service, "position": position}
    else:
        assert to_counter_id is not None
        counter = lookups.get_counter(session, to_counter_id)
        auth.require(auth.can_rebalance(session, p, counter.site_id))
        near = nearby_sites(session, site)
        if counter.site_id != site.id and counter.site_id not in near:
            raise AppError("site_not_nearby", number=counter.number, site=site.code)
        if counter.status == "closed":
            raise AppError("counter_not_open", number=counter.number)
        ids = [t.id for t in waiting]
        if ids:
            session.execute(
                update(Ticket)
                .where(Ticket.id.in_(ids), Ticket.status == Status.WAITING)
                .values(reserved_counter_id=counter.id)
                .execution_options(synchronize_session=False)
            )
        for t in waiting:
            session.refresh(t)
            audit.record_ticket_event(session, t, "ticket.reserved", Status.WAITING, p, now,
                            {"counter_id": counter.id, "counter": counter.number})
            events.emit(
                session, site.id, "ticket.reserved",
                {"ticket_id": t.id, "number": t.label, "service": sv.code,
                 "counter": counter.number, "counter_id": counter.id},
            )
            moved.append({"id": t.id, "number": t.label, "service": sv.code,
                          "reserved_counter_id": counter.id})
        if waiting:
            queues.emit_queue_stats(session, site.id, {sv.id}, now)
        target = {"counter": counter.number, "counter_id": counter.id,
                  "counter_site": counter.site.code}
    if waiting:
        audit.audit(
            session, p, now, site.id, "tickets.move", "service", sv.code,
            {"service": sv.code, "tickets": labels},
            {**target, "tickets": labels},
        )
    return {"moved": len(waiting), "tickets": moved, "target": target}


# --- audit --------------------------------------------------------------------------------


def audit_log(
    session: Session,
    p: Principal,
    site_code: str,
    limit: int = 50,
    before: int | None = None,
    include_points: bool = False,
) -> dict[str, Any]:
    """``GET /sites/{site}/audit``: newest first; ``before`` is the id of the last row seen
    (the next page starts below it)."""
    site = lookups.get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    limit = max(1, min(limit, AUDIT_LIMIT))
    ids = [site.id] + ([s.id for s in child_points(session, p, site)] if include_points else [])
    codes = dict(session.execute(select(Site.id, Site.code).where(Site.id.in_(ids))).all())
    rows = audit_reader.entries(session, ids, limit, before)
    items = [
        {
            "id": r["id"],
            "at": r["at"],
            "site": codes.get(r["site_id"]) if r["site_id"] is not None else None,
            "actor": r["actor"],
            "who": r["who"],
            "action": r["action"],
            "what": r["what"],
            "entity": r["entity"],
            "entity_id": r["entity_id"],
            "entity_label": r["target"],
            "before": r["before"],
            "after": r["after"],
            "changes": r["changes"],
        }
        for r in rows
    ]
    return {
        "site": site.code,
        "items": items,
        "next_before": rows[-1]["id"] if len(rows) == limit else None,
    }
