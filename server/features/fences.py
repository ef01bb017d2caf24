"""Restore fences: after a restore, nothing is handed out twice.

A restore (a dump or SQLite copy, a point-in-time recovery, a promoted replica) brings back the
database as it was at some point; everything after it is gone from the database but not from
the world: citizens hold slips and receipts printed since, staff noted ticket ids. ``apply``
moves, in one transaction, every counter that numbers something past anything that could
have been handed out since:

- the daily ticket number of every service, for the site's current business day (the only
  day new tickets are numbered in), by the margin or by twice what the service drew in the
  five minutes before the restored point, whichever is more; the numbers jumped over are kept in
  ``service_days.skipped`` so the daily cap still counts tickets;
- the dossier-code counter of every agency code, for its sites' current day;
- the id sequences (PostgreSQL sequences; SQLite ``sqlite_sequence`` of the tables that use
  AUTOINCREMENT, migration 0011), by a larger margin;

and records a ``restore_fences`` row (also an audit row) that the supervisor screen shows for
the rest of the day and that the tracking page of a lost ticket explains itself with.
The margins are settings (``restore_*_margin``); ``rules/fence.py`` does the arithmetic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, func, select, text
from sqlalchemy.orm import Session

from server.core import formats
from server.core.audit import audit
from server.core.auth import Principal
from server.core.catalogs import LANGS, catalogs
from server.core.formats import iso
from server.features.applicants import purge_applicants
from server.features.dossiers import agency_of
from server.models import (
    AuditLog,
    Base,
    Dossier,
    DossierDay,
    DossierEvent,
    RestoreFence,
    Service,
    ServiceDay,
    Site,
    Ticket,
    TicketEvent,
)
from server.rules import fence
from server.rules.calendar import business_day, format_label

#: How long the tracking page of an unknown ticket mentions the last restore.
TRACKING_NOTICE = dt.timedelta(days=2)


def last_activity(session: Session) -> dt.datetime | None:
    """The newest moment recorded in the data: what a restore brought the database back to."""
    latest: list[dt.datetime] = []
    for column in (
        Ticket.issued_at, TicketEvent.at, Dossier.received_at, DossierEvent.at, AuditLog.at
    ):
        value = session.scalar(select(func.max(column)))
        if value is not None:
            latest.append(value)
    return max(latest) if latest else None


def _fence_ticket_numbers(
    session: Session, now: dt.datetime, margin: int, restored_to: dt.datetime | None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    recent: dict[int, int] = {}
    if restored_to is not None:
        since = restored_to - dt.timedelta(seconds=fence.RECENT_WINDOW_S)
        recent = {
            sid: int(n) for sid, n in session.execute(
                select(Ticket.service_id, func.count())
                .where(Ticket.issued_at > since, Ticket.number.is_not(None))
                .group_by(Ticket.service_id)
            ).all()
        }
    rows = session.execute(
        select(Service, Site).join(Site, Site.id == Service.site_id).order_by(Service.id)
    ).all()
    for service, site in rows:
        day = business_day(now, site.timezone)
        row = session.get(ServiceDay, (service.id, day), with_for_update=True)
        last = row.last_number if row is not None else 0
        new = fence.jump_number(last, fence.margin_for(margin, recent.get(service.id, 0)))
        if row is None:
            session.add(
                ServiceDay(
                    service_id=service.id, business_day=day, last_number=new, run_length=0,
                    skipped=new,
                )
            )
        else:
            row.skipped = (row.skipped or 0) + new - last
            row.last_number = new
        out[str(service.id)] = {
            "site": site.code,
            "service": service.code,
            "day": day.isoformat(),
            "from": last,
            "to": new,
            "next": format_label(service.prefix, new + 1),
        }
    return out


def _fence_dossier_codes(
    session: Session, now: dt.datetime, margin: int, restored_to: dt.datetime | None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    sites = list(session.scalars(select(Site).order_by(Site.id)))
    recent: dict[str, int] = {}
    if restored_to is not None:
        since = restored_to - dt.timedelta(seconds=fence.RECENT_WINDOW_S)
        agency = {s.id: agency_of(s) for s in sites}
        for site_id, n in session.execute(
            select(Dossier.site_id, func.count())
            .where(Dossier.received_at > since)
            .group_by(Dossier.site_id)
        ).all():
            key = agency.get(site_id, "")
            recent[key] = recent.get(key, 0) + int(n)
    for site in sites:
        agency, day = agency_of(site), business_day(now, site.timezone)
        key = f"{agency}/{day.isoformat()}"
        if key in out:  # a ward and its reception points share the counter
            continue
        row = session.get(DossierDay, (agency, day), with_for_update=True)
        last = row.last_number if row is not None else 0
        new = fence.jump_number(last, fence.margin_for(margin, recent.get(agency, 0)))
        if row is None:
            session.add(DossierDay(agency_code=agency, day=day, last_number=new))
        else:
            row.last_number = new
        out[key] = {"from": last, "to": new}
    return out


def _id_tables() -> list[Any]:
    """Tables with one integer primary key named ``id`` (their ids come from a sequence)."""
    out = []
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if table.name == RestoreFence.__tablename__:
            continue  # the fence's own rows: nothing outside refers to them
        if len(pk) == 1 and pk[0].name == "id" and isinstance(pk[0].type, Integer):
            out.append(table)
    return out


def _fence_ids_postgresql(session: Session, margin: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for table in _id_tables():
        seq = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        if seq is None:
            continue
        called = session.scalar(text("SELECT pg_sequence_last_value(CAST(:s AS regclass))"),
                                {"s": seq})
        top = session.scalar(select(func.max(table.c.id)))
        last = max(int(called or 0), int(top or 0))
        new = fence.jump_id(last, margin)
        session.execute(text("SELECT setval(CAST(:s AS regclass), :v, true)"),
                        {"s": seq, "v": new})
        out[table.name] = {"from": last, "to": new}
    return out


def _fence_ids_sqlite(session: Session, margin: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for table in _id_tables():
        if not table.dialect_kwargs.get("sqlite_autoincrement"):
            continue  # plain rowid tables: ids of configuration, not seen outside
        seq = session.scalar(
            text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table.name}
        )
        top = session.scalar(select(func.max(table.c.id)))
        last = max(int(seq or 0), int(top or 0))
        new = fence.jump_id(last, margin)
        if seq is None:
            session.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :v)"),
                            {"t": table.name, "v": new})
        else:
            session.execute(text("UPDATE sqlite_sequence SET seq = :v WHERE name = :t"),
                            {"t": table.name, "v": new})
        out[table.name] = {"from": last, "to": new}
    return out


def apply(
    session: Session,
    p: Principal,
    now: dt.datetime,
    kind: str,
    number_margin: int,
    id_margin: int,
    source: str | None = None,
) -> dict[str, Any]:
    """Fence the database after a restore of ``kind`` ('backup' or 'pitr'); a summary."""
    if kind not in ("backup", "pitr"):
        raise ValueError(f"unknown restore kind {kind!r}")
    restored_to = last_activity(session)
    dialect = session.get_bind().dialect.name
    detail = {
        "services": _fence_ticket_numbers(session, now, number_margin, restored_to),
        "dossiers": _fence_dossier_codes(session, now, number_margin, restored_to),
        "ids": (
            _fence_ids_postgresql(session, id_margin)
            if dialect == "postgresql"
            else _fence_ids_sqlite(session, id_margin)
        ),
    }
    # ID card scans of earlier days are purged when a service draws its first number of the
    # day; a fenced day never draws number 1, so purge here (rule 7: a restored backup must
    # not keep yesterday's scans).
    detail["purged_applicants"] = purge_applicants(session, now)
    row = RestoreFence(
        at=now,
        kind=kind,
        restored_to=restored_to,
        source=(source or "")[:300] or None,
        actor=p.actor,
        number_margin=number_margin,
        id_margin=id_margin,
        detail=detail,
    )
    session.add(row)
    session.flush()
    audit(session, p, now, None, "restore.fence", "restore_fence", row.id, None,
          {"kind": kind, "restored_to": iso(restored_to), "number_margin": number_margin,
           "id_margin": id_margin})
    return {
        "id": row.id,
        "kind": kind,
        "at": iso(now),
        "restored_to": iso(restored_to),
        "number_margin": number_margin,
        "id_margin": id_margin,
        **detail,
    }


def latest(session: Session) -> RestoreFence | None:
    return session.scalar(select(RestoreFence).order_by(RestoreFence.id.desc()).limit(1))


def _hhmm(at: dt.datetime | None, tz: str) -> str | None:
    return None if at is None else formats.time(at, "vi", tz)


def site_notice(session: Session, site: Site, now: dt.datetime) -> dict[str, Any] | None:
    """What the supervisor screen of ``site`` says for the rest of the day a restore was
    fenced on: the restored point (site local time) and where each service's numbers
    continue; None on other days."""
    row = latest(session)
    if row is None or business_day(row.at, site.timezone) != business_day(now, site.timezone):
        return None
    services = (row.detail or {}).get("services", {})
    site_services = session.scalars(
        select(Service).where(Service.site_id == site.id).order_by(Service.sort_order, Service.id)
    )
    continues = [
        {"service": s.code, "from": services[str(s.id)]["next"]}
        for s in site_services
        if str(s.id) in services
    ]
    when = _hhmm(row.restored_to or row.at, site.timezone)
    labels = ", ".join(c["from"] for c in continues) or "—"
    return {
        "at": iso(row.at),
        "kind": row.kind,
        "restored_to": iso(row.restored_to),
        "restored_to_local": when,
        "continues": continues,
        "text": {
            lang: catalogs.text("fences", "restored", lang).format(when=when, numbers=labels)
            for lang in LANGS
        },
    }


def tracking_notice(
    session: Session, now: dt.datetime, what: str = "ticket"
) -> dict[str, str] | None:
    """For the page of a tracking link the database does not know (``what``: a ticket's
    ``/t/``, a dossier receipt's ``/d/``): when a restore happened lately, the plain reason
    (taken after the restored point), in both languages; None otherwise."""
    row = latest(session)
    if row is None or now - row.at > TRACKING_NOTICE:
        return None
    tz = session.scalar(select(Site.timezone).order_by(Site.parent_id.is_not(None), Site.id))
    at = row.restored_to or row.at
    key = "dossier_lost" if what == "dossier" else "ticket_lost"
    return {
        lang: catalogs.text("fences", key, lang).format(when=formats.datetime(at, lang, tz))
        for lang in LANGS
    }
