"""Benchmark: kiosk issue to the last byte at the network printer, alone and beside a
printer that never reads.

Runs the real server (``motcua run``) on SQLite with the demo, points kiosk-1 at a fake ESC/POS
printer on 127.0.0.1, issues tickets one after another through the REST API (as the kiosk
does) and times each from the request to the ticket's cut command arriving at the printer.
Then, in the same run and on the same node, kiosk-2 is moved to a black-hole printer (accepts
connections, never reads) and issues a ticket before each of kiosk-1's: kiosk-1's latency
with the black hole beside it is measured the same way, so both figures come from one run.

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
from typing import Any

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


def issue(session: requests.Session, url: str, token: str, service: str) -> dict[str, Any]:
    r = session.post(f"{url}/api/v1/sites/HACTHANH/tickets", timeout=10,
                     headers={"Authorization": f"Bearer {token}",
                              "Idempotency-Key": uuid.uuid4().hex},
                     json={"service": service})
    assert r.status_code == 201 and r.json()["print"]["status"] == "queued", r.text
    body: dict[str, Any] = r.json()
    return body


def measure(session: requests.Session, url: str, kiosk: str, printer: FakePrinter,
            tickets: int, before_each: Any = None) -> tuple[list[float], list[float]]:
    """Issue-to-cut latencies (ms) of ``tickets`` kiosk-1 tickets after 5 warm-up ones, and
    their issue response times; ``before_each()`` runs before every ticket."""
    latencies: list[float] = []
    api: list[float] = []
    for i in range(tickets + 5):
        if before_each is not None:
            before_each(i)
        before = len(printer.jobs)
        t0 = time.perf_counter()
        number = issue(session, url, kiosk, ["land", "civil", "business"][i % 3])["number"]
        t_api = time.perf_counter()
        deadline = t0 + 10
        while time.perf_counter() < deadline:
            jobs = printer.jobs
            if len(jobs) > before and \
                    b"\x1dV" in jobs[-1] and number.encode() in strip_status_queries(jobs[-1]):
                break
            time.sleep(0.0005)
        else:
            raise AssertionError(f"ticket {i} not printed within 10 s")
        t1 = time.perf_counter()
        if i >= 5:  # warm-up
            latencies.append((t1 - t0) * 1000)
            api.append((t_api - t0) * 1000)
    return latencies, api


def figures(prefix: str, latencies: list[float], api: list[float]) -> dict[str, float]:
    return {
        f"{prefix}issue_to_last_byte_p50_ms": round(statistics.median(latencies), 1),
        f"{prefix}issue_to_last_byte_p99_ms": round(pct(latencies, 99), 1),
        f"{prefix}issue_to_last_byte_max_ms": round(max(latencies), 1),
        f"{prefix}issue_response_p50_ms": round(statistics.median(api), 1),
        f"{prefix}issue_response_p99_ms": round(pct(api, 99), 1),
    }


def run(tickets: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="motcua-bench-print-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'motcua.sqlite3'}"
        env = {"MOTCUA_DATABASE_URL": db_url, **FAKE_PRINTER_ENV, **BENCH_SERVER_ENV}
        out = CliRunner().invoke(cli, ["demo"], env=env, catch_exceptions=False).output
        kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        kiosk2 = re.search(r"kiosk-2\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        printer = FakePrinter().start()
        hole = FakePrinter(mode="black-hole").start()
        CliRunner().invoke(cli, ["printer", "set", "--site", "HACTHANH", "--device", "kiosk-1",
                                 "--uri", printer.uri], env=env, catch_exceptions=False)
        server = ServerProcess(Path(tmp), env).start()
        session = requests.Session()
        try:
            alone = measure(session, server.url, kiosk, printer, tickets)
            # The same node, now with kiosk-2 on a printer that never reads, and kiosk-2
            # issuing a ticket before each of kiosk-1's: its lane is always busy.
            CliRunner().invoke(cli, ["printer", "set", "--site", "HACTHANH", "--device",
                                     "kiosk-2", "--uri", hole.uri], env=env,
                               catch_exceptions=False)
            beside = measure(session, server.url, kiosk, printer, tickets,
                             lambda i: issue(session, server.url, kiosk2, "civil"))
            accepted = hole.accepted
        finally:
            server.stop()
            printer.down()
            hole.down()
    return {
        "tickets": tickets,
        **figures("", *alone),
        **figures("with_black_hole_", *beside),
        "black_hole_connections": accepted,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--tickets", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    result = run(opts.tickets)
    for k, v in result.items():
        print(f"{k:<44} {v}")
    if opts.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
