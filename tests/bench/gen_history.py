"""Months of past working days of a province, written fast into PostgreSQL.

    python tests/bench/gen_history.py --sites 55 --months 12 --database-url postgresql+psycopg://...
    python tests/bench/gen_history.py --sites 2 --days 5 --per-day 40 --database-url ...

The province (sites ``H01``..``Hnn`` under ``HPROV``, the simulator's five fields as services,
``--counters`` counters each, a kiosk with its printer, a clerk token per counter, the demo's
procedure catalog) is built through the engine's own seed functions. The past days are not
replayed through ``issue``/``call_next`` (a year would take hours); each site-day is the
simulator's model of a day (``server.features.simulate``: its arrival profile, service mix,
priority share, absent citizens, walk time and lognormal service times) run on the site's
counters, and its outcome is written as the rows the engine writes for it, with bulk COPY:
tickets (``done`` or ``no_show``, labels and numbers from the service's daily counter),
the ticket events of each step (issued, called, recalled, serving, done / no_show, with the
engine's actors), the ticket's print job (acknowledged, bytes dropped), a rating for a quarter
of the served tickets, a dossier (with its receipt's print job and its first step) for a
quarter, and the daily counters (``service_days``, ``dossier_days``). Today is left empty: the
working day the queries must keep to.

The days are simulated in a second (forked) process, one day ahead of the COPY of the
previous one, as COPY text lines. On a fresh database (the tables empty) the load is one
transaction that drops the secondary indexes, unique constraints and foreign keys of the tables
it fills and makes them again at the end from the catalog's own definitions (built in bulk,
the foreign keys checked against every row); into tables that already hold rows each day is
its own transaction, indexes kept. A seed gives the same rows (but for the tracking tokens and
print job ids, random like the engine's).

A progress line goes to stderr after each day. ``generate`` is also called by the query-plan
test (a couple of sites, a few days) and by ``bench_history.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import math
import multiprocessing
import queue
import random
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select, text

from server.core import migrate
from server.core.db import Database
from server.features import procedures, seed, simulate
from server.features.dossiers import agency_of, format_code
from server.models import ApiToken, Device, Procedure, Service
from server.rules.calendar import business_day, format_label, queue_position_key

PROVINCE = "HPROV"
PREFIXES = "ABCDE"
RATED_SHARE = 0.25
DOSSIER_SHARE = 0.25
SCORES = ("very_satisfied", "very_satisfied", "satisfied", "satisfied", "not_satisfied")
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em")

TICKET_COLS = ("id", "site_id", "service_id", "business_day", "number", "label", "priority_id",
               "channel", "status", "queue_pos", "lang", "issued_at", "called_at", "started_at",
               "finished_at", "counter_id", "device_id", "recall_count", "tracking_token")
EVENT_COLS = ("id", "ticket_id", "site_id", "type", "from_status", "to_status", "counter_id",
              "service_id", "actor", "at", "data")
JOB_COLS = ("id", "site_id", "device_id", "counter_id", "ticket_id", "uri", "status", "attempts",
            "next_attempt_at", "created_at", "finished_at", "ref")
RATING_COLS = ("id", "ticket_id", "site_id", "service_id", "counter_id", "score", "source",
               "created_at")
DOSSIER_COLS = ("id", "code", "site_id", "procedure_id", "ticket_id", "counter_id", "status",
                "applicant_name", "applicant_id_number", "documents", "sets", "delivery",
                "received_at", "due_at", "paused_days_total", "tracking_token", "finished_at")
DOSSIER_EVENT_COLS = ("id", "dossier_id", "at", "status_from", "status_to", "actor")


@dataclass
class SiteSetup:
    id: int
    code: str
    timezone: str
    agency: str
    kiosk_id: int
    kiosk_uri: str
    services: dict[str, tuple[int, str]]  # field -> (service id, prefix)
    counters: list[tuple[int, str, str]]  # (counter id, actor, printer uri)
    procedures: dict[str, tuple[int, int]] = field(default_factory=dict)  # field -> (id, days)


@dataclass
class Rows:
    """A day's rows of each table, as lines of COPY's text format."""

    tickets: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    ratings: list[str] = field(default_factory=list)
    dossiers: list[str] = field(default_factory=list)
    dossier_events: list[str] = field(default_factory=list)
    service_days: list[str] = field(default_factory=list)
    dossier_days: list[str] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in vars(self).values())


class Ids:
    """The next id of each table, read once (ids are given here, the sequences set after)."""

    def __init__(self, start: dict[str, int]) -> None:
        self.next = dict(start)

    @staticmethod
    def read(conn: Any) -> dict[str, int]:
        return {
            t: int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar_one()) + 1
            for t in ("tickets", "ticket_events", "ratings", "dossiers", "dossier_events")
        }

    def take(self, table: str) -> int:
        n = self.next[table]
        self.next[table] = n + 1
        return n


def build_province(db: Database, sites: int, counters: int, now: dt.datetime) -> list[SiteSetup]:
    """The province and its sites, through the seed functions (idempotent)."""
    out = []
    with db.write() as s:
        seed.ensure_priorities(s)
        province = seed.upsert_site(s, PROVINCE, name_vi="Trung tâm tỉnh (lịch sử)",
                                    name_en="Province centre (history)", kind="province",
                                    agency_code=PROVINCE)
        procedures.seed_catalog(s, province)
        procs: dict[str, tuple[int, int]] = {}
        for proc in s.scalars(select(Procedure).where(Procedure.site_id == province.id)
                              .order_by(Procedure.id)):
            procs.setdefault(proc.service_code, (proc.id, proc.processing_days))
        province_id = province.id
    for i in range(sites):
        code = f"H{i + 1:02d}"
        with db.write() as s:
            site = seed.upsert_site(
                s, code, name_vi=f"Trung tâm xã {i + 1}", name_en=f"Commune centre {i + 1}",
                kind="centre", parent_id=province_id, timezone="Asia/Ho_Chi_Minh",
                agency_code=f"{code}-UBND",
            )
            svcs = [
                seed.upsert_service(
                    s, site, f, prefix=PREFIXES[k], name_vi=f"Lĩnh vực {f}", name_en=f"Field {f}",
                    sla_target_minutes=20, default_service_minutes=simulate.SERVICE_TIMES[f][0],
                    active=True, sort_order=k,
                )
                for k, f in enumerate(simulate.MIX)
            ]
            # One printer per kiosk and counter, each its own loopback address (never sent to).
            kiosk_uri = f"tcp://127.0.{i + 1}.1:9100"
            seed.add_device(s, site, "kiosk", "kiosk-1", kiosk_uri, now)
            kiosk_id = s.scalar(select(Device.id).where(Device.site_id == site.id,
                                                        Device.name == "kiosk-1"))
            rows = []
            for n in range(counters):
                c = seed.upsert_counter(s, site, n + 1, [(svcs[n % len(svcs)], 1.0),
                                                         (svcs[(n + 1) % len(svcs)], 0.5)], "open")
                c.printer_uri = f"tcp://127.0.{i + 1}.{n + 10}:9100"
                token_id = s.scalar(select(ApiToken.id).where(ApiToken.counter_id == c.id)
                                    .limit(1))
                if token_id is None:
                    seed.create_token(s, "clerk", site, now, counter=c)
                    token_id = s.scalar(select(ApiToken.id).where(ApiToken.counter_id == c.id))
                rows.append((c.id, f"token:{token_id}", c.printer_uri))
            services = {sv.code: (sv.id, sv.prefix) for sv in
                        s.scalars(select(Service).where(Service.site_id == site.id))}
            out.append(SiteSetup(site.id, code, site.timezone, agency_of(site), int(kiosk_id or 0),
                                 kiosk_uri, services, rows, procs))
    return out


def past_working_days(today: dt.date, days: int) -> list[dt.date]:
    """The ``days`` calendar days before ``today``, Monday to Friday only, oldest first."""
    return [d for d in (today - dt.timedelta(days=k) for k in range(days, 0, -1))
            if d.weekday() < 5]


# A value as COPY's text format writes it: NULL is \N. No value written here holds a tab, a
# newline or a backslash (all are made by this module), except the dossier's documents (JSON
# with \u escapes), escaped once below.
NULL = "\\N"
DOCUMENTS = json.dumps(["Tờ khai"]).replace("\\", "\\\\")


def site_day(rng: random.Random, site: SiteSetup, day: dt.date, per_day: int, ids: Ids,
             priority_ids: list[int], rows: Rows) -> None:
    """One site's day by the simulator's model, appended to ``rows`` as the engine's rows (lines
    of COPY's text format; times are naive UTC, as the engine stores them)."""
    arrivals = simulate.generate_arrivals(rng, per_day, simulate.MIX, site.timezone, day=day)
    first = (arrivals[0].at if arrivals else
             simulate.opening_segments(day, site.timezone, True)[0][0])
    free: list[tuple[dt.datetime, int]] = [(first.replace(tzinfo=None), k)
                                           for k in range(len(site.counters))]
    heapq.heapify(free)
    numbers: dict[str, int] = {}
    dossier_no = 0
    walk = dt.timedelta(minutes=simulate.WALK_MIN)
    one_min, two_min, two_s = (dt.timedelta(minutes=1), dt.timedelta(minutes=2),
                               dt.timedelta(seconds=2))
    sid, kiosk = site.id, site.kiosk_id
    kiosk_actor = f"device:{kiosk}"
    tickets, events, jobs = rows.tickets, rows.events, rows.jobs
    next_id = ids.next
    tid, eid = next_id["tickets"], next_id["ticket_events"]
    for arr in arrivals:
        service_id, prefix = site.services[arr.service]
        numbers[arr.service] = number = numbers.get(arr.service, 0) + 1
        free_at, k = heapq.heappop(free)
        counter_id, clerk, counter_uri = site.counters[k]
        at = arr.at.replace(tzinfo=None)  # arrivals are in UTC
        called = max(free_at, at)
        absent = rng.random() < simulate.NO_SHOW_SHARE
        mean, cv = simulate.SERVICE_TIMES[arr.service]
        common = f"{tid}\t{sid}\t"
        events.append(f"{eid}\t{common}ticket.issued\t{NULL}\twaiting\t{NULL}\t{service_id}\t"
                      f"{kiosk_actor}\t{at}\t{NULL}")
        tail = f"\t{service_id}\t{clerk}\t"
        events.append(f"{eid + 1}\t{common}ticket.called\twaiting\tcalled\t{counter_id}{tail}"
                      f"{called}\t{NULL}")
        if absent:
            started = NULL
            finished = called + two_min
            events.append(f"{eid + 2}\t{common}ticket.recalled\tcalled\tcalled\t{counter_id}"
                          f"{tail}{called + one_min}\t{NULL}")
            events.append(f"{eid + 3}\t{common}ticket.no_show\tcalled\tno_show\t{counter_id}"
                          f"{tail}{finished}\t{NULL}")
            status = "no_show"
        else:
            start = called + walk
            started = str(start)
            finished = start + dt.timedelta(minutes=simulate.lognormal_minutes(rng, mean, cv))
            events.append(f"{eid + 2}\t{common}ticket.serving\tcalled\tserving\t{counter_id}"
                          f"{tail}{started}\t{NULL}")
            events.append(f"{eid + 3}\t{common}ticket.done\tserving\tdone\t{counter_id}"
                          f"{tail}{finished}\t{NULL}")
            status = "done"
        eid += 4
        heapq.heappush(free, (finished, k))
        prio = rng.choice(priority_ids) if arr.priority and priority_ids else NULL
        tickets.append(
            f"{common}{service_id}\t{day}\t{number}\t{format_label(prefix, number)}\t{prio}\t"
            f"kiosk\t{status}\t{queue_position_key(arr.at)}\tvi\t{at}\t{called}\t{started}\t"
            f"{finished}\t{counter_id}\t{kiosk}\t{1 if absent else 0}\t"
            f"{secrets.token_urlsafe(24)}")
        jobs.append(f"{uuid.uuid4().hex}\t{sid}\t{kiosk}\t{NULL}\t{tid}\t{site.kiosk_uri}\tdone\t1\t"
                    f"{at}\t{at}\t{at + two_s}\tticket:{tid}")
        tid += 1
        if absent:
            continue
        if rng.random() < RATED_SHARE:
            rows.ratings.append(f"{ids.take('ratings')}\t{tid - 1}\t{sid}\t{service_id}\t"
                                f"{counter_id}\t{rng.choice(SCORES)}\t"
                                f"{rng.choice(('tablet', 'track'))}\t{finished + one_min}")
        proc = site.procedures.get(arr.service)
        if proc is not None and rng.random() < DOSSIER_SHARE:
            dossier_no += 1
            did = ids.take("dossiers")
            code = format_code(site.agency, day, dossier_no)
            received = finished - one_min
            due = received + dt.timedelta(days=math.ceil(proc[1] * 7 / 5))
            rows.dossiers.append(
                f"{did}\t{code}\t{sid}\t{proc[0]}\t{tid - 1}\t{counter_id}\treturned\t"
                f"{rng.choice(NAMES)}\t0{rng.randrange(10**10, 10**11)}\t{DOCUMENTS}\t1\t"
                f"counter\t{received}\t{due}\t0\t{secrets.token_urlsafe(24)}\t{due}")
            rows.dossier_events.append(f"{ids.take('dossier_events')}\t{did}\t{received}\t"
                                       f"{NULL}\treceived\t{clerk}")
            jobs.append(f"{uuid.uuid4().hex}\t{sid}\t{NULL}\t{counter_id}\t{tid - 1}\t"
                        f"{counter_uri}\tdone\t1\t{received}\t{received}\t"
                        f"{received + two_s}\t{f'dossier:{code}'[:64]}")
    next_id["tickets"], next_id["ticket_events"] = tid, eid
    for f, n in numbers.items():
        rows.service_days.append(f"{site.services[f][0]}\t{day}\t{n}\t{NULL}\t0")
    if dossier_no:
        rows.dossier_days.append(f"{site.agency}\t{day}\t{dossier_no}")


# Each of ``Rows``' lists: its table and columns, in the foreign keys' order (a row's parent is
# written before it).
COPIES = (
    ("tickets", "tickets", TICKET_COLS), ("events", "ticket_events", EVENT_COLS),
    ("ratings", "ratings", RATING_COLS), ("dossiers", "dossiers", DOSSIER_COLS),
    ("dossier_events", "dossier_events", DOSSIER_EVENT_COLS), ("jobs", "print_jobs", JOB_COLS),
    ("service_days", "service_days",
     ("service_id", "business_day", "last_number", "last_class", "run_length")),
    ("dossier_days", "dossier_days", ("agency_code", "day", "last_number")),
)


def produce(out: Any, seed_value: int, setups: list[SiteSetup], work_days: list[dt.date],
            per_day: int, start: dict[str, int], priority_ids: list[int]) -> None:
    """The days in order, each put on ``out`` as its rows' count and COPY text per list of
    ``Rows``, then None. Run in a second process, so that the next day is simulated while the
    database writes this one: one random stream and one id counter, as in a single process."""
    rng = random.Random(seed_value)
    ids = Ids(start)
    for day in work_days:
        rows = Rows()
        for site in setups:
            site_day(rng, site, day, per_day, ids, priority_ids, rows)
        out.put({k: (len(v), "\n".join(v) + "\n" if v else "") for k, v in vars(rows).items()})
    out.put(None)


def _days(proc: Any, days: Any) -> Any:
    """What ``produce`` puts, until its None; an error if the process ends without it."""
    while True:
        try:
            item = days.get(timeout=1)
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the generating process ended ({proc.exitcode})") from None
            continue
        if item is None:
            return
        yield item


LOADED = tuple(table for _, table, _ in COPIES)

# What an empty table's load goes without, read from the catalog: every index that is not a
# primary key's (unique constraints included) and every foreign key. Primary keys stay (other
# tables' foreign keys lean on them; their ids are written in ascending order).
_DEFERRED = """
SELECT 'index', c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relname = ANY(%(t)s) AND c.relnamespace = 'public'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
UNION ALL
SELECT CASE k.contype WHEN 'u' THEN 'unique' ELSE 'fkey' END, c.relname, k.conname,
       pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
 WHERE c.relname = ANY(%(t)s) AND c.relnamespace = 'public'::regnamespace
   AND k.contype IN ('u', 'f')
"""


class Loader:
    """The COPY connection. On empty tables (a fresh database) the whole load is one
    transaction: their secondary indexes, unique and foreign-key constraints are dropped first
    and made again at the end from their own definitions in the catalog (built once, in bulk,
    the foreign keys checked against every row written; nothing to undo if the load fails).
    Otherwise each day is committed with the indexes kept up to date, as the engine would."""

    def __init__(self, db: Database) -> None:
        self.raw = db.engine.raw_connection()
        self.conn = self.raw.driver_connection
        self.cur = self.conn.cursor()  # type: ignore[union-attr]
        self.restore: list[str] = []
        self.bulk = self._empty()
        if self.bulk:
            self._defer()

    def _empty(self) -> bool:
        for t in LOADED:
            self.cur.execute(f"SELECT EXISTS (SELECT 1 FROM {t})")
            if self.cur.fetchone()[0]:
                self.raw.rollback()
                return False
        return True

    def _defer(self) -> None:
        self.cur.execute(_DEFERRED, {"t": list(LOADED)})
        made: dict[str, list[tuple[str, str]]] = {"fkey": [], "unique": [], "index": []}
        for kind, table, name, definition in self.cur.fetchall():
            if kind == "index":
                made[kind].append((f"DROP INDEX {name}", definition))
            else:
                made[kind].append((f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                                   f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))
        # Foreign keys dropped first (one may lean on a unique constraint) and made last.
        for kind in ("fkey", "unique", "index"):
            for drop, _ in made[kind]:
                self.cur.execute(drop)
        self.restore = [again for kind in ("unique", "index", "fkey") for _, again in made[kind]]

    def day(self, data: dict[str, str]) -> None:
        """One day's rows of every site (COPY, in the foreign keys' order)."""
        for key, table, cols in COPIES:
            if data[key]:
                with self.cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                    cp.write(data[key])
        if not self.bulk:
            self.raw.commit()

    def finish(self) -> None:
        """Make again what was dropped, and commit."""
        if self.restore:
            self.cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for statement in self.restore:
            self.cur.execute(statement)
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()  # rolled back if not finished


def _set_sequences(db: Database) -> None:
    with db.engine.begin() as conn:
        for t in ("tickets", "ticket_events", "ratings", "dossiers", "dossier_events"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {t}), false)"))


# The output's names for the tables the generator fills (those a summary line reports).
TABLES = {"tickets": "tickets", "events": "ticket_events", "jobs": "print_jobs",
          "ratings": "ratings", "dossiers": "dossiers"}


def counts(url: str) -> dict[str, int]:
    """The rows of a database made before (named as ``generate`` reports them)."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return {k: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                    for k, t in TABLES.items()}
    finally:
        db.dispose()


def generate(url: str, *, sites: int, days: int, per_day: int = 290, counters: int = 6,
             seed_value: int = 1, now: dt.datetime | None = None, progress: bool = True,
             analyze: bool = True) -> dict[str, Any]:
    """Build the province (migrating first) and fill ``days`` calendar days before today with
    history. Returns the sites' codes and the row counts written."""
    now = now or dt.datetime.now(dt.UTC)
    migrate.upgrade(url)
    db = Database(url)
    t0 = time.perf_counter()
    totals: dict[str, int] = {}
    try:
        setups = build_province(db, sites, counters, now)
        today = business_day(now, setups[0].timezone if setups else "Asia/Ho_Chi_Minh")
        work_days = past_working_days(today, days)
        with db.engine.connect() as conn:
            start = Ids.read(conn)
            priority_ids = [int(x) for x in conn.execute(
                text("SELECT id FROM priority_categories ORDER BY id")).scalars()]
        # Forked: the child starts at once with what it needs, imports nothing again and never
        # runs the caller's main module (spawn would); it touches no connection of this process.
        ctx = multiprocessing.get_context("fork")
        days_out = ctx.Queue(maxsize=2)  # a day is ~12 MB of text for 55 sites
        proc = ctx.Process(target=produce, daemon=True, args=(
            days_out, seed_value, setups, work_days, per_day, start, priority_ids))
        loader = Loader(db)
        try:
            proc.start()
            days_in = _days(proc, days_out)
            for n, (day, data) in enumerate(zip(work_days, days_in, strict=True), 1):
                loader.day({k: v[1] for k, v in data.items()})
                for k, v in data.items():
                    totals[k] = totals.get(k, 0) + v[0]
                if progress:
                    el = time.perf_counter() - t0
                    done = sum(totals.values())
                    print(f"\rday {n}/{len(work_days)} {day}: {totals.get('tickets', 0):,} "
                          f"tickets, {done:,} rows, {done / max(el, 1e-9):,.0f} rows/s, "
                          f"{el:.0f} s", end="", file=sys.stderr, flush=True)
            if progress and loader.restore:
                print(f"\nindexes and constraints: {len(loader.restore)} to make again",
                      end="", file=sys.stderr, flush=True)
            loader.finish()
        finally:
            loader.close()
            if proc.is_alive():
                proc.terminate()
            if proc.pid is not None:
                proc.join()
        if progress and work_days:
            print(f" ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        _set_sequences(db)
        if analyze:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        db.dispose()
    return {"sites": [s.code for s in setups], "days": len(work_days), "rows": totals,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True, help="PostgreSQL (postgresql+psycopg://...)")
    ap.add_argument("--sites", type=int, default=55)
    span = ap.add_mutually_exclusive_group()
    span.add_argument("--months", type=int, default=1, help="months before today (30 days each)")
    span.add_argument("--days", type=int, help="calendar days before today (small runs)")
    ap.add_argument("--per-day", type=int, default=290,
                    help="tickets per site and working day (290: 4.1 M a year for 55 sites)")
    ap.add_argument("--counters", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if not a.database_url.startswith("postgresql"):
        ap.error("the generator writes with PostgreSQL's COPY: give a postgresql URL")
    days = a.days if a.days is not None else a.months * 30
    out = generate(a.database_url, sites=a.sites, days=days, per_day=a.per_day,
                   counters=a.counters, seed_value=a.seed)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
