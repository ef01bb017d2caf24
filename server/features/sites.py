"""Sites and their services as the API, kiosks and displays read them; the lobby ticker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import auth
from server.core.audit import audit
from server.core.auth import Principal
from server.core.events import emit
from server.core.lookups import get_site
from server.features import dailyops
from server.features.queues import queue_snapshot
from server.models import (
    PriorityCategory,
    Service,
    Site,
)

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
        "call_starts_service": site.call_starts_service,
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
    day = dailyops.load_site_day(session, site, now)  # opening hours, holidays, daily caps
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
                "waiting_priority": line.waiting_priority,
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
    site = get_site(session, site_code)
    auth.require(auth.can_read_site(session, p, site.id))
    return [
        {k: v for k, v in row.items() if k != "eta_new"}
        for row in services_with_queues(session, site, now)
    ]


def list_priorities(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(PriorityCategory)
        .where(PriorityCategory.active.is_(True))
        .order_by(PriorityCategory.sort_order, PriorityCategory.id)
    ).all()
    return [{"code": r.code, "name": {"vi": r.name_vi, "en": r.name_en}} for r in rows]


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
    site = get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    before = {"vi": site.ticker_vi, "en": site.ticker_en}
    site.ticker_vi, site.ticker_en = (vi or None), (en or None)
    after = {"vi": site.ticker_vi, "en": site.ticker_en}
    if before != after:
        audit(session, p, now, site.id, "site.ticker", "site", site.code, before, after)
        emit(session, site.id, "ticker.changed", {"ticker": ticker_of(site)})
    return {"site": site.code, "ticker": ticker_of(site)}
