"""The supervisor's screens say what is true: a counter left open with nobody at it raises an
alert and does not shorten the wait a ticket promises; the staffing advice words one verdict
per service (the API's), and never "enough counters" while a service misses its target."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.features import advice as advice_words
from server.rules import advice
from tests.conftest import Api, Clock

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # 08:00 in Hạc Thành
SUP = "supervisor"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def dashboard(api: Api) -> dict[str, Any]:
    r = api.call("GET", "/api/v1/sites/HT/dashboard", SUP)
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def land(d: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in d["services"] if s["code"] == "land")


def test_open_counters_without_a_clerk_raise_an_alert_and_leave_the_estimate(
    api: Api, clock: Clock
) -> None:
    clock.set(at(0))
    for number in (1, 2, 3):  # opened by a person at 08:00
        cid = api.world.counters[number]
        assert api.call("POST", f"/api/v1/counters/{cid}/pause", SUP,
                        json={"reason": "x"}).status_code == 200
        assert api.call("POST", f"/api/v1/counters/{cid}/open", SUP).status_code == 200
    clock.set(at(1))
    api.issue("civil")
    first = api.issue("land")
    assert first["eta_minutes"] == 0  # counter 1 was opened a minute ago: someone is there
    d = dashboard(api)
    assert land(d)["open_counters"] == 2
    assert not [a for a in d["alerts"] if a["kind"] == "counter_unattended"]

    # 19 minutes on, nothing called: not yet long enough to say nobody is there.
    clock.set(at(20))
    assert land(dashboard(api))["open_counters"] == 2
    # 25 minutes on, nothing called anywhere while tickets wait: nobody is at these counters.
    clock.set(at(25))
    second = api.issue("land")
    assert second["eta_minutes"] is None  # not "under a minute" from counters nobody staffs
    d = dashboard(api)
    assert land(d)["open_counters"] == 0
    assert land(d)["eta_new_min"] is None
    alert = next(a for a in d["alerts"] if a["kind"] == "counter_unattended")
    assert alert["counters"] == [1, 2, 3]
    assert alert["text"]["vi"].startswith("Quầy 1, 2, 3 đang mở nhưng không có cán bộ")
    assert "bạn" not in alert["text"]["vi"]
    assert [c["attended"] for c in d["counters"]] == [False, False, False]
    # The advice counts no capacity from them either.
    adv = api.call("GET", "/api/v1/sites/HT/advice", SUP).get_json()
    assert next(s for s in adv["services"] if s["service"] == "land")["capacity"] == 0

    # A clerk calls at counter 1 (the Land ticket of 08:01): it counts again; counter 3 has
    # nothing left waiting long (a quiet counter is presumed staffed), counter 2's Civil
    # ticket still waits: the alert names counter 2 only.
    clerk = api.world.tokens["clerk_c1"]
    r = api.call("POST", f"/api/v1/counters/{api.world.counters[1]}/call-next", token=clerk)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["ticket"]["id"] == first["id"]
    d = dashboard(api)
    assert land(d)["open_counters"] == 2
    alert = next(a for a in d["alerts"] if a["kind"] == "counter_unattended")
    assert alert["counters"] == [2]
    ticket = api.call("GET", f"/api/v1/track/{second['token']}").get_json()
    assert ticket["eta_minutes"] is not None


def _load(code: str, rate_per_hour: float, waiting: int, minutes: float) -> advice.ServiceLoad:
    return advice.ServiceLoad(code, {"land": "Đất đai", "business": "Kinh doanh"}[code],
                              {"land": "Land", "business": "Business"}[code], 20.0,
                              rate_per_hour / 60, minutes, waiting, 60.0)


def test_the_summary_never_says_enough_when_a_service_is_short() -> None:
    # Land overloaded, Business short, and no counter can move without making things worse:
    # no suggestion at all, which the panel used to word as "every service has enough".
    loads = [_load("land", 40, 12, 12.0), _load("business", 4, 1, 10.0)]
    counters = [advice.CounterState(1, 1, "open", {"land": 1.0}),
                advice.CounterState(2, 2, "open", {"business": 1.0})]
    a = advice.advise(loads, counters)
    states = {s.code: s.state for s in a.services}
    assert states == {"land": "overloaded", "business": "short"}
    out = advice_words.worded(a)
    assert "đủ quầy" not in out["summary"]["vi"].replace("thiếu quầy", "")
    assert out["summary"]["vi"].startswith("2 lĩnh vực thiếu quầy: Đất đai, Kinh doanh.")
    assert out["summary"]["en"].startswith("2 services short of counters: Land, Business.")
    verdicts = {s["service"]: s["verdict"] for s in out["services"]}
    assert verdicts["land"]["vi"].startswith("Đất đai: quá tải – 0 % số được gọi trong 20 phút")
    assert verdicts["business"]["vi"].startswith("Kinh doanh: thiếu quầy –")
    assert "P90" in verdicts["business"]["vi"] and "." not in verdicts["business"]["vi"]
    # All fine: the summary says so.
    calm = advice.advise([_load("land", 3, 0, 6.0)], counters)
    assert advice_words.worded(calm)["summary"]["vi"].startswith("Các lĩnh vực đủ quầy")
