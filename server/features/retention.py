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

Dossiers keep their applicant (name, ID number, phone, address) and their history: they are
administrative records the law requires the centre to keep (docs/operations.md, "Retention of
personal data"); nothing here touches them, nor tickets, their events, ratings or the audit log.

``apply(..., dry_run=True)`` counts what would go and changes nothing (``motcua retention
--dry-run``). No Flask here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.features.applicants import purge_applicants
from server.features.notifications import purge_contacts
from server.models import PrintJob

#: Print jobs in these statuses are still to be sent: never removed here.
PENDING_JOBS = ("queued", "printing")


def apply(session: Session, now: dt.datetime, days: int, dry_run: bool = False) -> dict[str, Any]:
    """Remove (``dry_run``: count) personal data past its retention; a summary of what."""
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
    return {
        "dry_run": dry_run,
        "retention_days": max(1, days),
        "cutoff": cutoff.isoformat(),
        "applicant_scans": purge_applicants(session, now, dry_run=dry_run),
        "phone_numbers": purge_contacts(session, now, dry_run=dry_run),
        "print_jobs": int(jobs),
        "print_job_bytes": int(job_bytes),
    }


def describe(summary: dict[str, Any]) -> str:
    """One line for the operator."""
    verb = "would remove" if summary["dry_run"] else "removed"
    return (
        f"retention ({summary['retention_days']} days) {verb}: "
        f"{summary['applicant_scans']} ID-card scan(s) and "
        f"{summary.get('phone_numbers', 0)} phone number(s) of past business days, "
        f"{summary['print_jobs']} print job(s) made before {summary['cutoff'][:10]} "
        f"({summary['print_job_bytes']} bytes)"
    )
