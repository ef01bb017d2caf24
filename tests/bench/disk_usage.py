#!/usr/bin/env python
"""Disk use per part while a centre issues and serves tickets, and whether the caps hold.

In process (Flask test client, no HTTP), on a fresh SQLite file or a throwaway PostgreSQL
database: the tests' centre HT (services land, civil, business; counters 1-3), its kiosk
printing to a ``file://`` printer in the spool folder with the real print worker, every request
and event logged as JSON lines to a file (what journald or Docker would receive). ``--tickets``
tickets (default 10,000) are issued over ``--days`` business days, each called at its counter
and finished; the first ``--phrases`` calls are also synthesised as spoken calls (eSpeak NG,
both languages) into an audio cache capped at ``--audio-cap`` files. Then the retention pass
runs ``--retention-days`` + 1 days after the last day (server/features/retention.py).

It prints one table: bytes per part before, after the tickets, and after retention (database
per table, slip bytes in print_jobs, the log file, the audio cache, the spool), then the
figures per 1,000 tickets, and checks the caps (exit 1 if one does not hold):

- audio cache: at most the cap + 50 files (the cache prunes every 50 new phrases);
- print jobs: after retention, none older than the retention period is left;
- ID-card scans: none of a past business day is left.

    .venv/bin/python tests/bench/disk_usage.py [--backend sqlite|postgres] [--tickets 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, select, text

from server.app import create_app
from server.config import Settings
from server.core import migrate
from server.core.db import Database
from server.features import retention
from server.models import Device, PrintJob, TicketApplicant
from server.node.logs import JsonFormatter
from server.node.metrics import database_bytes, folder_size
from server.web.speech import Speech
from tests.bench.common import HOST, BenchError, bench_main, log, pg_database
from tests.conftest import Api, Clock, build_world

START = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)  # 8:00 in Hanoi, a Tuesday
SERVICES = (("land", 1), ("civil", 2), ("business", 3))  # service -> the counter that calls it
SCAN = {"id_number": "001234567890", "name": "Lê Văn Cường"}


def table_bytes(db: Database) -> dict[str, int]:
    """Bytes per table (with its indexes): PostgreSQL's relation sizes, SQLite's dbstat."""
    with db.read() as s:
        if s.get_bind().dialect.name == "postgresql":
            rows = s.execute(text(
                "SELECT relname, pg_total_relation_size(relid) FROM pg_statio_user_tables"
            )).all()
            return {name: int(n) for name, n in rows}
        try:
            rows = s.execute(text(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
            )).all()
        except Exception:  # SQLite built without the dbstat table
            return {}
        return {name: int(n) for name, n in rows}


def checkpoint(url: str) -> None:
    """SQLite: fold the WAL into the file (and empty it), so the file size is the data's."""
    if url.startswith("sqlite:///"):
        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()


def measure(db: Database, url: str, log_file: Path, audio: Path, spool: Path) -> dict[str, int]:
    checkpoint(url)
    out = {f"table {k}": v for k, v in table_bytes(db).items()}
    with db.read() as s:
        out["database (total)"] = database_bytes(s, url)
        out["print_jobs slip bytes"] = int(s.scalar(
            select(func.coalesce(func.sum(func.length(PrintJob.data)), 0))) or 0)
        out["print_jobs rows"] = int(s.scalar(select(func.count()).select_from(PrintJob)) or 0)
        out["ticket_applicants rows"] = int(
            s.scalar(select(func.count()).select_from(TicketApplicant)) or 0)
    out["log file"] = log_file.stat().st_size if log_file.exists() else 0
    files, size = folder_size(audio, "*/*.wav")
    out["audio cache files"], out["audio cache bytes"] = files, size + folder_size(audio)[1] - size
    out["spool bytes"] = folder_size(spool)[1]
    return out


def wait_printed(db: Database, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.read() as s:
            left = s.scalar(select(func.count()).select_from(PrintJob)
                            .where(PrintJob.status.in_(("queued", "printing"))))
        if not left:
            return
        time.sleep(0.2)
    raise BenchError(f"print jobs still waiting after {timeout_s:g} s")


def run(args: argparse.Namespace, url: str, tmp: Path) -> int:
    audio, spool, log_file = tmp / "audio", tmp / "printed", tmp / "motcua.log"
    spool.mkdir()
    migrate.upgrade(url)
    db = Database(url)
    clock = Clock()
    clock.set(START)
    world = build_world(db, clock())
    with db.write() as s:
        kiosk = s.scalar(select(Device).where(Device.name == "kiosk-1"))
        kiosk.printer_uri = f"file://{spool / 'kiosk-1.bin'}"
    settings = Settings(
        database_url=url, public_base_url="http://motcua.test", print_worker=True,
        rate_limits=False, printer_spool_dir=str(spool), audio_dir=str(audio),
        audio_cache_max=args.audio_cap, retention_days=args.retention_days,
    )
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    app = create_app(settings, db=db, clock=clock)
    root.handlers = [handler]  # every line the node writes goes to the file
    root.setLevel(logging.INFO)
    speech = Speech.from_settings(settings)
    if args.phrases and not speech.available:
        raise BenchError("no speech engine (apt-get install espeak-ng)")
    api = Api(app.test_client(), world)
    before = measure(db, url, log_file, audio, spool)
    per_day = max(1, args.tickets // args.days)
    issued = phrases = 0
    t0 = time.monotonic()
    try:
        for day in range(args.days):
            clock.set(START + dt.timedelta(days=day))
            for i in range(per_day if day < args.days - 1 else args.tickets - issued):
                clock.advance(seconds=2)
                service, counter = SERVICES[i % len(SERVICES)]
                scan = {"applicant": SCAN} if i % 10 == 0 else {}
                r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                             json={"service": service, **scan},
                             headers={"Idempotency-Key": f"d{day}-{i}"})
                if r.status_code != 201:
                    raise BenchError(f"issue: {r.status_code} {r.get_data(as_text=True)[:200]}")
                issued += 1
                ticket = api.call_next(counter)
                if ticket is None:
                    raise BenchError(f"counter {counter} found nobody waiting")
                for action in ("start", "finish"):
                    r = api.act(ticket["id"], action)
                    if r.status_code != 200:  # type: ignore[attr-defined]
                        raise BenchError(f"{action}: {r.status_code}")  # type: ignore[attr-defined]
                if phrases < args.phrases:
                    for lang in ("vi", "en"):
                        speech.phrase_wav(lang, ticket["number"], counter)
                    phrases += 1
            log(f"day {day + 1}/{args.days}: {issued} tickets, {phrases} spoken calls, "
                f"{time.monotonic() - t0:.0f} s")
        wait_printed(db)
        after = measure(db, url, log_file, audio, spool)
        # The print worker stamps jobs with the real clock, the tickets follow the simulated
        # one: retention runs past both.
        last = max(START + dt.timedelta(days=args.days), dt.datetime.now(dt.UTC))
        later = last + dt.timedelta(days=args.retention_days + 1)
        with db.write() as s:
            summary = retention.apply(s, later, args.retention_days)
        log(retention.describe(summary))
        if db.engine.dialect.name == "sqlite":
            # Give the freed pages back to the file system (outside SQLAlchemy's transaction).
            raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            raw.execute("VACUUM")
            raw.close()
        else:
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM FULL print_jobs")
        kept = measure(db, url, log_file, audio, spool)
        with db.read() as s:
            old_jobs = s.scalar(select(func.count()).select_from(PrintJob).where(
                PrintJob.created_at < later - dt.timedelta(days=args.retention_days)))
    finally:
        app.extensions["motcua_printing"].stop()
        app.extensions["motcua_day_closer"].stop()
        root.handlers = []
        handler.close()
        db.dispose()

    parts = sorted(set(before) | set(after) | set(kept),
                   key=lambda k: (not k.startswith("table "), k))
    print(f"\nDisk use, {db.engine.dialect.name}: {issued} tickets over {args.days} days, "
          f"{phrases * 2} spoken calls, audio cap {args.audio_cap}, retention "
          f"{args.retention_days} days")
    print(f"{'part':<34}{'before':>14}{'after':>14}{'retention':>14}{'per 1000':>12}")
    for k in parts:
        b, a, r = before.get(k, 0), after.get(k, 0), kept.get(k, 0)
        per = (a - b) * 1000 / issued if issued else 0
        print(f"{k:<34}{b:>14,}{a:>14,}{r:>14,}{per:>12,.0f}")
    wav = after["audio cache bytes"] / max(after["audio cache files"], 1)
    log_per_k = (after["log file"] - before["log file"]) * 1000 / issued
    print(f"\naudio: {wav / 1024:.0f} kB per cached phrase (WAV + sidecar) -> the default cap "
          f"of 4000 holds {4000 * wav / 1e9:.2f} GB per node")
    print(f"logs: {log_per_k / 1e6:.2f} MB per 1,000 tickets -> compose's 3 x 50 MB per "
          f"node holds about {150e6 / log_per_k * 1000:,.0f} tickets")
    failures = []
    if after["audio cache files"] > args.audio_cap + 50:
        failures.append(f"audio cache {after['audio cache files']} files > cap {args.audio_cap}"
                        " + 50")
    if old_jobs:
        failures.append(f"{old_jobs} print jobs older than {args.retention_days} days left")
    if kept["ticket_applicants rows"]:
        failures.append(f"{kept['ticket_applicants rows']} ID-card scans of past days left")
    for f in failures:
        log(f"cap not held: {f}")
    print("caps hold: " + ("no" if failures else "yes"))
    return 1 if failures else 0


@bench_main
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--phrases", type=int, default=300, help="calls also synthesised as audio")
    p.add_argument("--audio-cap", type=int, default=200)
    p.add_argument("--retention-days", type=int, default=30)
    args = p.parse_args()
    if args.tickets < 1 or args.days < 1:
        raise BenchError("--tickets and --days must be positive")
    with tempfile.TemporaryDirectory(prefix="motcua-disk-") as tmp:
        if args.backend == "sqlite":
            return run(args, f"sqlite:///{Path(tmp) / 'motcua.sqlite3'}", Path(tmp))
        with contextlib.ExitStack() as stack:
            name = stack.enter_context(pg_database("motcua_disk"))
            return run(args, f"postgresql+psycopg://postgres@{HOST}:5432/{name}", Path(tmp))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
