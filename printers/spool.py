"""Print spool: jobs are stored, sent, retried with backoff, and failures stay visible.

The storage is a :class:`JobStore` protocol so the server can keep jobs in its own database;
:class:`MemoryJobStore` (tests) and :class:`SQLiteJobStore` (a plain SQLite file, so a spool
survives a restart without the server) implement it.

Every printer is independent: its jobs go out in order through its own *lane* (one send in
flight per printer), lanes run side by side, and a pass never waits for them, so a printer
that stops reading costs its own timeouts and never delays another printer's slips.

A job is ``done`` only when the printer acknowledged its bytes (see
:func:`printers.uri.send`). When bytes may have reached the printer without an acknowledgement
the job becomes ``unknown`` (the slip may or may not have printed: a person decides, with a
reprint), never silently sent again; only a send that provably wrote nothing is retried.

Claiming a job marks it ``printing`` with a lease and counts one attempt; right before its
bytes leave, :meth:`JobStore.begin_send` renews the lease and records ``sending_at``. A process
that dies leaves the lease behind; once it expires, a job that was never being sent is due
again and printed by the next claimer, while one whose send had begun becomes ``unknown``.
Every ``mark_*`` call is fenced by the attempt number: a slow worker whose lease was taken over
cannot overwrite the new owner's result, nor start sending a job it no longer owns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from printers.status import DEFAULT_STATUS_TIMEOUT, PrinterStatus, query
from printers.uri import DEFAULT_ACK_TIMEOUT, DEFAULT_TIMEOUT, PrinterError, parse_uri
from printers.uri import send as send_raw

log = logging.getLogger(__name__)


class JobStatus(StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"  # bytes may have reached the printer, unacknowledged: maybe printed


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Job:
    """One print job. ``attempts`` counts claims; ``ref`` is free text for the caller (e.g.
    ``"ticket:123"``) so a failure can be traced back to what it was printing."""

    id: str
    uri: str
    data: bytes
    attempts: int = 0
    next_attempt_at: dt.datetime = field(default_factory=utcnow)
    status: JobStatus = JobStatus.QUEUED
    last_error: str | None = None
    created_at: dt.datetime = field(default_factory=utcnow)
    lease_until: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    ref: str | None = None
    sending_at: dt.datetime | None = None

    @staticmethod
    def new(uri: str, data: bytes, now: dt.datetime, ref: str | None = None) -> Job:
        return Job(
            id=uuid.uuid4().hex,
            uri=uri,
            data=bytes(data),
            next_attempt_at=now,
            created_at=now,
            ref=ref,
        )


class JobStore(Protocol):
    """Where jobs live. Implementations must make :meth:`claim_due` atomic across threads (and
    across processes, for a shared database)."""

    def add(self, job: Job) -> None:
        """Store a new job."""
        ...

    def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime,
                  skip_uris: Collection[str] = ()) -> list[Job]:
        """Up to ``limit`` jobs to print now, oldest first, none for a printer in
        ``skip_uris`` (its lane is busy): queued jobs whose ``next_attempt_at`` has come, and
        ``printing`` jobs whose lease has expired. Each is returned (and stored) as
        ``printing`` with ``lease_until`` and ``attempts + 1``; except an expired job whose
        send had begun (``sending_at``): it is stored and returned as ``unknown``, not to be
        sent again."""
        ...

    def begin_send(self, job: Job, now: dt.datetime, lease_until: dt.datetime) -> bool:
        """Right before the claimed ``job``'s bytes leave: record ``sending_at`` and renew the
        lease. False if the claim was lost (then it must not be sent)."""
        ...

    def mark_done(self, job: Job, now: dt.datetime) -> bool:
        """The printer acknowledged ``job``; its bytes are dropped (the row stays). False if
        the claim was lost (fenced by attempts)."""
        ...

    def mark_unknown(self, job: Job, error: str, now: dt.datetime) -> bool:
        """Bytes may have reached the printer without an acknowledgement: ``unknown``."""
        ...

    def mark_retry(self, job: Job, next_at: dt.datetime, error: str) -> bool:
        """Back to ``queued`` until ``next_at``, remembering ``error``."""
        ...

    def mark_failed(self, job: Job, error: str, now: dt.datetime) -> bool:
        """Given up; the job stays stored as ``failed``."""
        ...

    def pending(self) -> list[Job]:
        """Queued and printing jobs, oldest first."""
        ...

    def get(self, job_id: str) -> Job | None: ...


# --- in memory -----------------------------------------------------------------------------


class MemoryJobStore:
    """A :class:`JobStore` in a dict (tests, and a server that accepts losing jobs on restart)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} already exists")
            self._jobs[job.id] = job

    def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime,
                  skip_uris: Collection[str] = ()) -> list[Job]:
        with self._lock:
            due = [
                j
                for j in self._jobs.values()
                if j.uri not in skip_uris
                and (
                    (j.status is JobStatus.QUEUED and j.next_attempt_at <= now)
                    or (
                        j.status is JobStatus.PRINTING
                        and j.lease_until is not None
                        and j.lease_until <= now
                    )
                )
            ][: max(0, limit)]
            claimed = []
            for job in due:
                if job.status is JobStatus.PRINTING and job.sending_at is not None:
                    new = replace(job, status=JobStatus.UNKNOWN, lease_until=None,
                                  finished_at=now, last_error=LOST_WHILE_SENDING)
                else:
                    new = replace(
                        job,
                        status=JobStatus.PRINTING,
                        attempts=job.attempts + 1,
                        lease_until=lease_until,
                        sending_at=None,
                    )
                self._jobs[job.id] = new
                claimed.append(new)
            return claimed

    def begin_send(self, job: Job, now: dt.datetime, lease_until: dt.datetime) -> bool:
        return self._update_claimed(job, sending_at=now, lease_until=lease_until)

    def _finish(self, job: Job, **changes: Any) -> bool:
        return self._update_claimed(job, lease_until=None, **changes)

    def _update_claimed(self, job: Job, **changes: Any) -> bool:
        """Change ``job`` only while the claim that holds it (its attempt) still does."""
        with self._lock:
            current = self._jobs.get(job.id)
            if (
                current is None
                or current.status is not JobStatus.PRINTING
                or current.attempts != job.attempts
            ):
                return False
            self._jobs[job.id] = replace(current, **changes)
            return True

    def mark_done(self, job: Job, now: dt.datetime) -> bool:
        return self._finish(job, status=JobStatus.DONE, finished_at=now, data=b"")

    def mark_unknown(self, job: Job, error: str, now: dt.datetime) -> bool:
        return self._finish(job, status=JobStatus.UNKNOWN, finished_at=now, last_error=error)

    def mark_retry(self, job: Job, next_at: dt.datetime, error: str) -> bool:
        return self._finish(job, status=JobStatus.QUEUED, next_attempt_at=next_at,
                            last_error=error, sending_at=None)

    def mark_failed(self, job: Job, error: str, now: dt.datetime) -> bool:
        return self._finish(job, status=JobStatus.FAILED, last_error=error, finished_at=now)

    def pending(self) -> list[Job]:
        with self._lock:
            return [
                j for j in self._jobs.values() if j.status in (JobStatus.QUEUED, JobStatus.PRINTING)
            ]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())


# --- SQLite --------------------------------------------------------------------------------

_TABLE = """
CREATE TABLE IF NOT EXISTS print_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    uri TEXT NOT NULL,
    data BLOB,
    ref TEXT,
    status TEXT NOT NULL CHECK (status IN ('queued', 'printing', 'done', 'failed', 'unknown')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until REAL,
    last_error TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    sending_at REAL
);
"""
_SCHEMA = _TABLE + """
CREATE INDEX IF NOT EXISTS print_jobs_due ON print_jobs (status, next_attempt_at);
"""

_COLUMNS = (
    "id, uri, data, ref, status, attempts, next_attempt_at, lease_until, last_error, "
    "created_at, finished_at, sending_at"
)

#: Why a job became ``unknown`` when its worker was lost while sending it.
LOST_WHILE_SENDING = "the worker sending this slip stopped: it may have printed"


def _ts(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("spool times must be timezone-aware")
    return value.timestamp()


def _dt(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def _row_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        uri=row["uri"],
        data=bytes(row["data"] or b""),
        ref=row["ref"],
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=_dt(row["next_attempt_at"]) or utcnow(),
        lease_until=_dt(row["lease_until"]),
        last_error=row["last_error"],
        created_at=_dt(row["created_at"]) or utcnow(),
        finished_at=_dt(row["finished_at"]),
        sending_at=_dt(row["sending_at"]),
    )


class SQLiteJobStore:
    """A :class:`JobStore` in a SQLite file (WAL). Safe across threads and processes: claims run
    in ``BEGIN IMMEDIATE`` transactions."""

    def __init__(self, path: str | Path, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        with self._lock:
            self._upgrade()
            self._db.executescript(_SCHEMA)

    def _upgrade(self) -> None:
        """A spool file of an older version (no ``unknown`` status, no ``sending_at``, bytes
        required): rebuilt in place with its jobs."""
        row = self._db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'print_jobs'"
        ).fetchone()
        if row is None or "sending_at" in row["sql"]:
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DROP INDEX IF EXISTS print_jobs_due")
        self._db.execute("ALTER TABLE print_jobs RENAME TO print_jobs_old")
        self._db.execute(_TABLE)
        old = _COLUMNS.removesuffix(", sending_at")
        self._db.execute(f"INSERT INTO print_jobs (seq, {old}) SELECT seq, {old} "
                         "FROM print_jobs_old")
        self._db.execute("DROP TABLE print_jobs_old")
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteJobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, job: Job) -> None:
        with self._tx() as db:
            db.execute(
                f"INSERT INTO print_jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.uri,
                    job.data,
                    job.ref,
                    job.status.value,
                    job.attempts,
                    _ts(job.next_attempt_at),
                    _ts(job.lease_until),
                    job.last_error,
                    _ts(job.created_at),
                    _ts(job.finished_at),
                    _ts(job.sending_at),
                ),
            )

    def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime,
                  skip_uris: Collection[str] = ()) -> list[Job]:
        t = _ts(now)
        skip = list(skip_uris)
        with self._tx() as db:
            rows = db.execute(
                f"SELECT seq, {_COLUMNS} FROM print_jobs"
                " WHERE ((status = 'queued' AND next_attempt_at <= ?)"
                " OR (status = 'printing' AND lease_until <= ?))"
                f" AND uri NOT IN ({', '.join('?' * len(skip))})"
                " ORDER BY seq LIMIT ?",
                (t, t, *skip, max(0, limit)),
            ).fetchall()
            claimed = []
            for row in rows:
                if row["status"] == "printing" and row["sending_at"] is not None:
                    db.execute(
                        "UPDATE print_jobs SET status = 'unknown', lease_until = NULL,"
                        " finished_at = ?, last_error = ? WHERE seq = ?",
                        (t, LOST_WHILE_SENDING, row["seq"]),
                    )
                    claimed.append(replace(_row_job(row), status=JobStatus.UNKNOWN,
                                           lease_until=None, finished_at=now,
                                           last_error=LOST_WHILE_SENDING))
                    continue
                db.execute(
                    "UPDATE print_jobs SET status = 'printing', attempts = attempts + 1,"
                    " lease_until = ?, sending_at = NULL WHERE seq = ?",
                    (_ts(lease_until), row["seq"]),
                )
                job = _row_job(row)
                claimed.append(
                    replace(
                        job,
                        status=JobStatus.PRINTING,
                        attempts=job.attempts + 1,
                        lease_until=lease_until,
                        sending_at=None,
                    )
                )
            return claimed

    def begin_send(self, job: Job, now: dt.datetime, lease_until: dt.datetime) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE print_jobs SET sending_at = ?, lease_until = ?"
                " WHERE id = ? AND status = 'printing' AND attempts = ?",
                (_ts(now), _ts(lease_until), job.id, job.attempts),
            )
            return cur.rowcount == 1

    def _finish(self, job: Job, sql: str, args: tuple[object, ...]) -> bool:
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE print_jobs SET {sql}, lease_until = NULL"
                " WHERE id = ? AND status = 'printing' AND attempts = ?",
                (*args, job.id, job.attempts),
            )
            return cur.rowcount == 1

    def mark_done(self, job: Job, now: dt.datetime) -> bool:
        return self._finish(job, "status = 'done', finished_at = ?, data = NULL", (_ts(now),))

    def mark_unknown(self, job: Job, error: str, now: dt.datetime) -> bool:
        return self._finish(
            job, "status = 'unknown', last_error = ?, finished_at = ?", (error, _ts(now))
        )

    def mark_retry(self, job: Job, next_at: dt.datetime, error: str) -> bool:
        return self._finish(
            job, "status = 'queued', next_attempt_at = ?, last_error = ?, sending_at = NULL",
            (_ts(next_at), error),
        )

    def mark_failed(self, job: Job, error: str, now: dt.datetime) -> bool:
        return self._finish(
            job, "status = 'failed', last_error = ?, finished_at = ?", (error, _ts(now))
        )

    def _select(self, where: str, args: tuple[object, ...] = ()) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM print_jobs WHERE {where} ORDER BY seq", args
            ).fetchall()
        return [_row_job(r) for r in rows]

    def pending(self) -> list[Job]:
        return self._select("status IN ('queued', 'printing')")

    def get(self, job_id: str) -> Job | None:
        jobs = self._select("id = ?", (job_id,))
        return jobs[0] if jobs else None

    def all(self) -> list[Job]:
        return self._select("1 = 1")

    def purge(self, finished_before: dt.datetime) -> int:
        """Delete done, failed and unknown jobs finished before the given time; returns how
        many."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM print_jobs WHERE status IN ('done', 'failed', 'unknown')"
                " AND finished_at < ?",
                (_ts(finished_before),),
            )
            return cur.rowcount


# --- the spool -----------------------------------------------------------------------------


def backoff_delay(attempts: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait after the ``attempts``-th failed try: 1, 2, 4, 8, ... capped at 60."""
    if attempts < 1:
        return 0.0
    return float(min(cap, base * 2 ** min(attempts - 1, 32)))


@dataclass(frozen=True)
class PrinterState:
    """The spool's view of one printer: its last status, why, and since when."""

    uri: str
    status: PrinterStatus
    detail: str
    since: dt.datetime


SendFn = Callable[[str, bytes, float], None]
StatusFn = Callable[[str], "PrinterStatus | tuple[PrinterStatus, str]"]
OnChange = Callable[[str, PrinterStatus, Job | None], None]
OnJob = Callable[[Job], None]

#: Statuses in which nothing is sent: the job waits (and counts an attempt).
HOLD = frozenset({PrinterStatus.PAPER_OUT, PrinterStatus.OFFLINE, PrinterStatus.ERROR})

#: Why a job waits after the printer left an earlier slip unacknowledged.
HELD_UNACKNOWLEDGED = "held: the printer did not acknowledge an earlier slip"


def _default_status(uri: str) -> tuple[PrinterStatus, str]:
    report = query(uri, DEFAULT_STATUS_TIMEOUT)
    return report.status, report.detail


class Spool:
    """Sends stored jobs to their printers.

    ``send(uri, data, timeout)`` raises :class:`PrinterError` when nothing was written, and a
    :class:`PrinterError` whose ``written`` is true (:class:`printers.uri.UnconfirmedError`)
    when bytes may have reached the printer unacknowledged (default: :func:`printers.uri.send`,
    which waits for the printer's acknowledgement). ``status(uri)`` returns a
    :class:`PrinterStatus` (or a ``(status, detail)`` pair) before each batch to one printer;
    ``None`` skips the check. ``on_change(uri, status, job)`` is called whenever a printer's
    status differs from the last one seen (including the first), with the job that revealed
    it; ``on_job(job)`` when a job is done, failed for good or unknown. Both may be called
    from lane threads and must not block long.

    ``unacknowledged(uri)``: whether the printer's last finished job elsewhere (another worker
    sharing the store) went unacknowledged; such a printer must answer before it is sent to.

    ``lease``: how long a claim holds a job before another worker may take it; by default
    twice the longest a job can take (status query, connect, write, acknowledgement), and it is
    renewed right before each send, so a live worker never loses a job it is sending."""

    def __init__(
        self,
        store: JobStore,
        send: SendFn = send_raw,
        status: StatusFn | None = _default_status,
        clock: Callable[[], dt.datetime] = utcnow,
        on_change: OnChange | None = None,
        on_job: OnJob | None = None,
        *,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        lease: float | None = None,
        batch: int = 20,
        send_timeout: float = DEFAULT_TIMEOUT,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        status_timeout: float = DEFAULT_STATUS_TIMEOUT,
        lanes: int = 32,
        unacknowledged: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self._send = send
        self._status = status
        self.clock = clock
        self.on_change = on_change
        self.on_job = on_job
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        # The longest one job can hold its printer's lane: the status query, the connect and
        # the write (each bounded by send_timeout), the acknowledgement.
        self.job_budget = status_timeout + 2 * send_timeout + ack_timeout
        self.lease = lease if lease is not None else 2 * self.job_budget
        self.batch = batch
        self.send_timeout = send_timeout
        self._states: dict[str, PrinterState] = {}
        self._lock = threading.Lock()
        self.work = threading.Event()  # set by submit(); a Worker waits on it
        # One lane per printer with jobs in flight: the jobs it still has to send, and the
        # future of the thread sending them. A printer is in at most one lane.
        self._lanes: dict[str, deque[Job]] = {}
        self._lane_futures: dict[str, Future[None]] = {}
        self._max_lanes = lanes
        self._executor: ThreadPoolExecutor | None = None
        # Printers whose last slip went unacknowledged: nothing more is sent to one until it
        # answers again (a status answer, or an acknowledged empty probe). ``unacknowledged``
        # asks the same of a store shared with other workers (what another node saw).
        self._suspect: set[str] = set()
        self._unacknowledged = unacknowledged

    # submitting ---------------------------------------------------------------------------

    def submit(self, uri: str, data: bytes, ref: str | None = None) -> Job:
        """Queue ``data`` for the printer at ``uri`` (checked now: a bad URI raises
        ``ValueError`` here, not later in the worker)."""
        parse_uri(uri)
        job = Job.new(uri, data, self.clock(), ref)
        self.store.add(job)
        self.work.set()
        return job

    # printer states -----------------------------------------------------------------------

    def printers(self) -> dict[str, PrinterState]:
        """Last known state of every printer this spool has talked to."""
        with self._lock:
            return dict(self._states)

    def state(self, uri: str) -> PrinterStatus | None:
        with self._lock:
            st = self._states.get(uri)
        return st.status if st else None

    def _set_state(self, uri: str, status: PrinterStatus, detail: str, job: Job | None) -> None:
        with self._lock:
            previous = self._states.get(uri)
            if previous is not None and previous.status is status:
                if previous.detail != detail:
                    self._states[uri] = replace(previous, detail=detail)
                return
            self._states[uri] = PrinterState(uri, status, detail, self.clock())
        log.log(
            logging.INFO if status.can_print else logging.WARNING,
            "printer %s: %s%s",
            uri,
            status.value,
            f" ({detail})" if detail else "",
        )
        if self.on_change is not None:
            try:
                self.on_change(uri, status, job)
            except Exception:
                log.exception("printer on_change callback failed")

    def check(self, uri: str) -> PrinterStatus:
        """Ask the printer's status now (outside any request path) and record it."""
        status, detail = self._ask_status(uri)
        self._set_state(uri, status, detail, None)
        return status

    def _ask_status(self, uri: str) -> tuple[PrinterStatus, str]:
        if self._status is None:
            return PrinterStatus.UNKNOWN, ""
        try:
            answer = self._status(uri)
        except Exception as exc:
            log.exception("printer status check failed for %s", uri)
            return PrinterStatus.UNKNOWN, f"status check failed: {exc}"
        if isinstance(answer, tuple):
            return answer
        return answer, ""

    # printing -----------------------------------------------------------------------------

    def busy(self) -> set[str]:
        """Printers with a lane in flight now."""
        with self._lock:
            return set(self._lanes)

    def run_once(self, wait: bool = True) -> int:
        """Claim the due jobs of printers whose lane is free and hand each printer's jobs to
        its lane (printers side by side, each printer's jobs in order). With ``wait`` (tests,
        one-shot tools) return once those lanes are idle; a :class:`Worker` does not wait, so
        a slow printer never holds the next pass. Returns how many jobs were claimed."""
        now = self.clock()
        jobs = self.store.claim_due(now, self.batch, now + dt.timedelta(seconds=self.lease),
                                    skip_uris=self.busy())
        if not jobs:
            return 0
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            if job.status is JobStatus.UNKNOWN:  # its worker died while sending it
                log.warning("print job %s (%s) may have printed: its worker stopped while "
                            "sending it", job.id, job.ref)
                self._finished(job)
                continue
            groups.setdefault(job.uri, []).append(job)
        futures = [self._dispatch(uri, group) for uri, group in groups.items()]
        if wait:
            wait_futures(futures)
        return len(jobs)

    def _dispatch(self, uri: str, jobs: list[Job]) -> Future[None]:
        with self._lock:
            lane = self._lanes.get(uri)
            if lane is not None:  # already sending to this printer: after what it has
                lane.extend(jobs)
                return self._lane_futures[uri]
            self._lanes[uri] = deque(jobs)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._max_lanes,
                                                    thread_name_prefix="motcua-print")
            future = self._executor.submit(self._run_lane, uri)
            self._lane_futures[uri] = future
            return future

    def _run_lane(self, uri: str) -> None:
        while True:
            with self._lock:
                lane = self._lanes[uri]
                if not lane:
                    del self._lanes[uri]
                    del self._lane_futures[uri]
                    break
                jobs = list(lane)
                lane.clear()
            try:
                self._print_group(uri, jobs)
            except Exception:  # the store away, say: the leases bring the jobs back
                log.exception("print lane failed", extra={"printer": uri})
        self.work.set()  # the printer is free: its next due jobs may be claimed

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no lane is in flight (or ``timeout``); True when idle."""
        with self._lock:
            futures = list(self._lane_futures.values())
        _done, pending = wait_futures(futures, timeout)
        return not pending

    def close(self, timeout: float | None = None) -> None:
        """Let the lanes in flight finish (each is bounded by its timeouts), then stop."""
        self.idle(timeout)
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    def _finished(self, job: Job) -> None:
        if self.on_job is None:
            return
        final = self.store.get(job.id) or job
        try:
            self.on_job(final)
        except Exception:
            log.exception("print on_job callback failed")

    def _retry(self, job: Job, error: str) -> None:
        if job.attempts >= self.max_attempts:
            log.warning(
                "print job %s (%s) failed after %d attempts: %s",
                job.id,
                job.ref,
                job.attempts,
                error,
            )
            if self.store.mark_failed(job, error, self.clock()):
                self._finished(job)
            return
        delay = backoff_delay(job.attempts, self.base_delay, self.max_delay)
        self.store.mark_retry(job, self.clock() + dt.timedelta(seconds=delay), error)

    def _answers(self, uri: str, status: PrinterStatus) -> bool:
        """Whether a printer whose last slip went unacknowledged answers again: a real status
        answer, else an empty probe (a status query alone) it acknowledges."""
        if status in (PrinterStatus.ONLINE, PrinterStatus.PAPER_NEAR_END):
            return True
        if status is not PrinterStatus.UNKNOWN:
            return False
        try:
            self._send(uri, b"", self.send_timeout)
        except Exception:
            return False
        return True

    def _print_group(self, uri: str, jobs: list[Job]) -> None:
        todo = []
        for job in jobs:
            if job.attempts > self.max_attempts:  # e.g. a job that kept crashing its worker
                if self.store.mark_failed(job, job.last_error or "too many attempts", self.clock()):
                    self._finished(job)
            else:
                todo.append(job)
        if not todo:
            return
        status, detail = self._ask_status(uri)
        if status in HOLD:
            self._set_state(uri, status, detail, todo[0])
            reason = f"printer {status.value}" + (f": {detail}" if detail else "")
            for job in todo:
                self._retry(job, reason)
            return
        if uri in self._suspect or (
            self._unacknowledged is not None and self._unacknowledged(uri)
        ):
            if not self._answers(uri, status):
                for job in todo:
                    self._retry(job, HELD_UNACKNOWLEDGED)
                return
            self._suspect.discard(uri)
        for i, job in enumerate(todo):
            now = self.clock()
            # Renewed right before the bytes leave, and marked as being sent: from here on,
            # a lost worker's job becomes unknown instead of being sent a second time.
            if not self.store.begin_send(job, now, now + dt.timedelta(seconds=self.lease)):
                log.info("print job %s was taken over before sending", job.id)
                continue
            try:
                self._send(uri, job.data, self.send_timeout)
            except Exception as exc:
                reason = exc.reason if isinstance(exc, PrinterError) else f"{exc!r}"
                written = getattr(exc, "written", True)  # an unexpected error: may have written
                if not isinstance(exc, PrinterError):
                    log.exception("unexpected error printing job %s", job.id)
                self._set_state(uri, PrinterStatus.ERROR, reason, job)
                if written:
                    log.warning("print job %s (%s) may not have printed: %s",
                                job.id, job.ref, reason)
                    if self.store.mark_unknown(job, reason, self.clock()):
                        self._finished(job)
                    self._suspect.add(uri)
                    rest, reason = todo[i + 1:], HELD_UNACKNOWLEDGED
                else:
                    rest = todo[i:]
                for other in rest:
                    self._retry(other, reason)
                return
            if self.store.mark_done(job, self.clock()):
                self._finished(job)
            after = status if status is PrinterStatus.PAPER_NEAR_END else PrinterStatus.ONLINE
            self._set_state(uri, after, detail if after is status else "", job)


class Worker:
    """Runs :meth:`Spool.run_once` in a background thread until :meth:`stop`.

    It wakes when a job is submitted, else every ``interval`` seconds (to pick up retries that
    became due). With ``status_interval``, it also asks the status of every printer it knows
    (and of ``watch`` URIs) that often, so paper-out shows before the next job."""

    def __init__(
        self,
        spool: Spool,
        interval: float = 0.5,
        status_interval: float | None = None,
        watch: list[str] | None = None,
        name: str = "motcua-print-spool",
        gather: float = 0.0,
        is_outage: Callable[[Exception], bool] | None = None,
    ) -> None:
        self.spool = spool
        self.interval = interval
        # Tells an outage of the job store (its database away: reported elsewhere, once) from
        # a bug; an outage is logged as one line without a traceback.
        self.is_outage = is_outage
        # After a wake-up, wait this long so the jobs submitted meanwhile share one claim
        # (a busy kiosk hall: one transaction per batch instead of one per ticket).
        self.gather = gather
        self.status_interval = status_interval
        self.watch = list(watch or [])
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status_check = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Worker:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, then let the lanes in flight finish, ``timeout`` in all."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self.spool.work.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.spool.close(max(0.0, deadline - time.monotonic()))

    def wake(self) -> None:
        self.spool.work.set()

    def _check_printers(self) -> None:
        if self.status_interval is None:
            return
        now = time.monotonic()
        if now - self._last_status_check < self.status_interval:
            return
        self._last_status_check = now
        busy = self.spool.busy()  # a printer being sent to answers its own lane
        for uri in dict.fromkeys([*self.watch, *self.spool.printers()]):
            if self._stop.is_set():
                return
            if uri not in busy:
                self.spool.check(uri)

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            self.spool.work.clear()
            handled = 0
            try:
                handled = self.spool.run_once(wait=False)
                self._check_printers()
            except Exception as exc:
                # Once per run of failing passes (the job store's database away, say), not
                # once per pass: the first says why, the next ones would only repeat it.
                if not failing and self.is_outage is not None and self.is_outage(exc):
                    log.warning("print spool paused: job store unavailable",
                                extra={"error": type(exc).__name__})
                elif not failing:
                    log.exception("print spool pass failed")
                failing = True
            else:
                if failing:
                    log.warning("print spool passes work again")
                failing = False
            if handled >= self.spool.batch:
                continue  # more may be due right away
            if self.spool.work.wait(self.interval) and self.gather > 0:
                self._stop.wait(self.gather)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
