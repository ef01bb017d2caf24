"""The applicant a citizen scanned at the kiosk (``ticket_applicants``) lives only for the
ticket's business day: ID numbers are kept on dossiers only (ARCHITECTURE.md rule 7). No
Flask here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.models import Site, Ticket, TicketApplicant
from server.rules.calendar import business_day


def sites_today(
    session: Session, now: dt.datetime, site_id: int | None = None
) -> Iterator[tuple[Site, dt.date]]:
    """Each site (or the one ``site_id``) with its own local today: the loop of every purge of
    personal data of past business days (ID-card scans, phone numbers, bookings)."""
    q = select(Site)
    if site_id is not None:
        q = q.where(Site.id == site_id)
    for site in session.scalars(q):
        yield site, business_day(now, site.timezone)


def purge_applicants(
    session: Session, now: dt.datetime, site_id: int | None = None, dry_run: bool = False
) -> int:
    """Delete the ID card scans of tickets of business days before today (each site's own
    local today), at one site or at all. Returns how many rows were deleted (``dry_run``: how
    many would be, deleting nothing)."""
    removed = 0
    for site, today in sites_today(session, now, site_id):
        old = select(Ticket.id).where(Ticket.site_id == site.id, Ticket.business_day < today)
        if dry_run:
            removed += int(session.scalar(
                select(func.count()).select_from(TicketApplicant)
                .where(TicketApplicant.ticket_id.in_(old))
            ) or 0)
            continue
        result = session.execute(
            delete(TicketApplicant)
            .where(TicketApplicant.ticket_id.in_(old))
            .execution_options(synchronize_session=False)
        )
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed
