"""The waiting lines of a site today: one read (``queue_snapshot``) answers positions, ETAs
and counts; ``emit_queue_stats`` sends their absolute state to screens after a change."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from server.core.events import Event, current_seq, emit, first_seq
from server.models import (
    Counter,
    CounterService,
    Service,
    ServiceDay,
    Site,
    Ticket,
)
from server.rules import eta as eta_mod
from server.rules import routing
from server.rules.calendar import business_day, queue_position_key
from server.rules.states import AT_COUNTER, Status

RECENT_SERVICE_WINDOW = dt.timedelta(hours=2)
RECENT_CALL_WINDOW = dt.timedelta(minutes=30)  # for the ETA's observed call rate
MIN_CALL_WINDOW = dt.timedelta(minutes=10)
STATS_ORDER_LIMIT = 1000


def emit_queue_stats(
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
        # The services are usually loaded already (the ticket's): no statement for them.
        services = [sv for sid in sorted(service_ids)
                    if (sv := session.get(Service, sid)) is not None and sv.site_id == site_id]
        snap = queue_snapshot(session, site, now, services=services)
    # Kept for the unit's before-commit effects (the "near" messages): the lines as this
    # unit of work left them, read once.
    session.info.setdefault("queue_lines", {}).update(
        {sid: snap.lines[sid] for sid in service_ids})
    pending = session.info.setdefault("queue_stats", [])
    for sid in sorted(service_ids):
        event = emit(session, site_id, "queue.stats", snap.lines[sid].stats())
        pending.append((event, sid, snap.seq, now))
    hooks = session.info["before_commit"]
    if _refresh_queue_stats not in hooks:
        hooks.append(_refresh_queue_stats)  # after emit's numbering hook


def line_after_changes(session: Session, service_id: int) -> ServiceLine | None:
    """The line of ``service_id`` as this unit of work's last :func:`emit_queue_stats` read
    it (after the unit's changes to it), or None when the unit sent none for it."""
    lines: dict[int, ServiceLine] = session.info.get("queue_lines") or {}
    return lines.get(service_id)


def _refresh_queue_stats(session: Session) -> None:
    """Before commit, once the events are numbered (the site's sequence row is then locked
    until this commit): a ``queue.stats`` read before another unit of work at the site drew
    its numbers is read again. Screens apply these absolute values in ``seq`` order, so each
    must include every change numbered before it: a call reads its line before it waits on
    a concurrent issue's (service, day) row and, numbered after the issue, would otherwise
    tell the lobby that nobody waits while the new ticket does (until the next change
    there). When nothing came between, the values read earlier stand (the usual case: no
    second read)."""
    pending: list[tuple[Event, int, int, dt.datetime]] = session.info.pop("queue_stats", [])
    stale: dict[int, list[tuple[Event, int, dt.datetime]]] = defaultdict(list)
    for event, sid, seen, now in pending:
        first = first_seq(session, event.site_id)
        if first is not None and seen != first - 1:
            stale[event.site_id].append((event, sid, now))
    for site_id, rows in stale.items():
        site = session.get(Site, site_id)
        assert site is not None
        fresh = queue_snapshot(session, site, max(now for _e, _s, now in rows),
                               sorted({sid for _e, sid, _n in rows}))
        for event, sid, _now in rows:
            event.data = fresh.lines[sid].stats()


def interleave(site: Site) -> routing.Interleave:
    return routing.Interleave(site.interleave_priority, site.interleave_normal)


def class_states(
    session: Session, lines: list[tuple[int, dt.date]]
) -> dict[int, routing.ClassState]:
    """The interleave state of each (service, day) of ``lines`` that has one: one statement."""
    wanted = set(lines)
    return {
        row.service_id: routing.ClassState(row.last_class, row.run_length)
        for row in session.scalars(
            select(ServiceDay).where(
                ServiceDay.service_id.in_({sid for sid, _d in lines}),
                ServiceDay.business_day.in_({day for _s, day in lines}),
            )
        )
        if (row.service_id, row.business_day) in wanted
    } if lines else {}


def minutes_to_placement(queue_pos: int, now: dt.datetime) -> float:
    """Minutes from ``now`` to the instant a ticket is placed at in its line (0 when placed
    already): a booking checked in before its slot is placed at the slot's start."""
    return max(queue_pos - queue_position_key(now), 0) / 60_000_000


@dataclass
class ServiceLine:
    """One service's waiting line today, with what estimates need. Pure once loaded.

    ``priority_ids``/``normal_ids`` hold the head of each class in queue order (at most
    ``STATS_ORDER_LIMIT`` each: enough for the first ``STATS_ORDER_LIMIT`` places of the
    call order); ``priority_waiting``/``normal_waiting`` count the whole line. Places and
    estimates come from these counts (``routing.calls_before_place``), so their cost does
    not grow with the line."""

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
    priority_waiting: int | None = None  # None: the lists are the whole line
    normal_waiting: int | None = None
    # Placed later than now (a booking checked in before its slot enters the line at the
    # slot's start): how many of each class, and the minutes to each loaded one's placement.
    # A walk-in issued now goes before them; they wait for the walk-ins until their slot.
    priority_later: int = 0
    normal_later: int = 0
    placed_in: dict[int, float] = field(default_factory=dict)
    arrivals_per_min: float = 0.0  # tickets issued per minute over the last half hour
    _order: list[int] | None = None
    _index: dict[int, tuple[str, int]] | None = None

    def __post_init__(self) -> None:
        if self.priority_waiting is None:
            self.priority_waiting = len(self.priority_ids)
        if self.normal_waiting is None:
            self.normal_waiting = len(self.normal_ids)

    def order(self) -> list[int]:
        """The call order of the loaded heads: exact for its first ``STATS_ORDER_LIMIT``
        places (no class runs out of loaded tickets before then)."""
        if self._order is None:
            self._order = routing.call_order(
                self.priority_ids, self.normal_ids, self.state, self.ratio
            )
        return self._order

    def count(self, klass: str) -> int:
        n = self.priority_waiting if klass == routing.PRIORITY else self.normal_waiting
        assert n is not None
        return n

    def place(self, klass: str, index: int) -> int:
        """Tickets called before the ``index``-th waiting ticket of ``klass``."""
        other = routing.NORMAL if klass == routing.PRIORITY else routing.PRIORITY
        return routing.calls_before_place(klass, index, self.count(other), self.state,
                                          self.ratio)

    def class_index(self, ticket_id: int) -> tuple[str, int] | None:
        """(class, index in it) of a loaded ticket; None beyond the loaded heads."""
        if self._index is None:
            self._index = {tid: (routing.PRIORITY, i) for i, tid in enumerate(self.priority_ids)}
            self._index.update(
                {tid: (routing.NORMAL, i) for i, tid in enumerate(self.normal_ids)}
            )
        return self._index.get(ticket_id)

    def ahead(self, ticket_id: int) -> int:
        """Tickets called before this loaded one (KeyError beyond the loaded heads: see
        ``ticket_ahead``)."""
        found = self.class_index(ticket_id)
        if found is None:
            raise KeyError(ticket_id)
        return self.place(*found)

    def ahead_of_new(self, priority: bool = False) -> int:
        """Tickets called before a ticket issued now: its class's line up to now (a booking
        placed later is behind it), the other class's as the interleave takes it."""
        klass = routing.PRIORITY if priority else routing.NORMAL
        later = self.priority_later if priority else self.normal_later
        return self.place(klass, self.count(klass) - later)

    def eta(self, ahead: int, until: float = 0.0) -> int | None:
        """The estimate at place ``ahead``; for a ticket placed ``until`` minutes from now
        (``minutes_to_placement``), the walk-ins arriving before then go ahead of it."""
        return eta_mod.estimate_minutes(
            ahead, self.minutes, self.capacity, self.idle, self.called_per_min, until,
            self.arrivals_per_min,
        )

    @property
    def waiting(self) -> int:
        return self.count(routing.PRIORITY) + self.count(routing.NORMAL)

    @property
    def waiting_priority(self) -> int:
        return self.count(routing.PRIORITY)

    def stats(self) -> dict[str, Any]:
        order = self.order()[:STATS_ORDER_LIMIT]
        etas = eta_mod.estimate_minutes_first(
            len(order), self.minutes, self.capacity, self.idle, self.called_per_min,
            [self.placed_in.get(tid, 0.0) for tid in order] if self.placed_in else (),
            self.arrivals_per_min,
        )
        return {
            "service": self.code,
            "waiting": self.waiting,
            "waiting_priority": self.waiting_priority,
            "open_counters": self.open_counters,
            "order": order,
            "eta_minutes": etas,
            "eta_new": self.eta(self.ahead_of_new()),
        }


def ticket_ahead(session: Session, line: ServiceLine, ticket: Ticket) -> int:
    """Tickets called before this waiting one: from the loaded heads, or, beyond them, from
    the count of its class ahead of it in queue order (one indexed count)."""
    found = line.class_index(ticket.id)
    if found is not None:
        return line.place(*found)
    same_class = (Ticket.priority_id.is_not(None) if ticket.priority_id is not None
                  else Ticket.priority_id.is_(None))
    index = session.scalar(
        select(func.count()).select_from(Ticket).where(
            Ticket.service_id == ticket.service_id,
            Ticket.business_day == ticket.business_day,
            Ticket.status == Status.WAITING,
            same_class,
            or_(Ticket.queue_pos < ticket.queue_pos,
                and_(Ticket.queue_pos == ticket.queue_pos, Ticket.id < ticket.id)),
        )
    )
    klass = routing.PRIORITY if ticket.priority_id is not None else routing.NORMAL
    return line.place(klass, int(index or 0))


@dataclass
class QueueSnapshot:
    """The waiting lines of some of a site's services today: one read, many answers. ``seq``:
    the site's last committed event number when the read began (every change numbered up to
    it is in the lines)."""

    site: Site
    day: dt.date
    lines: dict[int, ServiceLine]
    seq: int = 0


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


# The snapshot's statements are built once (bound parameters), not on every request: building
# an ORM statement costs more CPU than SQLite takes to run it.


@functools.cache
def _heads_statement(services: int) -> Any:
    """The head of each (service, class) in queue order, at most ``limit`` tickets each: what
    the call order shown to screens needs, whatever the length of the line. Services are
    bound as s0, s1, ..."""
    parts = [
        select(Ticket.service_id, Ticket.id, Ticket.priority_id, Ticket.queue_pos)
        .where(
            Ticket.service_id == bindparam(f"s{k}"),
            Ticket.business_day == bindparam("day"),
            Ticket.status == Status.WAITING,
            Ticket.priority_id.is_not(None) if priority else Ticket.priority_id.is_(None),
        )
        .order_by(Ticket.queue_pos, Ticket.id)
        .limit(bindparam("limit", type_=Integer))
        .subquery()
        for k in range(services)
        for priority in (True, False)
    ]
    return union_all(*(select(*part.c) for part in parts))


# How long an open counter may show no sign of a clerk while its work waits before it stops
# counting: nothing at it, not opened or resumed, nothing called or finished there for this long,
# and a ticket of one of its services waiting longer than that. A counter left open with nobody
# at it must not shorten the wait a ticket promises; a clerk at a quiet counter (nothing to
# call) still counts. The supervisor's dashboard raises an alert for such counters
# (features/supervision.py reads ``attended_counters``).
UNATTENDED_AFTER = dt.timedelta(minutes=20)


def _attended() -> Any:
    """The condition on ``Counter`` (bound: ``since``, ``day``) that a person is at it: a ticket
    at the counter now, or opened/resumed since ``since``, or a ticket of ``day`` called or
    finished there since ``since``, or no ticket of its services waiting since before
    ``since`` (nothing it should have called). A counter never opened by a person (its opening
    time unknown: configured open) and with no call today counts until it is used."""
    today = and_(Ticket.counter_id == Counter.id, Ticket.business_day == bindparam("day"))
    lines = aliased(CounterService)  # its own rows, not the outer query's profile line
    its_services = select(lines.service_id).where(lines.counter_id == Counter.id).correlate(
        Counter)
    return or_(
        select(Ticket.id).where(Ticket.counter_id == Counter.id,
                                Ticket.status.in_(AT_COUNTER)).exists(),
        Counter.status_changed_at >= bindparam("since"),
        select(Ticket.id).where(today, or_(Ticket.called_at >= bindparam("since"),
                                           Ticket.finished_at >= bindparam("since"))).exists(),
        and_(Counter.status_changed_at.is_(None),
             ~select(Ticket.id).where(today, Ticket.called_at.is_not(None)).exists()),
        ~select(Ticket.id).where(
            Ticket.service_id.in_(its_services), Ticket.business_day == bindparam("day"),
            Ticket.status == Status.WAITING, Ticket.issued_at < bindparam("since"),
        ).exists(),
    )


def attended_counters(
    session: Session, counter_ids: list[int], now: dt.datetime, day: dt.date
) -> set[int]:
    """Of ``counter_ids``, the open ones a clerk is at (see ``UNATTENDED_AFTER``)."""
    if not counter_ids:
        return set()
    return set(session.scalars(
        select(Counter.id).where(Counter.id.in_(counter_ids), Counter.status == "open",
                                 _attended()),
        {"since": now - UNATTENDED_AFTER, "day": day},
    ))


_PROFILES = (  # attended open counters serving any of the services, with all their lines
    select(
        CounterService.counter_id,
        CounterService.service_id,
        CounterService.weight,
        Service.sla_target_minutes,
        select(Ticket.id)  # someone called or served there: the counter is not idle
        .where(Ticket.counter_id == CounterService.counter_id, Ticket.status.in_(AT_COUNTER))
        .exists(),
    )
    .join(Counter, Counter.id == CounterService.counter_id)
    .join(Service, Service.id == CounterService.service_id)
    .where(
        Counter.status == "open",
        _attended(),  # an open counter with nobody at it calls nobody: not in the estimate
        CounterService.counter_id.in_(
            select(CounterService.counter_id).where(
                CounterService.service_id.in_(bindparam("ids", expanding=True))
            )
        ),
    )
)

_COUNTS = (  # whole-line counts by (service, class), and how many are placed after now
    select(Ticket.service_id, Ticket.priority_id.is_(None), func.count(),
           func.count().filter(Ticket.queue_pos > bindparam("now_pos")))
    .where(
        Ticket.service_id.in_(bindparam("ids", expanding=True)),
        Ticket.business_day == bindparam("day"),
        Ticket.status == Status.WAITING,
    )
    .group_by(Ticket.service_id, Ticket.priority_id.is_(None))
)

_CALLED = (  # tickets called and issued since ``since``, and the first issued, by service
    select(
        Ticket.service_id,
        func.count(Ticket.called_at).filter(Ticket.called_at >= bindparam("since")),
        func.min(Ticket.issued_at),
        func.count().filter(Ticket.issued_at >= bindparam("since")),
    )
    .where(
        Ticket.service_id.in_(bindparam("ids", expanding=True)),
        Ticket.business_day == bindparam("day"),
    )
    .group_by(Ticket.service_id)
)


def queue_snapshot(
    session: Session,
    site: Site,
    now: dt.datetime,
    service_ids: list[int] | None = None,
    states: dict[int, routing.ClassState] | None = None,
    services: list[Service] | None = None,
) -> QueueSnapshot:
    """Read the waiting lines (5 or 6 statements whatever the number of services, and whatever
    the length of the lines: heads and counts, not every waiting ticket)."""
    seq = current_seq(session, site.id)  # first: what the lines below include at least
    day = business_day(now, site.timezone)
    if services is None:
        q = select(Service).where(Service.site_id == site.id)
        if service_ids is not None:
            q = q.where(Service.id.in_(service_ids))
        services = list(session.scalars(q))
    ids = [sv.id for sv in services]

    # The head of each (service, class) in queue order, at most STATS_ORDER_LIMIT: what the
    # call order shown to screens needs, whatever the length of the line.
    waiting: dict[int, tuple[list[int], list[int]]] = {sid: ([], []) for sid in ids}
    now_pos = queue_position_key(now)
    placed_in: dict[int, dict[int, float]] = defaultdict(dict)
    rows = session.execute(
        _heads_statement(len(ids)),
        {"day": day, "limit": STATS_ORDER_LIMIT, **{f"s{k}": sid for k, sid in enumerate(ids)}},
    ).all() if ids else []
    for service_id, ticket_id, priority_id, pos in sorted(rows, key=lambda r: (r[3], r[1])):
        waiting[service_id][0 if priority_id is not None else 1].append(ticket_id)
        if pos > now_pos:  # placed later than now: minutes until then
            placed_in[service_id][ticket_id] = minutes_to_placement(pos, now)

    if states is None:
        states = class_states(session, [(sid, day) for sid in ids])

    # Capacity: each open counter gives each of its services its share of the counter's weights.
    capacity: dict[int, float] = defaultdict(float)
    open_counters: dict[int, int] = defaultdict(int)
    rows4 = session.execute(
        _PROFILES, {"ids": ids, "day": day, "since": now - UNATTENDED_AFTER}).all()
    busy = {counter_id for counter_id, _sid, _w, _sla, at in rows4 if at}
    profile_rows = [(c, sid, w) for c, sid, w, _sla, _at in rows4]
    # Routing sends a counter to its most urgent service, so a counter's time goes where the
    # lines are long relative to their SLA target: share by weight x pressure, where pressure
    # is the line's length (at least half a ticket) over its target.
    # Whole-line counts by (service, class): the lines read above and the services their
    # counters share their time with.
    counted: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    later: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sid, is_normal, n, n_later in session.execute(
        _COUNTS, {"ids": sorted(set(ids) | {sid for _c, sid, _w in profile_rows}), "day": day,
                  "now_pos": now_pos}
    ):
        counted[sid][1 if is_normal else 0] += int(n)
        later[sid][1 if is_normal else 0] += int(n_later or 0)
    lengths = {sid: p + n for sid, (p, n) in counted.items()}
    pull: dict[tuple[int, int], float] = {}
    totals: dict[int, float] = defaultdict(float)
    for counter_id, sid, weight, sla, _at in rows4:
        pull[(counter_id, sid)] = weight * max(lengths.get(sid, 0), 0.5) / max(sla, 1)
        totals[counter_id] += pull[(counter_id, sid)]
    for counter_id, sid, _weight in profile_rows:
        if sid in waiting:
            capacity[sid] += pull[(counter_id, sid)] / totals[counter_id]
            open_counters[sid] += 1

    # Idle open counters (nobody called or served there) and the recent call rate.
    idle: dict[int, int] = defaultdict(int)
    for counter_id, sid, _weight in profile_rows:
        if sid in waiting and counter_id not in busy:
            idle[sid] += 1
    since = now - RECENT_CALL_WINDOW
    called: dict[int, float] = {}
    issued: dict[int, float] = {}
    for sid, calls, first, new in session.execute(
        _CALLED, {"ids": ids, "day": day, "since": since}
    ):
        span = RECENT_CALL_WINDOW
        if first is not None and now - first < span:
            span = max(now - first, MIN_CALL_WINDOW)
        called[sid] = int(calls or 0) / (span.total_seconds() / 60.0)
        issued[sid] = int(new or 0) / (span.total_seconds() / 60.0)

    recent = service_minutes(session, ids, day, now - RECENT_SERVICE_WINDOW)
    ratio = interleave(site)
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
            priority_waiting=counted[sv.id][0] if sv.id in counted else 0,
            normal_waiting=counted[sv.id][1] if sv.id in counted else 0,
            priority_later=later[sv.id][0] if sv.id in later else 0,
            normal_later=later[sv.id][1] if sv.id in later else 0,
            placed_in=placed_in.get(sv.id, {}),
            arrivals_per_min=issued.get(sv.id, 0.0),
        )
        for sv in services
    }
    return QueueSnapshot(site, day, lines, seq)


# --- every line of every site, for monitoring -----------------------------------------------


@dataclass(frozen=True)
class LineNow:
    """One service's line now: tickets waiting today (the site's business day) and when the
    oldest of them entered this queue (issued, or transferred into it: a transfer makes a new
    ticket), as supervision's dashboard counts the longest wait."""

    site: str
    service: str
    waiting: int
    oldest: dt.datetime | None
    sla_target_minutes: int


def lines_now(session: Session, now: dt.datetime) -> list[LineNow]:
    """Every active service of every site (and any service with tickets waiting): two
    statements, grouped on the queue index, whatever the number of sites."""
    sites = {sid: (code, business_day(now, tz or "Asia/Ho_Chi_Minh"))
             for sid, code, tz in session.execute(select(Site.id, Site.code, Site.timezone))}
    days = sorted({day for _code, day in sites.values()})
    found: dict[int, tuple[int, dt.datetime]] = {}
    if days:
        for service_id, site_id, day, n, oldest in session.execute(
            select(Service.id, Service.site_id, Ticket.business_day, func.count(),
                   func.min(Ticket.issued_at))
            .join(Ticket, Ticket.service_id == Service.id)
            .where(Ticket.business_day.in_(days), Ticket.status == Status.WAITING)
            .group_by(Service.id, Service.site_id, Ticket.business_day)
        ):
            if sites[site_id][1] == day:
                found[service_id] = (int(n), oldest)
    out = []
    for service_id, site_id, code, active, sla in session.execute(
        select(Service.id, Service.site_id, Service.code, Service.active,
               Service.sla_target_minutes)
    ):
        n, oldest = found.get(service_id, (0, None))
        if active or n:
            out.append(LineNow(sites[site_id][0], code, n, oldest, int(sla)))
    return sorted(out, key=lambda line: (line.site, line.service))
