"""Benchmark: kiosk issue to the last byte at the network printer.

Runs the real server (``motcua run``) on SQLite with the demo, points kiosk-1 at a fake ESC/POS
printer on 127.0.0.1, issues tickets one after another through the REST API (as the kiosk
does) and times each from the request to the ticket's cut command arriving at the printer.

    .venv/bin/python tests/bench/bench_kiosk_print.py [--tickets 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.cli import main as cli
from tests.bench.common import BENCH_SERVER_ENV
from tests.fakeprinter import FAKE_PRINTER_ENV, FakePrinter, strip_status_queries
from tests.support import ServerProcess


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(tickets: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="motcua-bench-print-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'motcua.sqlite3'}"
        env = {"MOTCUA_DATABASE_URL": db_url, **FAKE_PRINTER_ENV, **BENCH_SERVER_ENV}
        out = CliRunner().invoke(cli, ["demo"], env=env, catch_exceptions=False).output
        kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        printer = FakePrinter().start()
        CliRunner().invoke(cli, ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
                                 "--uri", printer.uri], env=env, catch_exceptions=False)
        server = ServerProcess(Path(tmp), env).start()
        session = requests.Session()
        latencies: list[float] = []
        api: list[float] = []
        try:
            for i in range(tickets + 5):
                before = len(printer.jobs)
                t0 = time.perf_counter()
                r = session.post(f"{server.url}/api/v1/sites/HACTHANH/tickets", timeout=10,
                                 headers={"Authorization": f"Bearer {kiosk}",
                                          "Idempotency-Key": uuid.uuid4().hex},
                                 json={"service": ["land", "civil", "business"][i % 3]})
                t_api = time.perf_counter()
                assert r.status_code == 201 and r.json()["print"]["status"] == "queued", r.text
                number = r.json()["number"].encode()
                deadline = t0 + 10
                while time.perf_counter() < deadline:
                    jobs = printer.jobs
                    if len(jobs) > before and \
                            b"\x1dV" in jobs[-1] and number in strip_status_queries(jobs[-1]):
                        break
                    time.sleep(0.0005)
                else:
                    raise AssertionError(f"ticket {i} not printed within 10 s")
                t1 = time.perf_counter()
                if i >= 5:  # warm-up
                    latencies.append((t1 - t0) * 1000)
                    api.append((t_api - t0) * 1000)
        finally:
            server.stop()
            printer.down()
    return {
        "tickets": tickets,
        "issue_to_last_byte_p50_ms": round(statistics.median(latencies), 1),
        "issue_to_last_byte_p99_ms": round(pct(latencies, 99), 1),
        "issue_to_last_byte_max_ms": round(max(latencies), 1),
        "issue_response_p50_ms": round(statistics.median(api), 1),
        "issue_response_p99_ms": round(pct(api, 99), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--tickets", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    result = run(opts.tickets)
    for k, v in result.items():
        print(f"{k:<28} {v}")
    if opts.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
