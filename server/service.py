"""Service layer: the functions the REST API, Socket.IO handlers, CLI and simulator all call.

Each function takes a session inside a unit of work (``Database.write()``/``read()``), the acting
principal and ``now`` (an aware UTC datetime, so tests and the simulator control time). It checks
permissions and the state machine, writes TicketEvents and queues domain events in
``session.info['events']``; ``Database.write`` publishes them only after the commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from . import auth, dailyops
from .applicants import purge_applicants
from .auth import Principal
from .db import insert_for
from .errors import AppError, not_found
from .models import (
    AuditLog,
    Counter,
    CounterService,
    PriorityCategory,
    Service,
    ServiceDay,
    Site,
    SiteSeq,
    Ticket,
    TicketApplicant,
    TicketEvent,
)
from .queue import eta as eta_mod
from .queue import routing
from .queue.calendar import business_day, format_label, queue_position_key
from .queue.states import AT_COUNTER, Status, next_status

RECENT_SERVICE_WINDOW = dt.timedelta(hours=2)
RECENT_CALL_WINDOW = dt.timedelta(minutes=30)  # for the ETA's observed call rate
MIN_CALL_WINDOW = dt.timedelta(minutes=10)
STATS_ORDER_LIMIT = 1000


@dataclass
class Event:
    """A domain event, published after commit to the realtime hub. ``seq`` is the site's
    event sequence number, drawn inside the same transaction just before it commits."""

    site_id: int
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def reserve_seqs(session: Session, site_id: int, count: int) -> int:
    """Take ``count`` numbers from the site's sequence; returns the last one. The row lock
    (PostgreSQL) is held until commit, so numbers follow commit order at a site."""
    stmt = (
        insert_for(session, SiteSeq)
        .values(site_id=site_id, seq=count)
        .on_conflict_do_update(index_elements=[SiteSeq.site_id], set_={"seq": SiteSeq.seq + count})
        .returning(SiteSeq.seq)
    )
    return int(session.execute(stmt).scalar_one())


def _number_events(session: Session) -> None:
    """Run by ``Database.write`` just before commit: one sequence update per site."""
    events: list[Event] = session.info.get("events", [])
    by_site: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        if e.seq == 0:
            by_site[e.site_id].append(e)
    for site_id, site_events in by_site.items():
        last = reserve_seqs(session, site_id, len(site_events))
        for i, e in enumerate(site_events):
            e.seq = last - len(site_events) + 1 + i


def current_seq(session: Session, site_id: int) -> int:
    return int(session.scalar(select(SiteSeq.seq).where(SiteSeq.site_id == site_id)) or 0)


def _emit(session: Session, site_id: int, type_: str, data: dict[str, Any]) -> None:
    """The one place events are created. They leave only after the commit."""
    session.info.setdefault("events", []).append(Event(site_id, 0, type_, data))
    hooks = session.info.setdefault("before_commit", [])
    if _number_events not in hooks:
        hooks.append(_number_events)


def _emit_queue_stats(
    session: Session,
    site_id: int,
    service_ids: set[int],
    now: dt.datetime,
    snap: QueueSnapshot | None = None,
) -> None:
    """Absolute queue state of the services a change touched: waiting counts, the call order
    (ticket ids, so a tracking page finds its own place without asking the database) and the
    estimated wait at each place."""
    if snap is None or not service_ids <= set(snap.lines):
        site = session.get(Site, site_id)
        assert site is not None
        snap = queue_snapshot(session, site, now, sorted(service_ids))
    for sid in sorted(service_ids):
        _emit(session, site_id, "queue.stats", snap.lines[sid].stats())


def _record(
    session: Session,
    ticket: Ticket,
    type_: str,
    from_status: str | None,
    p: Principal,
    now: dt.datetime,
    data: dict[str, Any] | None = None,
) -> None:
    # Append-only and never read back in the unit of work: a plain INSERT, not an ORM object
    # (the unit-of-work flush of one object cost more than the rest of the insert).
    session.execute(
        insert(TicketEvent.__table__).values(
            ticket_id=ticket.id,
            site_id=ticket.site_id,
            service_id=ticket.service_id,
            type=type_,
            from_status=from_status,
            to_status=ticket.status,
            counter_id=ticket.counter_id,
            actor=p.actor,
            at=now,
            data=data,
        )
    )


def _audit(
    session: Session,
    p: Principal,
    now: dt.datetime,
    site_id: int | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditLog(
            at=now,
            actor=p.actor,
            site_id=site_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
        )
    )


# --- lookups ------------------------------------------------------------------------------


def site_by_code(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise not_found("site")
    return site


MAX_ID = 2**31 - 1  # ids are 32-bit integers in every backend we run on


def _counter(session: Session, counter_id: int, lock: bool = False) -> Counter:
    if not 1 <= counter_id <= MAX_ID:
        raise not_found("counter")
    q = select(Counter).where(Counter.id == counter_id)
    if lock:
        q = q.with_for_update()
    counter = session.scalar(q)
    if counter is None:
        raise not_found("counter")
    return counter


def _ticket(session: Session, ticket_id: int, lock: bool = True) -> Ticket:
    if not 1 <= ticket_id <= MAX_ID:
        raise not_found("ticket")
    q = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        q = q.with_for_update()
    ticket = session.scalar(q)
    if ticket is None:
        raise not_found("ticket")
    return ticket


def _interleave(site: Site) -> routing.Interleave:
    return routing.Interleave(site.interleave_priority, site.interleave_normal)


def _class_state(session: Session, service_id: int, day: dt.date) -> routing.ClassState:
    row = session.get(ServiceDay, (service_id, day))
    if row is None:
        return routing.ClassState()
    return routing.ClassState(row.last_class, row.run_length)


# --- views --------------------------------------------------------------------------------


def public_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/t/{token}"


@dataclass
class ServiceLine:
    """One service's waiting line today, with what estimates need. Pure once loaded."""

    service_id: int
    code: str
    priority_ids: list[int]
    normal_ids: list[int]
    state: routing.ClassState
    ratio: routing.Interleave
    capacity: float
    open_counters: int
    minutes: float
    idle: int = 0  # open counters serving it with nobody at the desk
    called_per_min: float = 0.0  # its tickets called per minute over the last half hour
    _order: list[int] | None = None
    _index: dict[int, int] | None = None

    def order(self) -> list[int]:
        if self._order is None:
            self._order = routing.call_order(
                self.priority_ids, self.normal_ids, self.state, self.ratio
            )
        return self._order

    def ahead(self, ticket_id: int) -> int:
        if self._index is None:
            self._index = {tid: i for i, tid in enumerate(self.order())}
        return self._index[ticket_id]

    def ahead_of_new(self, priority: bool = False) -> int:
        p, n = self.priority_ids, self.normal_ids
        p2, n2 = ([*p, -1], n) if priority else (p, [*n, -1])
        if not priority and not p:
            return len(n)
        return routing.calls_before(-1, p2, n2, self.state, self.ratio)

    def eta(self, ahead: int) -> int | None:
        return eta_mod.estimate_minutes(
            ahead, self.minutes, self.capacity, self.idle, self.called_per_min
        )

    @property
    def waiting(self) -> int:
        return len(self.priority_ids) + len(self.normal_ids)

    def stats(self) -> dict[str, Any]:
        order = self.order()[:STATS_ORDER_LIMIT]
        etas = [self.eta(i) for i in range(len(order))]
        return {
            "service": self.code,
            "waiting": self.waiting,
            "waiting_priority": len(self.priority_ids),
            "open_counters": self.open_counters,
            "order": order,
            "eta_minutes": etas,
            "eta_new": self.eta(self.ahead_of_new()),
        }


@dataclass
class QueueSnapshot:
    """The waiting lines of some of a site's services today: one read, many answers."""

    site: Site
    day: dt.date
    lines: dict[int, ServiceLine]


def service_minutes(
    session: Session, service_ids: list[int], day: dt.date, since: dt.datetime
) -> dict[int, list[float]]:
    """How long each ticket of ``day`` finished since ``since`` took to serve, per service."""
    out: dict[int, list[float]] = defaultdict(list)
    for sid, started, finished in session.execute(
        select(Ticket.service_id, Ticket.started_at, Ticket.finished_at).where(
            Ticket.service_id.in_(service_ids),
            Ticket.business_day == day,
            Ticket.status == Status.DONE,
            Ticket.finished_at >= since,
        )
    ):
        if started is not None:
            out[sid].append(max((finished - started).total_seconds() / 60.0, 0.0))
    return out


def queue_snapshot(
    session: Session,
    site: Site,
    now: dt.datetime,
    service_ids: list[int] | None = None,
    states: dict[int, routing.ClassState] | None = None,
    services: list[Service] | None = None,
) -> QueueSnapshot:
    """Read the waiting lines (4 or 5 statements whatever the number of services)."""
    day = business_day(now, site.timezone)
    if services is None:
        q = select(Service).where(Service.site_id == site.id)
        if service_ids is not None:
            q = q.where(Service.id.in_(service_ids))
        services = list(session.scalars(q))
    ids = [sv.id for sv in services]

    waiting: dict[int, tuple[list[int], list[int]]] = {sid: ([], []) for sid in ids}
    rows = session.execute(
        select(Ticket.service_id, Ticket.id, Ticket.priority_id)
        .where(
            Ticket.service_id.in_(ids),
            Ticket.business_day == day,
            Ticket.status == Status.WAITING,
        )
        .order_by(Ticket.queue_pos, Ticket.id)
    ).all()
    for service_id, ticket_id, priority_id in rows:
        waiting[service_id][0 if priority_id is not None else 1].append(ticket_id)

    if states is None:
        states = {
            row.service_id: routing.ClassState(row.last_class, row.run_length)
            for row in session.scalars(
                select(ServiceDay).where(
                    ServiceDay.service_id.in_(ids), ServiceDay.business_day == day
                )
            )
        }

    # Capacity: each open counter gives each of its services its share of the counter's weights.
    capacity: dict[int, float] = defaultdict(float)
    open_counters: dict[int, int] = defaultdict(int)
    serving = select(CounterService.counter_id).where(CounterService.service_id.in_(ids))
    rows4 = session.execute(
        select(
            CounterService.counter_id,
            CounterService.service_id,
            CounterService.weight,
            Service.sla_target_minutes,
        )
        .join(Counter, Counter.id == CounterService.counter_id)
        .join(Service, Service.id == CounterService.service_id)
        .where(Counter.status == "open", CounterService.counter_id.in_(serving))
    ).all()
    profile_rows = [(c, sid, w) for c, sid, w, _sla in rows4]
    # Routing sends a counter to its most urgent service, so a counter's time goes where the
    # lines are long relative to their SLA target: share by weight x pressure, where pressure
    # is the line's length (at least half a ticket) over its target.
    lengths = dict(
        session.execute(
            select(Ticket.service_id, func.count())
            .where(
                Ticket.service_id.in_({sid for _c, sid, _w in profile_rows}),
                Ticket.business_day == day,
                Ticket.status == Status.WAITING,
            )
            .group_by(Ticket.service_id)
        ).all()
    ) if profile_rows else {}
    pull: dict[tuple[int, int], float] = {}
    totals: dict[int, float] = defaultdict(float)
    for counter_id, sid, weight, sla in rows4:
        pull[(counter_id, sid)] = weight * max(lengths.get(sid, 0), 0.5) / max(sla, 1)
        totals[counter_id] += pull[(counter_id, sid)]
    for counter_id, sid, _weight in profile_rows:
        if sid in waiting:
            capacity[sid] += pull[(counter_id, sid)] / totals[counter_id]
            open_counters[sid] += 1

    # Idle open counters (nobody called or served there) and the recent call rate.
    idle: dict[int, int] = defaultdict(int)
    open_ids = {counter_id for counter_id, _sid, _w in profile_rows}
    busy = set(
        session.scalars(
            select(Ticket.counter_id).where(
                Ticket.counter_id.in_(open_ids), Ticket.status.in_(AT_COUNTER)
            )
        )
    ) if open_ids else set()
    for counter_id, sid, _weight in profile_rows:
        if sid in waiting and counter_id not in busy:
            idle[sid] += 1
    since = now - RECENT_CALL_WINDOW
    called: dict[int, float] = {}
    for sid, calls, first in session.execute(
        select(
            Ticket.service_id,
            func.count(Ticket.called_at).filter(Ticket.called_at >= since),
            func.min(Ticket.issued_at),
        )
        .where(Ticket.service_id.in_(ids), Ticket.business_day == day)
        .group_by(Ticket.service_id)
    ):
        span = RECENT_CALL_WINDOW
        if first is not None and now - first < span:
            span = max(now - first, MIN_CALL_WINDOW)
        called[sid] = int(calls or 0) / (span.total_seconds() / 60.0)

    recent = service_minutes(session, ids, day, now - RECENT_SERVICE_WINDOW)
    ratio = _interleave(site)
    lines = {
        sv.id: ServiceLine(
            service_id=sv.id,
            code=sv.code,
            priority_ids=waiting[sv.id][0],
            normal_ids=waiting[sv.id][1],
            state=states.get(sv.id, routing.ClassState()),
            ratio=ratio,
            capacity=capacity.get(sv.id, 0.0),
            open_counters=open_counters.get(sv.id, 0),
            minutes=eta_mod.mean_service_minutes(recent.get(sv.id, []), sv.default_service_minutes),
            idle=idle.get(sv.id, 0),
            called_per_min=called.get(sv.id, 0.0),
        )
        for sv in services
    }
    return QueueSnapshot(site, day, lines)


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if t else None


def ticket_view(
    session: Session,
    ticket: Ticket,
    now: dt.datetime,
    base_url: str,
    snapshot: QueueSnapshot | None = None,
    include_token: bool = False,
    staff: bool = False,
) -> dict[str, Any]:
    """A ticket as the API shows it. ``staff`` adds the applicant read at the kiosk."""
    service = ticket.service
    site = service.site if service.site_id == ticket.site_id else session.get(Site, ticket.site_id)
    assert site is not None
    position = ahead = eta = None
    if ticket.status == Status.WAITING:
        snap = snapshot or queue_snapshot(session, site, now, [ticket.service_id])
        line = snap.lines[ticket.service_id]
        ahead = line.ahead(ticket.id)
        position = ahead + 1
        eta = line.eta(ahead)
    counter = ticket.counter
    view: dict[str, Any] = {
        "id": ticket.id,
        "number": ticket.label,
        "service": service.code,
        "service_name": {"vi": service.name_vi, "en": service.name_en},
        "site": site.code,
        "status": ticket.status,
        "priority": ticket.priority.code if ticket.priority else None,
        "lang": ticket.lang,
        "position": position,
        "ahead": ahead,
        "eta_minutes": eta,
        "issued_at": _iso(ticket.issued_at),
        "called_at": _iso(ticket.called_at),
        "started_at": _iso(ticket.started_at),
        "finished_at": _iso(ticket.finished_at),
        "counter": counter.number if counter else None,
        "counter_id": counter.id if counter else None,
        "recall_count": ticket.recall_count,
        "transfer_parent_id": ticket.transfer_parent_id,
    }
    if staff:
        view["applicant"] = applicant_view(session, ticket.id)
    if include_token:
        view["token"] = ticket.tracking_token
        view["track_url"] = public_url(base_url, ticket.tracking_token)
    return view


def _called_event(ticket: Ticket, counter: Counter) -> dict[str, Any]:
    data = {
        "ticket_id": ticket.id,
        "number": ticket.label,
        "service": ticket.service.code,
        "counter": counter.number,
        "counter_id": counter.id,
        "priority": ticket.priority_id is not None,
        "lang": ticket.lang,
    }
    if counter.site_id != ticket.site_id:  # a counter of another site serves this queue
        data["counter_site"] = counter.site.code
        data["counter_site_name"] = {"vi": counter.site.name_vi, "en": counter.site.name_en}
    return data


# --- sites, services, counters ------------------------------------------------------------


def site_view(site: Site, parent_code: str | None) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": {"vi": site.name_vi, "en": site.name_en},
        "kind": site.kind,
        "parent": parent_code,
        "timezone": site.timezone,
        "agency_code": site.agency_code,
        "interleave": {"priority": site.interleave_priority, "normal": site.interleave_normal},
    }


def list_sites(session: Session, p: Principal) -> list[dict[str, Any]]:
    sites = session.scalars(select(Site).order_by(Site.id)).all()
    codes = {s.id: s.code for s in sites}
    return [
        site_view(s, codes.get(s.parent_id) if s.parent_id else None)
        for s in sites
        if auth.can_read_site(session, p, s.id)
    ]


def services_with_queues(session: Session, site: Site, now: dt.datetime) -> list[dict[str, Any]]:
    """Every service of a site with its waiting line: counts, open counters and the estimated
    wait of a ticket taken now. The API, the kiosk and the display share this."""
    snap = queue_snapshot(session, site, now)
    services = session.scalars(
        select(Service).where(Service.site_id == site.id).order_by(Service.sort_order, Service.id)
    ).all()
    day = dailyops.load_site_day(session, site, now)  # issue 10: hours, holidays, caps
    out = []
    for s in services:
        line = snap.lines[s.id]
        eta_new = line.eta(line.ahead_of_new())
        why = dailyops.availability(session, day, s, now) if s.active else None
        out.append(
            {
                "code": s.code,
                "name": {"vi": s.name_vi, "en": s.name_en},
                "prefix": s.prefix,
                "active": s.active,
                "sla_target_minutes": s.sla_target_minutes,
                "waiting": line.waiting,
                "waiting_priority": len(line.priority_ids),
                "open_counters": line.open_counters,
                "eta_minutes": eta_new,
                "eta_new": eta_new,
                "available": s.active and why is None,
                "reason": why.view() if why else None,
                "display_colour": s.display_colour,
            }
        )
    return out


def list_services(session: Session, p: Principal, site_code: str, now: dt.datetime) -> list[dict]:
    site = site_by_code(session, site_code)
    auth.require(auth.can_read_site(session, p, site.id))
    return [
        {k: v for k, v in row.items() if k != "eta_new"}
        for row in services_with_queues(session, site, now)
    ]


def counter_view(session: Session, counter: Counter) -> dict[str, Any]:
    current = session.scalar(
        select(Ticket).where(Ticket.counter_id == counter.id, Ticket.status.in_(AT_COUNTER))
    )
    return {
        "id": counter.id,
        "number": counter.number,
        "name": counter.name,
        "site": counter.site.code,
        "status": counter.status,
        "status_reason": counter.status_reason,
        "services": [
            {"code": line.service.code, "weight": line.weight, "site": line.service.site.code}
            for line in counter.profile
        ],
        "current_ticket": (
            {"id": current.id, "number": current.label, "status": current.status}
            if current
            else None
        ),
    }


def list_counters(session: Session, p: Principal, site_code: str) -> list[dict[str, Any]]:
    site = site_by_code(session, site_code)
    auth.require(auth.can_read_site(session, p, site.id))
    counters = session.scalars(
        select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
    ).all()
    return [counter_view(session, c) for c in counters]


def list_priorities(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(PriorityCategory)
        .where(PriorityCategory.active.is_(True))
        .order_by(PriorityCategory.sort_order, PriorityCategory.id)
    ).all()
    return [{"code": r.code, "name": {"vi": r.name_vi, "en": r.name_en}} for r in rows]


# --- issue ----------------------------------------------------------------------------------


def _next_number(session: Session, service_id: int, day: dt.date) -> tuple[int, routing.ClassState]:
    """Atomically draw the next number of (service, day). The row lock (PostgreSQL) or the
    write lock (SQLite ``BEGIN IMMEDIATE``) is held until commit, and the unique constraint on
    tickets makes a duplicate impossible even if this were wrong."""
    stmt = insert_for(session, ServiceDay).values(
        service_id=service_id, business_day=day, last_number=1, run_length=0
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[ServiceDay.service_id, ServiceDay.business_day],
        set_={"last_number": ServiceDay.last_number + 1},
    ).returning(ServiceDay.last_number, ServiceDay.last_class, ServiceDay.run_length)
    number, last_class, run_length = session.execute(stmt).one()
    return int(number), routing.ClassState(last_class, run_length)


def issue_ticket(
    session: Session,
    p: Principal,
    site_code: str,
    service_code: str,
    priority_code: str | None,
    lang: str,
    idempotency_key: str | None,
    now: dt.datetime,
    base_url: str,
    applicant: dict[str, Any] | None = None,
    override_limits: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Issue a ticket. Returns (view, created); a repeated Idempotency-Key returns the
    ticket issued the first time with created=False. Opening hours, holidays, last-ticket
    time and daily cap refuse with 409 (staff may pass ``override_limits``): server/dailyops."""
    row = session.execute(
        select(Service, Site)
        .join(Site, Site.id == Service.site_id)
        .where(Site.code == site_code, Service.code == service_code)
    ).first()
    if row is None:
        site = site_by_code(session, site_code)  # unknown site: 404
        auth.require(auth.can_issue(session, p, site.id))
        raise AppError("unknown_service", code=service_code)
    service, site = row
    auth.require(auth.can_issue(session, p, site.id))
    priority = None
    if priority_code is not None:
        priority = session.scalar(
            select(PriorityCategory).where(
                PriorityCategory.code == priority_code, PriorityCategory.active.is_(True)
            )
        )
        if priority is None:
            raise AppError("unknown_priority", code=priority_code)

    if idempotency_key is not None:
        existing = session.scalar(
            select(Ticket).where(
                Ticket.site_id == site.id, Ticket.idempotency_key == idempotency_key
            )
        )
        if existing is not None:
            same = existing.service_id == service.id and existing.priority_id == (
                priority.id if priority else None
            )
            if not same:
                raise AppError("idempotency_conflict")
            return ticket_view(session, existing, now, base_url, include_token=True), False

    if not service.active:
        raise AppError("service_inactive", code=service.code)

    overridden = dailyops.check_issue(session, p, site, service, now, None, override_limits)
    day = business_day(now, site.timezone)
    number, state = _next_number(session, service.id, day)
    if service.daily_cap is not None:
        over_cap = dailyops.check_issue(session, p, site, service, now, number, override_limits)
        overridden = overridden or over_cap
    if number == 1:  # the service's first ticket of the day: older ID card scans go (rule 7)
        purge_applicants(session, now, site.id)
    ticket = Ticket(
        site_id=site.id,
        service_id=service.id,
        business_day=day,
        number=number,
        label=format_label(service.prefix, number),
        priority_id=priority.id if priority else None,
        channel="kiosk" if p.role == "kiosk" else "counter",
        status=Status.WAITING,
        queue_pos=queue_position_key(now),
        lang=lang,
        issued_at=now,
        device_id=p.id if p.kind == "device" else None,
        tracking_token=auth.new_tracking_token(),
        idempotency_key=idempotency_key,
    )
    ticket.service = service
    ticket.priority = priority
    session.add(ticket)
    session.flush()
    session.info["issued_ticket"] = ticket  # for the caller's print job in this unit of work
    if applicant is not None:
        session.add(_applicant_row(ticket.id, applicant))
    _record(
        session, ticket, "ticket.issued", None, p, now,
        {"override": overridden} if overridden else None,
    )
    snap = queue_snapshot(session, site, now, services=[service], states={service.id: state})
    view = ticket_view(session, ticket, now, base_url, snapshot=snap, include_token=True)
    _emit(
        session,
        site.id,
        "ticket.issued",
        {
            "ticket_id": ticket.id,
            "number": ticket.label,
            "service": service.code,
            "priority": priority is not None,
            "ahead": view["ahead"],
        },
    )
    _emit_queue_stats(session, site.id, {service.id}, now, snap)
    return view, True


def _applicant_row(ticket_id: int, a: dict[str, Any]) -> TicketApplicant:
    dob = None
    if a.get("dob"):
        try:
            dob = dt.date.fromisoformat(a["dob"])
        except ValueError:
            raise AppError("validation_error", detail="applicant.dob") from None
    return TicketApplicant(
        ticket_id=ticket_id,
        id_number=a["id_number"],
        name=a["name"],
        dob=dob,
        sex=a.get("sex"),
        address=a.get("address"),
    )


def applicant_view(session: Session, ticket_id: int) -> dict[str, Any] | None:
    row = session.get(TicketApplicant, ticket_id)
    if row is None:
        return None
    return {
        "id_number": row.id_number,
        "name": row.name,
        "dob": row.dob.isoformat() if row.dob else None,
        "sex": row.sex,
        "address": row.address,
    }


# --- counters -------------------------------------------------------------------------------


def _current_at_counter(session: Session, counter_id: int) -> Ticket | None:
    return session.scalar(
        select(Ticket).where(Ticket.counter_id == counter_id, Ticket.status.in_(AT_COUNTER))
    )


def set_counter_status(
    session: Session,
    p: Principal,
    counter_id: int,
    status: str,
    now: dt.datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    counter = _counter(session, counter_id, lock=True)
    auth.require(auth.can_operate_counter(session, p, counter))
    if status == "closed":
        current = _current_at_counter(session, counter.id)
        if current is not None:
            raise AppError("counter_busy", number=counter.number, label=current.label)
    before = {"status": counter.status, "reason": counter.status_reason}
    counter.status = status
    counter.status_reason = reason if status == "paused" else None
    counter.status_changed_at = now
    after = {"status": counter.status, "reason": counter.status_reason}
    if before != after:
        _audit(
            session,
            p,
            now,
            counter.site_id,
            f"counter.{status}",
            "counter",
            counter.id,
            before,
            after,
        )
        _emit(
            session,
            counter.site_id,
            "counter.changed",
            {"counter_id": counter.id, "number": counter.number, **after},
        )
        by_site: dict[int, set[int]] = defaultdict(set)  # also queues of other sites it serves
        for line in counter.profile:
            by_site[line.service.site_id].add(line.service_id)
        for site_id, service_ids in sorted(by_site.items()):
            _emit_queue_stats(session, site_id, service_ids, now)
    return counter_view(session, counter)


def _local_services(counter: Counter) -> set[int]:
    return {line.service_id for line in counter.profile if line.service.site_id == counter.site_id}


def set_counter_profile(
    session: Session,
    p: Principal,
    counter_id: int,
    lines: list[tuple[str, float]],
    now: dt.datetime,
) -> dict[str, Any]:
    """Services of the counter's own site (see ``supervision.set_counter_profile`` for lines
    naming another site's service)."""
    from . import supervision

    return supervision.set_counter_profile(
        session, p, counter_id, [(c, w, None) for c, w in lines], now
    )


# --- call next ------------------------------------------------------------------------------


def _head(
    session: Session, service_id: int, day: dt.date, priority: bool, exclude: set[int]
) -> routing.Head | None:
    q = select(Ticket.id, Ticket.queue_pos, Ticket.issued_at).where(
        Ticket.service_id == service_id,
        Ticket.business_day == day,
        Ticket.status == Status.WAITING,
        Ticket.priority_id.is_not(None) if priority else Ticket.priority_id.is_(None),
        Ticket.reserved_counter_id.is_(None),  # reserved tickets: only their counter calls them
    )
    if exclude:
        q = q.where(Ticket.id.not_in(exclude))
    row = session.execute(q.order_by(Ticket.queue_pos, Ticket.id).limit(1)).first()
    return routing.Head(row[0], row[1], row[2]) if row else None


MAX_CLAIM_ATTEMPTS = 50


def call_next(
    session: Session, p: Principal, counter_id: int, now: dt.datetime, base_url: str
) -> dict[str, Any] | None:
    """Claim the next ticket for this counter, or return None when nobody waits for it."""
    counter = _counter(session, counter_id, lock=True)  # serialises calls at one counter
    auth.require(auth.can_operate_counter(session, p, counter))
    if counter.status != "open":
        raise AppError("counter_not_open", number=counter.number)
    current = _current_at_counter(session, counter.id)
    if current is not None:
        raise AppError("counter_busy", number=counter.number, label=current.label)

    from . import supervision

    reserved = supervision.call_reserved(session, p, counter, now, base_url)
    if reserved is not None:
        return reserved
    site = counter.site
    ratio = _interleave(site)
    profile = [(line.service, line.weight) for line in counter.profile]
    excluded: set[int] = set()
    for _attempt in range(MAX_CLAIM_ATTEMPTS):
        queues = []
        for service, weight in profile:
            day = business_day(now, service.site.timezone)
            queues.append(
                routing.ServiceQueue(
                    service_id=service.id,
                    weight=weight,
                    sla_minutes=float(service.sla_target_minutes),
                    state=_class_state(session, service.id, day),
                    priority_head=_head(session, service.id, day, True, excluded),
                    normal_head=_head(session, service.id, day, False, excluded),
                )
            )
        choice = routing.choose(queues, now, ratio)
        if choice is None:
            return None
        # Lock the chosen row; another counter holding it makes us skip it (PostgreSQL).
        locked = session.scalar(
            select(Ticket.id)
            .where(Ticket.id == choice.ticket_id, Ticket.status == Status.WAITING)
            .with_for_update(skip_locked=True)
        )
        if locked is None:
            excluded.add(choice.ticket_id)
            continue
        claimed = session.execute(
            update(Ticket)
            .where(
                Ticket.id == choice.ticket_id,
                Ticket.status == Status.WAITING,
                Ticket.reserved_counter_id.is_(None),
            )
            .values(
                status=Status.CALLED,
                counter_id=counter.id,
                clerk_id=p.user_id,
                called_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            excluded.add(choice.ticket_id)
            continue
        ticket = session.get(Ticket, choice.ticket_id, populate_existing=True)
        assert ticket is not None
        day = ticket.business_day
        session.execute(
            update(ServiceDay)
            .where(ServiceDay.service_id == ticket.service_id, ServiceDay.business_day == day)
            .values(
                run_length=_case_run_length(choice.klass),
                last_class=choice.klass,
            )
        )
        _record(session, ticket, "ticket.called", Status.WAITING, p, now)
        _emit(session, ticket.site_id, "ticket.called", _called_event(ticket, counter))
        _emit_queue_stats(session, ticket.site_id, {ticket.service_id}, now)
        return ticket_view(session, ticket, now, base_url, staff=True)
    raise AppError("internal_error")


def _case_run_length(klass: str) -> Any:
    return case(
        (ServiceDay.last_class == klass, ServiceDay.run_length + 1),
        else_=1,
    )


# --- transitions on one ticket --------------------------------------------------------------

EVENT_FOR_ACTION = {
    "recall": "ticket.recalled",
    "start": "ticket.serving",
    "finish": "ticket.done",
    "no_show": "ticket.no_show",
    "park": "ticket.parked",
    "resume": "ticket.called",
    "cancel": "ticket.done",
}


def ticket_action(
    session: Session,
    p: Principal,
    ticket_id: int,
    action: str,
    now: dt.datetime,
    base_url: str,
    counter_id: int | None = None,
) -> dict[str, Any]:
    """recall | start | finish | no_show | park | resume | cancel."""
    ticket = _ticket(session, ticket_id)
    auth.require(auth.can_act_on_ticket(session, p, ticket))
    before = ticket.status
    to = next_status(before, action)  # raises IllegalTransition -> 409
    counter: Counter | None = ticket.counter
    if action == "resume":
        # Resume at the given counter (default: the one that parked it, or the clerk's own).
        target_id = counter_id or p.counter_id or ticket.counter_id
        if target_id is None:
            raise AppError("validation_error", detail="counter_id")
        counter = _counter(session, target_id, lock=True)
        auth.require(auth.can_operate_counter(session, p, counter))
        serves = any(line.service_id == ticket.service_id for line in counter.profile)
        if counter.site_id != ticket.site_id and not serves:
            raise AppError("wrong_counter", number=counter.number)
        if counter.status != "open":
            raise AppError("counter_not_open", number=counter.number)
        busy = _current_at_counter(session, counter.id)
        if busy is not None and busy.id != ticket.id:
            raise AppError("counter_busy", number=counter.number, label=busy.label)
        ticket.counter_id = counter.id
        ticket.counter = counter
        ticket.called_at = now
    ticket.status = to
    if action == "recall":
        ticket.recall_count += 1
    elif action == "start" and ticket.started_at is None:
        ticket.started_at = now
    elif action in ("finish", "no_show", "cancel"):
        ticket.finished_at = now
    session.flush()
    _record(
        session,
        ticket,
        EVENT_FOR_ACTION[action],
        before,
        p,
        now,
        {"action": action} if action in ("cancel", "resume") else None,
    )
    data: dict[str, Any] = {
        "ticket_id": ticket.id,
        "number": ticket.label,
        "service": ticket.service.code,
        "status": ticket.status,
        "counter": counter.number if counter else None,
        "counter_id": counter.id if counter else None,
    }
    if action in ("recall", "resume") and counter is not None:
        data = {**_called_event(ticket, counter), "status": ticket.status}
        if action == "recall":
            data["recall_count"] = ticket.recall_count
    _emit(session, ticket.site_id, EVENT_FOR_ACTION[action], data)
    if before == Status.WAITING:
        _emit_queue_stats(session, ticket.site_id, {ticket.service_id}, now)
    return ticket_view(session, ticket, now, base_url, staff=True)


def transfer(
    session: Session,
    p: Principal,
    ticket_id: int,
    service_code: str,
    position: str,
    now: dt.datetime,
    base_url: str,
) -> dict[str, Any]:
    """Move a ticket to another service of its site, at the front or the back of that queue.
    The old ticket ends as ``transferred``; a child ticket keeps the citizen's number."""
    ticket = _ticket(session, ticket_id)
    auth.require(auth.can_act_on_ticket(session, p, ticket))
    if ticket.status == Status.WAITING:
        # Moving a waiting ticket is rebalancing: supervisors only.
        auth.require(auth.can_rebalance(session, p, ticket.site_id))
    target = session.scalar(
        select(Service).where(Service.site_id == ticket.site_id, Service.code == service_code)
    )
    if target is None:
        raise AppError("unknown_service", code=service_code)
    if target.id == ticket.service_id:
        raise AppError("same_service")
    before = ticket.status
    ticket.status = next_status(before, "transfer")
    ticket.finished_at = now
    from_counter = ticket.counter
    session.flush()
    if position == "front":
        head = session.scalar(
            select(func.min(Ticket.queue_pos)).where(
                Ticket.service_id == target.id,
                Ticket.business_day == ticket.business_day,
                Ticket.status == Status.WAITING,
            )
        )
        pos = (
            min(head - 1, queue_position_key(now)) if head is not None else queue_position_key(now)
        )
    else:
        pos = queue_position_key(now)
    child = Ticket(
        site_id=ticket.site_id,
        service_id=target.id,
        business_day=ticket.business_day,
        number=None,
        label=ticket.label,
        priority_id=ticket.priority_id,
        channel="transfer",
        status=Status.WAITING,
        queue_pos=pos,
        lang=ticket.lang,
        issued_at=now,
        device_id=ticket.device_id,
        tracking_token=auth.new_tracking_token(),
        transfer_parent_id=ticket.id,
    )
    child.service = target
    session.add(child)
    session.flush()
    carried = applicant_view(session, ticket.id)
    if carried is not None:
        session.add(_applicant_row(child.id, carried))
    _record(
        session,
        ticket,
        "ticket.transferred",
        before,
        p,
        now,
        {"to_ticket": child.id, "to_service": target.code, "position": position},
    )
    _record(
        session,
        child,
        "ticket.issued",
        None,
        p,
        now,
        {"from_ticket": ticket.id, "position": position},
    )
    _emit(
        session,
        ticket.site_id,
        "ticket.transferred",
        {
            "ticket_id": ticket.id,
            "new_ticket_id": child.id,
            "number": ticket.label,
            "from_service": ticket.service.code,
            "service": target.code,
            "position": position,
            "counter": from_counter.number if from_counter else None,
        },
    )
    touched = {target.id} | ({ticket.service_id} if before == Status.WAITING else set())
    _emit_queue_stats(session, ticket.site_id, touched, now)
    return ticket_view(session, child, now, base_url, staff=True)


def reprint_target(
    session: Session, p: Principal, ticket_id: int, now: dt.datetime, base_url: str
) -> tuple[int | None, dict[str, Any]]:
    """Which kiosk printed a ticket, and its current view, for a reprint by staff."""
    ticket = _ticket(session, ticket_id, lock=False)
    auth.require(p.role in auth.STAFF and auth.in_scope(session, p, ticket.site_id))
    return ticket.device_id, ticket_view(session, ticket, now, base_url)


def ticker_of(site: Site) -> dict[str, str] | None:
    if not site.ticker_vi and not site.ticker_en:
        return None
    return {
        "vi": site.ticker_vi or site.ticker_en or "",
        "en": site.ticker_en or site.ticker_vi or "",
    }


def set_ticker(
    session: Session, p: Principal, site_code: str, vi: str | None, en: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The lobby displays' ticker line (empty clears it). Supervisors; audited."""
    site = site_by_code(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    before = {"vi": site.ticker_vi, "en": site.ticker_en}
    site.ticker_vi, site.ticker_en = (vi or None), (en or None)
    after = {"vi": site.ticker_vi, "en": site.ticker_en}
    if before != after:
        _audit(session, p, now, site.id, "site.ticker", "site", site.code, before, after)
        _emit(session, site.id, "ticker.changed", {"ticker": ticker_of(site)})
    return {"site": site.code, "ticker": ticker_of(site)}


def emit_printer_changed(session: Session, site_id: int, data: dict[str, Any]) -> None:
    """A printer of the site changed state (paper out, offline, back online)."""
    _emit(session, site_id, "printer.changed", data)


# --- public tracking ------------------------------------------------------------------------


def resolve_tracking(session: Session, token: str) -> Ticket:
    """The ticket a tracking token stands for now: transfers are followed to the newest."""
    ticket = session.scalar(select(Ticket).where(Ticket.tracking_token == token))
    if ticket is None:
        raise not_found("ticket")
    seen = {ticket.id}
    while ticket.status == Status.TRANSFERRED:
        child = session.scalar(
            select(Ticket).where(Ticket.transfer_parent_id == ticket.id).order_by(Ticket.id.desc())
        )
        if child is None or child.id in seen:
            break
        seen.add(child.id)
        ticket = child
    return ticket


def track(session: Session, token: str, now: dt.datetime, base_url: str) -> dict[str, Any]:
    """Public view of a ticket by its tracking token; follows transfers. No personal data."""
    ticket = resolve_tracking(session, token)
    v = ticket_view(session, ticket, now, base_url)
    return {
        "number": v["number"],
        "service": v["service"],
        "service_name": v["service_name"],
        "site": v["site"],
        "status": v["status"],
        "position": v["position"],
        "ahead": v["ahead"],
        "eta_minutes": v["eta_minutes"],
        # What the page shows ([low, high] minutes, null without an estimate): the browser
        # never recomputes it.
        "eta_range": eta_mod.estimate_range(v["eta_minutes"]),
        "counter": v["counter"],
        # A counter of another site (an extra reception point) called it: where to go.
        "counter_site_name": (
            {"vi": ticket.counter.site.name_vi, "en": ticket.counter.site.name_en}
            if ticket.counter is not None and ticket.counter.site_id != ticket.site_id
            else None
        ),
        "issued_at": v["issued_at"],
        "called_at": v["called_at"],
        "lang": v["lang"],
    }


def get_ticket(
    session: Session, p: Principal, ticket_id: int, now: dt.datetime, base_url: str
) -> dict[str, Any]:
    ticket = _ticket(session, ticket_id, lock=False)
    auth.require(auth.in_scope(session, p, ticket.site_id) and p.role in auth.STAFF)
    return ticket_view(session, ticket, now, base_url, staff=True)
