"""Erlang C against textbook values, and properties of the advice (pure, no I/O)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.features import advice as advice_words
from server.rules import advice
from server.rules.advice import (
    CounterState,
    Queue,
    ServiceLoad,
    advise,
    counters_needed,
    erlang_c,
    moved_profile,
)


def test_erlang_c_closed_forms() -> None:
    # One server: P(wait) = utilisation.  Two servers: a^2 / (2 + a).
    for a in (0.1, 0.5, 0.9):
        assert erlang_c(1, a) == pytest.approx(a)
    for a in (0.5, 1.0, 1.5):
        assert erlang_c(2, a) == pytest.approx(a * a / (2 + a))
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(2, 2.0) == 1.0  # overloaded
    assert erlang_c(3, 0.0) == 0.0


def test_erlang_c_call_centre_table() -> None:
    # The classic table: 10 Erlangs (100 calls per 30 min, 3 min each).
    expected = {11: 0.6821, 12: 0.4494, 13: 0.2853, 14: 0.1741, 15: 0.1020}
    for n, c in expected.items():
        assert erlang_c(n, 10.0) == pytest.approx(c, abs=5e-4)


def test_service_level_mean_and_quantile() -> None:
    # M/M/1, rate 0.5/min, 1 min service: P(wait) = 0.5, Wq = 1 min,
    # P(W > t) = 0.5 exp(-0.5 t); P90 = 2 ln 5.
    q = Queue(rate=0.5, service_min=1.0, capacity=1)
    assert q.mean_wait() == pytest.approx(1.0)
    assert q.service_level(2.0) == pytest.approx(1 - 0.5 * math.exp(-1.0))
    assert q.wait_quantile(0.9) == pytest.approx(2 * math.log(5))
    assert Queue(1.0, 1.0, 1).mean_wait() is None  # rho = 1: unbounded
    assert Queue(0.0, 5.0, 0).service_level(10) == 1.0


def test_counters_needed() -> None:
    # 10 Erlangs, 3 min service, 20 s target, 80 %: the classic answer is 14 agents.
    rate = 100 / 30
    assert counters_needed(rate, 3.0, 20 / 60, 0.80) == 14
    assert counters_needed(0.0, 10.0, 20) == 0
    n = counters_needed(0.2, 12.0, 20)  # 2.4 Erlangs
    assert Queue(0.2, 12.0, n).service_level(20) >= 0.8
    assert Queue(0.2, 12.0, n - 1).service_level(20) < 0.8


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.0, 3.0),
    service=st.floats(0.5, 30.0),
    cap=st.floats(0.0, 15.0),
    extra=st.floats(0.1, 5.0),
    target=st.floats(0.0, 60.0),
)
def test_more_counters_never_worse(
    rate: float, service: float, cap: float, extra: float, target: float
) -> None:
    few, more = Queue(rate, service, cap), Queue(rate, service, cap + extra)
    assert more.service_level(target) >= few.service_level(target) - 1e-9
    assert more.p_wait() <= few.p_wait() + 1e-9
    w_few, w_more = few.mean_wait(), more.mean_wait()
    if w_few is not None:
        assert w_more is not None and w_more <= w_few + 1e-9
    p_few, p_more = few.wait_quantile(), more.wait_quantile()
    if p_few is not None:
        assert p_more is not None and p_more <= p_few + 1e-9


def _load(
    code: str, per_hour: float, minutes: float, waiting: int = 0, sla: float = 20
) -> ServiceLoad:
    return ServiceLoad(code, code.upper(), code.title(), sla, per_hour / 60, minutes, waiting)


def test_advice_moves_a_counter_from_the_quiet_service_to_the_busy_one() -> None:
    loads = [_load("land", 6, 12, waiting=4), _load("business", 3, 10, waiting=0)]
    counters = [
        CounterState(1, 1, "open", {"land": 1}),
        CounterState(2, 2, "open", {"land": 1}),
        CounterState(5, 5, "open", {"business": 1}),
        CounterState(6, 6, "open", {"business": 1}),
    ]
    out = advise(loads, counters)
    land = next(s for s in out.services if s.code == "land")
    assert land.state in ("short", "overloaded") and land.needed > 2
    assert out.suggestions, out.as_dict()
    first = out.suggestions[0]
    assert first.kind == "move" and first.to_service == "land"
    assert first.counter_id in (5, 6) and first.from_services == ["business"]
    # The counter takes land first and keeps business at a lower weight (cross-training).
    assert first.action == {
        "kind": "profile",
        "counter_id": first.counter_id,
        "method": "PUT",
        "path": f"/api/v1/counters/{first.counter_id}/profile",
        "services": [{"code": "land", "weight": 1.0}, {"code": "business", "weight": 0.5}],
    }
    text_en, text_vi = (advice_words.suggestion_text(first, lang) for lang in ("en", "vi"))
    assert text_en.startswith(f"Counter {first.counter_id} also serves Land first")
    assert "Land P90 wait" in text_en and "→ about" in text_en
    assert text_vi.startswith(f"Quầy {first.counter_id} phục vụ thêm LAND")
    # the predicted P90 after is what the shares of the new profile give: 2 + 2/3 counters
    expected = Queue(loads[0].effective_rate, 12, 2 + 2 / 3).wait_quantile()
    assert first.after_p90 == pytest.approx(expected)
    # only one business counter may go: the other is the last one and business has arrivals
    moved = {s.counter_id for s in out.suggestions if s.kind == "move"}
    assert not {5, 6} <= moved


def _apply(states: list[CounterState], out: advice.Advice) -> list[CounterState]:
    after = {c.id: dict(c.profile) for c in states}
    status = {c.id: c.status for c in states}
    for s in out.suggestions:
        action = s.action["then"] if s.kind == "open" else s.action
        after[s.counter_id] = {ln["code"]: ln["weight"] for ln in action["services"]
                               if "site" not in ln}
        status[s.counter_id] = "open"
    return [CounterState(c.id, c.number, status[c.id], after[c.id]) for c in states]


def test_moved_profile_keeps_former_services_at_a_lower_weight() -> None:
    assert moved_profile({"civil": 1.0, "other": 0.5}, "land") == {
        "land": 1.0, "civil": 0.5, "other": 0.5,
    }
    assert moved_profile({"land": 2.0, "other": 2.0}, "other") == {"other": 1.0, "land": 0.5}
    assert moved_profile({}, "land") == {"land": 1.0}
    # moving twice does not shrink the old services towards nothing
    twice = moved_profile(moved_profile({"civil": 1.0}, "land"), "other")
    assert twice == {"other": 1.0, "land": 0.5, "civil": 0.5}


def test_foreign_lines_are_kept_in_the_action() -> None:
    loads = [_load("land", 6, 12, waiting=4), _load("business", 3, 10, waiting=0)]
    counters = [
        CounterState(1, 1, "open", {"land": 1}),
        CounterState(2, 2, "open", {"land": 1}),
        CounterState(5, 5, "open", {"business": 1}, (("P1", "land", 1.0),)),
        CounterState(6, 6, "open", {"business": 1}, (("P1", "land", 1.0),)),
    ]
    first = advise(loads, counters).suggestions[0]
    assert first.action["services"][-1] == {"code": "land", "weight": 0.5, "site": "P1"}


def test_no_flip_flop_when_the_loads_stay_the_same() -> None:
    """Hysteresis: after applying the advice, the same loads give no move back."""
    loads = [_load("land", 6, 12, waiting=4), _load("business", 3, 10, waiting=0),
             _load("civil", 20, 6, waiting=1, sla=15)]
    counters = [
        CounterState(1, 1, "open", {"land": 1}),
        CounterState(2, 2, "open", {"land": 1}),
        CounterState(3, 3, "open", {"civil": 1}),
        CounterState(4, 4, "open", {"civil": 1, "business": 0.5}),
        CounterState(5, 5, "open", {"business": 1}),
        CounterState(6, 6, "open", {"business": 1}),
    ]
    out = advise(loads, counters)
    assert out.suggestions
    again = advise(loads, _apply(counters, out))
    assert again.suggestions == [], again.as_dict()


def test_no_move_into_a_line_that_stays_overloaded() -> None:
    """Erlang C predicts nothing gained in time: the advice keeps the counters where they are
    and, with a closed counter, suggests opening it instead."""
    loads = [_load("land", 24, 12, waiting=9), _load("business", 3, 10, waiting=0)]
    counters = [
        CounterState(1, 1, "open", {"land": 1}),
        CounterState(2, 2, "open", {"land": 1}),
        CounterState(5, 5, "open", {"business": 1}),
        CounterState(6, 6, "open", {"business": 1}),
    ]
    assert [s.kind for s in advise(loads, counters).suggestions] == []


def test_no_advice_when_every_service_meets_its_target() -> None:
    loads = [_load("land", 2, 12), _load("civil", 5, 6)]
    counters = [CounterState(1, 1, "open", {"land": 1}), CounterState(2, 2, "open", {"civil": 1})]
    out = advise(loads, counters)
    assert out.suggestions == []
    assert {s.state for s in out.services} == {"ok"}


def test_closed_counter_is_suggested_for_opening_when_nobody_can_move() -> None:
    loads = [_load("land", 30, 12, waiting=12)]
    counters = [CounterState(1, 1, "open", {"land": 1}), CounterState(9, 9, "closed", {})]
    out = advise(loads, counters)
    assert [s.kind for s in out.suggestions] == ["open"]
    assert out.suggestions[0].action["path"] == "/api/v1/counters/9/open"


codes = st.sampled_from(["land", "civil", "business", "construction", "other"])


@settings(max_examples=150, deadline=None)
@given(
    loads=st.lists(
        st.tuples(codes, st.floats(0, 40), st.floats(1, 20), st.integers(0, 30)),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    ),
    counters=st.lists(
        st.tuples(
            st.dictionaries(codes, st.sampled_from([0.5, 1.0, 2.0]), min_size=1, max_size=3),
            st.sampled_from(["open", "open", "open", "paused", "closed"]),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_advice_never_takes_the_last_counter_of_a_service_with_waiting_tickets(
    loads: list[tuple[str, float, float, int]],
    counters: list[tuple[dict[str, float], str]],
) -> None:
    service_loads = [_load(c, r, m, w) for c, r, m, w in loads]
    states = [CounterState(i + 1, i + 1, st_, prof) for i, (prof, st_) in enumerate(counters)]
    out = advise(service_loads, states)
    # Apply every suggestion as the UI does (the action's profile) and check that no service
    # with waiting tickets lost all of its counters, that a service short before is never left
    # with less capacity, and that every move's target gains share.
    before_caps = advice.capacities(states)
    after_caps = advice.capacities(_apply(states, out))
    for load in service_loads:
        if load.waiting > 0 and before_caps.get(load.code, 0) > 0:
            assert after_caps.get(load.code, 0) > 0, (load, out.as_dict())
        short = not advice._meets(load, before_caps.get(load.code, 0.0), out.level)
        if short and (load.waiting > 0 or load.effective_rate > 0):
            assert after_caps.get(load.code, 0) >= before_caps.get(load.code, 0) - 1e-9, (
                load, out.as_dict())
    for s in out.suggestions:
        if s.kind == "move":
            assert after_caps[s.to_service] > before_caps.get(s.to_service, 0.0)
            assert {ln["code"] for ln in s.action["services"]} >= set(s.from_services)
    # a counter is suggested at most once
    ids = [s.counter_id for s in out.suggestions]
    assert len(ids) == len(set(ids))


def test_no_move_on_less_than_45_minutes_of_history() -> None:
    """The first half hour of a day is too little to move a counter on: the needs are shown,
    the moves wait."""
    counters = [
        CounterState(1, 1, "open", {"land": 1}),
        CounterState(2, 2, "open", {"land": 1}),
        CounterState(5, 5, "open", {"business": 1}),
        CounterState(6, 6, "open", {"business": 1}),
    ]

    def loads(window: float) -> list[ServiceLoad]:
        return [
            ServiceLoad("land", "L", "Land", 20, 6 / 60, 12, 4, window),
            ServiceLoad("business", "B", "Business", 20, 3 / 60, 10, 0, window),
        ]

    early = advise(loads(30), counters)
    assert early.suggestions == []
    assert next(s for s in early.services if s.code == "land").state in ("short", "overloaded")
    assert [s.kind for s in advise(loads(60), counters).suggestions] == ["move"]
