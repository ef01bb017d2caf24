"""Concurrency on real databases with real threads: kiosks issue while counters call.

8 issuer threads issue 400 tickets across 3 services while 6 counter threads call-next, start
and finish. Checked afterwards, from the database and from the published events:
- numbers are unique and gap-free per (site, service, business day);
- no ticket is called twice, every ticket is served exactly once;
- no counter came back empty while a ticket it could serve was waiting the whole time;
- every ticket has its complete event trail, and every published event matches it.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter as Tally
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from server.core import lookups
from server.core.auth import Principal
from server.core.db import Database, retrying
from server.features import tickets as ticket_ops
from server.models import Ticket, TicketEvent
from tests.conftest import build_world

ISSUERS = 8
PER_ISSUER = 50
COUNTERS = {
    1: [("land", 1.0)],
    2: [("land", 1.0), ("civil", 0.5)],
    3: [("civil", 1.0)],
    4: [("civil", 1.0), ("business", 1.0)],
    5: [("business", 1.0)],
    6: [("land", 0.5), ("civil", 0.5), ("business", 2.0)],
}
BASE = "http://motcua.test"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_issue_and_call_concurrently(db: Database) -> None:
    world = build_world(db, now(), counters=COUNTERS)
    published: list[Any] = []
    lock = threading.Lock()

    def collect(events: list[Any]) -> None:
        with lock:
            published.extend(events)

    db.subscribers.append(collect)
    with db.read() as s:
        site_id = lookups.get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    clerk = Principal("token", 1, "clerk", site_id)
    codes = ["land", "civil", "business"]

    issued: dict[int, float] = {}  # ticket id -> wall time its commit was done
    errors: list[BaseException] = []
    issuing_done = threading.Event()
    start = threading.Barrier(ISSUERS + len(COUNTERS))

    def issuer(k: int) -> None:
        rnd = random.Random(k)
        try:
            start.wait()
            for i in range(PER_ISSUER):
                code = codes[(k + i) % 3]
                with db.write() as s:
                    view, created = ticket_ops.issue_ticket(
                        s,
                        kiosk,
                        "HT",
                        code,
                        "elderly" if rnd.random() < 0.2 else None,
                        "vi",
                        f"k{k}-{i}",
                        now(),
                        BASE,
                    )
                assert created
                with lock:
                    issued[view["id"]] = time.monotonic()
                if rnd.random() < 0.3:
                    time.sleep(0.001)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    calls: dict[int, list[int]] = defaultdict(list)
    empty_calls: list[tuple[int, float, float]] = []  # counter number, t0, t1 (monotonic)
    call_times: dict[int, float] = {}  # ticket id -> monotonic time its call began

    def counter(number: int) -> None:
        cid = world.counters[number]
        try:
            start.wait()
            while True:
                finished_issuing = issuing_done.is_set()
                t0 = time.monotonic()
                with db.write() as s:
                    ticket = ticket_ops.call_next(s, clerk, cid, now(), BASE)
                t1 = time.monotonic()
                if ticket is None:
                    empty_calls.append((number, t0, t1))
                    if finished_issuing:
                        return
                    time.sleep(0.002)
                    continue
                with lock:
                    call_times[ticket["id"]] = t0
                calls[number].append(ticket["id"])
                for action in ("start", "finish"):
                    with db.write() as s:
                        ticket_ops.ticket_action(s, clerk, ticket["id"], action, now(), BASE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issuer, args=(k,)) for k in range(ISSUERS)]
    threads += [threading.Thread(target=counter, args=(n,)) for n in COUNTERS]
    for t in threads:
        t.start()
    for t in threads[:ISSUERS]:
        t.join(timeout=300)
    issuing_done.set()
    for t in threads[ISSUERS:]:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors

    total = ISSUERS * PER_ISSUER
    with db.read() as s:
        tickets = s.scalars(select(Ticket).order_by(Ticket.id)).all()
        events = s.scalars(select(TicketEvent).order_by(TicketEvent.id)).all()
        service_of = {sid: code for code, sid in world.services.items()}

        # Numbers: unique and gap-free per (service, day).
        assert len(tickets) == total
        per_service: dict[tuple[int, dt.date], list[int]] = defaultdict(list)
        for t in tickets:
            assert t.number is not None
            per_service[(t.service_id, t.business_day)].append(t.number)
        for key, numbers in per_service.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), key
        assert {service_of[sid] for sid, _ in per_service} == set(codes)

        # Exactly one call per ticket; everything served.
        all_calls = [tid for ids in calls.values() for tid in ids]
        assert len(all_calls) == len(set(all_calls)) == total
        assert Tally(t.status for t in tickets) == {"done": total}

        # Each ticket was called by a counter whose profile includes its service.
        by_id = {t.id: t for t in tickets}
        for number, ids in calls.items():
            allowed = {world.services[c] for c, _ in COUNTERS[number]}
            assert all(by_id[i].service_id in allowed for i in ids)

        # No counter idle while a ticket it could serve waited through the whole empty call.
        for number, t0, t1 in empty_calls:
            allowed = {world.services[c] for c, _ in COUNTERS[number]}
            for tid, committed in issued.items():
                if by_id[tid].service_id in allowed and committed < t0:
                    assert call_times[tid] <= t1, (
                        f"counter {number} found nothing at {t0:.4f}-{t1:.4f} while "
                        f"{by_id[tid].label} waited (committed {committed:.4f}, called "
                        f"{call_times[tid]:.4f})"
                    )

        # Complete, ordered event trail per ticket.
        trail: dict[int, list[tuple[str, str | None, str]]] = defaultdict(list)
        for e in events:
            trail[e.ticket_id].append((e.type, e.from_status, e.to_status))
        expected = [
            ("ticket.issued", None, "waiting"),
            ("ticket.called", "waiting", "called"),
            ("ticket.serving", "called", "serving"),
            ("ticket.done", "serving", "done"),
        ]
        for t in tickets:
            assert trail[t.id] == expected, (t.label, trail[t.id])

    # Published (after-commit) events: one of each kind per ticket, and a queue.stats after
    # each change of a waiting line (issue and call).
    ticket_events = [e for e in published if e.type.startswith("ticket.")]
    kinds = Tally((e.type, e.data["ticket_id"]) for e in ticket_events)
    for t in tickets:
        for kind in ("ticket.issued", "ticket.called", "ticket.serving", "ticket.done"):
            assert kinds[(kind, t.id)] == 1, (kind, t.label)
    assert len(ticket_events) == 4 * total
    assert sum(e.type == "queue.stats" for e in published) == 2 * total
    # The site's sequence numbers: every event has its own, with no gap.
    seqs = sorted(e.seq for e in published)
    assert seqs == list(range(1, len(published) + 1))


def test_same_idempotency_key_concurrently_gives_one_ticket(db: Database) -> None:
    build_world(db, now())
    with db.read() as s:
        site_id = lookups.get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def tap() -> None:
        def unit() -> dict[str, Any]:
            with db.write() as s:
                return ticket_ops.issue_ticket(
                    s, kiosk, "HT", "land", None, "vi", "double-tap", now(), BASE
                )[0]

        try:
            barrier.wait()
            # The same retry of the whole unit of work that the API uses.
            results.append(retrying(unit)["id"])
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=tap) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(results) == 8 and len(set(results)) == 1
    with db.read() as s:
        assert len(s.scalars(select(Ticket)).all()) == 1
