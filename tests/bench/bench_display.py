"""Benchmark: call-next response to the number visible on the wall display in Chromium.

Runs the real server (``motcua run``) on SQLite with the demo, opens the board of the demo
display in Debian's Chromium (Playwright, 1920x1080, the flags of tests/e2e/conftest.py), then
calls tickets one after another through the REST API, cycling over the 8 counters (a counter's
previous ticket is started and finished first, as a clerk would), and times each call:

- ``response -> DOM``: from the moment the call-next response is in Python's hands to the
  moment the page has put the number on the board (``MotcuaDisplay.shownAt``, ``Date.now()``
  in the page vs ``time.time()`` here: the same machine clock). It can be negative: the event
  may reach the browser before the HTTP response reaches the client;
- ``response -> frame``: to the animation frame that paints it (``requestAnimationFrame``);
- ``request -> frame``: from sending call-next, the latency a clerk sees end to end;
- ``response -> seen (CDP)``: until Playwright's ``wait_for_function`` on the board's DOM
  returns in Python (includes the DevTools round trip).

The page keeps its sound on (speech requested from the server for every call, as in a lobby).

    .venv/bin/python tests/bench/bench_display.py [--calls 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
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
from tests.e2e.conftest import ARGS, CHROMIUM
from tests.support import ServerProcess

SERVICES = ["land", "civil", "business", "construction", "other"]
WARMUP = 5


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(pct(values, 95), 1),
        "max": round(max(values), 1),
    }


def run(calls: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="motcua-bench-display-") as tmp:
        env = {"MOTCUA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'motcua.sqlite3'}",
               "MOTCUA_AUDIO_DIR": str(Path(tmp) / "audio"), "MOTCUA_PRINT_WORKER": "0"}
        out = CliRunner().invoke(cli, ["demo"], env=env, catch_exceptions=False).output
        display = re.search(r"display-lobby\s+display\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        clerks = {int(m.group(2)): m.group(1) for m in
                  re.finditer(r"counter \d+\s+clerk\s+(\S+)\s+\(counter id (\d+)\)", out)}
        server = ServerProcess(Path(tmp), env).start()
        http = requests.Session()
        base = server.url

        def post(path: str, token: str, body: Any = None) -> requests.Response:
            headers = {"Authorization": f"Bearer {token}"}
            if body is not None:
                headers["Idempotency-Key"] = uuid.uuid4().hex
            return http.post(f"{base}{path}", headers=headers, json=body, timeout=10)

        total = calls + WARMUP
        for i in range(total * 2):  # enough waiting tickets for every counter's profile
            r = post("/api/v1/sites/HACTHANH/tickets", kiosk, {"service": SERVICES[i % 5]})
            assert r.status_code == 201, r.text

        dom: list[float] = []
        frame: list[float] = []
        e2e: list[float] = []
        cdp: list[float] = []
        current: dict[int, int] = {}  # counter id -> ticket at it
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
                page.goto(f"{base}/display?token={display}&voices=vi,en&volume=0")
                page.wait_for_function("window.MotcuaDisplay && MotcuaDisplay.state.snapshots > 0")
                done = 0
                counter_ids = sorted(clerks)
                k = 0
                while done < total:
                    cid = counter_ids[k % len(counter_ids)]
                    k += 1
                    if cid in current:  # the clerk finishes the previous citizen first
                        tid = current.pop(cid)
                        for action in ("start", "finish"):
                            r = post(f"/api/v1/tickets/{tid}/{action}", clerks[cid])
                            assert r.status_code == 200, r.text
                    t0 = time.time()
                    r = post(f"/api/v1/counters/{cid}/call-next", clerks[cid])
                    t1 = time.time()
                    if r.status_code == 204:
                        continue
                    assert r.status_code == 200, r.text
                    ticket = r.json()["ticket"]
                    current[cid] = ticket["id"]
                    number = ticket["number"]
                    page.wait_for_function(
                        "n => MotcuaDisplay.frameAt[n] !== undefined && "
                        "document.getElementById('hero-number').textContent === n",
                        arg=number, timeout=10000,
                    )
                    t2 = time.time()
                    shown, painted = page.evaluate(
                        "n => [MotcuaDisplay.shownAt[n], MotcuaDisplay.frameAt[n]]", number)
                    done += 1
                    if done > WARMUP:
                        dom.append(shown - t1 * 1000)
                        frame.append(painted - t1 * 1000)
                        e2e.append(painted - t0 * 1000)
                        cdp.append((t2 - t1) * 1000)
                audio = page.evaluate("MotcuaDisplay.played.length")
                browser.close()
        finally:
            server.stop()
    return {
        "calls": len(dom),
        "response_to_dom_ms": summary(dom),
        "response_to_frame_ms": summary(frame),
        "request_to_frame_ms": summary(e2e),
        "response_to_seen_cdp_ms": summary(cdp),
        "audio_parts_played": audio,
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=60, help="measured calls (>= 50 for the note)")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()
    res = run(max(1, args.calls))
    print(f"wall display, {res['calls']} calls (after {WARMUP} warm-up), Chromium headless, "
          f"SQLite, 1-min load {res['load_1min']}")
    for key, label in (("response_to_dom_ms", "call-next response -> number in the board DOM"),
                       ("response_to_frame_ms", "call-next response -> frame painting it"),
                       ("request_to_frame_ms", "call-next request sent -> frame painting it"),
                       ("response_to_seen_cdp_ms", "call-next response -> seen via Playwright")):
        s = res[key]
        print(f"  {label:<48} p50 {s['p50']:7.1f} ms   p95 {s['p95']:7.1f} ms   "
              f"max {s['max']:7.1f} ms")
    if args.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
