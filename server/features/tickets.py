"""Service layer: the functions the REST API, Socket.IO handlers, CLI and simulator all call.

Each function takes a session inside a unit of work (``Database.write()``/``read()``), the acting
principal and ``now`` (an aware UTC datetime, so tests and the simulator control time). It checks
permissions and the state machine, writes TicketEvents and queues domain events in
``session.info['events']``; ``Database.write`` publishes them only after the commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import case, func, literal_column, select, union_all, update
from sqlalchemy.orm import Session

from server.core import auth, lookups
from server.core.audit import record_ticket_event
from server.core.auth import Principal
from server.core.db import insert_for
from server.core.errors import AppError, not_found
from server.core.events import emit
from server.core.formats import iso
from server.core.lookups import get_counter, get_site
from server.features import dailyops, printing
from server.features.applicants import purge_applicants
from server.features.counters import current_at_counter
from server.features.notifications import purge_contacts
from server.features.queues import (
    QueueSnapshot,
    class_states,
    emit_queue_stats,
    interleave,
    queue_snapshot,
    ticket_ahead,
)
from server.models import (
    Counter,
    PriorityCategory,
    Service,
    ServiceDay,
    Site,
    Ticket,
    TicketApplicant,
    UTCDateTime,
)
from server.rules import routing
from server.rules.calendar import business_day, format_label, queue_position_key
from server.rules.eta import estimate_range
from server.rules.states import AT_COUNTER, Status, next_status

# --- views --------------------------------------------------------------------------------


def public_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/t/{token}"


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
        ahead = ticket_ahead(session, line, ticket)
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
        "issued_at": iso(ticket.issued_at),
        "called_at": iso(ticket.called_at),
        "started_at": iso(ticket.started_at),
        "finished_at": iso(ticket.finished_at),
        "counter": counter.number if counter else None,
        "counter_id": counter.id if counter else None,
        "recall_count": ticket.recall_count,
        "transfer_parent_id": ticket.transfer_parent_id,
        "appointment": bool(ticket.appointment),
        "placed_at": iso(ticket.placed_at),
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
        "appointment": bool(ticket.appointment),
    }
    if counter.site_id != ticket.site_id:  # a counter of another site serves this queue
        data["counter_site"] = counter.site.code
        data["counter_site_name"] = {"vi": counter.site.name_vi, "en": counter.site.name_en}
    return data


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


class Issued(NamedTuple):
    view: dict[str, Any]
    created: bool
    ticket: Ticket


def issue_ticket(
    session: Session, p: Principal, *args: Any, **kwargs: Any
) -> tuple[dict[str, Any], bool]:
    """``issue`` without the row: (view, created)."""
    view, created, _ticket = issue(session, p, *args, **kwargs)
    return view, created


def issue(
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
    placed_at: dt.datetime | None = None,
    appointment: bool = False,
) -> Issued:
    """Issue a ticket. Returns its view, whether it was created and the row (for a print job
    in the same unit of work); a repeated Idempotency-Key returns the ticket issued the first
    time with created=False. Opening hours, holidays, last-ticket
    time and daily cap refuse with 409 (staff may pass ``override_limits``): server/dailyops."""
    row = session.execute(
        select(Service, Site)
        .join(Site, Site.id == Service.site_id)
        .where(Site.code == site_code, Service.code == service_code)
    ).first()
    if row is None:
        site = get_site(session, site_code)  # unknown site: 404
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
            view = ticket_view(session, existing, now, base_url, include_token=True)
            return Issued(view, False, existing)

    if not service.active:
        raise AppError("service_inactive", code=service.code)

    overridden = dailyops.check_issue(session, p, site, service, now, None, override_limits)
    day = business_day(now, site.timezone)
    number, state = _next_number(session, service.id, day)
    # An appointment's place was promised when it was booked: the daily cap (what walk-ins
    # may still take) does not refuse it, though its number counts towards the cap.
    if service.daily_cap is not None and not appointment:
        over_cap = dailyops.check_issue(session, p, site, service, now, number, override_limits)
        overridden = overridden or over_cap
    if number == 1:  # the service's first ticket of the day: older ID card scans go (rule 7)
        purge_applicants(session, now, site.id)
        purge_contacts(session, now, site.id)  # and the phone numbers left for messages
    ticket = Ticket(
        site_id=site.id,
        service_id=service.id,
        business_day=day,
        number=number,
        label=format_label(service.prefix, number),
        priority_id=priority.id if priority else None,
        channel="kiosk" if p.role == "kiosk" else "counter",
        status=Status.WAITING,
        queue_pos=queue_position_key(placed_at or now),
        lang=lang,
        issued_at=now,
        placed_at=placed_at,
        appointment=appointment,
        device_id=p.id if p.kind == "device" else None,
        tracking_token=auth.new_tracking_token(),
        idempotency_key=idempotency_key,
    )
    ticket.service = service
    ticket.priority = priority
    session.add(ticket)
    session.flush()
    if applicant is not None:
        session.add(_applicant_row(ticket.id, applicant))
    record_ticket_event(
        session, ticket, "ticket.issued", None, p, now,
        {"override": overridden} if overridden else None,
    )
    snap = queue_snapshot(session, site, now, services=[service], states={service.id: state})
    view = ticket_view(session, ticket, now, base_url, snapshot=snap, include_token=True)
    emit(
        session,
        site.id,
        "ticket.issued",
        {
            "ticket_id": ticket.id,
            "number": ticket.label,
            "service": service.code,
            "priority": priority is not None,
            "ahead": view["ahead"],
            "appointment": appointment,
        },
    )
    emit_queue_stats(session, site.id, {service.id}, now, snap)
    return Issued(view, True, ticket)


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


# --- call next ------------------------------------------------------------------------------


def _heads(
    session: Session, lines: list[tuple[int, dt.date]], exclude: set[int]
) -> dict[tuple[int, bool], routing.Head]:
    """The oldest waiting ticket of each (service, day) of ``lines`` and class (priority or
    not), not reserved for a counter (only their counter calls those) nor in ``exclude``: one
    statement for every line, keyed by (service id, priority)."""
    parts = []
    for k, (service_id, day) in enumerate(lines):
        for priority in (True, False):
            q = select(
                literal_column(str(2 * k + int(priority))).label("k"),
                # An appointment waits from its placement (its slot's start), not its check-in.
                Ticket.id, Ticket.queue_pos,
                func.coalesce(Ticket.placed_at, Ticket.issued_at, type_=UTCDateTime),
            ).where(
                Ticket.service_id == service_id,
                Ticket.business_day == day,
                Ticket.status == Status.WAITING,
                Ticket.priority_id.is_not(None) if priority else Ticket.priority_id.is_(None),
                Ticket.reserved_counter_id.is_(None),
            )
            if exclude:
                q = q.where(Ticket.id.not_in(exclude))
            parts.append(q.order_by(Ticket.queue_pos, Ticket.id).limit(1).subquery())
    if not parts:
        return {}
    found = session.execute(union_all(*(select(*part.c) for part in parts))).all()
    return {
        (lines[k // 2][0], bool(k % 2)): routing.Head(tid, pos, issued)
        for k, tid, pos, issued in found
    }


MAX_CLAIM_ATTEMPTS = 50
NOW_SERVING_SHOWN = 3  # the tracking page's "now serving" line


def _claim(
    session: Session, p: Principal, counter: Counter, ticket_id: int, now: dt.datetime,
    *, reserved: bool, klass: str | None = None,
) -> Ticket | None:
    """Call one waiting ticket to this counter, or None when another counter got it first.
    The guarded update (still ``waiting``, and reserved for this counter or for nobody)
    claims it whatever else runs at the same time. The one tail of every call.

    ``klass``: the class routing chose (a call in turn, not a reserved one); the line's
    interleave state moves on before ``queue.stats`` is read, so the call order it sends
    already follows this call."""
    claimed = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket_id,
            Ticket.status == Status.WAITING,
            Ticket.reserved_counter_id == counter.id
            if reserved
            else Ticket.reserved_counter_id.is_(None),
        )
        .values(status=Status.CALLED, counter_id=counter.id, clerk_id=p.user_id, called_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return None
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None
    record_ticket_event(
        session, ticket, "ticket.called", Status.WAITING, p, now,
        {"reserved": True} if reserved else None,
    )
    emit(session, ticket.site_id, "ticket.called", _called_event(ticket, counter))
    snap = None
    if klass is not None:
        state = session.execute(
            update(ServiceDay)
            .where(
                ServiceDay.service_id == ticket.service_id,
                ServiceDay.business_day == ticket.business_day,
            )
            .values(run_length=_case_run_length(klass), last_class=klass)
            .returning(ServiceDay.last_class, ServiceDay.run_length)
        ).first()  # none for a line only transfers entered today: no interleave state yet
        site = ticket.service.site if ticket.service.site_id == ticket.site_id else None
        site = site or session.get(Site, ticket.site_id)
        assert site is not None
        snap = queue_snapshot(session, site, now, services=[ticket.service],
                              states={ticket.service_id: routing.ClassState(*state)}
                              if state is not None else {})
    emit_queue_stats(session, ticket.site_id, {ticket.service_id}, now, snap)
    return ticket


def _call_reserved(
    session: Session, p: Principal, counter: Counter, now: dt.datetime
) -> Ticket | None:
    """A waiting ticket a supervisor reserved for this counter (``supervision.move_tickets``)
    is called first, oldest in queue order first. The counter row is already locked."""
    day = business_day(now, counter.site.timezone)
    for _attempt in range(MAX_CLAIM_ATTEMPTS):
        ticket_id = session.scalar(
            select(Ticket.id)
            .where(
                Ticket.reserved_counter_id == counter.id,
                Ticket.status == Status.WAITING,
                Ticket.business_day == day,
            )
            .order_by(Ticket.queue_pos, Ticket.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if ticket_id is None:
            return None
        ticket = _claim(session, p, counter, ticket_id, now, reserved=True)
        if ticket is not None:
            return ticket
    return None


def call_next(
    session: Session, p: Principal, counter_id: int, now: dt.datetime, base_url: str
) -> dict[str, Any] | None:
    """Claim the next ticket for this counter, or return None when nobody waits for it."""
    counter = get_counter(session, counter_id, lock=True)  # serialises calls at one counter
    auth.require(auth.can_operate_counter(session, p, counter))
    if counter.status != "open":
        raise AppError("counter_not_open", number=counter.number)
    current = current_at_counter(session, counter.id)
    if current is not None:
        raise AppError("counter_busy", number=counter.number, label=current.label)

    reserved = _call_reserved(session, p, counter, now)
    if reserved is not None:
        return ticket_view(session, reserved, now, base_url, staff=True)
    site = counter.site
    ratio = interleave(site)
    lines = counter.profile
    # The profile's services in one statement (held here: the lines' ``service`` then loads
    # from the session's weakly held identity map, not one statement each).
    services = session.scalars(
        select(Service).where(Service.id.in_([ln.service_id for ln in lines]))
    ).all()
    profile = [(line.service, line.weight) for line in lines]
    assert len(services) >= len({service.id for service, _w in profile})
    days = [(service.id, business_day(now, service.site.timezone)) for service, _w in profile]
    excluded: set[int] = set()
    for _attempt in range(MAX_CLAIM_ATTEMPTS):
        states = class_states(session, days)
        found = _heads(session, days, excluded)
        heads = [
            routing.ServiceQueue(
                service_id=service.id,
                weight=weight,
                sla_minutes=float(service.sla_target_minutes),
                state=states.get(service.id, routing.ClassState()),
                priority_head=found.get((service.id, True)),
                normal_head=found.get((service.id, False)),
            )
            for service, weight in profile
        ]
        choice = routing.choose(heads, now, ratio)
        if choice is None:
            return None
        # Lock the chosen row; another counter holding it makes us skip it (PostgreSQL).
        locked = session.scalar(
            select(Ticket.id)
            .where(Ticket.id == choice.ticket_id, Ticket.status == Status.WAITING)
            .with_for_update(skip_locked=True)
        )
        ticket = (
            _claim(session, p, counter, choice.ticket_id, now, reserved=False,
                   klass=choice.klass)
            if locked is not None
            else None
        )
        if ticket is None:
            excluded.add(choice.ticket_id)
            continue
        return ticket_view(session, ticket, now, base_url, staff=True)
    raise AppError("internal_error")


def _case_run_length(klass: str) -> Any:
    return case(
        (ServiceDay.last_class == klass, ServiceDay.run_length + 1),
        else_=1,
    )


# --- transitions on one ticket --------------------------------------------------------------


def call_starts_service(session: Session, site_id: int) -> bool:
    """The site's "call starts service" setting (finish follows the call directly)."""
    site = session.get(Site, site_id)
    return bool(site is not None and site.call_starts_service)


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
    ticket = lookups.get_ticket(session, ticket_id)
    auth.require(auth.can_act_on_ticket(session, p, ticket))
    before = ticket.status
    # A called ticket may be finished directly where the call starts the service.
    to = next_status(before, action, before == Status.CALLED and action == "finish"
                     and call_starts_service(session, ticket.site_id))  # illegal: 409
    counter: Counter | None = ticket.counter
    if action == "resume":
        # Resume at the given counter (default: the one that parked it, or the clerk's own).
        target_id = counter_id or p.counter_id or ticket.counter_id
        if target_id is None:
            raise AppError("validation_error", detail="counter_id")
        counter = get_counter(session, target_id, lock=True)
        auth.require(auth.can_operate_counter(session, p, counter))
        serves = any(line.service_id == ticket.service_id for line in counter.profile)
        if counter.site_id != ticket.site_id and not serves:
            raise AppError("wrong_counter", number=counter.number)
        if counter.status != "open":
            raise AppError("counter_not_open", number=counter.number)
        busy = current_at_counter(session, counter.id)
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
        if action == "finish" and ticket.started_at is None:
            ticket.started_at = ticket.called_at  # the call started the service
    session.flush()
    record_ticket_event(
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
    emit(session, ticket.site_id, EVENT_FOR_ACTION[action], data)
    if before == Status.WAITING:
        emit_queue_stats(session, ticket.site_id, {ticket.service_id}, now)
    return ticket_view(session, ticket, now, base_url,
                       staff=auth.can_read_applicant(session, p, ticket))


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
    ticket = lookups.get_ticket(session, ticket_id)
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
    record_ticket_event(
        session,
        ticket,
        "ticket.transferred",
        before,
        p,
        now,
        {"to_ticket": child.id, "to_service": target.code, "position": position},
    )
    record_ticket_event(
        session,
        child,
        "ticket.issued",
        None,
        p,
        now,
        {"from_ticket": ticket.id, "position": position},
    )
    emit(
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
    emit_queue_stats(session, ticket.site_id, touched, now)
    return ticket_view(session, child, now, base_url,
                       staff=auth.can_read_applicant(session, p, child))


def reprint_target(
    session: Session, p: Principal, ticket_id: int, now: dt.datetime, base_url: str
) -> tuple[int | None, dict[str, Any]]:
    """Which kiosk printed a ticket, and its current view, for a reprint: by staff of its
    site at any time; by the kiosk that issued it only while its slip is in doubt (its latest
    print job ended ``unknown`` or ``failed``), so a kiosk cannot print a ticket twice."""
    ticket = lookups.get_ticket(session, ticket_id, lock=False)
    if p.kind == "device" and p.role == "kiosk":
        auth.require(ticket.device_id is not None and ticket.device_id == p.id)
        job = printing.latest_job(session, f"ticket:{ticket.id}")
        if job is None or job.status not in ("unknown", "failed"):
            raise AppError("reprint_not_needed")
    else:
        auth.require(p.role in auth.STAFF and auth.in_scope(session, p, ticket.site_id))
    return ticket.device_id, ticket_view(session, ticket, now, base_url)


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
        "eta_range": estimate_range(v["eta_minutes"]),
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
        # Where and what is happening now, for the citizen's phone: the centre's name and the
        # numbers of this service at a counter now (newest call first), numbers only.
        "site_name": {"vi": ticket.service.site.name_vi, "en": ticket.service.site.name_en},
        "now_serving": [
            {"number": label, "counter": number}
            for label, number in session.execute(
                select(Ticket.label, Counter.number)
                .join(Counter, Counter.id == Ticket.counter_id)
                .where(Ticket.service_id == ticket.service_id,
                       Ticket.business_day == ticket.business_day,
                       Ticket.status.in_(AT_COUNTER))
                .order_by(Ticket.called_at.desc())
                .limit(NOW_SERVING_SHOWN)
            )
        ],
    }


def get_ticket(
    session: Session, p: Principal, ticket_id: int, now: dt.datetime, base_url: str
) -> dict[str, Any]:
    ticket = lookups.get_ticket(session, ticket_id, lock=False)
    auth.require(auth.in_scope(session, p, ticket.site_id) and p.role in auth.STAFF)
    return ticket_view(session, ticket, now, base_url,
                       staff=auth.can_read_applicant(session, p, ticket))
