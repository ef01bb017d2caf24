#!/usr/bin/env python
"""The citizen's tracking page on a thin link: how long until a phone shows its place, and how
many bytes it costs (the target: 2 s and 60 kB on a 300 ms round trip at 256 kbit/s).

One run: ``motcua demo --no-history`` on SQLite in a temporary folder, the server (``motcua
run``), a ticket with two before it; then Chromium (the system's, a fresh profile each load: an
empty cache, as a phone scanning the QR for the first time) opens ``/t/<token>``:

- **baseline**: straight to the server on loopback, in this same run;
- **thin link**: through ``tests/linkemu.py`` (``--delay-ms`` one way, ``--rate`` bit/s);

and for each prints: the time to the first paint (the place in line, the wait and what is
served now are in the HTML), to the load event, until the page is live (the first websocket
frame carrying the ``snapshot``), the bytes carried down and up (the link's counters; the
baseline's from the browser's resource timing), and the size of each file the page loaded.
Figures on a shared machine are noisy: compare the two lines of one run, not runs with each
other.

Usage (from the project root):

    .venv/bin/python tests/bench/bench_track_page.py [--delay-ms 150] [--rate 256000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.linkemu import Link  # noqa: E402
from tests.support import ServerProcess, demo  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]

RESOURCES = """() => performance.getEntriesByType('resource').map((r) => ({
  name: r.name.replace(location.origin, ''), bytes: r.transferSize, body: r.encodedBodySize}))"""


def load(browser: Any, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  locale="vi-VN")
    page = context.new_page()
    try:
        snapshot: list[float] = []

        def on_socket(ws: Any) -> None:
            ws.on("framereceived", lambda frame: snapshot.append(time.monotonic())
                  if "snapshot" in str(frame) and not snapshot else None)

        page.on("websocket", on_socket)
        started = time.monotonic()
        page.goto(url, wait_until="load")
        painted = time.monotonic() - started
        deadline = time.monotonic() + 30
        while not snapshot:  # the server's snapshot reached the page: it is live
            if time.monotonic() > deadline:
                raise RuntimeError("the page never received its snapshot")
            page.wait_for_timeout(20)
        live = snapshot[0] - started
        fcp = page.evaluate("""() => (performance.getEntriesByName('first-contentful-paint')[0]
                                       || {startTime: NaN}).startTime / 1000""")
        nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].transferSize")
        files = page.evaluate(RESOURCES)
        return {"fcp_s": fcp, "load_s": painted, "live_s": live, "html": nav, "files": files}
    finally:
        context.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay-ms", type=float, default=150.0)
    ap.add_argument("--rate", type=int, default=256_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="motcua-trackpage-") as tmp:
        folder = Path(tmp)
        env = {"MOTCUA_DATABASE_URL": f"sqlite:///{folder / 'motcua.sqlite3'}",
               "MOTCUA_PRINT_WORKER": "0", "MOTCUA_RATE_LIMITS": "0"}
        creds = demo(env["MOTCUA_DATABASE_URL"], env)
        server = ServerProcess(folder, env).start(timeout=120)
        try:
            tickets = [requests.post(
                f"{server.url}/api/v1/sites/HACTHANH/tickets", timeout=10,
                headers={"Authorization": f"Bearer {creds['kiosk']}",
                         "Idempotency-Key": uuid.uuid4().hex},
                json={"service": "civil"}).json() for _ in range(3)]
            path = f"/t/{tickets[-1]['token']}"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                             headless=True)
                try:
                    base = [load(browser, server.url + path) for _ in range(args.runs)]
                    with Link(server.port, delay_ms=args.delay_ms, rate_bps=args.rate) as link:
                        thin = []
                        for _ in range(args.runs):
                            with link.measure() as m:
                                figures = load(browser, link.url + path)
                            figures["down"], figures["up"] = m["down"], m["up"]
                            thin.append(figures)
                finally:
                    browser.close()
        finally:
            server.stop()

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    base_bytes = base[0]["html"] + sum(f["bytes"] for f in base[0]["files"])
    print(f"tracking page, median of {args.runs} cold loads each (a fresh browser profile)")
    print(f"  baseline, loopback:    first paint {med(base, 'fcp_s'):.2f} s, load "
          f"{med(base, 'load_s'):.2f} s, live "
          f"{med(base, 'live_s'):.2f} s, {base_bytes / 1000:.1f} kB (resource timing)")
    print(f"  thin link ({2 * args.delay_ms:.0f} ms RTT, {args.rate / 1000:.0f} kbit/s): first "
          f"paint {med(thin, 'fcp_s'):.2f} s, load {med(thin, 'load_s'):.2f} s, live "
          f"{med(thin, 'live_s'):.2f} s, down "
          f"{med(thin, 'down') / 1000:.1f} kB, up {med(thin, 'up') / 1000:.1f} kB")
    print(f"  thin / baseline load time: {med(thin, 'load_s') / med(base, 'load_s'):.1f}x")
    print("  files (body bytes as served):")
    print(f"    {'/t/<token>':<40} {base[0]['html']:>7}")
    for f in base[0]["files"]:
        print(f"    {f['name'][:40]:<40} {f['body']:>7}")


if __name__ == "__main__":
    main()
