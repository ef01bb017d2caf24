"""KPI reports, the day series and the advice endpoint, with a controlled clock, on SQLite and
PostgreSQL: exact figures on a small hand-made day."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import select, update

from server.api.analytics import AdviceOut, KpisOut, SeriesOut
from server.core.db import Database
from server.features import aggregates, reports, seed
from server.models import DailyStat, Dossier, DossierEvent, Procedure, Rating, Site, StatDay
from server.rules.calendar import business_day
from tests.bench import gen_history
from tests.conftest import Api, Clock, World, scratch_pg
from tests.support import ServerProcess, demo

DAY = "2026-11-25"
T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # 08:00 in Hanoi


def at(clock: Clock, minutes: float) -> None:
    clock.set(T0 + dt.timedelta(minutes=minutes))


def _clerk_with_user(world: World) -> str:
    with world.db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        user = seed.upsert_user(s, "canbo1", "password1", "clerk", [site], T0, "Cán bộ 1")
        return seed.create_token(s, "clerk", site, T0, user=user)


@pytest.fixture
def day(api: Api, clock: Clock, world: World) -> dict[str, int]:
    """08:00 A001 land, B001 civil; 08:05 counter 1 calls A001 (5 min), serves 08:05-08:17;
    08:10 counter 2 calls B001 (10 min): no-show; 08:20 A002, A003; 08:50 counter 1 calls A002
    (30 min, over the 20 min target), serves 08:50-09:00; 09:05 A003 cancelled while waiting.
    The next day one more ticket, outside the range."""
    clerk = _clerk_with_user(world)
    at(clock, 0)
    a1 = api.issue("land")
    b1 = api.issue("civil")
    at(clock, 5)
    cid1 = world.counters[1]
    r = api.call("POST", f"/api/v1/counters/{cid1}/call-next", token=clerk)
    assert r.get_json()["ticket"]["id"] == a1["id"]
    assert api.act(a1["id"], "start").status_code == 200
    at(clock, 10)
    assert api.call_next(2)["id"] == b1["id"]
    assert api.act(b1["id"], "no-show").status_code == 200
    at(clock, 17)
    assert api.act(a1["id"], "finish").status_code == 200
    at(clock, 20)
    a2 = api.issue("land")
    a3 = api.issue("land")
    at(clock, 50)
    assert api.call_next(1)["id"] == a2["id"]
    api.act(a2["id"], "start")
    at(clock, 60)
    api.act(a2["id"], "finish")
    at(clock, 65)
    assert api.act(a3["id"], "cancel", role="supervisor").status_code == 200
    at(clock, 24 * 60)
    api.issue("land")
    return {"a1": a1["id"], "a2": a2["id"], "a3": a3["id"], "b1": b1["id"]}


def test_kpis_exact_figures(api: Api, day: dict[str, int]) -> None:
    r = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&to={DAY}", "supervisor")
    assert r.status_code == 200, r.get_json()
    rep = r.get_json()
    KpisOut.model_validate(rep)
    assert rep["totals"] == {
        "issued": 4, "transferred_in": 0, "served": 2, "no_shows": 1, "cancelled": 1,
        "transferred": 0, "unserved_at_close": 0, "awt_min": 15.0, "p90_wait_min": 30.0,
        "ast_min": 11.0,
        "service_level": 0.6667, "rated": 0, "very_satisfied": 0, "satisfied": 0,
        "not_satisfied": 0, "satisfaction_rate": None, "dossiers_received": 0,
        "dossiers_settled": 0, "dossiers_on_time_rate": None, "dossiers_settled_late": 0,
        "dossiers_overdue": 0, "bookings": 0, "bookings_checked_in": 0, "bookings_no_show": 0,
        "bookings_cancelled": 0, "appointments": 0, "online_share_used": 0.0,
        "appointments_punctual": 0, "punctuality": None,
    }
    svc = {row["service"]: row for row in rep["by_service"]}
    assert (svc["land"]["issued"], svc["land"]["served"], svc["land"]["cancelled"]) == (3, 2, 1)
    assert svc["land"]["awt_min"] == 17.5 and svc["land"]["p90_wait_min"] == 30.0
    assert svc["land"]["service_level"] == 0.5 and svc["land"]["ast_min"] == 11.0
    assert svc["civil"]["no_shows"] == 1 and svc["civil"]["awt_min"] == 10.0
    assert svc["civil"]["service_level"] == 1.0 and svc["civil"]["ast_min"] is None
    assert svc["business"]["issued"] == 0 and svc["business"]["awt_min"] is None
    counters = {row["counter"]: row for row in rep["by_counter"]}
    assert counters[1]["served"] == 2 and counters[1]["awt_min"] == 17.5
    assert counters[2]["no_shows"] == 1 and set(counters) == {1, 2}
    clerks = {row["username"]: row for row in rep["by_clerk"]}
    assert clerks["canbo1"]["served"] == 1 and clerks["canbo1"]["awt_min"] == 5.0
    assert [(h["hour"], h["issued"]) for h in rep["by_hour"]] == [(8, 4)]
    assert [(d["date"], d["issued"]) for d in rep["by_day"]] == [(DAY, 4)]
    # The next day is a day of its own.
    nxt = api.call("GET", "/api/v1/sites/HT/reports/kpis?from=2026-11-26", "supervisor")
    assert nxt.get_json()["totals"]["issued"] == 1
    both = api.call(
        "GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&to=2026-11-26", "supervisor"
    )
    assert both.get_json()["totals"]["issued"] == 5


def test_kpis_csv_and_xlsx(api: Api, day: dict[str, int]) -> None:
    r = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&format=csv", "supervisor")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.data.decode("utf-8-sig")
    lines = text.strip().split("\r\n")
    assert lines[0].startswith("group,key,issued,transferred_in,served")
    assert lines[1] == "site,HT,4,0,2,1,1,0,0,15.0,30.0,11.0,0.6667,0,0,0,0,,0,0,,0,0" \
        ",0,0,0,0,0,0.0,0,"
    assert any(line.startswith("service,land,3,0,2,0,1,0,0,17.5,30.0") for line in lines)
    r = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}&format=xlsx", "admin")
    assert r.status_code == 200 and r.data[:2] == b"PK"
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames[:3] == ["about", "totals", "by_service"]
    rows = list(wb["by_service"].iter_rows(values_only=True))
    assert rows[0][:3] == ("service", "issued", "transferred_in")
    land = next(row for row in rows if row[0] == "land")
    assert land[1] == 3 and land[8] == 17.5  # after transferred, unserved_at_close


def test_series_buckets(api: Api, day: dict[str, int]) -> None:
    r = api.call("GET", f"/api/v1/sites/HT/reports/series?date={DAY}&bucket=15", "supervisor")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    SeriesOut.model_validate(data)
    assert data["buckets"] == ["08:00", "08:15", "08:30", "08:45", "09:00"]
    land = next(s for s in data["services"] if s["service"] == "land")
    assert land["arrivals"] == [1, 2, 0, 0, 0]
    assert land["calls"] == [1, 0, 0, 1, 0]
    assert land["queue_length"] == [0, 2, 2, 1, 0]
    assert land["awt_min"] == [5.0, None, None, 30.0, None]


@pytest.mark.parametrize(
    "query",
    ["", "?from=2026-13-01", "?from=2026-11-25&to=2026-11-24", "?from=2026-11-25&format=pdf",
     "?from=2024-01-01&to=2026-01-01"],
)
def test_kpis_bad_input(api: Api, query: str) -> None:
    r = api.call("GET", f"/api/v1/sites/HT/reports/kpis{query}", "supervisor")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "validation_error"


def test_clerks_and_others_are_refused(api: Api) -> None:
    for path in (
        f"/api/v1/sites/HT/reports/kpis?from={DAY}",
        f"/api/v1/sites/HT/reports/series?date={DAY}",
        "/api/v1/sites/HT/advice",
    ):
        for role in ("clerk", "kiosk", "display", "other_clerk"):
            r = api.call("GET", path, role)
            assert r.status_code == 403, (path, role)
        assert api.call("GET", path).status_code == 401
        assert api.call("GET", path.replace("/HT/", "/NOPE/"), "admin").status_code == 404
        assert api.call("GET", path, "province_supervisor").status_code == 200


def test_advice_suggests_a_move_that_the_profile_endpoint_applies(
    api: Api, clock: Clock, world: World
) -> None:
    # Land tickets wait (6-minute services, 1 1/3 counters for land); civil and business are
    # quiet. A flood that no move can bring back within target gets no move (unit tests).
    for i in (0, 10, 20, 25):
        at(clock, i)
        api.issue("land")
    at(clock, 30)
    r = api.call("GET", "/api/v1/sites/HT/advice?lang=en", "supervisor")
    # half an hour of history is too little to move a counter on (it may only state needs)
    assert r.status_code == 200 and r.get_json()["window_minutes"] == 30  # since the first
    assert not [s for s in r.get_json()["suggestions"] if s["kind"] == "move"]
    for i in (40, 45, 50, 55):
        at(clock, i)
        api.issue("land")
    at(clock, 60)
    r = api.call("GET", "/api/v1/sites/HT/advice?lang=en", "supervisor")
    assert r.status_code == 200, r.get_json()
    adv = AdviceOut.model_validate(r.get_json())
    land = next(s for s in adv.services if s.service == "land")
    assert land.waiting == 8 and land.state in ("short", "overloaded")
    assert land.arrivals_per_hour == 8.0 and adv.window_minutes == 60
    moves = [s for s in adv.suggestions if s.kind == "move"]
    assert moves and moves[0].to_service == "land"
    assert moves[0].text.en.startswith(f"Counter {moves[0].counter} also serves Land first")
    action = moves[0].action
    assert action["kind"] == "profile" and action["method"] == "PUT"
    # the counter keeps its former services behind land
    assert action["services"][0] == {"code": "land", "weight": 1.0}
    assert {ln["code"] for ln in action["services"][1:]} == set(moves[0].from_services)
    r = api.call(action["method"], action["path"], "supervisor",
                 json={"services": action["services"]})
    assert r.status_code == 200, r.get_json()
    number = next(n for n, cid in world.counters.items() if cid == action["counter_id"])
    called = api.call_next(number)
    assert called is not None and called["service"] == "land"


def test_satisfaction_and_dossiers(
    api: Api, clock: Clock, world: World, day: dict[str, int]
) -> None:
    """Ratings of two land tickets; three dossiers: one settled on time, one settled late,
    one still open past its due time when the report is read."""
    local = dt.timezone(dt.timedelta(hours=7))

    def t(h: int, m: int) -> dt.datetime:
        return dt.datetime(2026, 11, 25, h, m, tzinfo=local)

    with world.db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        assert site is not None
        land = world.services["land"]
        s.add_all([
            Rating(ticket_id=day["a1"], site_id=site.id, service_id=land, score="very_satisfied",
                   source="track", created_at=t(8, 20)),
            Rating(ticket_id=day["a2"], site_id=site.id, service_id=land, score="not_satisfied",
                   source="tablet", created_at=t(9, 1)),
        ])
        proc = {
            code: Procedure(site_id=site.parent_id, code=f"P-{code}", name_vi=code, name_en=code,
                            service_code=code, processing_days=1, documents=[])
            for code in ("land", "civil")
        }
        s.add_all(proc.values())
        s.flush()
        plan = [  # code, procedure, received, due, settled (step, at) or None, counter
            ("D1", "land", t(8, 20), t(17, 0), ("result_ready", t(10, 0)), world.counters[1]),
            ("D2", "civil", t(8, 30), t(10, 0), None, world.counters[2]),
            ("D3", "land", t(8, 40), t(8, 50), ("returned", t(9, 0)), world.counters[1]),
        ]
        for code, pcode, received, due, settled, cid in plan:
            d = Dossier(code=code, site_id=site.id, procedure_id=proc[pcode].id, counter_id=cid,
                        status=settled[0] if settled else "received", applicant_name="A",
                        applicant_id_number="012345678901", documents=[], sets=1,
                        delivery="counter", received_at=received, due_at=due,
                        paused_days_total=0, tracking_token=f"tok-{code}")
            s.add(d)
            s.flush()
            s.add(DossierEvent(dossier_id=d.id, at=received, status_from=None,
                               status_to="received", actor="test"))
            if settled:
                s.add(DossierEvent(dossier_id=d.id, at=settled[1], status_from="received",
                                   status_to=settled[0], actor="test"))
    r = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}", "supervisor")
    rep = r.get_json()
    KpisOut.model_validate(rep)
    tot = rep["totals"]
    assert (tot["rated"], tot["very_satisfied"], tot["not_satisfied"]) == (2, 1, 1)
    assert tot["satisfaction_rate"] == 0.5
    assert (tot["dossiers_received"], tot["dossiers_settled"]) == (3, 2)
    assert tot["dossiers_on_time_rate"] == 0.5 and tot["dossiers_settled_late"] == 1
    assert tot["dossiers_overdue"] == 1
    svc = {row["service"]: row for row in rep["by_service"]}
    assert svc["land"]["dossiers_received"] == 2 and svc["land"]["rated"] == 2
    assert svc["civil"]["dossiers_overdue"] == 1 and svc["civil"]["rated"] == 0
    counters = {row["counter"]: row for row in rep["by_counter"]}
    assert counters[1]["dossiers_received"] == 2 and counters[2]["dossiers_overdue"] == 1
    assert [(h["hour"], h["dossiers_received"]) for h in rep["by_hour"]] == [(8, 3)]
    # Read before D2 was due, nothing is overdue yet.
    clock.set(t(9, 30).astimezone(dt.UTC))
    early = api.call("GET", f"/api/v1/sites/HT/reports/kpis?from={DAY}", "supervisor")
    assert early.get_json()["totals"]["dossiers_overdue"] == 0


# --- daily aggregates ------------------------------------------------------------------------


def _report(world: World, start: str, end: str, source: str) -> dict[str, object]:
    with world.db.read() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        assert site is not None
        return reports.kpis(
            s, site, dt.date.fromisoformat(start), dt.date.fromisoformat(end),
            now=T0 + dt.timedelta(days=3), source=source,
        )


def test_closed_day_is_read_from_its_aggregates_with_the_same_figures(
    api: Api, clock: Clock, world: World, day: dict[str, int]
) -> None:
    """The close aggregates the settled day (not today, whose ticket still waits); the report
    of both days then reads the first from its rows and the second from its tickets, and every
    figure equals the report from the tickets alone. Writing the day again changes nothing."""
    now = T0 + dt.timedelta(days=1, hours=1)
    with world.db.write() as s:
        made = aggregates.catch_up(s, now)
    assert made["days"] == 1 and made["left"] == 0
    with world.db.read() as s:
        days = {(d.business_day.isoformat(), d.tickets) for d in s.scalars(select(StatDay))}
        rows = s.scalars(select(DailyStat)).all()
    assert days == {(DAY, 4)}
    by_dim = {(r.dim, r.key): r for r in rows}
    land = by_dim[("service", world.services["land"])]
    assert (land.issued, land.served, land.cancelled, land.waited) == (3, 2, 1, 2)
    assert (land.wait_sum_s, land.within_sla) == (35 * 60, 1)
    assert land.waits == [300, 1800]
    assert sorted(k for d, k in by_dim if d == "hour") == [8]
    live = _report(world, DAY, "2026-11-26", "tickets")
    assert _report(world, DAY, "2026-11-26", "auto") == live
    assert live["totals"]["issued"] == 5 and live["totals"]["p90_wait_min"] == 30.0
    # Stored rows are really read: changed rows change the report of that day only.
    with world.db.write() as s:
        s.execute(update(DailyStat).where(DailyStat.dim == "service")
                  .values(issued=DailyStat.issued + 100))
    assert _report(world, DAY, DAY, "auto")["totals"]["issued"] == 4 + 2 * 100  # land, civil
    # Idempotent: the back-fill (or the close) rewrites the day's rows from its tickets.
    steps = list(aggregates.backfill(world.db.write, now, ["HT"], rewrite=True))
    assert [(st["day"], st["tickets"], st["done"], st["total"]) for st in steps] == [(DAY, 4, 1, 1)]
    assert _report(world, DAY, "2026-11-26", "auto") == live
    with world.db.read() as s:
        assert len(s.scalars(select(DailyStat)).all()) == len(rows)
    with world.db.write() as s:  # nothing pending any more
        assert aggregates.catch_up(s, now)["days"] == 0


def test_a_day_with_a_ticket_still_at_a_counter_waits_for_it(
    api: Api, clock: Clock, world: World
) -> None:
    """A day whose last ticket is still being served is not aggregated (its figures would
    change); once finished, the next pass aggregates it."""
    at(clock, 0)
    t = api.issue("land")
    at(clock, 5)
    assert api.call_next(1)["id"] == t["id"]
    api.act(t["id"], "start")
    now = T0 + dt.timedelta(days=1)
    with world.db.write() as s:
        assert aggregates.catch_up(s, now)["days"] == 0
    clock.set(now)
    assert api.act(t["id"], "finish").status_code == 200
    with world.db.write() as s:
        assert aggregates.catch_up(s, now)["by_site"] == {"HT": 1}
    assert _report(world, DAY, DAY, "auto") == _report(world, DAY, DAY, "tickets")


@pytest.mark.postgres
def test_generated_history_same_figures_from_aggregates_and_tickets() -> None:
    """Generated working days (the simulator's model: waits, recalls, no-shows, ratings,
    dossiers) of two sites: after the back-fill, each site's report of the whole period from
    the aggregates equals the one from the tickets, P90s included, and so does one of a
    period cut inside it."""
    with scratch_pg("motcua_aggr") as url:
        now = dt.datetime.now(dt.UTC)
        gen_history.generate(url, sites=2, days=12, per_day=60, progress=False, now=now)
        db = Database(url)
        try:
            steps = list(aggregates.backfill(db.write, now))
            assert steps and steps[-1]["done"] == steps[-1]["total"] == len(steps)
            with db.read() as s:
                for site in s.scalars(select(Site).where(Site.code.in_(["H01", "H02"]))):
                    today = business_day(now, site.timezone)
                    d = dt.timedelta(days=1)
                    for start, end in ((today - 20 * d, today), (today - 9 * d, today - 4 * d)):
                        fast = reports.kpis(s, site, start, end, now=now)
                        slow = reports.kpis(s, site, start, end, now=now, source="tickets")
                        assert fast == slow
                    assert fast["totals"]["issued"] > 0
                    assert fast["totals"]["p90_wait_min"] is not None
        finally:
            db.dispose()


OFF_LOOP_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import sys, time
import gevent
sys.path.insert(0, sys.argv[1])
from server.core.offload import OffLoop, OffloadFailed

WORK = range(int(sys.argv[2]))  # sum() over it: pure computing, the interpreter lock held
off = OffLoop(1)
off.run(sum, range(10))  # the worker process started before the timing
for mode in ("inline", "process"):
    gaps, stop = [], []
    def ticker():
        last = time.perf_counter()
        while not stop:
            gevent.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    g = gevent.spawn(ticker)
    gevent.sleep(0.05)
    t0 = time.perf_counter()
    n = sum(WORK) if mode == "inline" else off.run(sum, WORK)
    took = time.perf_counter() - t0
    stop.append(1)
    g.join()
    print(mode, n > 0, max(gaps), took)
# a job that raises: the exception comes back, the worker is kept
try:
    off.run(int, "not a number")
except ValueError:
    print("raised", off._started)
# a worker that dies: OffloadFailed, and the next job gets a new one
try:
    off.run(__import__("os")._exit, 3)
except OffloadFailed:
    print("died", off._started, off.run(sum, range(4)))
"""


def test_work_off_the_loop_leaves_the_other_greenlets_running(tmp_path: Path) -> None:
    """Under gevent, 0.6 s of pure-Python computing in a greenlet stops every other greenlet for
    its whole length; run through ``OffLoop`` (a worker process), a greenlet ticking every
    10 ms keeps ticking meanwhile. A job's exception reaches the caller; a worker that dies
    fails its job and is replaced."""
    script = tmp_path / "off_loop.py"
    script.write_text(OFF_LOOP_SCRIPT)
    root = str(Path(__file__).resolve().parents[2])
    # about 0.6 s of summing on this machine
    t0 = time.perf_counter()
    sum(range(2_000_000))
    n = int(2_000_000 * 0.6 / max(time.perf_counter() - t0, 1e-3))
    out = subprocess.run([sys.executable, str(script), root, str(n)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split("\n")
    inline, process, raised, died = (line.split() for line in out[:4])
    assert inline[:2] == ["inline", "True"] and process[:2] == ["process", "True"]
    inline_gap, process_gap, process_took = float(inline[2]), float(process[2]), float(process[3])
    assert inline_gap >= 0.4  # the loop was held for the whole computation
    assert process_took >= 0.3, process_took  # the work did run, elsewhere
    assert process_gap < 0.15 and process_gap < inline_gap / 3, (inline_gap, process_gap)
    assert raised == ["raised", "1"]
    assert died == ["died", "0", "6"]


def child_pids(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_a_node_builds_reports_in_its_report_processes(tmp_path: Path) -> None:
    """A real node (gunicorn, gevent): the KPI report as JSON, CSV and XLSX comes from its
    report processes (running under the node, with their own connection), the files say what
    the JSON says, and the report equals the one built here from the same database."""
    url = f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    demo(url)
    db = Database(url)
    now = dt.datetime.now(dt.UTC)
    with db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "HACTHANH"))
        assert site is not None
        token = seed.create_token(s, "supervisor", site, now)
        today = business_day(now, site.timezone)
    node = ServerProcess(tmp_path, {"MOTCUA_DATABASE_URL": url, "MOTCUA_REPORT_WORKERS": "1"})
    node.start()
    try:
        assert node.proc is not None
        before = {p for p in child_pids(node.proc.pid)
                  if b"server.core.offload" in Path(f"/proc/{p}/cmdline").read_bytes()}
        assert not before  # started at the first report
        q = f"from={today - dt.timedelta(days=6)}&to={today - dt.timedelta(days=1)}"
        auth = {"Authorization": f"Bearer {token}"}
        base = f"{node.url}/api/v1/sites/HACTHANH/reports/kpis?{q}"
        got = {fmt: requests.get(f"{base}&format={fmt}", headers=auth, timeout=60)
               for fmt in ("json", "csv", "xlsx")}
        assert all(r.status_code == 200 for r in got.values()), {
            k: r.text[:200] for k, r in got.items()}
        workers = {p for p in child_pids(node.proc.pid)
                   if b"server.core.offload" in Path(f"/proc/{p}/cmdline").read_bytes()}
        assert len(workers) == 1  # one report process (MOTCUA_REPORT_WORKERS=1), reused
    finally:
        node.stop()
    report = got["json"].json()
    assert got["csv"].content.decode("utf-8-sig") == reports.to_csv(report)
    wb = load_workbook(io.BytesIO(got["xlsx"].content), read_only=True)
    assert wb.sheetnames[0] == "about" and "by_service" in wb.sheetnames
    with db.read() as s:  # past days only: the same report whatever the clock
        site = s.scalar(select(Site).where(Site.code == "HACTHANH"))
        assert site is not None
        here = reports.kpis(s, site, today - dt.timedelta(days=6), today - dt.timedelta(days=1),
                            now=now)
    db.dispose()
    assert report == json.loads(json.dumps(here, default=str))
