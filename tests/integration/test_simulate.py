"""``motcua simulate``: the real engine on a throwaway database, deterministic with a seed."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main
from server.features import simulate
from tests.conftest import World


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "runtime_s"}


def test_same_seed_same_day_and_every_ticket_accounted_for() -> None:
    a = simulate.run(per_day=40, counters=4, policy="routing", seed_=7)
    b = simulate.run(per_day=40, counters=4, policy="routing", seed_=7)
    assert _strip(a.as_dict()) == _strip(b.as_dict())
    c = simulate.run(per_day=40, counters=4, policy="routing", seed_=8)
    assert _strip(c.as_dict()) != _strip(a.as_dict())
    d = a.as_dict()
    assert d["tickets"] == 40 and d["served"] + d["no_shows"] == 40
    assert 0 <= d["service_level"] <= 1 and d["awt_min"] >= 0 and d["p90_min"] >= 0
    assert sum(row["tickets"] for row in d["by_service"].values()) == 40
    assert d["eta"]["n"] == 40 and d["eta"]["mae_min"] is not None
    assert all(r.called_at is not None and r.wait_min >= 0 for r in a.records)


def test_policies_shape_the_counters() -> None:
    fixed = simulate.run(per_day=30, counters=5, policy="fixed", seed_=1)
    assert fixed.policy == "fixed" and fixed.as_dict()["served"] + fixed.summary["no_shows"] == 30
    adv = simulate.run(per_day=120, counters=3, policy="advice", seed_=2)
    # Three counters for a busy day: the advice moves at least one towards the longest line.
    assert adv.advice_moves and all(m["to"] for m in adv.advice_moves)
    last: dict[int, tuple[dt.datetime, str]] = {}
    for m in adv.advice_moves:
        # A move puts the target first and keeps the counter's former services behind it
        # (the cross-training routing relies on), never one service only.
        lines = m["services"]
        assert lines[0] == {"code": m["to"], "weight": 1.0}
        assert {ln["code"] for ln in lines[1:]} == set(m["from"])
        assert all(0 < ln["weight"] <= 0.5 for ln in lines[1:])
        # no flip-flop: a counter is not sent back to the service it just left
        at = dt.datetime.strptime(m["at"], "%H:%M")
        prev = last.get(m["counter_id"])
        if prev is not None and at - prev[0] <= simulate.ADVICE_EVERY:
            assert m["to"] != prev[1], adv.advice_moves
        top = m["from"][0] if m["from"] else m["to"]
        last[m["counter_id"]] = (at, top)


def test_fixed_split_follows_the_work() -> None:
    split = simulate.fixed_split(12, {"land": 56 * 12, "civil": 80 * 6, "business": 34 * 10,
                                      "construction": 18 * 15, "other": 34 * 5})
    assert len(split) == 12 and set(split) == {"land", "civil", "business", "construction",
                                                "other"}
    assert split.count("land") == 4 and split.count("other") == 1
    assert simulate.fixed_split(2, {"a": 5.0, "b": 1.0, "c": 1.0}) in (["a", "b"], ["a", "c"])


def test_generated_day_has_a_morning_peak_and_a_lunch_break() -> None:
    arrivals = simulate.generate_arrivals(random.Random(1), 2000, simulate.MIX, "Asia/Ho_Chi_Minh")
    hours = [a.at.astimezone(simulate.zone("Asia/Ho_Chi_Minh")) for a in arrivals]
    assert all(dt.time(8) <= h.time() < dt.time(17) for h in hours)
    assert not [h for h in hours if dt.time(11, 30) <= h.time() < dt.time(13, 30)]
    per_hour = {h: sum(1 for x in hours if x.hour == h) for h in range(8, 17)}
    assert per_hour[9] == max(per_hour.values())
    assert sum(per_hour[h] for h in (8, 9, 10)) > sum(per_hour[h] for h in (14, 15, 16))
    share = sum(1 for a in arrivals if a.priority) / len(arrivals)
    assert 0.07 < share < 0.13


def test_arrivals_file(tmp_path: Path) -> None:
    f = tmp_path / "day.csv"
    f.write_text("time,service,priority\n08:00,land,\n08:01,land,elderly\n08:02:30,civil,0\n"
                 "08:03,land,1\n", encoding="utf-8")
    r = simulate.run(per_day=None, arrivals_file=f, counters=2, policy="routing", seed_=1)
    assert r.tickets == 4 and r.by_service["land"]["tickets"] == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("time,service\n08:00,nope\n", encoding="utf-8")
    with pytest.raises(ValueError, match="nope"):
        simulate.run(per_day=None, arrivals_file=bad, counters=2)


def test_cli_json_and_text(tmp_path: Path) -> None:
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'none.sqlite3'}"}
    r = CliRunner().invoke(main, ["simulate", "--per-day", "25", "--counters", "3", "--seed",
                                  "4", "--policy", "fixed", "--json"], env=env)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {"awt_min", "p90_min", "service_level", "by_service", "eta"} <= set(data)
    assert data["policy"] == "fixed" and data["tickets"] == 25
    r = CliRunner().invoke(main, ["simulate", "--per-day", "25", "--counters", "3",
                                  "--eta-report"], env=env)
    assert r.exit_code == 0, r.output
    assert "awt" in r.output and "ETA at issue" in r.output and "naive" in r.output
    r = CliRunner().invoke(main, ["simulate", "--site", "NOWHERE"], env=env)
    assert r.exit_code != 0 and "NOWHERE" in r.output


def test_another_site_is_copied_from_the_configured_database(world: World) -> None:
    r = simulate.run("HT", per_day=30, counters=None, policy="routing", seed_=3,
                     source_url=world.db.url)
    assert r.counters == 3 and set(r.by_service) <= {"land", "civil", "business"}
    assert r.tickets == 30


def test_a_booked_day_beside_the_same_day_without_bookings() -> None:
    """``--booked-share``: the same citizens book, check in through the real functions and
    are placed at their slot's start; the figures come from the one KPI definition."""
    r = simulate.run(per_day=60, counters=4, policy="routing", seed_=5, booked_share=0.4)
    a = r.appointments
    assert a is not None and a["booked_share"] == 0.4
    assert a["bookings"] > 0 and 0 < a["appointments"] <= a["checked_in"] <= a["bookings"]
    assert a["checked_in"] + a["no_shows"] + a["cancelled"] <= a["bookings"]
    appts = [x for x in r.records if x.slot_start is not None]
    walk = [x for x in r.records if x.slot_start is None]
    # the report (rules/kpis.py) and the simulator's own records agree
    assert a["appointments"] == len(appts) == r.summary["appointments"]
    assert a["punctual"] == r.summary["appointments_punctual"]
    assert a["late_walk_ins"] == sum(1 for x in r.records if x.late)
    # the same 60 citizens on both days, one ticket each
    assert sorted(x.citizen for x in r.records) == list(range(60))
    assert a["walk_ins"] + len(appts) + a["late_walk_ins"] == 60
    assert a["without_all_p90_min"] is not None and a["walkin_p90_min"] is not None
    # placement: a walk-in of the same line and class who came before a booked citizen's slot
    # and was still waiting when the booked citizen was called, was called first
    for b in appts:
        assert b.slot_start is not None and b.called_at is not None
        for w in walk:
            if (w.service == b.service and w.priority == b.priority
                    and w.issued_at < b.slot_start and w.issued_at < b.called_at):
                assert w.called_at is not None and w.called_at <= b.called_at, (w, b)


def test_cli_booked_share(tmp_path: Path) -> None:
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'none.sqlite3'}"}
    r = CliRunner().invoke(main, ["simulate", "--per-day", "30", "--counters", "3",
                                  "--booked-share", "0.3", "--online-share", "0.4"], env=env)
    assert r.exit_code == 0, r.output
    assert "booked citizens called within 10 min of their slot" in r.output
    assert "the same citizens without bookings" in r.output
    r = CliRunner().invoke(main, ["simulate", "--per-day", "30", "--booked-share", "1"], env=env)
    assert r.exit_code != 0
