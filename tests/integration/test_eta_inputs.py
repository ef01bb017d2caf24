"""What the wait estimate reads from the database: idle counters, shares by urgency, the
observed call rate (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math

from tests.conftest import Api, Clock

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)


def _eta(api: Api, code: str) -> int | None:
    r = api.call("GET", "/api/v1/sites/HT/services", "supervisor")
    return next(s["eta_minutes"] for s in r.get_json() if s["code"] == code)


def test_estimate_follows_idle_counters_and_the_long_line(api: Api, clock: Clock) -> None:
    # Counters: 1 land; 2 civil; 3 business 1.0 + land 0.5. Typical service 6 min.
    clock.set(T0)
    assert _eta(api, "land") == 0  # two idle counters serve land
    for _ in range(6):
        api.issue("land")
    # Counter 3 splits its time by weight x (line length / SLA target): land 0.5 x 6/20
    # against business 1.0 x 0.5/20 (an empty line counts as half a ticket).
    land_share = (0.5 * 6 / 20) / (0.5 * 6 / 20 + 1.0 * 0.5 / 20)
    rate = (1 + land_share) / 6.0
    assert _eta(api, "land") == math.ceil((6 - 2 + 0.5) / rate)  # both land counters idle
    api.call_next(1)
    api.call_next(3)
    # Both land counters busy now, 4 waiting: land's pull on counter 3 is 0.5 x 4/20.
    share = (0.5 * 4 / 20) / (0.5 * 4 / 20 + 1.0 * 0.5 / 20)
    assert _eta(api, "land") == math.ceil((4 + 0.5) / ((1 + share) / 6.0))
    # Ten minutes on, 2 calls in 10 minutes (0.2 a minute) is slower than the counters'
    # share promises, so the share stays; the estimate never counts on less than that.
    clock.set(T0 + dt.timedelta(minutes=10))
    assert (1 + share) / 6.0 > 0.2
    assert _eta(api, "land") == math.ceil((4 + 0.5) / ((1 + share) / 6.0))
    assert _eta(api, "civil") == 0
