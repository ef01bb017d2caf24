"""Benchmark: stations on a thin link (the issue's figures), before and after, on the same link.

Runs ``motcua run`` (SQLite, the demo) from a source tree and puts tests/linkemu.py's relay
between it and Debian's Chromium: ``--delay-ms`` each way (150: a 300 ms round trip) and
``--rate`` bit/s shared by every connection (256 000). Then:

1. **board ready**: three wall displays (each its own browser profile, announcements on) opened
   one after the other through the link: from the address typed to the first snapshot on the
   board, and the bytes the link carried; then one display reloaded (its caches warm);
2. **calls**: ``--calls`` calls (cycling over the demo's counters, a clerk finishing the
   previous citizen first), one every ``--spacing`` seconds: call-next sent -> the number on
   each board (``MotcuaDisplay.shownAt``, the page's clock is this machine's), and the bytes
   the link carried per call and display (until the link is idle again, at most 90 s);
3. **silent cut** of ``--cut`` seconds (bytes held, nothing closed) with the kiosk and a counter
   station open too: how long each station takes to show it is offline; five calls are made
   during the cut; after it, whether each display shows and announces all five;
4. **tracking page** of a ticket opened on a phone-size page through the link: time and bytes.

``--before`` runs the same on the tree of commit 2d004c6 (``git archive`` into a temporary
folder, nothing else touched), the code before this work; ``--tree PATH`` on any checkout.
Figures are noisy on a shared machine: compare the two runs' ratios, not single numbers.

    .venv/bin/python tests/bench/bench_thin_link.py [--before] [--calls 20] [--cut 180] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import ARGS, CHROMIUM  # noqa: E402
from tests.linkemu import Link  # noqa: E402
from tests.support import ServerProcess, parse_demo  # noqa: E402

BEFORE_COMMIT = "2d004c6"
SERVICES = ["land", "civil", "business", "construction", "other"]
PASSWORD = "motcua-demo"
TV = {"width": 1920, "height": 1080}

# Is the station showing that it is offline? (display and kiosk: the #conn mark shown;
# counter station: #conn marked "off").
OFFLINE_JS = {
    "display": "(() => { const c = document.getElementById('conn'); return !!c && !c.hidden; })()",
    "kiosk": "(() => { const c = document.getElementById('conn'); return !!c && !c.hidden; })()",
    "counter": "(() => { const c = document.getElementById('conn'); "
               "return !!c && c.classList.contains('off'); })()",
}


class Caller:
    """Calls the next citizen at the demo's counters in turn; a counter's previous citizen is
    started (when the call did not already start the service) and finished first."""

    def __init__(self, base: str, kiosk: str, clerks: dict[int, str]) -> None:
        self.base = base
        self.kiosk = kiosk
        self.clerks = clerks
        self.http = requests.Session()
        self.current: dict[int, dict[str, Any]] = {}
        self.turn = 0

    def post(self, path: str, token: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return self.http.post(f"{self.base}{path}", headers=headers, json=body, timeout=15)

    def issue(self, n: int) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            r = self.post("/api/v1/sites/HACTHANH/tickets", self.kiosk,
                          {"service": SERVICES[i % len(SERVICES)]})
            assert r.status_code == 201, r.text
            out.append(r.json())  # the ticket itself
        return out

    def call(self) -> tuple[dict[str, Any], int, float]:
        """The ticket called, its counter id, and when call-next was sent (epoch seconds)."""
        ids = sorted(self.clerks)
        for _ in range(len(ids) * 2):
            cid = ids[self.turn % len(ids)]
            self.turn += 1
            prev = self.current.pop(cid, None)
            if prev is not None:
                actions = ["finish"] if prev.get("status") == "serving" else ["start", "finish"]
                for action in actions:
                    r = self.post(f"/api/v1/tickets/{prev['id']}/{action}", self.clerks[cid])
                    assert r.status_code == 200, r.text
            sent = time.time()
            r = self.post(f"/api/v1/counters/{cid}/call-next", self.clerks[cid])
            if r.status_code == 204:
                continue
            assert r.status_code == 200, r.text
            ticket: dict[str, Any] = r.json()["ticket"]
            self.current[cid] = ticket
            return ticket, cid, sent
        raise RuntimeError("no counter has a waiting ticket")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 3),
            "p95": round(pct(values, 95), 3), "max": round(max(values), 3)}


def poll(pages: dict[str, Any], expr: Callable[[str], str], timeout: float,
         start: float) -> dict[str, float | None]:
    """Seconds from ``start`` (monotonic) until ``expr(name)`` is true in each page."""
    found: dict[str, float | None] = {name: None for name in pages}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(v is None for v in found.values()):
        for name, page in pages.items():
            if found[name] is None:
                try:
                    if page.evaluate(expr(name)):
                        found[name] = round(time.monotonic() - start, 3)
                except Exception:  # a page reloading; asked again next turn
                    pass
        time.sleep(0.1)
    return found


def wait_idle(link: Link, quiet: float = 2.0, limit: float = 90.0, noise: int = 2000) -> bool:
    """Until the link carried less than ``noise`` bytes downward (Socket.IO pings) in ``quiet``
    s; False when ``limit`` ran out."""
    deadline = time.monotonic() + limit
    marks = [(time.monotonic(), link.counters()["down"])]
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = time.monotonic()
        marks.append((now, link.counters()["down"]))
        old = [m for m in marks if m[0] <= now - quiet]
        if old and marks[-1][1] - old[-1][1] < noise:
            return True
    return False


def before_tree(dest: Path) -> Path:
    tree = dest / "before"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_COMMIT],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    res: dict[str, Any] = {"tree": str(tree)}
    with tempfile.TemporaryDirectory(prefix="motcua-bench-thin-") as tmp:
        work = Path(tmp)
        env = {"MOTCUA_DATABASE_URL": f"sqlite:///{work / 'motcua.sqlite3'}",
               "MOTCUA_AUDIO_DIR": str(work / "audio"), "MOTCUA_PRINT_WORKER": "0",
               "MOTCUA_RATE_LIMITS": "0", "MOTCUA_NODE_MODULES": str(ROOT / "node_modules"),
               "PYTHONPATH": str(tree)}
        out = subprocess.run([sys.executable, "-m", "server.cli", "demo"], cwd=tree,
                             env={**os.environ, **env}, capture_output=True, text=True,
                             check=True).stdout
        creds = parse_demo(out)
        clerks = {cid: token for token, cid in creds["clerks"].values()}
        server = ServerProcess(work, env, port=args.port or None)
        server.cwd = tree
        server.log = work / "server.log"
        server.start(timeout=120)
        caller = Caller(server.url, creds["kiosk"], clerks)
        tickets = caller.issue(args.calls * 2 + 40)
        link = Link(server.port, delay_ms=args.delay_ms, rate_bps=args.rate).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                res.update(measure(browser, link, server, caller, creds, tickets, args))
                browser.close()
        finally:
            link.stop()
            server.stop()
    res["load_1min"] = round(os.getloadavg()[0], 2)
    return res


def measure(browser: Any, link: Link, server: ServerProcess, caller: Caller,
            creds: dict[str, Any], tickets: list[dict[str, Any]],
            args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {}
    board = f"{link.url}/display?token={creds['display']}"
    ready_js = ("window.MotcuaDisplay && MotcuaDisplay.state.snapshots > 0 && "
                "document.getElementById('site-name').textContent.indexOf('Hạc') >= 0")

    # 1. board ready, three displays, then one reloaded.
    displays: dict[str, Any] = {}
    ready: list[float] = []
    loaded: list[int] = []
    for i in range(args.displays):
        wait_idle(link, limit=60)  # each board loads on a link the others left idle
        page = browser.new_context(viewport=TV, locale="vi-VN").new_page()
        with link.measure() as m:
            t0 = time.monotonic()
            page.goto(board, wait_until="commit")
            took = poll({"d": page}, lambda _: ready_js, 60, t0)["d"]
        ready.append(took if took is not None else 60.0)
        loaded.append(m["down"])
        displays[f"display{i + 1}"] = page
    first = displays["display1"]
    wait_idle(link, limit=60)
    t0 = time.monotonic()
    first.reload(wait_until="commit")
    warm = poll({"d": first}, lambda _: ready_js, 60, t0)["d"]
    res["board_ready_s"] = [round(x, 3) for x in ready]
    res["board_ready_kB"] = [round(b / 1000, 1) for b in loaded]
    res["board_ready_warm_s"] = warm

    # The kiosk and a counter station, through the same link.
    kiosk = browser.new_context(viewport={"width": 1080, "height": 1920},
                                locale="vi-VN").new_page()
    kiosk.goto(f"{link.url}/kiosk?token={creds['kiosk']}", timeout=60000)
    counter = browser.new_context(viewport={"width": 1366, "height": 768},
                                  locale="vi-VN").new_page()
    counter.goto(f"{link.url}/login?next=/counter/", timeout=60000)
    counter.fill("input[name=username]", "canbo8")
    counter.fill("input[name=password]", PASSWORD)
    counter.click("button[type=submit]")
    counter.wait_for_url("**/counter/**", timeout=60000)
    counter.click('form[action^="/counter/8/bind"] button', timeout=60000)
    counter.wait_for_url("**/counter/8*", timeout=60000)
    time.sleep(8)  # the displays' first fetches (sound kept all day) are done
    wait_idle(link, limit=60)

    # 2. calls: the first one (it may fetch what the page keeps), then the others.
    delays: list[float] = []
    first_bytes = rest_bytes = 0.0
    mark = 0
    n = len(displays)
    for i in range(args.calls):
        if i == 1:
            mark = link.counters()["down"]
        before = link.counters()["down"]
        ticket, _, sent = caller.call()
        number = ticket["number"]
        on_board = f"MotcuaDisplay.shownAt['{number}'] !== undefined"
        shown = poll(displays, lambda _, js=on_board: js, 60, time.monotonic())
        for name, page in displays.items():
            if shown[name] is not None:
                delays.append(page.evaluate(f"MotcuaDisplay.shownAt['{number}']") / 1000 - sent)
        if i == 0:
            wait_idle(link)
            first_bytes = (link.counters()["down"] - before) / n
        elif i == args.calls - 1:
            if not wait_idle(link):
                res["link_still_busy_90s_after_last_call"] = True
            rest_bytes = (link.counters()["down"] - mark) / max(1, args.calls - 1) / n
        else:
            time.sleep(max(0.0, args.spacing - (time.time() - sent)))
    res["call_to_board_s"] = summary(delays)
    res["first_call_kB_per_display"] = round(first_bytes / 1000, 1)
    res["per_call_kB_per_display"] = round(rest_bytes / 1000, 1)

    # 3. silent cut.
    stations = {**displays, "kiosk": kiosk, "counter": counter}
    kinds = {name: ("display" if name.startswith("display") else name) for name in stations}
    for page in displays.values():
        page.evaluate("MotcuaDisplay.announced.length = 0; MotcuaDisplay.missedLists && "
                      "(MotcuaDisplay.missedLists.length = 0)")
    link.cut("silent")
    cut_at = time.monotonic()
    offline = poll(stations, lambda name: OFFLINE_JS[kinds[name]], 30, cut_at)
    res["offline_shown_s"] = offline
    numbers: list[str] = []
    gap = max(1.0, (args.cut - (time.monotonic() - cut_at) - 2) / 5)
    for _ in range(5):
        ticket, _, _ = caller.call()
        numbers.append(ticket["number"])
        time.sleep(gap)
    time.sleep(max(0.0, args.cut - (time.monotonic() - cut_at)))
    link.restore()
    back_at = time.monotonic()
    listed = json.dumps(numbers)
    all_there = (
        f"{listed}.every(n => document.getElementById('recent').textContent.indexOf(n) >= 0 || "
        "(document.getElementById('missed-list') || {textContent: ''})"
        ".textContent.indexOf(n) >= 0)")
    shown_all = poll(displays, lambda _: all_there, 60, back_at)
    time.sleep(3)
    said: dict[str, Any] = {}
    for name, page in displays.items():
        spoken = page.evaluate("MotcuaDisplay.announced.filter(a => a.number).map(a => a.number)")
        lists = page.evaluate("(MotcuaDisplay.missedLists || []).map(l => l.numbers)")
        in_list = {n for lst in lists for n in lst}
        said[name] = {"announced": [n for n in numbers if n in spoken],
                      "listed_with_one_announcement": [n for n in numbers if n in in_list],
                      "never_said": [n for n in numbers if n not in spoken and n not in in_list]}
    res["cut_s"] = args.cut
    res["cut_calls"] = numbers
    res["after_cut_all_shown_s"] = shown_all
    res["after_cut_said"] = said

    # 4. tracking page on a phone, cold, on an idle link.
    wait_idle(link, limit=120)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN",
                                is_mobile=True).new_page()
    track = tickets[-1]["track_url"].split("/t/")[1]
    with link.measure() as m:
        t0 = time.monotonic()
        phone.goto(f"{link.url}/t/{track}", wait_until="load", timeout=60000)
        res["track_load_s"] = round(time.monotonic() - t0, 3)
    res["track_load_kB"] = round(m["down"] / 1000, 1)
    # The place in line is in the HTML and readable with its stylesheet alone (the scripts
    # that make the page live come after the first paint): the browser's first contentful
    # paint, from the start of the navigation.
    fcp = phone.evaluate("""() => {
        const p = performance.getEntriesByName('first-contentful-paint')[0];
        return p ? p.startTime / 1000 : null; }""")
    res["track_readable_s"] = round(fcp, 3) if fcp is not None else None
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", action="store_true", help=f"the tree of commit {BEFORE_COMMIT}")
    ap.add_argument("--tree", type=Path, help="run the server from this checkout")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--displays", type=int, default=3)
    ap.add_argument("--spacing", type=float, default=4.0, help="seconds between calls")
    ap.add_argument("--cut", type=float, default=180.0, help="seconds of silent cut")
    ap.add_argument("--delay-ms", type=float, default=150.0, help="one way")
    ap.add_argument("--rate", type=int, default=256_000, help="bit/s, shared")
    ap.add_argument("--port", type=int, default=0, help="the server's port (0: any)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="motcua-bench-tree-") as tmp:
        tree = args.tree or (before_tree(Path(tmp)) if args.before else ROOT)
        label = "before (" + BEFORE_COMMIT + ")" if args.before else str(tree)
        res = run(tree.resolve(), args)
    print(f"thin link {2 * args.delay_ms:g} ms RTT, {args.rate / 1000:g} kbit/s shared, "
          f"{args.displays} displays, tree {label}, 1-min load {res['load_1min']}")
    print(f"  board ready (cold, each display)      {res['board_ready_s']} s, "
          f"{res['board_ready_kB']} kB; warm reload {res['board_ready_warm_s']} s")
    c = res["call_to_board_s"]
    print(f"  call -> number on board, {c.get('n', 0)} samples  p50 {c.get('p50')} s  "
          f"p95 {c.get('p95')} s  max {c.get('max')} s")
    print(f"  first call, kB per display            {res['first_call_kB_per_display']}")
    print(f"  per call after the first, kB/display  {res['per_call_kB_per_display']}")
    print(f"  silent cut {res['cut_s']:g} s: offline shown after {res['offline_shown_s']} s")
    print(f"  after the cut, all 5 calls shown after {res['after_cut_all_shown_s']} s")
    for name, s in res["after_cut_said"].items():
        print(f"    {name}: announced {len(s['announced'])}, listed+one announcement "
              f"{len(s['listed_with_one_announcement'])}, never said {s['never_said']}")
    print(f"  tracking page readable (first paint)  {res.get('track_readable_s')} s")
    print(f"  tracking page (phone, cold)           {res['track_load_s']} s, "
          f"{res['track_load_kB']} kB")
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
