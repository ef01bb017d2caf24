"""How long personal data outside dossiers is kept, applied by the daily close.

A queue ticket itself holds no name, phone or ID number (``tickets``: number, service, times,
counter, an unguessable tracking token). Personal data reaches the queue in two places:

- **ID-card scans** (``ticket_applicants``: ID number, name, date of birth, sex, address), read
  at the kiosk so the clerk need not retype them: removed once their business day is over
  (ARCHITECTURE.md rule 7), at every site, whatever this module's period;
- **print jobs** (``print_jobs``): the bytes sent to a printer; a dossier receipt carries the
  applicant's name and masked ID number, a ticket slip its tracking QR. Jobs made more than
  ``retention_days`` ago that are over (done, failed, or any other final status) are deleted
  with their bytes; jobs still queued or being sent are left to the print worker.

History is kept by period (``Periods``), oldest first, a bounded number of days per pass:

- **ticket detail** (tickets, their events, ratings, print jobs and ID-card scans) of business
  days older than ``ticket_detail_days`` (default a year), only for days whose daily
  aggregates are written (``server/features/aggregates.py``): the reports of those days read
  the aggregates, which stay; a dossier filed from such a ticket keeps everything but the link
  to the queue ticket;
- **daily aggregates** older than ``aggregate_days`` (default five years).

Dossiers keep their applicant (name, ID number, phone, address) and their history: they are
administrative records the law requires the centre to keep (docs/operations.md, "Retention of
personal data"); nothing here touches them (but the link above), nor the audit log.

``apply(..., dry_run=True)`` counts what would go and changes nothing (``motcua retention
--dry-run``). No Flask here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, delete, func, select, update
from sqlalchemy.orm import Session

from messaging.phone import masked
from server.features.applicants import purge_applicants, sites_today
from server.features.notifications import purge_contacts
from server.models import (
    Base,
    Booking,
    DailyStat,
    OutboxMessage,
    PrintJob,
    Site,
    StatDay,
    Ticket,
)
from server.rules.calendar import business_day

#: Print jobs in these statuses are still to be sent: never removed here.
PENDING_JOBS = ("queued", "printing")


#: Days of one site whose ticket detail one pass removes at most (a bounded transaction).
DAYS_PER_PASS = 31


@dataclass(frozen=True)
class Periods:
    """How long history is kept, in days (0: forever)."""

    ticket_detail_days: int = 366
    aggregate_days: int = 1827


# Rows that outlive the queue ticket they point to: only the link goes. The dossier is the legal
# record; a later ticket transferred from a removed one keeps its own history.
KEEP_UNLINKED = {("dossiers", "ticket_id"), ("tickets", "transfer_parent_id")}


def ticket_references() -> list[Column[Any]]:
    """Every column of the schema that refers to ``tickets.id``, read from the models, so a
    table added later is removed with its tickets (or unlinked, per ``KEEP_UNLINKED``) without
    anyone having to remember this list."""
    return [
        fk.parent
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == "tickets" and fk.column.name == "id"
    ]


def _drop_ticket_detail(
    session: Session, site: Site, before: dt.date, now: dt.datetime, dry_run: bool
) -> tuple[int, int]:
    """Tickets (with their events, ratings, jobs, scans) of the site's aggregated days before
    ``before``, at most ``DAYS_PER_PASS`` days: (days, tickets) removed or to remove."""
    days = list(
        session.scalars(
            select(StatDay.business_day)
            .where(
                StatDay.site_id == site.id,
                StatDay.business_day < before,
                StatDay.detail_dropped_at.is_(None),
            )
            .order_by(StatDay.business_day)
            .limit(DAYS_PER_PASS)
        )
    )
    if not days:
        return 0, 0
    ids = select(Ticket.id).where(Ticket.site_id == site.id, Ticket.business_day.in_(days))
    tickets = int(session.scalar(select(func.count()).select_from(ids.subquery())) or 0)
    if dry_run:
        return len(days), tickets
    quiet = {"synchronize_session": False}
    for column in ticket_references():
        if (column.table.name, column.name) in KEEP_UNLINKED:
            stmt = update(column.table).where(column.in_(ids)).values({column.name: None})
        else:
            stmt = delete(column.table).where(column.in_(ids))
        session.execute(stmt.execution_options(**quiet))
    session.execute(
        delete(Ticket).where(Ticket.site_id == site.id, Ticket.business_day.in_(days))
        .execution_options(**quiet)
    )
    session.execute(
        update(StatDay)
        .where(StatDay.site_id == site.id, StatDay.business_day.in_(days))
        .values(detail_dropped_at=now)
        .execution_options(**quiet)
    )
    return len(days), tickets


def apply_periods(
    session: Session, now: dt.datetime, periods: Periods, dry_run: bool = False
) -> dict[str, int]:
    """History past its period, at every site: ticket detail of aggregated days older than
    ``ticket_detail_days``, aggregates older than ``aggregate_days``."""
    out = {"detail_days": 0, "detail_tickets": 0, "aggregate_rows": 0}
    for site in session.scalars(select(Site).order_by(Site.id)):
        today = business_day(now, site.timezone)
        if periods.ticket_detail_days:
            before = today - dt.timedelta(days=periods.ticket_detail_days)
            days, tickets = _drop_ticket_detail(session, site, before, now, dry_run)
            out["detail_days"] += days
            out["detail_tickets"] += tickets
        if periods.aggregate_days:
            before = today - dt.timedelta(days=periods.aggregate_days)
            old = (DailyStat.site_id == site.id, DailyStat.business_day < before)
            if dry_run:
                out["aggregate_rows"] += int(
                    session.scalar(select(func.count()).select_from(DailyStat).where(*old)) or 0
                )
                continue
            gone = session.execute(
                delete(DailyStat).where(*old).execution_options(synchronize_session=False)
            )
            out["aggregate_rows"] += int(gone.rowcount or 0)  # type: ignore[attr-defined]
            session.execute(
                delete(StatDay)
                .where(StatDay.site_id == site.id, StatDay.business_day < before)
                .execution_options(synchronize_session=False)
            )
    return out


def purge_bookings(
    session: Session, now: dt.datetime, site_id: int | None = None, dry_run: bool = False
) -> int:
    """Bookings of business days before today (each site's own today) lose their phone number
    and one-time code, and their finished messages keep only a masked number. The keyed hash
    of the ID number stays while the booking does (repeated no-shows limit new bookings); the
    booking goes with its ticket's detail (``ticket_references``). Returns how many numbers
    were (``dry_run``: would be) removed."""
    removed = 0
    for site, today in sites_today(session, now, site_id):
        live = (Booking.site_id == site.id, Booking.business_day < today,
                Booking.phone.is_not(None))
        if dry_run:
            removed += int(session.scalar(
                select(func.count()).select_from(Booking).where(*live)) or 0)
            continue
        refs = select(Booking.ref).where(*live).scalar_subquery()
        for row in session.scalars(select(OutboxMessage).where(
                OutboxMessage.site_id == site.id, OutboxMessage.ref.in_(refs),
                OutboxMessage.status.in_(["sent", "failed", "dropped"]),
                OutboxMessage.recipient.not_like("%*%"))):
            row.recipient = masked(row.recipient)
        removed += int(session.execute(
            update(Booking).where(*live)
            .values(phone=None, otp_hash=None, purged_at=now)
            .execution_options(synchronize_session=False)).rowcount or 0)
    return removed


def apply(
    session: Session,
    now: dt.datetime,
    days: int,
    dry_run: bool = False,
    periods: Periods | None = None,
) -> dict[str, Any]:
    """Remove (``dry_run``: count) personal data past its retention, and history past its
    ``periods`` (None: history is not touched); a summary of what."""
    cutoff = now - dt.timedelta(days=max(1, days))
    # By creation: a job ends within minutes of it (retries included), and its creation time
    # is written by the same clock as the tickets' (the worker's finish time is its own).
    old_jobs = (PrintJob.status.not_in(PENDING_JOBS), PrintJob.created_at < cutoff)
    jobs, job_bytes = session.execute(
        select(func.count(), func.coalesce(func.sum(func.length(PrintJob.data)), 0))
        .where(*old_jobs)
    ).one()
    if not dry_run and jobs:
        session.execute(
            delete(PrintJob).where(*old_jobs).execution_options(synchronize_session=False)
        )
    history = (
        apply_periods(session, now, periods, dry_run)
        if periods is not None
        else {"detail_days": 0, "detail_tickets": 0, "aggregate_rows": 0}
    )
    return {
        "dry_run": dry_run,
        "retention_days": max(1, days),
        "cutoff": cutoff.isoformat(),
        "applicant_scans": purge_applicants(session, now, dry_run=dry_run),
        "phone_numbers": purge_contacts(session, now, dry_run=dry_run),
        "booking_phones": purge_bookings(session, now, dry_run=dry_run),
        "print_jobs": int(jobs),
        "print_job_bytes": int(job_bytes),
        "ticket_detail_days": periods.ticket_detail_days if periods else 0,
        "aggregate_days": periods.aggregate_days if periods else 0,
        **history,
    }


def describe(summary: dict[str, Any]) -> str:
    """One line for the operator."""
    verb = "would remove" if summary["dry_run"] else "removed"
    return (
        f"retention ({summary['retention_days']} days) {verb}: "
        f"{summary['applicant_scans']} ID-card scan(s) and "
        f"{summary.get('phone_numbers', 0)} phone number(s) and "
        f"{summary.get('booking_phones', 0)} booking phone number(s) of past business days, "
        f"{summary['print_jobs']} print job(s) made before {summary['cutoff'][:10]} "
        f"({summary['print_job_bytes']} bytes)"
        + (
            f", the tickets of {summary['detail_days']} aggregated day(s) older than "
            f"{summary['ticket_detail_days']} days ({summary['detail_tickets']} ticket(s))"
            if summary.get("ticket_detail_days") else ""
        )
        + (
            f", {summary['aggregate_rows']} daily aggregate row(s) older than "
            f"{summary['aggregate_days']} days"
            if summary.get("aggregate_days") else ""
        )
    )
