"""The outbox: every outbound effect is a row written in the same transaction as its cause,
claimed by a worker of any node with ``FOR UPDATE SKIP LOCKED`` (SQLite: its writer lock),
sent with retries and backoff, its attempts and last error kept.

Two tables share one machinery:

* ``print_jobs`` (channel ``print``): :class:`server.features.printing.DbJobStore` claims and
  finishes its rows with :func:`claim_rows` and :func:`fenced_update` below; its policy is the
  printer's: a job whose worker was lost while sending becomes ``unknown`` (the slip may have
  printed, a person decides), never sent again;
* ``outbox_messages`` (channels ``sms``, ``zns``, ``file``, ``email``, ``webhook``):
  :class:`MessageStore`; its policy is the gateway's: every attempt carries the message's
  idempotency key, which the gateway sees, so a message whose worker was lost while sending is
  simply sent again (the gateway recognises it); ``near`` messages of a ticket that is no longer
  waiting are ``dropped`` instead of being sent late.

Both are run by :class:`printers.spool.Worker` (the same wake-up, gather and outage handling),
with :func:`printers.spool.backoff_delay` between attempts. A claim marks a row with a lease
and counts one attempt; every later change is fenced by that attempt number, so a slow worker
whose lease was taken over cannot overwrite the new owner's result.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import and_, case, event, func, or_, select, update
from sqlalchemy.orm import Session

from messaging.base import Channel, Message, Outcome
from printers.spool import backoff_delay
from server.core.db import Database, insert_for
from server.models import OutboxMessage, PrintJob, Ticket

log = logging.getLogger("motcua.outbox")

#: Statuses of a message row. ``sending``: claimed (leased) by a worker.
QUEUED, SENDING, SENT, FAILED, DROPPED = "queued", "sending", "sent", "failed", "dropped"

#: A ``near`` message is worth sending only while its ticket still waits.
DROP_UNLESS_WAITING = frozenset({"near"})
#: A ``called`` message is worth sending only until the ticket's visit ended. A no-show is
#: not an end: the citizen who missed the call may still come (and be served) after it.
DROP_WHEN_FINISHED = frozenset({"called"})
FINISHED = ("done", "cancelled", "transferred", "unserved_at_close")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the shared machinery: claims, leases, fenced updates -----------------------------------


def fenced_update(db: Database, model: Any, row_id: str, attempts: int, claimed: str, /,
                  **values: Any) -> bool:
    """Change a claimed row only while the claim that holds it still does (same status,
    same attempt number): one guarded ``UPDATE``, no ORM load. True when it did."""
    with db.write() as s:
        changed = s.execute(
            update(model)
            .where(model.id == row_id, model.status == claimed, model.attempts == attempts)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        return bool(changed == 1)


def due_clause(model: Any, now: dt.datetime, claimed: str) -> Any:
    """Rows due now: queued whose time has come, and claimed ones whose lease expired."""
    return or_(
        and_(model.status == QUEUED, model.next_attempt_at <= now),
        and_(model.status == claimed, model.lease_until <= now),
    )


def claim_rows(rows: Iterable[Any], now: dt.datetime, lease_until: dt.datetime, claimed: str,
               lost: Callable[[Any], bool]) -> list[Any]:
    """Claim rows already locked by the caller's query (``FOR UPDATE SKIP LOCKED``): each gets
    ``claimed``, a lease and one more attempt. A row found claimed with an expired lease and a
    send begun (``sending_at``) is first given to ``lost`` (the channel's policy), which
    settles it and answers False (not to be sent again: print's ``unknown``) or True (send
    again: a gateway that recognises the idempotency key)."""
    out = []
    for row in rows:
        if row.status == claimed and row.sending_at is not None and not lost(row):
            out.append(row)
            continue
        row.status = claimed
        row.attempts += 1
        row.lease_until = lease_until
        row.sending_at = None
        out.append(row)
    return out


def wake_after_commit(session: Session, wake: Callable[[], None] | None) -> None:
    """Wake a worker once the caller's unit of work commits (never before: it would not see
    the row yet)."""
    if wake is not None:
        event.listen(session, "after_commit", lambda _s: wake(), once=True)


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A claimed message row: the message as its channel sees it, and the claim's fence."""

    id: str
    attempts: int
    site_id: int | None
    message: Message
    lease_until: dt.datetime | None = None


def enqueue(session: Session, message: Message, *, site_id: int | None = None,
            ticket_id: int | None = None, not_before: dt.datetime | None = None,
            status: str = QUEUED, error: str | None = None,
            wake: Callable[[], None] | None = None) -> bool:
    """Write ``message`` in the caller's unit of work (it commits, or not, with its cause).
    A message whose idempotency key is already stored is not written again (False): a cause
    replayed never sends twice. ``not_before``: quiet hours; ``status="dropped"`` with
    ``error`` records a message refused by a limit, visible instead of silently lost."""
    now = message.created_at
    values = dict(
        id=uuid.uuid4().hex, site_id=site_id, ticket_id=ticket_id, channel=message.channel,
        kind=message.kind, recipient=message.to, text=message.text, data=dict(message.data),
        lang=message.lang, idempotency_key=message.idempotency_key, ref=message.ref[:64],
        status=status, attempts=0, next_attempt_at=not_before or now, created_at=now,
        last_error=error[:300] if error else None,
        finished_at=now if status != QUEUED else None,
    )
    # RETURNING, not rowcount: an ORM-enabled INSERT's rowcount on PostgreSQL says 1 even when
    # the conflict clause skipped the row.
    inserted = session.execute(
        insert_for(session, OutboxMessage).values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.id)
    ).first() is not None
    if inserted and status == QUEUED:
        wake_after_commit(session, wake)
    return inserted


def _message(row: OutboxMessage) -> Message:
    return Message(channel=row.channel, kind=row.kind, to=row.recipient, text=row.text,
                   idempotency_key=row.idempotency_key, ref=row.ref or "", lang=row.lang,
                   data=dict(row.data or {}), created_at=row.created_at)


class MessageStore:
    """Claims and outcomes of ``outbox_messages`` rows (shared by every node)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def any_due(self, channels: Iterable[str], now: dt.datetime) -> bool:
        """Whether any message of ``channels`` is due (a read: an idle worker's pass takes no
        write lock, which SQLite's requests would wait for)."""
        with self.db.read() as s:
            return s.scalar(
                select(OutboxMessage.id)
                .where(OutboxMessage.channel.in_(list(channels)),
                       OutboxMessage.status.in_([QUEUED, SENDING]),
                       or_(OutboxMessage.next_attempt_at <= now,
                           OutboxMessage.lease_until <= now))
                .limit(1)) is not None

    def claim_due(self, channels: Iterable[str], now: dt.datetime, limit: int,
                  lease_until: dt.datetime) -> tuple[list[Claimed], list[Claimed]]:
        """Up to ``limit`` due messages of ``channels``, oldest first: (to send, dropped
        now). A ``near`` message whose ticket no longer waits (or a ``called`` one whose visit
        ended) is dropped in the same transaction instead of being sent late."""
        query = (
            select(OutboxMessage, Ticket.status)
            .outerjoin(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(OutboxMessage.channel.in_(list(channels)),
                   due_clause(OutboxMessage, now, SENDING))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(max(limit, 0))
            .with_for_update(skip_locked=True, of=OutboxMessage)
        )
        send, dropped = [], []
        with self.db.write() as s:
            rows = s.execute(query).all()
            late = set()
            for row, ticket_status in rows:
                if ticket_status is None:
                    continue
                if ((row.kind in DROP_UNLESS_WAITING and ticket_status != "waiting")
                        or (row.kind in DROP_WHEN_FINISHED and ticket_status in FINISHED)):
                    row.status, row.finished_at, row.lease_until = DROPPED, now, None
                    row.last_error = f"ticket {ticket_status}: not sent late"
                    late.add(row.id)
                    dropped.append(Claimed(row.id, row.attempts, row.site_id, _message(row)))
            live = [row for row, _st in rows if row.id not in late]
            # Lost while sending: sent again, the gateway recognises the idempotency key.
            for row in claim_rows(live, now, lease_until, SENDING, lambda _row: True):
                send.append(Claimed(row.id, row.attempts, row.site_id, _message(row),
                                    lease_until))
        return send, dropped

    def begin_send(self, c: Claimed, now: dt.datetime, lease_until: dt.datetime) -> bool:
        return fenced_update(self.db, OutboxMessage, c.id, c.attempts, SENDING,
                             sending_at=now, lease_until=lease_until)

    def mark_sent(self, c: Claimed, now: dt.datetime, provider_id: str | None) -> bool:
        return fenced_update(self.db, OutboxMessage, c.id, c.attempts, SENDING, status=SENT,
                             finished_at=now, lease_until=None, last_error=None,
                             provider_id=(provider_id or None) and provider_id[:100])

    def mark_retry(self, c: Claimed, next_at: dt.datetime, error: str) -> bool:
        """Queued again until ``next_at`` after the gateway's answer (the attempt counts; one
        not tried is :meth:`put_back`)."""
        return fenced_update(self.db, OutboxMessage, c.id, c.attempts, SENDING, status=QUEUED,
                             next_attempt_at=next_at, lease_until=None, sending_at=None,
                             last_error=error[:300])

    def put_back(self, claims: list[Claimed], next_at: dt.datetime, error: str) -> int:
        """Claimed messages that were not tried (the gateway's rate used up, or the gateway
        down for an earlier one): queued again until ``next_at``, their attempts given back,
        in one statement (one short write, not one per message), each fenced by its claim.
        Returns how many were still held by these claims."""
        if not claims:
            return 0
        with self.db.write() as s:
            return int(s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == SENDING,
                       or_(*(and_(OutboxMessage.id == c.id, OutboxMessage.attempts == c.attempts)
                             for c in claims)))
                .values(status=QUEUED, next_attempt_at=next_at, lease_until=None,
                        sending_at=None, last_error=error[:300],
                        attempts=OutboxMessage.attempts - 1)
                .execution_options(synchronize_session=False)
            ).rowcount or 0)

    def mark_failed(self, c: Claimed, error: str, now: dt.datetime) -> bool:
        """A dead letter: kept, visible, never retried."""
        return fenced_update(self.db, OutboxMessage, c.id, c.attempts, SENDING, status=FAILED,
                             finished_at=now, lease_until=None, last_error=error[:300])


# --- rate limits -----------------------------------------------------------------------------


def per_window(rate: float) -> RateLimitItem:
    """A gateway's rate (messages a second) as a moving-window limit: ``floor(rate)`` a second
    (never more than asked), or below one a second one every ``ceil(1 / rate)`` seconds."""
    if rate >= 1:
        return RateLimitItemPerSecond(int(rate), 1)
    return RateLimitItemPerSecond(1, math.ceil(1 / max(rate, 0.001)))


class SendLimit:
    """Sends per gateway, with the ``limits`` library's moving window: at most the limit's
    count in any window of its length, whoever sent them. With ``storage_uri`` (the node's
    Redis) every node counts in the same place, so two nodes together keep a gateway's rate;
    without it (one node) the count is this process's. While Redis does not answer, each node
    counts its own sends (one log line when that starts; Redis asked again every
    ``RETRY_SHARED_S``): the gateway's own 429 answers, retried later, cover what goes beyond."""

    RETRY_SHARED_S = 5.0

    def __init__(self, storage_uri: str | None = None, prefix: str = "motcua") -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if storage_uri:
            self._shared = MovingWindowRateLimiter(RedisStorage(
                storage_uri, key_prefix=f"{prefix}:outbox-rate", wrap_exceptions=True,
                socket_timeout=2.0, socket_connect_timeout=2.0))
        self._shared_down_until: float | None = None

    def take(self, key: str, rate: float) -> float:
        """0 when a send to gateway ``key`` may go now (and it is counted), else the seconds
        until the window lets one more through."""
        item = per_window(rate)
        down = self._shared_down_until
        if self._shared is not None and (down is None or time.monotonic() >= down):
            try:
                wait = self._take(self._shared, item, key)
            except StorageError as exc:
                if down is None:
                    log.warning("shared rate limit unavailable: counting this node's sends",
                                extra={"error": str(exc.storage_error)[:200]})
                self._shared_down_until = time.monotonic() + self.RETRY_SHARED_S
            else:
                if down is not None:
                    log.info("shared rate limit available again")
                self._shared_down_until = None
                return wait
        return self._take(self._local, item, key)

    @staticmethod
    def _take(limiter: MovingWindowRateLimiter, item: RateLimitItem, key: str) -> float:
        if limiter.hit(item, key):
            return 0.0
        reset = limiter.get_window_stats(item, key).reset_time
        # The oldest send of the window leaves it at ``reset``; a little later if it already has
        # (another node took the place in between).
        return max(reset - time.time(), 0.05)


# --- the dispatcher --------------------------------------------------------------------------

#: How a channel is found for a claimed message: (channel name, site id) → (the channel, its
#: rate limit in messages per second, a key naming the gateway), or None (not configured).
Resolve = Callable[[str, "int | None"], "tuple[Channel, float, str] | None"]
#: Called after each outcome: (channel name, site id, outcome status, detail).
OnOutcome = Callable[[str, "int | None", str, str], None]


class Dispatcher:
    """Sends due messages: one lane per channel (a slow or failing gateway costs its own
    timeouts, never another channel's), messages in order inside a lane. Has the interface
    :class:`printers.spool.Worker` runs (``run_once``, ``work``, ``batch``, ``busy``,
    ``printers``, ``check``, ``close``)."""

    def __init__(self, store: MessageStore, resolve: Resolve, channels: Iterable[str], *,
                 clock: Callable[[], dt.datetime] = utcnow, max_attempts: int = 20,
                 base_delay: float = 2.0, max_delay: float = 60.0, timeout: float = 10.0,
                 batch: int = 50, on_outcome: OnOutcome | None = None,
                 limit: SendLimit | None = None) -> None:
        self.store = store
        self.resolve = resolve
        self.channels = list(channels)
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.lease = 2 * timeout + 5
        self.batch = batch
        self.on_outcome = on_outcome
        self.work = threading.Event()
        self._lock = threading.Lock()
        self._lanes: dict[str, Future[None]] = {}
        self.limit = limit or SendLimit()
        self._executor: ThreadPoolExecutor | None = None

    # the interface printers.spool.Worker runs ------------------------------------------------

    def busy(self) -> set[str]:
        with self._lock:
            return {name for name, f in self._lanes.items() if not f.done()}

    def printers(self) -> dict[str, Any]:
        return {}

    def check(self, uri: str) -> None:  # no status to ask a gateway between messages
        return None

    def run_once(self, wait: bool = True) -> int:
        """Claim the due messages of every channel whose lane is free and send them in that
        lane; with ``wait``, return once the lanes are idle. Returns how many were claimed."""
        now = self.clock()
        lease_until = now + dt.timedelta(seconds=self.lease)
        free = [name for name in self.channels if name not in self.busy()]
        if not free or not self.store.any_due(free, now):
            return 0
        send, dropped = self.store.claim_due(free, now, self.batch, lease_until)
        for c in dropped:
            self._outcome(c, DROPPED, "not sent late")
        lanes: dict[str, list[Claimed]] = {}
        for c in send:
            lanes.setdefault(c.message.channel, []).append(c)
        futures = [self._dispatch(name, batch) for name, batch in lanes.items()]
        if wait and futures:
            wait_futures(futures)
        return len(send) + len(dropped)

    def idle(self, timeout: float | None = None) -> bool:
        with self._lock:
            futures = list(self._lanes.values())
        _done, pending = wait_futures(futures, timeout)
        return not pending

    def close(self, timeout: float | None = None) -> None:
        self.idle(timeout)
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    # sending -----------------------------------------------------------------------------------

    def _dispatch(self, name: str, batch: list[Claimed]) -> Future[None]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=max(len(self.channels), 1),
                                                    thread_name_prefix="motcua-outbox")
            future = self._executor.submit(self._run_lane, name, batch)
            self._lanes[name] = future
            return future

    def _run_lane(self, name: str, batch: list[Claimed]) -> None:
        held: dict[str, dt.datetime] = {}  # gateways whose rate is used up, until when
        deferred: dict[dt.datetime, list[Claimed]] = {}  # not tried for that: queued again
        try:
            for i, c in enumerate(batch):
                if not self._send_one(c, held, deferred):
                    # The gateway is down: the rest wait with it.
                    self.store.put_back(batch[i + 1:], self.clock() + dt.timedelta(
                        seconds=self.base_delay), "waiting for the gateway")
                    break
        except Exception:  # the database away, say: the leases bring the messages back
            log.exception("outbox lane failed", extra={"channel": name})
        finally:
            try:
                for at, claims in deferred.items():
                    self.store.put_back(claims, at, "rate limit of the gateway")
            except Exception:
                log.exception("outbox lane failed", extra={"channel": name})
            self.work.set()  # the lane is free: its next due messages may be claimed

    def _send_one(self, c: Claimed, held: dict[str, dt.datetime] | None = None,
                  deferred: dict[dt.datetime, list[Claimed]] | None = None) -> bool:
        """One attempt; False when the gateway answered a transient failure. A message the
        gateway's rate does not let through yet is queued again for when it does, the attempt
        given back (no error, never a dead letter for it): at once, or with ``deferred`` by the
        lane, together with the others, once its batch is done; ``held`` remembers that time
        for the rest of the lane's batch."""
        m = c.message
        found = self.resolve(m.channel, c.site_id)
        if found is None:
            self._finish_failed(c, f"channel {m.channel} is not configured")
            return True
        channel, rate, key = found
        held = {} if held is None else held
        if key not in held:
            wait = self.limit.take(key, rate)
            if wait > 0:
                held[key] = self.clock() + dt.timedelta(seconds=wait)
        if key in held:
            if deferred is None:
                self.store.put_back([c], held[key], "rate limit of the gateway")
            else:
                deferred.setdefault(held[key], []).append(c)
            return True
        now = self.clock()
        # The claim's lease is renewed (one more write) only when too little of it is left
        # for this attempt: a message's receiver recognises a repeat, so unlike a slip there
        # is nothing to mark before the bytes leave.
        left = (c.lease_until - now).total_seconds() if c.lease_until else 0.0
        if left < self.timeout + 5 and not self.store.begin_send(
                c, now, now + dt.timedelta(seconds=self.lease)):
            log.info("outbox message was taken over before sending", extra={"id": c.id})
            return True
        try:
            outcome = channel.send(m, self.timeout)
        except Exception as exc:  # a channel must not raise; if it does, try again later
            log.exception("channel %s raised", m.channel)
            outcome = Outcome.retry(f"{type(exc).__name__}: {exc}")
        if outcome.status == "sent":
            if self.store.mark_sent(c, self.clock(), outcome.provider_id):
                self._outcome(c, SENT, outcome.detail)
            return True
        # A channel may set its own limit (a webhook subscription's max_attempts).
        limit = getattr(channel, "max_attempts", None) or self.max_attempts
        if outcome.status == "failed" or c.attempts >= limit:
            self._finish_failed(c, outcome.detail or "failed")
            return True
        delay = backoff_delay(c.attempts, self.base_delay, self.max_delay)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, 3600.0))
        if self.store.mark_retry(c, self.clock() + dt.timedelta(seconds=delay),
                                 outcome.detail or "retry"):
            self._outcome(c, "retried", outcome.detail)
        return False

    def _finish_failed(self, c: Claimed, error: str) -> None:
        if self.store.mark_failed(c, error, self.clock()):
            log.warning("outbox message failed", extra={
                "channel": c.message.channel, "kind": c.message.kind, "ref": c.message.ref,
                "error": error[:200]})
            self._outcome(c, FAILED, error)

    def _outcome(self, c: Claimed, status: str, detail: str) -> None:
        if self.on_outcome is None:
            return
        try:
            self.on_outcome(c.message.channel, c.site_id, status, detail)
        except Exception:
            log.exception("outbox on_outcome callback failed")


# --- figures ---------------------------------------------------------------------------------

@dataclass
class Figures:
    queued: int = 0  # waiting now (queued or being sent)
    oldest_s: float = 0.0  # age of the oldest waiting one
    sent: int = 0  # in the window
    failed: int = 0
    retried: int = 0  # attempts beyond the first


def figures(session: Session, now: dt.datetime, window: dt.timedelta = dt.timedelta(days=1),
            channels: Iterable[str] = ()) -> dict[str, Figures]:
    """Per channel (``print`` from the print jobs), cluster-wide: waiting now and the oldest
    waiting one's age; sent, failed and retried among those made in the last ``window``."""
    out = {name: Figures() for name in channels}
    since = now - window
    tables = (
        (OutboxMessage, (QUEUED, SENDING), SENT, FAILED, [OutboxMessage.channel]),
        (PrintJob, ("queued", "printing"), "done", "failed", []),  # the print channel
    )
    for table, waiting, sent, failed, by in tables:
        for *key, n, first in session.execute(
                select(*by, func.count(), func.min(table.created_at))
                .where(table.status.in_(waiting)).group_by(*by)).all():
            f = out.setdefault(key[0] if key else "print", Figures())
            f.queued = int(n)
            f.oldest_s = max((now - first).total_seconds(), 0.0) if first else 0.0
        for *key, status, n, tries in session.execute(
                select(*by, table.status, func.count(),
                       func.coalesce(func.sum(case((table.attempts > 1, table.attempts - 1),
                                                   else_=0)), 0))
                .where(table.created_at >= since).group_by(*by, table.status)).all():
            f = out.setdefault(key[0] if key else "print", Figures())
            if status == sent:
                f.sent += int(n)
            elif status == failed:
                f.failed += int(n)
            f.retried += int(tries)
    return out


__all__ = [
    "DROPPED", "FAILED", "QUEUED", "SENDING", "SENT", "Claimed", "Dispatcher", "Figures",
    "MessageStore", "SendLimit", "claim_rows", "due_clause", "enqueue", "fenced_update",
    "figures", "per_window", "wake_after_commit",
]
