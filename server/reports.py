"""KPI reports for a date range, per site, service, counter, clerk, hour and day, and the
queue-length / wait series across one day for the charts. No Flask here.

Definitions (every figure comes from tickets and their events):
- dates are the site's business days (its local calendar), ``from`` and ``to`` included;
- ``issued``: tickets drawn at a kiosk or counter (a transfer is not a new issue);
  ``transferred_in``: tickets that arrived in a service by transfer;
- ``served`` (done), ``no_shows``, ``cancelled``, ``transferred``: tickets ending so;
- wait: from the ticket's issue (or transfer) to its FIRST call (``ticket.called`` event), so a
  recall or a resume after parking does not lengthen it; ``awt`` is its mean, ``p90_wait`` the
  nearest-rank 90th percentile, over the tickets that were called;
- ``ast``: mean of finish - start over served tickets;
- ``service_level``: share of called tickets whose wait was within the service's SLA target;
- a ticket counts toward the counter and clerk that called it first, and toward the local hour
  it was issued in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import auth
from .auth import Principal
from .errors import AppError
from .models import Counter, Service, Site, Ticket, TicketEvent, User
from .queue.calendar import local, zone
from .service import site_by_code

MAX_RANGE_DAYS = 366

METRICS = (
    "issued",
    "transferred_in",
    "served",
    "no_shows",
    "cancelled",
    "transferred",
    "awt_min",
    "p90_wait_min",
    "ast_min",
    "service_level",
)


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


def summarize(facts: Iterable[TicketFacts]) -> dict[str, Any]:
    rows = list(facts)
    waits = [w for f in rows if (w := f.wait_min) is not None]
    within = sum(1 for f in rows if (w := f.wait_min) is not None and w <= f.sla_min + 1e-9)
    times = [t for f in rows if (t := f.service_time_min) is not None]
    return {
        "issued": sum(1 for f in rows if not f.transfer),
        "transferred_in": sum(1 for f in rows if f.transfer),
        "served": sum(1 for f in rows if f.status == "done"),
        "no_shows": sum(1 for f in rows if f.status == "no_show"),
        "cancelled": sum(1 for f in rows if f.status == "cancelled"),
        "transferred": sum(1 for f in rows if f.status == "transferred"),
        "awt_min": _r(sum(waits) / len(waits)) if waits else None,
        "p90_wait_min": _r(p90(waits)),
        "ast_min": _r(sum(times) / len(times)) if times else None,
        "service_level": _r(within / len(waits), 4) if waits else None,
    }


def load_facts(
    session: Session, site: Site, start: dt.date, end: dt.date
) -> list[TicketFacts]:
    """One row per ticket of the site's business days ``start..end``, with its first call."""
    q = (
        select(Ticket, Service.sla_target_minutes)
        .join(Service, Service.id == Ticket.service_id)
        .where(
            Ticket.site_id == site.id,
            Ticket.business_day >= start,
            Ticket.business_day <= end,
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
            )
        )
    return out


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


def kpis(session: Session, site: Site, start: dt.date, end: dt.date) -> dict[str, Any]:
    facts = load_facts(session, site, start, end)
    services = {
        s.id: s
        for s in session.scalars(
            select(Service).where(Service.site_id == site.id).order_by(Service.sort_order)
        )
    }
    counters = {
        c.id: c for c in session.scalars(select(Counter).where(Counter.site_id == site.id))
    }
    clerk_ids = {f.call_clerk_id for f in facts if f.call_clerk_id is not None}
    clerks = {
        u.id: u
        for u in (session.scalars(select(User).where(User.id.in_(clerk_ids))) if clerk_ids else [])
    }
    tz = site.timezone

    by_service = []
    groups = _group(facts, lambda f: f.service_id)
    for sid, svc in services.items():
        by_service.append(
            {
                "service": svc.code,
                "name": {"vi": svc.name_vi, "en": svc.name_en},
                "sla_target_minutes": svc.sla_target_minutes,
                **summarize(groups.get(sid, [])),
            }
        )
    by_counter = []
    for cid, rows in sorted(
        _group(facts, lambda f: f.call_counter_id).items(),
        key=lambda kv: counters[kv[0]].number if kv[0] in counters else 10**9,
    ):
        c = counters.get(cid)
        by_counter.append(
            {"counter": c.number if c else None, "counter_id": cid, **summarize(rows)}
        )
    by_clerk = []
    for uid, rows in sorted(_group(facts, lambda f: f.call_clerk_id).items()):
        u = clerks.get(uid)
        by_clerk.append(
            {
                "clerk_id": uid,
                "username": u.username if u else None,
                "full_name": u.full_name if u else None,
                **summarize(rows),
            }
        )
    by_hour = [
        {"hour": h, **summarize(rows)}
        for h, rows in sorted(_group(facts, lambda f: local(f.issued_at, tz).hour).items())
    ]
    by_day = [
        {"date": d.isoformat(), **summarize(rows)}
        for d, rows in sorted(_group(facts, lambda f: f.day).items())
    ]
    return {
        "site": site.code,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": tz,
        "totals": summarize(facts),
        "by_service": by_service,
        "by_counter": by_counter,
        "by_clerk": by_clerk,
        "by_hour": by_hour,
        "by_day": by_day,
    }


def site_kpis(
    session: Session, p: Principal, site_code: str, from_: str | None, to: str | None
) -> dict[str, Any]:
    """``GET /sites/{site}/reports/kpis``: supervisors and admins of the site."""
    site = site_by_code(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    start, end = parse_range(from_, to)
    return kpis(session, site, start, end)


# --- exports ------------------------------------------------------------------------------

SECTIONS = (
    ("totals", "site", lambda r, rep: rep["site"]),
    ("by_service", "service", lambda r, rep: r["service"]),
    ("by_counter", "counter", lambda r, rep: r["counter"]),
    ("by_clerk", "clerk", lambda r, rep: r["username"] or r["clerk_id"]),
    ("by_hour", "hour", lambda r, rep: f"{r['hour']:02d}:00"),
    ("by_day", "date", lambda r, rep: r["date"]),
)


def flat_rows(report: dict[str, Any]) -> list[list[Any]]:
    """One table: group, key, then every metric. Header first."""
    out: list[list[Any]] = [["group", "key", *METRICS]]
    for section, label, key in SECTIONS:
        rows = [report[section]] if section == "totals" else report[section]
        for r in rows:
            out.append([label, key(r, report), *(r[m] for m in METRICS)])
    return out


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows(flat_rows(report))
    return buf.getvalue()


def to_xlsx(report: dict[str, Any]) -> bytes:
    """One sheet per grouping, a header row in bold."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for section, label, key in SECTIONS:
        ws = wb.create_sheet(title=section)
        ws.append([label, *METRICS])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        rows = [report[section]] if section == "totals" else report[section]
        for r in rows:
            ws.append([key(r, report), *(r[m] for m in METRICS)])
    info = wb.create_sheet(title="about", index=0)
    for k in ("site", "from", "to", "timezone"):
        info.append([k, report[k]])
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
            waits = [w for f in called if (w := f.wait_min) is not None]
            awt.append(_r(sum(waits) / len(waits)) if waits else None)
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
    site = site_by_code(session, site_code)
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
