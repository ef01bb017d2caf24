"""What each realtime audience sees on connect or resync (Flask-free).

The site's ``seq`` is read first, then the state: every event numbered up to ``seq`` is
already in the state; a later event may be too, and events carry absolute values, so applying
one twice is harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from server.core import events, formats
from server.features import tickets
from server.features.counters import counter_view
from server.features.sites import list_priorities, services_with_queues, ticker_of
from server.models import Counter, Device, PrinterState, Service, Site, Ticket, TicketEvent
from server.rules.calendar import business_day, day_start
from server.rules.states import AT_COUNTER, Status

RECENT_CALLS = 10


def _site_info(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": {"vi": site.name_vi, "en": site.name_en},
        "timezone": site.timezone,
    }


def _counter_site(site: Site, counter_site_id: int, sites: dict[int, Site]) -> dict[str, Any]:
    """Where a counter of another site (an extra reception point serving this queue) is."""
    if counter_site_id == site.id:
        return {}
    other = sites.get(counter_site_id)
    if other is None:
        return {}
    return {"counter_site": other.code,
            "counter_site_name": {"vi": other.name_vi, "en": other.name_en}}


def _sites(session: Any, ids: set[int]) -> dict[int, Site]:
    if not ids:
        return {}
    return {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(ids)))}


def _now_serving(session: Any, site: Site) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Ticket.id, Ticket.label, Ticket.status, Ticket.called_at, Counter.number, Service.code,
            Counter.site_id,
        )
        .join(Counter, Counter.id == Ticket.counter_id)
        .join(Service, Service.id == Ticket.service_id)
        .where(Ticket.site_id == site.id, Ticket.status.in_(AT_COUNTER))
        .order_by(Ticket.called_at.desc())
    ).all()
    sites = _sites(session, {r[6] for r in rows if r[6] != site.id})
    return [
        {
            "ticket_id": r[0],
            "number": r[1],
            "status": r[2],
            "called_at": formats.iso(r[3]),
            "counter": r[4],
            "service": r[5],
            **_counter_site(site, r[6], sites),
        }
        for r in rows
    ]


def _recent_calls(session: Any, site: Site, now: dt.datetime) -> list[dict[str, Any]]:
    day = business_day(now, site.timezone)
    rows = session.execute(
        select(TicketEvent.at, Ticket.label, Counter.number, Service.code, TicketEvent.type,
               Counter.site_id)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .join(Counter, Counter.id == TicketEvent.counter_id)
        .join(Service, Service.id == TicketEvent.service_id)
        .where(
            TicketEvent.site_id == site.id,
            TicketEvent.type.in_(["ticket.called", "ticket.recalled"]),
            # Bounded to the working day: the (site_id, at) index is read from midnight on,
            # never backwards through earlier days when today has fewer calls than asked.
            TicketEvent.at >= day_start(day, site.timezone),
            Ticket.business_day == day,
        )
        .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
        .limit(RECENT_CALLS)
    ).all()
    sites = _sites(session, {r[5] for r in rows if r[5] != site.id})
    return [
        {
            "at": formats.iso(r[0]),
            "number": r[1],
            "counter": r[2],
            "service": r[3],
            "recall": r[4] == "ticket.recalled",
            **_counter_site(site, r[5], sites),
        }
        for r in rows
    ]


def _counters_public(session: Any, site: Site) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Counter.number, Counter.status)
        .where(Counter.site_id == site.id)
        .order_by(Counter.number)
    ).all()
    return [{"number": n, "status": st} for n, st in rows]


def display(session: Any, site: Site, now: dt.datetime) -> dict[str, Any]:
    """Numbers and counters only: never a name or an ID number."""
    seq = events.current_seq(session, site.id)
    return {
        "seq": seq,
        "site": _site_info(site),
        "services": services_with_queues(session, site, now),
        "counters": _counters_public(session, site),
        "now_serving": _now_serving(session, site),
        "recent_calls": _recent_calls(session, site, now),
        "ticker": ticker_of(site),
        "server_time": formats.iso(now),
    }


def kiosk(session: Any, site: Site, now: dt.datetime) -> dict[str, Any]:
    seq = events.current_seq(session, site.id)
    return {
        "seq": seq,
        "site": _site_info(site),
        "services": services_with_queues(session, site, now),
        "priorities": list_priorities(session),
        "server_time": formats.iso(now),
    }


def device_printer_status(session: Any, device_id: int) -> str | None:
    """The last known state of a kiosk's printer (online, paper_out, ...), if it has one."""
    return session.scalar(
        select(PrinterState.status)
        .join(Device, Device.printer_uri == PrinterState.uri)
        .where(Device.id == device_id)
    )


def counter(session: Any, counter_row: Counter, now: dt.datetime, base_url: str) -> dict[str, Any]:
    site = counter_row.site
    seq = events.current_seq(session, site.id)
    current = session.scalar(
        select(Ticket).where(Ticket.counter_id == counter_row.id, Ticket.status.in_(AT_COUNTER))
    )
    parked = session.scalars(
        select(Ticket)
        .where(Ticket.counter_id == counter_row.id, Ticket.status == Status.PARKED)
        .order_by(Ticket.id)
    ).all()
    services = {s["code"]: s for s in services_with_queues(session, site, now)}
    mine = [
        services[line.service.code]
        for line in counter_row.profile
        if line.service.code in services and line.service.site_id == site.id
    ]
    return {
        "seq": seq,
        "site": _site_info(site),
        "counter": counter_view(session, counter_row),
        "current": (tickets.ticket_view(session, current, now, base_url, staff=True)
                    if current else None),
        "parked": [tickets.ticket_view(session, t, now, base_url, staff=True) for t in parked],
        "services": mine,
        "server_time": formats.iso(now),
    }


def supervisor(session: Any, site: Site, now: dt.datetime) -> dict[str, Any]:
    seq = events.current_seq(session, site.id)
    counters = session.scalars(
        select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
    ).all()
    return {
        "seq": seq,
        "site": _site_info(site),
        "services": services_with_queues(session, site, now),
        "counters": [counter_view(session, c) for c in counters],
        "now_serving": _now_serving(session, site),
        "server_time": formats.iso(now),
    }


def track(session: Any, token: str, now: dt.datetime, base_url: str) -> dict[str, Any]:
    """The citizen's ticket (following transfers) and its service's call order."""
    ticket = tickets.resolve_tracking(session, token)
    site = session.get(Site, ticket.site_id)
    assert site is not None
    seq = events.current_seq(session, site.id)
    view = tickets.track(session, token, now, base_url)
    return {"seq": seq, "ticket_id": ticket.id, "ticket": view}
