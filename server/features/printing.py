"""Printing for the server: the spool's jobs in the main database, ticket layouts from queue
data, and ``printer.changed`` events. Printing happens after the ticket commits and never
blocks or undoes it (ARCHITECTURE.md rule 6)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.orm import Session, aliased

from printers.layouts import TicketPrint, ticket_bytes
from printers.spool import LOST_WHILE_SENDING, Job, JobStatus, Spool, Worker
from printers.status import DEFAULT_STATUS_TIMEOUT, PrinterStatus, query
from printers.uri import (
    PolicyError,
    PrinterError,
    PrinterURI,
    UriPolicy,
    check_policy,
    parse_networks,
    parse_uri,
    send,
)
from server.config import Settings
from server.core import formats
from server.core.db import Database, insert_for, unavailable_kind
from server.core.events import emit
from server.features import outbox
from server.models import Counter, Device, PrinterState, PrintJob, Service, Site, Ticket

log = logging.getLogger("motcua.printing")

PROBLEMS = {PrinterStatus.OFFLINE, PrinterStatus.PAPER_OUT, PrinterStatus.ERROR}


def printer_policy(settings: Settings, caller: str = "web") -> UriPolicy:
    """Which printers ``caller`` may set: ``"web"`` (admin console, pairing, API, configuration
    import over HTTP) gets ``tcp://`` into ``MOTCUA_PRINTER_NETWORKS`` (empty: anything but
    loopback, link-local and reserved addresses), ``usb://`` and ``serial:///dev/tty*``;
    ``"cli"`` also ``file://`` into the spool folder. The print worker sends with the ``"cli"``
    policy, so a stored URI that neither may set is refused at send time."""
    return UriPolicy(
        allow_file=caller == "cli",
        spool_dir=settings.spool_dir(),
        tcp_networks=parse_networks(settings.printer_networks),
    )


def checked_uri(uri: str, policy: UriPolicy) -> PrinterURI:
    """``uri`` parsed and allowed by ``policy``; ValueError (PolicyError for a rule) if not."""
    return check_policy(uri, policy)


def policy_message(exc: ValueError) -> str:
    """The reason, with the rule's code when the URI was refused by the policy."""
    if isinstance(exc, PolicyError):
        return f"{exc.code}: {exc.reason}"
    return str(exc)


def job_row(job: Job, **links: Any) -> PrintJob:
    return PrintJob(id=job.id, uri=job.uri, data=job.data, status=job.status.value,
                    attempts=job.attempts, next_attempt_at=job.next_attempt_at,
                    created_at=job.created_at, ref=job.ref, **links)


def _job(row: PrintJob) -> Job:
    return Job(id=row.id, uri=row.uri, data=row.data or b"", attempts=row.attempts,
               next_attempt_at=row.next_attempt_at, status=JobStatus(row.status),
               last_error=row.last_error, created_at=row.created_at,
               lease_until=row.lease_until, finished_at=row.finished_at, ref=row.ref,
               sending_at=row.sending_at)


def _lost_while_printing(now: dt.datetime) -> Any:
    def lost(row: PrintJob) -> bool:
        row.status, row.lease_until, row.finished_at = "unknown", None, now
        row.last_error = LOST_WHILE_SENDING
        return False
    return lost


def current_printer() -> Any:
    """SQL for the printer a job belongs to now: its kiosk's (device) or its counter's current
    ``printer_uri`` (NULL when neither has one any more). A job follows its device: after
    ``motcua printer set`` or the admin console moves a kiosk or counter to another printer,
    its queued jobs are sent there."""
    device_uri = select(Device.printer_uri).where(Device.id == PrintJob.device_id)
    counter_uri = select(Counter.printer_uri).where(Counter.id == PrintJob.counter_id)
    return case(
        (PrintJob.device_id.is_not(None), device_uri.scalar_subquery()),
        else_=counter_uri.scalar_subquery(),
    )


class DbJobStore:
    """``printers.spool.JobStore`` on the ``print_jobs`` table: shared by every app node;
    claims lock rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) or the SQLite writer lock.

    A claim resolves each job's printer again (:func:`current_printer`): a job whose device
    moved to another printer is due at once, on the new printer, with its attempts counted
    afresh there."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, job: Job, **links: Any) -> None:
        with self.db.write() as s:
            s.add(job_row(job, **links))

    def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime,
                  skip_uris: Collection[str] = ()) -> list[Job]:
        current = current_printer()
        moved = and_(current.is_not(None), current != PrintJob.uri)
        query = (
            select(PrintJob, current.label("current_uri"))
            .where(or_(
                and_(PrintJob.status == "queued",
                     or_(PrintJob.next_attempt_at <= now, moved)),
                and_(PrintJob.status == "printing", PrintJob.lease_until <= now),
            ))
            .order_by(PrintJob.created_at, PrintJob.id)
            .limit(max(limit, 0))
            .with_for_update(skip_locked=True, of=PrintJob)
        )
        if skip_uris:  # by the printer the job goes to now
            query = query.where(func.coalesce(current, PrintJob.uri).not_in(list(skip_uris)))
        with self.db.write() as s:
            found = s.execute(query).all()
            for row, current_uri in found:
                lost = row.status == "printing" and row.sending_at is not None
                if not lost and current_uri and current_uri != row.uri:
                    row.uri, row.attempts = current_uri, 0
            # The print channel's policy for a job whose worker was lost while sending it:
            # it may have printed, so it becomes "unknown" and is never sent again.
            claimed = outbox.claim_rows([row for row, _uri in found], now, lease_until,
                                        "printing", _lost_while_printing(now))
            return [_job(row) for row in claimed]

    def begin_send(self, job: Job, now: dt.datetime, lease_until: dt.datetime) -> bool:
        return outbox.fenced_update(self.db, PrintJob, job.id, job.attempts, "printing",
                                    sending_at=now, lease_until=lease_until)

    def _finish(self, job: Job, **changes: Any) -> bool:
        # Only the claim that still holds the job ends it (fenced by its attempt number).
        return outbox.fenced_update(self.db, PrintJob, job.id, job.attempts, "printing",
                                    lease_until=None, **changes)

    def mark_done(self, job: Job, now: dt.datetime) -> bool:
        # The slip's bytes are dropped once printed: a reprint renders it again.
        return self._finish(job, status="done", finished_at=now, last_error=None, data=None)

    def mark_unknown(self, job: Job, error: str, now: dt.datetime) -> bool:
        return self._finish(job, status="unknown", finished_at=now, last_error=error[:300])

    def mark_retry(self, job: Job, next_at: dt.datetime, error: str) -> bool:
        return self._finish(job, status="queued", next_attempt_at=next_at,
                            last_error=error[:300], sending_at=None)

    def mark_failed(self, job: Job, error: str, now: dt.datetime) -> bool:
        return self._finish(job, status="failed", finished_at=now, last_error=error[:300])

    def unacknowledged(self, uri: str) -> bool:
        """Whether the last slip that finished on ``uri`` (on any node) is ``unknown``."""
        with self.db.read() as s:
            last = s.scalar(select(PrintJob.status)
                            .where(PrintJob.uri == uri, PrintJob.finished_at.is_not(None),
                                   PrintJob.status.in_(["done", "unknown"]))
                            .order_by(PrintJob.finished_at.desc()).limit(1))
            return last == "unknown"

    def pending(self) -> list[Job]:
        with self.db.read() as s:
            rows = s.scalars(select(PrintJob).where(PrintJob.status.in_(["queued", "printing"]))
                             .order_by(PrintJob.created_at)).all()
            return [_job(r) for r in rows]

    def get(self, job_id: str) -> Job | None:
        with self.db.read() as s:
            row = s.get(PrintJob, job_id)
            return _job(row) if row else None


def ticket_layout(s: Any, ticket: Ticket, base_url: str, ahead: int | None,
                  eta: int | None) -> TicketPrint:
    service = s.get(Service, ticket.service_id)
    site = s.get(Site, ticket.site_id)
    priority = None
    if ticket.priority is not None:
        priority = ticket.priority.name_vi if ticket.lang == "vi" else ticket.priority.name_en
    return TicketPrint(
        site_name=site.name_vi if ticket.lang == "vi" else site.name_en,
        service_name_vi=service.name_vi,
        service_name_en=service.name_en,
        number=ticket.label,
        priority_label=priority,
        issued_at_local=formats.datetime(ticket.issued_at, ticket.lang, site.timezone),
        ahead=ahead,
        eta_minutes=eta,
        track_url=f"{base_url.rstrip('/')}/t/{ticket.tracking_token}",
        lang=ticket.lang,
    )


class Printing:
    """The app's spool: jobs in the database, one worker per app process, printer state
    changes published to the site's realtime audiences."""

    def __init__(self, db: Database, base_url: str, publish_change: Any = None,
                 clock: Any = None, start_worker: bool = True,
                 policy: UriPolicy | None = None,
                 file_max_bytes: int | None = None) -> None:
        self.db = db
        self.base_url = base_url
        self.store = DbJobStore(db)
        # Every job is sent under the policy (the command line's: the widest anyone may set),
        # so a printer stored before the policy, or a host name that now resolves to a
        # loopback address, fails like any other print failure instead of being written to.
        self.policy = policy
        self.file_max_bytes = file_max_bytes
        # The lease is the spool's own: twice the longest one job can take (status query,
        # connect, write, acknowledgement: 10 s), renewed right before each send.
        # A printer that left a slip unacknowledged on any node must answer before any node
        # sends it another.
        kwargs: dict[str, Any] = {"on_change": self._on_change, "on_job": self._on_job,
                                  "max_delay": 30.0, "send": self._send,
                                  "status": self._status,
                                  "unacknowledged": self.store.unacknowledged}
        if clock is not None:
            kwargs["clock"] = clock
        self.spool = Spool(self.store, **kwargs)
        self.publish_change = publish_change
        self.worker = (Worker(self.spool, interval=0.5, gather=0.05,
                              is_outage=lambda exc: unavailable_kind(exc) is not None)
                       if start_worker else None)
        if self.worker is not None:
            self.worker.start()

    def _send(self, uri: str, data: bytes, timeout: float) -> None:
        try:
            send(uri, data, timeout, policy=self.policy, file_max_bytes=self.file_max_bytes)
        except ValueError as exc:  # a URI that no longer parses: fail the job, say why
            raise PrinterError(str(exc), uri) from exc

    def _status(self, uri: str) -> tuple[PrinterStatus, str]:
        # The status query talks to the printer too: the same policy first.
        if self.policy is not None:
            try:
                check_policy(uri, self.policy)
            except ValueError as exc:
                return PrinterStatus.ERROR, policy_message(exc)
        report = query(uri, DEFAULT_STATUS_TIMEOUT)
        return report.status, report.detail

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def print_ticket(self, ticket_id: int, view: dict[str, Any],
                     device_id: int | None) -> dict[str, Any]:
        """Queue the ticket on the kiosk's printer again (a reprint), in a unit of work of its
        own. Never raises: a failure to even queue is reported in the answer
        ({"status": "failed"}) so the station says so."""
        if device_id is None:
            return {"status": "none"}
        try:
            with self.db.write() as s:
                ticket = s.get(Ticket, ticket_id)
                return self.queue_ticket_in(s, ticket, view, device_id, reraise=True)
        except Exception:
            log.exception("could not queue a ticket print", extra={"ticket_id": ticket_id})
            return {"status": "failed"}

    def queue_ticket_in(self, s: Any, ticket: Ticket, view: dict[str, Any],
                        device_id: int, reraise: bool = False) -> dict[str, Any]:
        """Queue the ticket on the printer of kiosk ``device_id`` in the unit of work ``s``
        (at issue: the issue's own, one commit per kiosk issue and no ticket whose job was
        lost between two). The worker is woken after the commit (:func:`queue_job`). A failure
        to lay out the ticket is reported ({"status": "failed"}) and never undoes the
        ticket."""
        try:
            uri = s.scalar(select(Device.printer_uri).where(Device.id == device_id))
            if not uri:
                return {"status": "none"}
            layout = ticket_layout(s, ticket, self.base_url, view.get("ahead"),
                                   view.get("eta_minutes"))
            target = parse_uri(uri)
            data = ticket_bytes(layout, profile=target.profile, text=target.text)
            state = s.scalar(select(PrinterState.status).where(PrinterState.uri == uri))
        except Exception:
            if reraise:
                raise
            log.exception("could not queue a ticket print", extra={"ticket_id": ticket.id})
            return {"status": "failed"}
        job = queue_job(s, self, uri, data, f"ticket:{ticket.id}", site_id=ticket.site_id,
                        device_id=device_id, ticket_id=ticket.id)
        return {"status": "queued", "job_id": job.id, "printer": state}

    def wake(self) -> None:
        """Tell the spool worker that a job was committed."""
        self.spool.work.set()

    def printer_state(self, uri: str) -> str | None:
        with self.db.read() as s:
            return s.scalar(select(PrinterState.status).where(PrinterState.uri == uri))

    def _on_change(self, uri: str, status: Any, job: Job | None) -> None:
        status_value = getattr(status, "value", str(status))
        now = self.spool.clock()
        with self.db.write() as s:
            # An upsert: every node's print worker may report the same printer at once.
            # Why, as the spool saw it (the job's own last_error is from before this try).
            seen = self.spool.printers().get(uri)
            detail = (seen.detail if seen is not None else None) or (
                job.last_error if job else None)
            detail = detail[:300] if detail else None
            s.execute(
                insert_for(s, PrinterState)
                .values(uri=uri, status=status_value, changed_at=now, detail=detail)
                .on_conflict_do_update(
                    index_elements=[PrinterState.uri],
                    set_={"status": status_value, "changed_at": now, "detail": detail},
                )
            )
            devices = s.execute(select(Device.id, Device.site_id, Device.name)
                                .where(Device.printer_uri == uri)).all()
            counters = s.execute(select(Counter.id, Counter.site_id, Counter.number)
                                 .where(Counter.printer_uri == uri)).all()
            if self.publish_change is not None:
                for device_id, site_id, name in devices:
                    self.publish_change(s, site_id, {"device_id": device_id, "device": name,
                                                     "status": status_value})
                for counter_id, site_id, number in counters:
                    self.publish_change(s, site_id, {"counter_id": counter_id,
                                                     "counter": number,
                                                     "status": status_value})
        level = logging.WARNING if status in PROBLEMS else logging.INFO
        log.log(level, "printer state changed", extra={"printer": parse_uri(uri).label,
                                                       "status": status_value})

    def _on_job(self, job: Job) -> None:
        """A slip ended ``unknown`` (maybe printed) or ``failed``: tell its site (the kiosk
        that issued it offers a reprint, the supervisor's list grows)."""
        if job.status not in (JobStatus.UNKNOWN, JobStatus.FAILED):
            return
        with self.db.write() as s:
            row = s.get(PrintJob, job.id)
            if row is None or row.site_id is None:
                return
            emit_print_job(s, row)
        log.warning("print job ended without a confirmed slip",
                    extra={"job_id": job.id, "ref": job.ref, "status": job.status.value})



def queue_job(session: Session, printing: Printing, uri: str, data: bytes, ref: str,
              **links: Any) -> Job:
    """Queue a print job: the one way a ticket (at issue), a reprint and a dossier receipt
    reach the spool. The job's row is written in the caller's unit of work ``session``, so it
    commits (or not) with what it prints; the spool worker is woken after that commit, never
    before (a worker woken earlier would not see the row yet). ``links``: site_id, device_id,
    counter_id, ticket_id of the row."""
    job = Job.new(uri, data, printing.spool.clock(), ref=ref[:64])
    session.execute(insert(PrintJob.__table__).values(
        id=job.id, uri=job.uri, data=job.data, status=job.status.value,
        attempts=job.attempts, next_attempt_at=job.next_attempt_at,
        created_at=job.created_at, ref=job.ref, **links))
    outbox.wake_after_commit(session, printing.wake)
    return job


def job_problem(session: Session, row: PrintJob) -> dict[str, Any]:
    """One unknown or failed slip as the kiosk and the supervisor see it."""
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    device = session.get(Device, row.device_id) if row.device_id else None
    counter = session.get(Counter, row.counter_id) if row.counter_id else None
    kind, _, key = (row.ref or "").partition(":")
    return {
        "job_id": row.id,
        "status": row.status,
        "kind": kind or None,  # "ticket" or "dossier"
        "ticket_id": row.ticket_id,
        "number": ticket.label if ticket is not None else None,
        "dossier": key if kind == "dossier" else None,
        "device_id": row.device_id,
        "device": device.name if device is not None else None,
        "counter_id": row.counter_id,
        "counter": counter.number if counter is not None else None,
        "error": row.last_error,
        "created_at": formats.iso(row.created_at),
    }


def emit_print_job(session: Session, row: PrintJob) -> None:
    """A slip of the site ended unknown or failed (``print.job``)."""
    assert row.site_id is not None
    emit(session, row.site_id, "print.job", job_problem(session, row))


def open_problems(session: Session, site_id: int, limit: int = 50) -> tuple[int, list[PrintJob]]:
    """The site's slips that ended ``unknown`` or ``failed`` and were not printed again since
    (no later job for the same ticket or receipt): how many, and the newest ``limit``."""
    later = aliased(PrintJob)
    open_ = and_(
        PrintJob.site_id == site_id,
        PrintJob.status.in_(["unknown", "failed"]),
        ~select(later.id).where(later.ref == PrintJob.ref,
                                later.created_at > PrintJob.created_at).exists(),
    )
    count = session.scalar(select(func.count()).select_from(PrintJob).where(open_)) or 0
    rows = list(session.scalars(select(PrintJob).where(open_)
                                .order_by(PrintJob.created_at.desc()).limit(limit)))
    return int(count), rows


def latest_job(session: Session, ref: str) -> PrintJob | None:
    """The newest print job of a ticket (``ticket:ID``) or receipt (``dossier:CODE``)."""
    return session.scalar(select(PrintJob).where(PrintJob.ref == ref[:64])
                          .order_by(PrintJob.created_at.desc(), PrintJob.id.desc()).limit(1))


def emit_printer_changed(session: Session, site_id: int, data: dict[str, Any]) -> None:
    """A printer of the site changed state (paper out, offline, back online)."""
    emit(session, site_id, "printer.changed", data)
