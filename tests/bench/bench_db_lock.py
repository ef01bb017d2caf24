"""`/healthz` latency on a node while a table is locked in another connection (PostgreSQL).

    .venv/bin/python tests/bench/bench_db_lock.py [--lock-s 10] [--waiters 4]

For each way a node starts (`motcua run`, and gunicorn with `deploy/gunicorn.conf.py` as the
systemd unit and the container run it): a fresh database `motcua_bench_<random>` on
127.0.0.1:5432 (user postgres, trust) with `motcua demo`, the node on a free port, then the
`counters` table locked (ACCESS EXCLUSIVE) for `--lock-s` seconds while `--waiters` clients keep
calling call-next (each waits on the lock until the lock timeout gives 503) and one client
calls `/healthz` back to back. Prints the `/healthz` figures (count, p50, p99, max in ms) and
what the waiting calls got (status counts). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.core import migrate
from tests.support import ServerProcess, demo

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def measure(deploy: bool, lock_s: float, waiters: int) -> None:
    name = f"motcua_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    node = None
    try:
        migrate.upgrade(url)
        creds = demo(url)
        tmp = Path(tempfile.mkdtemp(prefix="motcua-bench-lock-"))
        node = ServerProcess(tmp, {"MOTCUA_DATABASE_URL": url}, deploy=deploy).start()
        clerk_token, counter_id = creds["clerks"][3]
        held, release = threading.Event(), threading.Event()

        def locker() -> None:
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text("LOCK TABLE counters IN ACCESS EXCLUSIVE MODE"))
                held.set()
                release.wait(lock_s)
            engine.dispose()

        statuses: Counter[int] = Counter()

        def waiter() -> None:
            with requests.Session() as http:
                while not release.is_set():
                    r = http.post(f"{node.url}/api/v1/counters/{counter_id}/call-next",
                                  headers={"Authorization": f"Bearer {clerk_token}"},
                                  timeout=60)
                    statuses[r.status_code] += 1

        lock = threading.Thread(target=locker)
        lock.start()
        held.wait(10)
        threads = [threading.Thread(target=waiter) for _ in range(waiters)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # the waiters are now inside the node, waiting on the lock
        times = []
        end = time.monotonic() + lock_s - 1
        with requests.Session() as http:
            while time.monotonic() < end:
                t0 = time.perf_counter()
                http.get(f"{node.url}/healthz", timeout=10).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
        release.set()
        lock.join()
        for t in threads:
            t.join()
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        how = "deploy/gunicorn.conf.py" if deploy else "motcua run"
        print(f"{how:<24} /healthz with counters locked: n={len(times)} "
              f"p50={statistics.median(times):.1f} ms p99={p99:.1f} ms max={times[-1]:.1f} ms; "
              f"waiting call-next answers: {dict(statuses)}")
    finally:
        if node is not None:
            node.stop()
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock-s", type=float, default=10)
    parser.add_argument("--waiters", type=int, default=4)
    args = parser.parse_args()
    for deploy in (False, True):
        measure(deploy, args.lock_s, args.waiters)


if __name__ == "__main__":
    main()
