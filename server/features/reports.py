"""KPI reports for a date range, per site, service, counter, clerk, hour and day, and the
queue-length / wait series across one day for the charts. No Flask here.

Definitions (every figure comes from tickets and their events; the ticket figures are worked
out by ``server/rules/kpis.py``, the one definition, from cells the daily close stores per day
(``server/features/aggregates.py``) or, for days not aggregated yet, from the tickets):
- dates are the site's business days (its local calendar), ``from`` and ``to`` included;
- ``issued``: tickets drawn at a kiosk or counter (a transfer is not a new issue);
  ``transferred_in``: tickets that arrived in a service by transfer;
- ``served`` (done), ``no_shows``, ``cancelled``, ``transferred``, ``unserved_at_close``
  (still waiting or parked when the site closed the day): tickets ending so;
- wait: from the ticket's issue (or transfer) to its FIRST call (``ticket.called`` event), in
  whole seconds, so a recall or a resume after parking does not lengthen it; ``awt`` is its
  mean, ``p90_wait`` the nearest-rank 90th percentile, over the tickets that were called;
- ``ast``: mean of finish - start over served tickets;
- ``service_level``: share of called tickets whose wait was within the service's SLA target;
- a ticket counts toward the counter and clerk that called it first, and toward the local hour
  it was issued in;
- appointments (``bookings``, ``appointments``, ``online_share_used``, ``punctuality``: see
  ``server/rules/kpis.py``): a booking counts toward its service, its slot's local hour and its
  slot (``by_slot``: per service and slot start, merged over the range's days), an appointment
  ticket toward its slot too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.core import auth
from server.core.auth import Principal
from server.core.cells import safe_row
from server.core.db import Database
from server.core.errors import AppError
from server.core.lookups import get_site
from server.models import (
    Booking,
    Counter,
    DailyStat,
    Dossier,
    DossierEvent,
    Procedure,
    Rating,
    Service,
    Site,
    StatDay,
    Ticket,
    TicketEvent,
    User,
    UTCDateTime,
)
from server.rules import kpis as kpis_rules
from server.rules.calendar import local, zone
from server.rules.dossier_states import SETTLED
from server.rules.kpis import Cell

MAX_RANGE_DAYS = 366

SCORES = ("very_satisfied", "satisfied", "not_satisfied")
METRICS = (
    "issued",
    "transferred_in",
    "served",
    "no_shows",
    "cancelled",
    "transferred",
    "unserved_at_close",
    "awt_min",
    "p90_wait_min",
    "ast_min",
    "service_level",
    "rated",
    *SCORES,
    "satisfaction_rate",
    "dossiers_received",
    "dossiers_settled",
    "dossiers_on_time_rate",
    "dossiers_settled_late",
    "dossiers_overdue",
    "bookings",
    "bookings_checked_in",
    "bookings_no_show",
    "bookings_cancelled",
    "appointments",
    "online_share_used",
    "appointments_punctual",
    "punctuality",
)
#: Slots are grouped by service and the slot's local minute of the day (``slot_key``).
MINUTES_A_DAY = 1440


@dataclass
class TicketFacts:
    id: int
    service_id: int
    status: str
    transfer: bool
    day: dt.date
    issued_at: dt.datetime
    first_call: dt.datetime | None
    call_counter_id: int | None
    call_clerk_id: int | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    sla_min: float
    rating: str | None = None
    slot_start: dt.datetime | None = None  # issued from a booking: its slot's start

    @property
    def wait_min(self) -> float | None:
        if self.first_call is None:
            return None
        return max((self.first_call - self.issued_at).total_seconds() / 60.0, 0.0)

    @property
    def service_time_min(self) -> float | None:
        if self.status != "done" or self.started_at is None or self.finished_at is None:
            return None
        return max((self.finished_at - self.started_at).total_seconds() / 60.0, 0.0)


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: the smallest value at least 90 % of values are <=."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def add_fact(cell: Cell, f: TicketFacts) -> None:
    """One ticket into a cell: the one way a ticket becomes figures (live and stored)."""
    cell.add_ticket(
        f.status,
        f.transfer,
        kpis_rules.seconds(f.issued_at, f.first_call),
        f.sla_min * 60.0,
        kpis_rules.seconds(f.started_at, f.finished_at),
        f.rating,
        appointment=f.slot_start is not None,
        late_s=kpis_rules.late_seconds(f.slot_start, f.first_call),
    )


@dataclass
class BookingFacts:
    """A booking of the site's days, as the reports count it."""

    service_id: int
    day: dt.date
    slot_start: dt.datetime
    status: str


def slot_key(service_id: int, slot_start: dt.datetime, tz: str) -> int:
    """The ``slot`` grouping's key: the service and the slot's local minute of the day."""
    t = local(slot_start, tz)
    return service_id * MINUTES_A_DAY + t.hour * 60 + t.minute


#: The groupings a report shows, and the stored ``dim`` each reads (by day: the services').
CellKey = tuple[str, int, dt.date]


def cells(
    facts: Iterable[TicketFacts], tz: str, bookings: Iterable[BookingFacts] = ()
) -> dict[CellKey, Cell]:
    """The cells of tickets and bookings: per (grouping, key, business day), as the daily
    close stores them. Every ticket is in one ``service`` cell; in a ``counter`` and ``clerk``
    cell when it was called (by its first caller); in the ``hour`` cell of its local hour of
    issue; an appointment in its ``slot`` cell too. A booking is in its service's cell, its
    slot's hour and its ``slot`` cell."""
    out: dict[CellKey, Cell] = {}

    def cell_of(dim: str, key: int, day: dt.date) -> Cell:
        cell = out.get((dim, key, day))
        if cell is None:
            cell = out[(dim, key, day)] = Cell()
        return cell

    for f in facts:
        keys: list[tuple[str, int | None]] = [
            ("service", f.service_id),
            ("counter", f.call_counter_id),
            ("clerk", f.call_clerk_id),
            ("hour", local(f.issued_at, tz).hour),
        ]
        if f.slot_start is not None:
            keys.append(("slot", slot_key(f.service_id, f.slot_start, tz)))
        for dim, key in keys:
            if key is not None:
                add_fact(cell_of(dim, key, f.day), f)
    for b in bookings:
        for dim, key in (
            ("service", b.service_id),
            ("hour", local(b.slot_start, tz).hour),
            ("slot", slot_key(b.service_id, b.slot_start, tz)),
        ):
            cell_of(dim, key, b.day).add_booking(b.status)
    return out


def row(tickets: Cell, dossiers: Sequence[DossierFacts]) -> dict[str, Any]:
    out = kpis_rules.figures(tickets)
    out.update(summarize_dossiers(dossiers))
    return out


@dataclass
class DossierFacts:
    id: int
    service_code: str
    counter_id: int | None
    clerk_id: int | None
    received_at: dt.datetime
    due_at: dt.datetime
    settled_at: dt.datetime | None  # first step to result ready or a final state
    overdue: bool  # open past its due time at the report's ``now``


def summarize_dossiers(rows: Sequence[DossierFacts]) -> dict[str, Any]:
    settled = [d for d in rows if d.settled_at is not None]
    on_time = sum(1 for d in settled if d.settled_at is not None and d.settled_at <= d.due_at)
    return {
        "dossiers_received": len(rows),
        "dossiers_settled": len(settled),
        "dossiers_on_time_rate": _r(on_time / len(settled), 4) if settled else None,
        "dossiers_settled_late": len(settled) - on_time,
        "dossiers_overdue": sum(1 for d in rows if d.overdue),
    }


def load_dossier_facts(
    session: Session, site: Site, start: dt.date, end: dt.date, now: dt.datetime
) -> list[DossierFacts]:
    """Dossiers received at the site on its local days ``start..end``, with the time of their
    first settling step, in one statement of plain columns (a year is thousands of them)."""

    tz = zone(site.timezone)
    t0 = dt.datetime.combine(start, dt.time(0), tzinfo=tz)
    t1 = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    settled_states = [str(x) for x in SETTLED]
    first_settled = (
        select(func.min(DossierEvent.at))
        .where(DossierEvent.dossier_id == Dossier.id, DossierEvent.status_to.in_(settled_states))
        .correlate(Dossier)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Dossier.id,
            Procedure.service_code,
            Dossier.counter_id,
            Dossier.clerk_user_id,
            Dossier.received_at,
            Dossier.due_at,
            Dossier.status,
            first_settled,
        )
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .where(Dossier.site_id == site.id, Dossier.received_at >= t0, Dossier.received_at < t1)
        .order_by(Dossier.id)
    ).all()
    utc_type = UTCDateTime()
    out = []
    for did, code, counter_id, clerk_id, received, due, status, settled_raw in rows:
        # A scalar subquery's column is not typed by the model: made an aware UTC time here.
        done = utc_type.process_result_value(settled_raw, None)
        out.append(
            DossierFacts(
                id=did,
                service_code=code,
                counter_id=counter_id,
                clerk_id=clerk_id,
                received_at=received,
                due_at=due,
                settled_at=done,
                overdue=done is None and status != "supplement_requested" and due <= now,
            )
        )
    return out


def load_facts(
    session: Session,
    site: Site,
    start: dt.date,
    end: dt.date,
    days: Sequence[dt.date] | None = None,
) -> list[TicketFacts]:
    """One row per ticket of the site's business days ``start..end`` (only those of ``days``
    when given), with its first call."""
    in_days = (
        [Ticket.business_day.in_(sorted(days))] if days is not None else []
    )
    q = (
        select(Ticket, Service.sla_target_minutes)
        .join(Service, Service.id == Ticket.service_id)
        .where(
            Ticket.site_id == site.id,
            Ticket.business_day >= start,
            Ticket.business_day <= end,
            *in_days,
        )
        .order_by(Ticket.id)
    )
    rows = session.execute(q).all()
    # The first call of each ticket: when, and at which counter.
    first: dict[int, tuple[dt.datetime, int | None]] = {}
    ids = [t.id for t, _sla in rows]
    for chunk_start in range(0, len(ids), 5000):
        chunk = ids[chunk_start : chunk_start + 5000]
        for tid, at, cid in session.execute(
            select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.counter_id)
            .where(TicketEvent.ticket_id.in_(chunk), TicketEvent.type == "ticket.called")
            .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)
        ):
            first.setdefault(tid, (at, cid))
    # The ratings of these tickets, by ticket (uq_ratings_ticket_id): a year's report whose
    # past days are aggregated reads today's few ratings, not the site's ratings of the year.
    ratings: dict[int, str] = {}
    for chunk_start in range(0, len(ids), 5000):
        chunk = ids[chunk_start : chunk_start + 5000]
        for tid, score in session.execute(
            select(Rating.ticket_id, Rating.score)
            .where(Rating.ticket_id.in_(chunk), Rating.site_id == site.id)
        ):
            ratings[tid] = score
    out = []
    for t, sla in rows:
        at, cid = first.get(t.id, (None, None))
        out.append(
            TicketFacts(
                id=t.id,
                service_id=t.service_id,
                status=t.status,
                transfer=t.transfer_parent_id is not None,
                day=t.business_day,
                issued_at=t.issued_at,
                first_call=at,
                call_counter_id=cid if cid is not None else t.counter_id,
                call_clerk_id=t.clerk_id,
                started_at=t.started_at,
                finished_at=t.finished_at,
                sla_min=float(sla),
                rating=ratings.get(t.id),
                slot_start=t.placed_at if t.appointment else None,
            )
        )
    return out


def load_booking_facts(
    session: Session,
    site: Site,
    start: dt.date,
    end: dt.date,
    days: Sequence[dt.date] | None = None,
) -> list[BookingFacts]:
    """The site's bookings of business days ``start..end`` (only ``days`` when given) that
    were confirmed (held and expired ones count for nothing: ``rules.kpis.BOOKING_OUTCOMES``)."""
    in_days = [Booking.business_day.in_(sorted(days))] if days is not None else []
    return [
        BookingFacts(service_id=sid, day=day, slot_start=start_at, status=status)
        for sid, day, start_at, status in session.execute(
            select(Booking.service_id, Booking.business_day, Booking.slot_start, Booking.status)
            .where(
                Booking.site_id == site.id,
                Booking.business_day >= start,
                Booking.business_day <= end,
                Booking.status.in_(list(kpis_rules.BOOKING_OUTCOMES)),
                *in_days,
            )
            .order_by(Booking.id)
        )
    ]


def _group(
    facts: Sequence[TicketFacts], key: Callable[[TicketFacts], Any]
) -> dict[Any, list[TicketFacts]]:
    groups: dict[Any, list[TicketFacts]] = defaultdict(list)
    for f in facts:
        k = key(f)
        if k is not None:
            groups[k].append(f)
    return groups


def parse_range(from_: str | None, to: str | None) -> tuple[dt.date, dt.date]:
    try:
        start = dt.date.fromisoformat(from_ or "")
        end = dt.date.fromisoformat(to or from_ or "")
    except ValueError:
        raise AppError("validation_error", detail="from/to: dates YYYY-MM-DD") from None
    if end < start:
        raise AppError("validation_error", detail="to is before from")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise AppError("validation_error", detail=f"at most {MAX_RANGE_DAYS} days")
    return start, end


StoredRow = tuple[Any, ...]  # dim, key, business_day, waits, *COUNTS


def stored_rows(
    session: Session, site: Site, start: dt.date, end: dt.date
) -> tuple[set[dt.date], list[StoredRow]]:
    """The aggregated days of ``start..end`` at the site and their stored rows (as tuples: the
    cells are built from them off the request's event loop, ``build_kpis``)."""
    covered = set(
        session.scalars(
            select(StatDay.business_day).where(
                StatDay.site_id == site.id,
                StatDay.business_day >= start,
                StatDay.business_day <= end,
            )
        )
    )
    if not covered:
        return covered, []
    cols = [getattr(DailyStat, name) for name in kpis_rules.COUNTS]
    rows = session.execute(
        select(DailyStat.dim, DailyStat.key, DailyStat.business_day, DailyStat.waits, *cols)
        .where(
            DailyStat.site_id == site.id,
            DailyStat.business_day >= start,
            DailyStat.business_day <= end,
        )
    ).all()
    return covered, [tuple(r) for r in rows if r[2] in covered]


def stored_cells(rows: Iterable[StoredRow]) -> dict[CellKey, Cell]:
    out: dict[CellKey, Cell] = {}
    for dim, key, day, waits, *counts in rows:
        out[(dim, int(key), day)] = Cell.from_stored(
            dict(zip(kpis_rules.COUNTS, counts, strict=True)), waits
        )
    return out


@dataclass
class KpiInputs:
    """Everything a report is made from, read from the database (``kpi_inputs``); turning it
    into the report (``build_kpis``) needs no session, so it may run in another thread."""

    site: str
    timezone: str
    start: dt.date
    end: dt.date
    stored: list[StoredRow]  # rows of the aggregated days
    live: list[TicketFacts]  # tickets of the other days
    live_bookings: list[BookingFacts]  # bookings of the other days
    dossiers: list[DossierFacts]
    services: list[tuple[int, str, str, str, int]]  # id, code, name vi, name en, SLA minutes
    counters: dict[int, int]  # id -> number
    clerks: dict[int, tuple[str, str | None]]  # id -> username, full name


def kpi_inputs(
    session: Session,
    site: Site,
    start: dt.date,
    end: dt.date,
    now: dt.datetime | None = None,
    source: str = "auto",
) -> KpiInputs:
    """Read what the report of ``start..end`` needs: the stored rows of aggregated days, the
    tickets of the other days (today, a day not closed yet); ``source="tickets"``: every day
    from its tickets (what the stored figures are checked against). ``now`` decides which open
    dossiers are overdue (default: the end of the range's last day)."""
    tz = site.timezone
    if now is None:
        now = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone(tz))
    covered, stored = stored_rows(session, site, start, end) if source == "auto" else (set(), [])
    span = (end - start).days + 1
    missing = [d for i in range(span) if (d := start + dt.timedelta(days=i)) not in covered]
    live = (
        load_facts(session, site, start, end, days=None if len(missing) == span else missing)
        if missing
        else []
    )
    live_bookings = (
        load_booking_facts(session, site, start, end,
                           days=None if len(missing) == span else missing)
        if missing
        else []
    )
    dfacts = load_dossier_facts(session, site, start, end, now)
    services = [
        (sv.id, sv.code, sv.name_vi, sv.name_en, sv.sla_target_minutes)
        for sv in session.scalars(
            select(Service).where(Service.site_id == site.id).order_by(Service.sort_order)
        )
    ]
    counters = dict(
        session.execute(select(Counter.id, Counter.number).where(Counter.site_id == site.id)).all()
    )
    clerk_ids = {int(r[1]) for r in stored if r[0] == "clerk"}
    clerk_ids |= {f.call_clerk_id for f in live if f.call_clerk_id is not None}
    clerk_ids |= {d.clerk_id for d in dfacts if d.clerk_id is not None}
    clerks = {
        uid: (name, full)
        for uid, name, full in (
            session.execute(
                select(User.id, User.username, User.full_name).where(User.id.in_(clerk_ids))
            ).all()
            if clerk_ids
            else []
        )
    }
    return KpiInputs(site.code, tz, start, end, stored, live, live_bookings, dfacts, services,
                     counters, clerks)


def build_kpis(inp: KpiInputs) -> dict[str, Any]:
    """The report from its inputs: the stored and live cells merged by grouping, then
    ``server.rules.kpis.figures`` for each; dossier figures from the dossiers (their
    settlement keeps changing after the day). No session: plain data in, plain data out."""
    tz = inp.timezone
    parts = stored_cells(inp.stored)
    parts.update(cells(inp.live, tz, inp.live_bookings))
    dfacts = inp.dossiers
    code_to_id = {code: sid for sid, code, *_rest in inp.services}
    counters = inp.counters
    merged: dict[tuple[str, Any], Cell] = {}
    total = Cell()
    for (dim, key, day), cell in parts.items():
        merged.setdefault((dim, key), Cell()).merge(cell)
        if dim == "service":  # every ticket is in exactly one service cell
            merged.setdefault(("day", day), Cell()).merge(cell)
            total.merge(cell)

    def grouped(dim: str, dkey: Callable[[DossierFacts], Any]) -> dict[Any, dict[str, Any]]:
        dg = _group(dfacts, dkey)
        tg = {key: cell for (d, key), cell in merged.items() if d == dim}
        return {k: row(tg.get(k, Cell()), dg.get(k, [])) for k in set(tg) | set(dg)}

    per_service = grouped("service", lambda d: code_to_id.get(d.service_code))
    by_service = [
        {
            "service": code,
            "name": {"vi": name_vi, "en": name_en},
            "sla_target_minutes": sla,
            **per_service.get(sid, row(Cell(), [])),
        }
        for sid, code, name_vi, name_en, sla in inp.services
    ]
    per_counter = grouped("counter", lambda d: d.counter_id)
    by_counter = [
        {"counter": counters.get(cid), "counter_id": cid, **r}
        for cid, r in sorted(
            per_counter.items(), key=lambda kv: counters.get(kv[0], 10**9)
        )
    ]
    by_clerk = []
    for uid, r in sorted(grouped("clerk", lambda d: d.clerk_id).items()):
        username, full_name = inp.clerks.get(uid, (None, None))
        by_clerk.append({"clerk_id": uid, "username": username, "full_name": full_name, **r})
    by_hour = [
        {"hour": h, **r}
        for h, r in sorted(grouped("hour", lambda d: local(d.received_at, tz).hour).items())
    ]
    by_day = [
        {"date": d.isoformat(), **r}
        for d, r in sorted(grouped("day", lambda d: local(d.received_at, tz).date()).items())
    ]
    names = {sid: code for sid, code, *_rest in inp.services}
    by_slot = []
    for key, cell in sorted(
        ((key, cell) for (d, key), cell in merged.items() if d == "slot"),
        key=lambda kv: (kv[0] % MINUTES_A_DAY, kv[0] // MINUTES_A_DAY),
    ):
        sid, minute = divmod(int(key), MINUTES_A_DAY)
        by_slot.append({"service": names.get(sid, str(sid)),
                        "slot": f"{minute // 60:02d}:{minute % 60:02d}", **row(cell, [])})
    return {
        "site": inp.site,
        "from": inp.start.isoformat(),
        "to": inp.end.isoformat(),
        "timezone": tz,
        "totals": row(total, dfacts),
        "by_service": by_service,
        "by_counter": by_counter,
        "by_clerk": by_clerk,
        "by_hour": by_hour,
        "by_day": by_day,
        "by_slot": by_slot,
    }


def kpis(
    session: Session,
    site: Site,
    start: dt.date,
    end: dt.date,
    now: dt.datetime | None = None,
    source: str = "auto",
) -> dict[str, Any]:
    """The report (``kpi_inputs`` then ``build_kpis`` in one go)."""
    return build_kpis(kpi_inputs(session, site, start, end, now, source))


def site_kpi_request(
    session: Session,
    p: Principal,
    site_code: str,
    from_: str | None,
    to: str | None,
) -> tuple[int, dt.date, dt.date]:
    """``GET /sites/{site}/reports/kpis``: supervisors and admins of the site. The site's id
    and the range, checked; the report itself is ``kpi_report``."""
    site = get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    start, end = parse_range(from_, to)
    return site.id, start, end


def kpi_report(db: Database, site_id: int, start: dt.date, end: dt.date, now: dt.datetime,
               fmt: str) -> tuple[dict[str, Any], bytes | None]:
    """The whole report of a site, read, built and, for ``csv`` or ``xlsx``, written as a
    file, with a database of its own: the API runs it in one of the node's report processes
    (``OffLoop.run_with_db``), so neither its reading nor its computing slows the node's other
    requests. Returns the report and None (json), or the report's heading (site, from, to)
    and the file."""
    with db.read(slow=True) as s:  # reports and exports: the longer statement timeout
        site = s.get(Site, site_id)
        if site is None:
            raise AppError("not_found", what="site")
        inputs = kpi_inputs(s, site, start, end, now)
    report = build_kpis(inputs)
    if fmt == "json":
        return report, None
    head = {k: report[k] for k in ("site", "from", "to")}
    return head, (b"".join(csv_chunks(report)) if fmt == "csv" else to_xlsx(report))


# --- exports ------------------------------------------------------------------------------

SECTIONS = (
    ("totals", "site", lambda r, rep: rep["site"]),
    ("by_service", "service", lambda r, rep: r["service"]),
    ("by_counter", "counter", lambda r, rep: r["counter"]),
    ("by_clerk", "clerk", lambda r, rep: r["username"] or r["clerk_id"]),
    ("by_hour", "hour", lambda r, rep: f"{r['hour']:02d}:00"),
    ("by_day", "date", lambda r, rep: r["date"]),
    ("by_slot", "slot", lambda r, rep: f"{r['service']} {r['slot']}"),
)


def flat_rows(report: dict[str, Any]) -> list[list[Any]]:
    """One table: group, key, then every metric. Header first."""
    out: list[list[Any]] = [["group", "key", *METRICS]]
    for section, label, key in SECTIONS:
        rows = [report[section]] if section == "totals" else report[section]
        for r in rows:
            out.append([label, key(r, report), *(r[m] for m in METRICS)])
    return out


def csv_chunks(report: dict[str, Any], rows_per_chunk: int = 200) -> Iterator[bytes]:
    """The CSV in UTF-8 with a BOM (Excel then opens Vietnamese right), a few hundred rows at a
    time: a response streams it without holding the whole file."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    yield "\ufeff".encode()
    for n, line in enumerate(flat_rows(report), start=1):
        writer.writerow(safe_row(line))
        if n % rows_per_chunk == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode("utf-8")


def to_csv(report: dict[str, Any]) -> str:
    return b"".join(csv_chunks(report)).decode("utf-8-sig")


def to_xlsx(report: dict[str, Any]) -> bytes:
    """One sheet per grouping, a header row in bold. Written in openpyxl's write-only mode:
    rows go to the file as they are appended, not kept as cell objects."""

    wb = Workbook(write_only=True)
    info = wb.create_sheet(title="about")
    for k in ("site", "from", "to", "timezone"):
        info.append(safe_row([k, report[k]]))
    for section, label, key in SECTIONS:
        ws = wb.create_sheet(title=section)
        header = []
        for value in safe_row([label, *METRICS]):
            cell = WriteOnlyCell(ws, value=value)
            cell.font = Font(bold=True)
            header.append(cell)
        ws.append(header)
        rows = [report[section]] if section == "totals" else report[section]
        for r in rows:
            ws.append(safe_row([key(r, report), *(r[m] for m in METRICS)]))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- series across a day --------------------------------------------------------------------


def series(
    session: Session, site: Site, day: dt.date, bucket_min: int = 15
) -> dict[str, Any]:
    """Per service, per ``bucket_min`` minutes of the local day: arrivals, calls, the queue
    length at the end of the bucket, and the mean wait of tickets first called in it.
    Only the span from the first issue to the last activity of the day is returned."""
    facts = load_facts(session, site, day, day)
    services = list(
        session.scalars(
            select(Service).where(Service.site_id == site.id).order_by(Service.sort_order)
        )
    )
    tz = zone(site.timezone)
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    step = dt.timedelta(minutes=bucket_min)
    times = [f.issued_at for f in facts] + [
        t for f in facts for t in (f.first_call, f.finished_at) if t is not None
    ]
    if not times:
        return {"site": site.code, "date": day.isoformat(), "bucket_minutes": bucket_min,
                "buckets": [], "services": []}
    first = min(times).astimezone(tz)
    last = max(times).astimezone(tz)
    b0 = int((first - midnight) / step)
    b1 = int((last - midnight) / step)
    starts = [midnight + i * step for i in range(b0, b1 + 1)]

    def leave(f: TicketFacts) -> dt.datetime | None:
        """When the ticket stopped waiting: first call, else its end (cancel, transfer)."""
        return f.first_call or f.finished_at

    out_services = []
    for svc in services:
        rows = [f for f in facts if f.service_id == svc.id]
        arrivals, calls, queue, awt = [], [], [], []
        for s in starts:
            e = s + step
            arrivals.append(sum(1 for f in rows if s <= f.issued_at < e))
            called = [f for f in rows if f.first_call is not None and s <= f.first_call < e]
            calls.append(len(called))
            # The KPI definition of a wait (whole seconds), as in the reports.
            waits = [
                w for f in called if (w := kpis_rules.seconds(f.issued_at, f.first_call))
                is not None
            ]
            awt.append(_r(sum(waits) / len(waits) / 60.0) if waits else None)
            queue.append(
                sum(
                    1
                    for f in rows
                    if f.issued_at < e and ((lv := leave(f)) is None or lv >= e)
                )
            )
        out_services.append(
            {
                "service": svc.code,
                "name": {"vi": svc.name_vi, "en": svc.name_en},
                "arrivals": arrivals,
                "calls": calls,
                "queue_length": queue,
                "awt_min": awt,
            }
        )
    return {
        "site": site.code,
        "date": day.isoformat(),
        "bucket_minutes": bucket_min,
        "buckets": [s.strftime("%H:%M") for s in starts],
        "services": out_services,
    }


def site_series(
    session: Session, p: Principal, site_code: str, date: str | None, bucket: str | None
) -> dict[str, Any]:
    site = get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    try:
        day = dt.date.fromisoformat(date or "")
    except ValueError:
        raise AppError("validation_error", detail="date: YYYY-MM-DD") from None
    try:
        minutes = int(bucket or 15)
    except ValueError:
        raise AppError("validation_error", detail="bucket: minutes") from None
    if minutes not in (5, 10, 15, 30, 60):
        raise AppError("validation_error", detail="bucket: 5, 10, 15, 30 or 60")
    return series(session, site, day, minutes)
