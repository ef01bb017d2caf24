#!/usr/bin/env python
"""The outbox under a day's load: 1,000 tickets with phone numbers called through a simulated
day, the call-next p99 with and without the outbox, and the messages per second its worker
sustains.

Two databases of the same shape (tests/conftest.py's world: site HT, services land, civil,
business, counters 1-3) are filled alike: 1,000 tickets spread over the three services; in the
``outbox`` one every ticket has a phone number and the "near"/"called" hook is installed, in the
``baseline`` one there is neither. Calls then alternate between the two databases (one call in
the baseline, the same call in the outbox one, and so on: both see the same machine noise),
each call followed by a no-show so the counter is free again. Each call-next is timed as its
whole unit of work (what a clerk waits for), the outbox's messages written in it included.

While the day runs, an outbox worker sends through a fake SMS gateway over loopback HTTP
(tests/fakegateway.py), as a node would: "near" messages reach it while their tickets still
wait. Then the rest is drained and timed: messages per second claimed, sent and recorded.
A second drain measures the same through the demo's file channel (no network).

    .venv/bin/python tests/bench/bench_outbox.py                 # SQLite, ~1-2 min
    .venv/bin/python tests/bench/bench_outbox.py --tickets 300   # quicker
    .venv/bin/python tests/bench/bench_outbox.py --backend postgres   # 127.0.0.1:5432
    .venv/bin/python tests/bench/bench_outbox.py --database-url postgresql://u@host:5432/postgres

``--database-url`` names a PostgreSQL server (its maintenance database): the bench creates its
two databases there and drops them afterwards.

The machine is shared: compare the two columns of one run (their ratio), not runs of
different days.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, make_url, select  # noqa: E402

from messaging.base import Message  # noqa: E402
from server.core import migrate  # noqa: E402
from server.core.auth import Principal  # noqa: E402
from server.core.db import Database  # noqa: E402
from server.features import notifications, outbox, tickets  # noqa: E402
from server.models import OutboxMessage, Site  # noqa: E402
from server.node.outbox import SENT_CHANNELS  # noqa: E402
from tests.bench.common import PG_ADMIN_URL, bench_main, log  # noqa: E402
from tests.bench.common import pg_database as bench_pg  # noqa: E402
from tests.conftest import build_world  # noqa: E402
from tests.fakegateway import FakeSms  # noqa: E402

SYSTEM = Principal(kind="system", id=None, role="system", site_id=None)
BASE = "http://motcua.test"
SERVICES = ("land", "civil", "business")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@contextlib.contextmanager
def database(backend: str, folder: Path, name: str, server: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / (name + '.sqlite3')}"
    else:
        with bench_pg(f"motcua_bench_outbox_{name}", server) as db_name:
            yield (make_url(server).set(drivername="postgresql+psycopg", database=db_name)
                   .render_as_string(hide_password=False))


class Side:
    """One database of the comparison, with or without the outbox."""

    def __init__(self, url: str, with_outbox: bool, gateway: FakeSms | None,
                 messages_file: Path) -> None:
        migrate.upgrade(url)
        self.db = Database(url, "NORMAL")
        self.world = build_world(self.db, now())
        self.with_outbox = with_outbox
        self.calls: list[float] = []
        self.policy = notifications.Policy(base_url=BASE, messages_file=messages_file,
                                           daily_limit=10, clock=now)
        if with_outbox:
            notifications.install(self.db, self.policy)
            if gateway is not None:
                with self.db.write() as s:
                    site = s.scalar(select(Site).where(Site.code == "HT"))
                    notifications.configure_channel(
                        s, site.id, "sms", config=gateway.config(rate_per_second=10_000),
                        now=now(), policy=self.policy)

    def issue(self, i: int) -> None:
        with self.db.write() as s:
            phone = None
            if self.with_outbox:
                phone = notifications.check_contact(s, self.site_id(s), f"09{10000000 + i:08d}",
                                                    True, self.policy)
            view, _created, ticket = tickets.issue(
                s, SYSTEM, "HT", SERVICES[i % 3], None, "vi", uuid.uuid4().hex, now(), BASE)
            if phone is not None:
                notifications.attach_contact(s, ticket, phone, view["ahead"], now(),
                                             self.policy)

    def site_id(self, s: Any) -> int:
        return int(s.scalar(select(Site.id).where(Site.code == "HT")))

    def call(self, counter: int) -> bool:
        t0 = time.perf_counter()
        with self.db.write() as s:
            view = tickets.call_next(s, SYSTEM, self.world.counters[counter], now(), BASE)
        self.calls.append(time.perf_counter() - t0)
        if view is None:
            return False
        with self.db.write() as s:
            tickets.ticket_action(s, SYSTEM, view["id"], "no_show", now(), BASE)
        return True


def drain(side: Side, channel_resolve: Any) -> tuple[int, int, float]:
    """Send every due message now; (sent, dropped, seconds)."""
    dispatcher = outbox.Dispatcher(outbox.MessageStore(side.db), channel_resolve,
                                   SENT_CHANNELS, batch=100)
    with side.db.read() as s:
        before = dict(s.execute(select(OutboxMessage.status, func.count())
                                .group_by(OutboxMessage.status)).all())
    t0 = time.perf_counter()
    while dispatcher.run_once(wait=True):
        pass
    elapsed = time.perf_counter() - t0
    dispatcher.close()
    with side.db.read() as s:
        by = dict(s.execute(select(OutboxMessage.status, func.count())
                            .group_by(OutboxMessage.status)).all())
    return (int(by.get("sent", 0)),
            int(by.get("dropped", 0)) - int(before.get("dropped", 0)), elapsed)


@bench_main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=1000)
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--database-url", default=None,
                    help="a PostgreSQL server's maintenance database (implies --backend "
                         f"postgres; default {PG_ADMIN_URL})")
    args = ap.parse_args()
    if args.database_url:
        args.backend = "postgres"
    server = args.database_url or PG_ADMIN_URL
    gateway = FakeSms().start()
    try:
        with tempfile.TemporaryDirectory(prefix="motcua-bench-outbox-") as tmp, \
                database(args.backend, Path(tmp), "base", server) as url_a, \
                database(args.backend, Path(tmp), "outbox", server) as url_b:
            folder = Path(tmp)
            base = Side(url_a, False, None, folder / "base.jsonl")
            box = Side(url_b, True, gateway, folder / "messages.jsonl")
            log(f"issuing {args.tickets} tickets on each side ({args.backend})")
            t_base = t_box = 0.0
            for i in range(args.tickets):  # alternating: both see the same machine noise
                t0 = time.perf_counter()
                base.issue(i)
                t1 = time.perf_counter()
                box.issue(i)
                t_base += t1 - t0
                t_box += time.perf_counter() - t1

            # A node's outbox worker sends while the day runs.
            worker = outbox.Dispatcher(outbox.MessageStore(box.db), _resolver(box),
                                       SENT_CHANNELS, batch=50)
            stop = threading.Event()

            def run_worker() -> None:
                while not stop.is_set():
                    if not worker.run_once(wait=True):
                        stop.wait(0.05)

            thread = threading.Thread(target=run_worker, daemon=True)
            thread.start()
            log("a day's calls, alternating baseline / outbox")
            done = [False, False]
            counter = 0
            t_day = time.perf_counter()
            while not all(done):
                counter = counter % 3 + 1
                for k, side in enumerate((base, box)):
                    # A counter's services may be empty while another's are not.
                    if (not done[k] and not side.call(counter)
                            and not any(side.call(c) for c in (1, 2, 3))):
                        done[k] = True
            day_s = time.perf_counter() - t_day
            stop.set()
            thread.join()
            worker.close()
            during = len(gateway.accepted)
            sent, dropped, drain_s = drain(box, _resolver(box))
            late = sent - during

            # The same drain through the file channel: a fresh batch of messages, queued.
            with box.db.write() as s:
                site_id = box.site_id(s)
                for i in range(args.tickets):
                    outbox.enqueue(s, Message(
                        channel="file", kind="test", to=f"+849{10000000 + i:08d}",
                        text="Tin nhắn thử của Phường Hạc Thành qua kênh file.",
                        idempotency_key=f"bench:{i}", ref="bench", created_at=now()),
                        site_id=site_id)
            before_sent = sent
            sent2, _dropped2, drain2_s = drain(box, _resolver(box))
            file_sent = sent2 - before_sent
            # And through the fake SMS gateway: the same number of messages, queued at once.
            with box.db.write() as s:
                for i in range(args.tickets):
                    outbox.enqueue(s, Message(
                        channel="sms", kind="test", to=f"+849{10000000 + i:08d}",
                        text="Tin nhắn thử của Phường Hạc Thành qua kênh sms.",
                        idempotency_key=f"bench-sms:{i}", ref="bench", created_at=now()),
                        site_id=site_id)
            sent3, _dropped3, drain3_s = drain(box, _resolver(box))
            sms_sent = sent3 - sent2
    finally:
        gateway.stop()

    a, b = base.calls, box.calls
    print(f"\nbench_outbox ({args.backend}, {args.tickets} tickets; a shared 2-core machine: "
          "compare the columns of this run)")
    print(f"{'':32} {'baseline':>10} {'outbox':>10} {'ratio':>7}")
    print(f"{'issue, sum of units of work (s)':32} {t_base:10.2f} {t_box:10.2f} "
          f"{t_box / t_base:7.2f}")
    print(f"{'call-next units of work':32} {len(a):10d} {len(b):10d}")
    for label, q in (("call-next p50 (ms)", 0.50), ("call-next p99 (ms)", 0.99)):
        pa, pb = pct(a, q) * 1000, pct(b, q) * 1000
        print(f"{label:32} {pa:10.2f} {pb:10.2f} {pb / pa:7.2f}")
    print(f"{'call-next mean (ms)':32} {statistics.mean(a) * 1000:10.2f} "
          f"{statistics.mean(b) * 1000:10.2f}")
    print(f"\nthe day took {day_s:.1f} s; the worker sent {during} messages while it ran "
          f"(the 'near' ones before their tickets were called)")
    print(f"drain after the day (fake SMS gateway over loopback HTTP): {late} sent, "
          f"{dropped} 'near' dropped (their tickets called first), {drain_s:.2f} s "
          f"-> {(late + dropped) / drain_s if drain_s else 0:.0f} messages/s handled")
    print(f"drain through the file channel: {file_sent} sent in {drain2_s:.2f} s -> "
          f"{file_sent / drain2_s if drain2_s else 0:.0f} messages/s")
    print(f"drain through the fake SMS gateway (loopback HTTP): {sms_sent} sent in "
          f"{drain3_s:.2f} s -> {sms_sent / drain3_s if drain3_s else 0:.0f} messages/s")
    print(f"gateway: {len(gateway.accepted)} keys accepted, "
          f"{sum(gateway.duplicates.values())} repeated")
    return 0


def _resolver(side: Side) -> Any:
    cache: dict[tuple[str, int | None], Any] = {}

    def resolve(name: str, site_id: int | None) -> Any:
        key = (name, site_id)
        if key not in cache:
            with side.db.read() as s:
                row = notifications.channel_row(s, site_id, name) if site_id else None
            config = dict(row.config) if row is not None else ({} if name == "file" else None)
            channel = (notifications.build_channel(name, config, side.policy)
                       if config is not None else None)
            cache[key] = (channel, 10_000.0, f"{name}:bench") if channel else None
        return cache[key]

    return resolve


if __name__ == "__main__":
    raise SystemExit(main())
