"""Counters: their view, opening/pausing/closing, and their service profile."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import auth
from server.core.audit import audit
from server.core.auth import Principal
from server.core.errors import AppError
from server.core.events import emit
from server.core.lookups import get_counter, get_site
from server.features.queues import emit_queue_stats
from server.models import Counter, CounterService, Service, Site, Ticket
from server.rules.states import AT_COUNTER


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
    site = get_site(session, site_code)
    auth.require(auth.can_read_site(session, p, site.id))
    counters = session.scalars(
        select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
    ).all()
    return [counter_view(session, c) for c in counters]


# --- counters -------------------------------------------------------------------------------


def current_at_counter(session: Session, counter_id: int) -> Ticket | None:
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
    counter = get_counter(session, counter_id, lock=True)
    auth.require(auth.can_operate_counter(session, p, counter))
    if status == "closed":
        current = current_at_counter(session, counter.id)
        if current is not None:
            raise AppError("counter_busy", number=counter.number, label=current.label)
    before = {"status": counter.status, "reason": counter.status_reason}
    counter.status = status
    counter.status_reason = reason if status == "paused" else None
    counter.status_changed_at = now
    after = {"status": counter.status, "reason": counter.status_reason}
    if before != after:
        audit(
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
        emit(
            session,
            counter.site_id,
            "counter.changed",
            {"counter_id": counter.id, "number": counter.number, **after},
        )
        by_site: dict[int, set[int]] = defaultdict(set)  # also queues of other sites it serves
        for line in counter.profile:
            by_site[line.service.site_id].add(line.service_id)
        for site_id, service_ids in sorted(by_site.items()):
            emit_queue_stats(session, site_id, service_ids, now)
    return counter_view(session, counter)


def _local_services(counter: Counter) -> set[int]:
    return {line.service_id for line in counter.profile if line.service.site_id == counter.site_id}


def nearby_sites(session: Session, counter_site: Site) -> set[int]:
    """Sites whose queues a counter of ``counter_site`` may serve: its own, its parent, its
    children and its siblings (e.g. an extra reception point serving its ward centre)."""
    ids = {counter_site.id}
    if counter_site.parent_id is not None:
        ids.add(counter_site.parent_id)
        ids.update(
            session.scalars(select(Site.id).where(Site.parent_id == counter_site.parent_id))
        )
    ids.update(session.scalars(select(Site.id).where(Site.parent_id == counter_site.id)))
    return ids


def replace_profile(
    session: Session, counter: Counter, lines: Sequence[tuple[Service, float]]
) -> list[tuple[Service, float]]:
    """Make the counter's profile exactly ``lines`` (service, weight), in that order, and
    return the lines it had before. The one place that writes a counter's profile rows: it
    checks no permission and writes no audit row or event, which each caller decides
    (:func:`set_counter_profile`, the admin console, a site's configuration file, the seed
    and the simulator)."""
    before = [(line.service, line.weight) for line in counter.profile]
    counter.profile.clear()
    session.flush()  # the old rows go before new rows of the same (counter, service) key
    for service, weight in lines:
        counter.profile.append(CounterService(service=service, weight=weight))
    session.flush()
    return before


def set_counter_profile(
    session: Session,
    p: Principal,
    counter_id: int,
    lines: list[tuple[str, float, str | None]],
    now: dt.datetime,
) -> dict[str, Any]:
    """Set the services a counter calls from: ``(service code, weight, site code or None for
    the counter's own site)``. A line may name a service of another site within the caller's
    scope and near the counter's site (parent, child or sibling): the counter then serves
    that site's queue. Audited at the counter's site and at every other site it touches."""
    counter = get_counter(session, counter_id, lock=True)
    auth.require(auth.can_rebalance(session, p, counter.site_id))
    own = counter.site
    keys = [(site or own.code, code) for code, _w, site in lines]
    if len(set(keys)) != len(keys):
        raise AppError("validation_error", detail="services: duplicate code")
    codes = {site for site, _ in keys}
    sites = {own.code: own}
    for code in codes - {own.code}:
        sites[code] = get_site(session, code)
    near = nearby_sites(session, own)
    for code, s in sites.items():
        if s.id not in near:
            raise AppError("site_not_nearby", number=counter.number, site=code)
        auth.require(auth.can_rebalance(session, p, s.id))
    code_of = {st.id: c for c, st in sites.items()}
    found = {
        (code_of[sv.site_id], sv.code): sv
        for sv in session.scalars(
            select(Service).where(Service.site_id.in_(list(code_of)))
        )
    }
    for site_code, code in keys:
        if (site_code, code) not in found:
            raise AppError("unknown_service", code=code if site_code == own.code
                           else f"{site_code}/{code}")

    def describe(items: list[tuple[Service, float]]) -> dict[str, Any]:
        return {
            "services": [
                {"code": sv.code, "weight": w, **({"site": sv.site.code}
                                                  if sv.site_id != own.id else {})}
                for sv, w in items
            ]
        }

    before_items = replace_profile(
        session, counter, [(found[key], weight) for key, (_c, weight, _s) in
                           zip(keys, lines, strict=True)]
    )
    after_items = [(line.service, line.weight) for line in counter.profile]
    touched: dict[int, set[int]] = defaultdict(set)
    for sv, _w in before_items + after_items:
        touched[sv.site_id].add(sv.id)
    before, after = describe(before_items), describe(after_items)
    audit(session, p, now, own.id, "counter.profile", "counter", counter.id,
                   before, after)
    changed = {
        "counter_id": counter.id,
        "number": counter.number,
        "status": counter.status,
        **after,
    }
    emit(session, own.id, "counter.changed", changed)
    for site_id in sorted(set(touched) - {own.id}):
        # In the other site's audit too. Its screens learn it from the queue.stats below (not
        # a counter.changed: its displays would take our counter for theirs of that number).
        audit(session, p, now, site_id, "counter.serves_site", "counter", counter.id,
                       {**before, "counter_site": own.code}, {**after, "counter_site": own.code})
    for site_id, service_ids in sorted(touched.items()):
        emit_queue_stats(session, site_id, service_ids, now)
    if own.id not in touched:
        emit_queue_stats(session, own.id, set(), now)
    return counter_view(session, counter)
