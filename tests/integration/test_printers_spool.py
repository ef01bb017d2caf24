"""The print spool against the fake network printer, with in-memory and SQLite job stores."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printers.layouts import ticket_bytes
from printers.spool import (
    Job,
    JobStatus,
    JobStore,
    MemoryJobStore,
    Spool,
    SQLiteJobStore,
    Worker,
)
from printers.status import PrinterStatus
from printers.uri import PrinterError
from tests.fakeprinter import FakePrinter, strip_status_queries
from tests.unit.test_printers_layouts import TICKET

T0 = dt.datetime(2025, 11, 25, 1, 15, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


class Changes:
    """Records on_change and on_job calls."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, PrinterStatus, str | None]] = []
        self.finished: list[Job] = []

    def on_change(self, uri: str, status: PrinterStatus, job: Job | None) -> None:
        self.changes.append((uri, status, job.id if job else None))

    def on_job(self, job: Job) -> None:
        self.finished.append(job)

    @property
    def statuses(self) -> list[PrinterStatus]:
        return [s for _, s, _ in self.changes]


@pytest.fixture
def printer() -> Iterator[FakePrinter]:
    with FakePrinter() as fake:
        yield fake


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
    else:
        with SQLiteJobStore(tmp_path / "spool.sqlite3") as s:
            yield s


def make_spool(store: JobStore, clock: Clock, changes: Changes, **kwargs: object) -> Spool:
    return Spool(store, clock=clock, on_change=changes.on_change, on_job=changes.on_job, **kwargs)  # type: ignore[arg-type]


def test_a_ticket_is_printed_once(store: JobStore, printer: FakePrinter) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes)
    job = spool.submit(printer.uri, ticket_bytes(TICKET), ref="ticket:42")
    assert spool.run_once() == 1
    assert spool.run_once() == 0
    assert len(printer.jobs) == 1 and printer.jobs[0].count(b"A042") == 1
    done = store.get(job.id)
    assert done is not None and done.status is JobStatus.DONE and done.attempts == 1
    assert done.ref == "ticket:42" and done.finished_at == clock.now
    assert store.pending() == []
    assert changes.statuses == [PrinterStatus.ONLINE]
    assert [j.id for j in changes.finished] == [job.id]
    assert changes.finished[0].status is JobStatus.DONE
    assert spool.state(printer.uri) is PrinterStatus.ONLINE


def test_printer_down_retries_with_backoff_and_prints_once_when_back(
    store: JobStore, printer: FakePrinter
) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes)
    printer.down()
    job = spool.submit(printer.uri, b"TICKET-A042")

    delays = []
    for _ in range(4):
        assert spool.run_once() == 1
        queued = store.get(job.id)
        assert queued is not None and queued.status is JobStatus.QUEUED
        assert "refused" in (queued.last_error or "")
        delay = (queued.next_attempt_at - clock.now).total_seconds()
        delays.append(delay)
        clock.advance(delay / 2)
        assert spool.run_once() == 0  # not due yet
        clock.advance(delay / 2)
    assert delays == [1, 2, 4, 8]
    assert changes.statuses == [PrinterStatus.ERROR]  # reported once, not per attempt

    printer.up()
    assert spool.run_once() == 1
    assert printer.wait_for(b"TICKET-A042")
    for _ in range(3):
        clock.advance(60)
        spool.run_once()
    assert printer.received.count(b"TICKET-A042") == 1
    final = store.get(job.id)
    assert final is not None and final.status is JobStatus.DONE and final.attempts == 5
    assert changes.statuses == [PrinterStatus.ERROR, PrinterStatus.ONLINE]


def test_send_errors_without_status_check_also_retry(store: JobStore) -> None:
    clock, changes = Clock(), Changes()
    calls: list[bytes] = []

    def flaky_send(uri: str, data: bytes, timeout: float) -> None:
        calls.append(data)
        if len(calls) < 3:
            raise PrinterError("paper jam", uri)

    spool = make_spool(store, clock, changes, send=flaky_send, status=None)
    job = spool.submit("tcp://192.0.2.1:9100", b"job")
    for _ in range(5):
        spool.run_once()
        clock.advance(10)
    assert calls == [b"job"] * 3
    assert store.get(job.id).status is JobStatus.DONE  # type: ignore[union-attr]
    assert changes.statuses == [PrinterStatus.ERROR, PrinterStatus.ONLINE]


def test_paper_out_holds_the_job_and_reports(store: JobStore, printer: FakePrinter) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes)
    printer.state = "paper_out"
    job = spool.submit(printer.uri, b"TICKET-B007")

    assert spool.run_once() == 1
    assert printer.jobs == []  # nothing was sent
    assert printer.status_queries[:2] == [1, 4]
    held = store.get(job.id)
    assert held is not None and held.status is JobStatus.QUEUED
    assert held.last_error == "printer paper_out: paper out"
    assert held.next_attempt_at == clock.now + dt.timedelta(seconds=1)
    assert changes.changes == [(printer.uri, PrinterStatus.PAPER_OUT, job.id)]
    assert spool.printers()[printer.uri].detail == "paper out"

    printer.state = "paper_near_end"  # new roll is in, but it is a short one
    clock.advance(1)
    assert spool.run_once() == 1
    assert printer.wait_for(b"TICKET-B007")
    assert changes.statuses == [PrinterStatus.PAPER_OUT, PrinterStatus.PAPER_NEAR_END]
    assert store.get(job.id).status is JobStatus.DONE  # type: ignore[union-attr]


def test_offline_holds_too_and_check_reports_without_a_job(printer: FakePrinter) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(MemoryJobStore(), clock, changes)
    printer.state = "offline"
    assert spool.check(printer.uri) is PrinterStatus.OFFLINE
    assert changes.changes == [(printer.uri, PrinterStatus.OFFLINE, None)]
    assert spool.printers()[printer.uri].detail == "cover open"
    spool.submit(printer.uri, b"held")
    spool.run_once()
    assert printer.jobs == []
    printer.state = "online"
    assert spool.check(printer.uri) is PrinterStatus.ONLINE
    clock.advance(5)
    spool.run_once()
    assert printer.wait_for(b"held")


def test_a_printer_without_status_still_prints() -> None:
    with FakePrinter(answer_status=False) as silent:
        clock, changes = Clock(), Changes()
        spool = make_spool(MemoryJobStore(), clock, changes)
        spool.submit(silent.uri, b"no-status")
        started = time.monotonic()
        spool.run_once()
        assert time.monotonic() - started < 2.5
        assert silent.wait_for(b"no-status")
        assert changes.statuses == [PrinterStatus.ONLINE]


def test_max_attempts_fails_the_job_but_keeps_it(store: JobStore, printer: FakePrinter) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes, max_attempts=3)
    printer.down()
    job = spool.submit(printer.uri, b"never")
    for _ in range(6):
        spool.run_once()
        clock.advance(120)
    failed = store.get(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.attempts == 3 and "refused" in (failed.last_error or "")
    assert store.pending() == []
    assert [j.status for j in changes.finished] == [JobStatus.FAILED]


def test_jobs_for_one_printer_print_in_order_and_others_are_not_held_up(
    store: JobStore, printer: FakePrinter
) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes)
    with FakePrinter() as dead:
        dead.down()
        for i in range(5):
            spool.submit(printer.uri, f"<job{i}>".encode())
            spool.submit(dead.uri, f"<dead{i}>".encode())
        assert spool.run_once() == 10
    assert printer.wait_for(b"<job4>")
    # Each slip is followed by the status query that acknowledges it.
    assert b"".join(map(strip_status_queries, printer.jobs)) == b"<job0><job1><job2><job3><job4>"
    assert len(store.pending()) == 5
    assert spool.state(printer.uri) is PrinterStatus.ONLINE
    assert spool.state(dead.uri) is PrinterStatus.ERROR


def test_restart_mid_queue_prints_each_job_exactly_once(
    tmp_path: Path, printer: FakePrinter
) -> None:
    path = tmp_path / "spool" / "jobs.sqlite3"
    clock = Clock()
    # The first process queues two tickets, claims the first and dies while printing it.
    first = SQLiteJobStore(path)
    dead = Spool(first, clock=clock, lease=30)
    a = dead.submit(printer.uri, b"<A001>")
    b = dead.submit(printer.uri, b"<A002>")
    claimed = first.claim_due(clock.now, 1, clock.now + dt.timedelta(seconds=30))
    assert [j.id for j in claimed] == [a.id]
    first.close()

    # The new process: the lease still holds, so only the second ticket prints now.
    clock.advance(5)
    second = SQLiteJobStore(path)
    changes = Changes()
    spool = make_spool(second, clock, changes, lease=30)
    assert [j.status for j in second.pending()] == [JobStatus.PRINTING, JobStatus.QUEUED]
    assert spool.run_once() == 1
    assert printer.wait_for(b"<A002>")
    assert b"<A001>" not in printer.received

    # Once the dead worker's lease has expired, the first ticket is printed again, once.
    clock.advance(26)
    assert spool.run_once() == 1
    assert printer.wait_for(b"<A001>")
    for _ in range(3):
        clock.advance(60)
        assert spool.run_once() == 0
    assert printer.received.count(b"<A001>") == 1
    assert printer.received.count(b"<A002>") == 1
    again = second.get(a.id)
    assert again is not None and again.status is JobStatus.DONE and again.attempts == 2

    # A worker that comes back from the dead cannot overwrite the new owner's result.
    assert second.mark_retry(claimed[0], clock.now, "late") is False
    assert second.mark_failed(claimed[0], "late", clock.now) is False
    assert second.get(a.id).status is JobStatus.DONE  # type: ignore[union-attr]
    assert second.get(b.id).status is JobStatus.DONE  # type: ignore[union-attr]
    second.close()


def test_sqlite_claims_are_exclusive_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    stores = [SQLiteJobStore(path) for _ in range(4)]
    for i in range(60):
        stores[0].add(Job.new("file:///tmp/x.bin", f"{i}".encode(), T0))
    claimed: list[str] = []
    lock = threading.Lock()

    def claim(s: SQLiteJobStore) -> None:
        while True:
            got = s.claim_due(T0, 3, T0 + dt.timedelta(seconds=60))
            if not got:
                return
            with lock:
                claimed.extend(j.id for j in got)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 60 and len(set(claimed)) == 60
    assert stores[0].path.with_name("jobs.sqlite3-wal").exists()  # WAL mode
    for s in stores:
        s.close()


def test_sqlite_purge_keeps_pending_jobs(tmp_path: Path) -> None:
    with SQLiteJobStore(tmp_path / "jobs.sqlite3") as s:
        done, waiting = Job.new("file:///x", b"1", T0), Job.new("file:///x", b"2", T0)
        s.add(done)
        s.add(waiting)
        (claimed,) = s.claim_due(T0, 1, T0 + dt.timedelta(seconds=9))
        assert s.mark_done(claimed, T0)
        assert s.purge(T0 + dt.timedelta(days=1)) == 1
        assert [j.id for j in s.all()] == [waiting.id]


def test_submit_rejects_a_bad_uri() -> None:
    spool = Spool(MemoryJobStore())
    with pytest.raises(ValueError, match="unsupported scheme"):
        spool.submit("lpt://1", b"x")
    assert spool.store.pending() == []


def test_worker_thread_prints_and_retries_in_real_time(
    tmp_path: Path, printer: FakePrinter
) -> None:
    changes = Changes()
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    spool = Spool(store, on_change=changes.on_change, base_delay=0.05, max_delay=0.2)
    with Worker(spool, interval=0.05, status_interval=0.1) as worker:
        assert worker.running
        spool.submit(printer.uri, b"<first>")
        assert printer.wait_for(b"<first>", timeout=3)
        printer.down()
        job = spool.submit(printer.uri, b"<second>")
        deadline = time.monotonic() + 3
        while store.get(job.id).attempts < 3 and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.02)
        assert store.get(job.id).attempts >= 3  # type: ignore[union-attr]
        printer.up()
        assert printer.wait_for(b"<second>", timeout=3)
        time.sleep(0.3)
    assert not worker.running
    assert printer.received.count(b"<second>") == 1
    assert store.get(job.id).status is JobStatus.DONE
    assert changes.statuses[:3] == [PrinterStatus.ONLINE, PrinterStatus.ERROR, PrinterStatus.ONLINE]
    store.close()


def test_worker_stop_is_prompt() -> None:
    spool = Spool(MemoryJobStore())
    worker = Worker(spool, interval=30).start()
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 1
    assert not worker.running


def test_a_printer_that_never_reads_holds_up_no_other_printer(store: JobStore) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes, send_timeout=0.5, ack_timeout=0.5,
                       status_timeout=0.3)
    with FakePrinter(mode="black-hole") as hole, FakePrinter() as good:
        stuck = spool.submit(hole.uri, b"<lost?>")
        slips = [spool.submit(good.uri, f"<ok{i}>".encode()) for i in range(3)]
        started = time.monotonic()
        assert spool.run_once(wait=False) == 4
        assert good.wait_for(b"<ok2>", timeout=5)
        healthy = time.monotonic() - started
        assert hole.uri in spool.busy(), "the black hole's lane is still waiting for it"
        assert spool.idle(timeout=5)
        assert healthy < time.monotonic() - started  # the good printer did not wait for it
        assert all(store.get(j.id).status is JobStatus.DONE for j in slips)  # type: ignore[union-attr]
        lost = store.get(stuck.id)
        assert lost is not None and lost.status is JobStatus.UNKNOWN
        assert "did not acknowledge" in (lost.last_error or "")
        assert lost.data == b"<lost?>"  # kept for a decision; done slips drop theirs
        assert store.get(slips[0].id).data == b""  # type: ignore[union-attr]
        assert spool.state(hole.uri) is PrinterStatus.ERROR
        assert [j.status for j in changes.finished if j.id == stuck.id] == [JobStatus.UNKNOWN]
        # While it stays silent, nothing more is sent to it: the next slip waits.
        accepted = hole.accepted
        held = spool.submit(hole.uri, b"<next>")
        spool.run_once()
        waiting = store.get(held.id)
        assert waiting is not None and waiting.status is JobStatus.QUEUED
        assert "did not acknowledge" in (waiting.last_error or "")
        assert hole.accepted > accepted  # it was asked (status, probe), not sent the slip


def test_a_worker_lost_mid_send_leaves_the_job_unknown_never_resent(
    store: JobStore, printer: FakePrinter
) -> None:
    clock, changes = Clock(), Changes()
    spool = make_spool(store, clock, changes, lease=20)
    job = spool.submit(printer.uri, b"<maybe>")
    (claimed,) = store.claim_due(clock.now, 5, clock.now + dt.timedelta(seconds=20))
    assert store.begin_send(claimed, clock.now, clock.now + dt.timedelta(seconds=20))
    # ... the worker dies here, its bytes perhaps on the wire.
    clock.advance(10)
    assert spool.run_once() == 0  # the lease still holds
    clock.advance(11)
    assert spool.run_once() == 1
    after = store.get(job.id)
    assert after is not None and after.status is JobStatus.UNKNOWN
    assert printer.jobs == []
    assert [j.status for j in changes.finished] == [JobStatus.UNKNOWN]
    # A late answer from the dead worker changes nothing.
    assert store.mark_done(claimed, clock.now) is False


def test_a_claim_taken_over_is_not_sent(store: JobStore, printer: FakePrinter) -> None:
    clock = Clock()
    job = Spool(store, clock=clock).submit(printer.uri, b"<once>")
    (old,) = store.claim_due(clock.now, 5, clock.now + dt.timedelta(seconds=1))
    clock.advance(2)
    (new,) = store.claim_due(clock.now, 5, clock.now + dt.timedelta(seconds=30))
    assert new.id == job.id and new.attempts == old.attempts + 1
    assert store.begin_send(old, clock.now, clock.now) is False
    assert store.begin_send(new, clock.now, clock.now) is True


def test_a_spool_file_of_the_old_format_is_upgraded_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE print_jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, uri TEXT NOT NULL,
            data BLOB NOT NULL, ref TEXT,
            status TEXT NOT NULL CHECK (status IN ('queued', 'printing', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
            lease_until REAL, last_error TEXT, created_at REAL NOT NULL, finished_at REAL);
        CREATE INDEX print_jobs_due ON print_jobs (status, next_attempt_at);
    """)
    old.execute("INSERT INTO print_jobs (id, uri, data, status, attempts, next_attempt_at,"
                " created_at) VALUES ('a', 'file:///x', x'41', 'queued', 0, ?, ?)",
                (T0.timestamp(), T0.timestamp()))
    old.commit()
    old.close()
    with SQLiteJobStore(path) as store:
        (job,) = store.claim_due(T0, 5, T0 + dt.timedelta(seconds=9))
        assert job.id == "a" and job.data == b"A"
        assert store.mark_unknown(job, "no answer", T0)  # a status the old file refused
        assert store.get("a").status is JobStatus.UNKNOWN  # type: ignore[union-attr]


def test_a_printer_another_worker_saw_silent_must_answer_first(printer: FakePrinter) -> None:
    clock, changes = Clock(), Changes()
    seen_silent = {printer.uri}
    spool = make_spool(MemoryJobStore(), clock, changes, status_timeout=0.3,
                       unacknowledged=lambda uri: uri in seen_silent)
    # It answers its status now: the slip goes out.
    job = spool.submit(printer.uri, b"<answered>")
    spool.run_once()
    assert printer.wait_for(b"<answered>")
    assert spool.store.get(job.id).status is JobStatus.DONE  # type: ignore[union-attr]
    # A black hole another node saw: nothing is sent until it answers.
    with FakePrinter(mode="black-hole") as hole:
        seen_silent.add(hole.uri)
        held = spool.submit(hole.uri, b"<held>")
        spool.run_once()
        waiting = spool.store.get(held.id)
        assert waiting is not None and waiting.status is JobStatus.QUEUED
        assert waiting.sending_at is None and "did not acknowledge" in (waiting.last_error or "")
