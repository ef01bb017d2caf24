"""Property-based tests of the routing policy (pure; no I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from server.rules import routing
from server.rules.routing import NORMAL, PRIORITY, ClassState, Interleave

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)


@dataclass
class Sim:
    """A tiny simulator over the pure policy: tickets arrive, one counter calls."""

    services: dict[int, tuple[float, float]]  # id -> (weight, sla minutes)
    ratio: Interleave

    def __post_init__(self) -> None:
        self.waiting: dict[tuple[int, bool], list[tuple[int, dt.datetime]]] = {}
        self.states = {sid: ClassState() for sid in self.services}
        self.next_id = 1
        self.info: dict[int, tuple[int, bool, dt.datetime]] = {}

    def arrive(self, service: int, priority: bool, at: dt.datetime) -> int:
        tid = self.next_id
        self.next_id += 1
        self.waiting.setdefault((service, priority), []).append((tid, at))
        self.info[tid] = (service, priority, at)
        return tid

    def call(self, now: dt.datetime) -> routing.Choice | None:
        queues = []
        for sid, (weight, sla) in self.services.items():
            heads = {}
            for prio in (True, False):
                q = self.waiting.get((sid, prio), [])
                heads[prio] = routing.Head(q[0][0], q[0][0], q[0][1]) if q else None
            queues.append(
                routing.ServiceQueue(sid, weight, sla, self.states[sid], heads[True], heads[False])
            )
        choice = routing.choose(queues, now, self.ratio)
        if choice is None:
            return None
        prio = choice.klass == PRIORITY
        q = self.waiting[(choice.service_id, prio)]
        assert q[0][0] == choice.ticket_id, "the policy must take the head of a class queue"
        q.pop(0)
        self.states[choice.service_id] = self.states[choice.service_id].after(choice.klass)
        return choice


arrivals = st.lists(
    st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 600)), min_size=1, max_size=80
)
services = st.fixed_dictionaries(
    {
        0: st.tuples(st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([10.0, 20.0, 30.0])),
        1: st.tuples(st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([10.0, 20.0, 30.0])),
        2: st.tuples(st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([10.0, 20.0, 30.0])),
    }
)
ratios = st.builds(Interleave, st.integers(1, 3), st.integers(0, 4))


@settings(max_examples=300, deadline=None)
@given(arrivals, services, ratios, st.integers(1, 60))
def test_fifo_within_service_and_class(arr, svc, ratio, call_every) -> None:
    sim = Sim(svc, ratio)
    events = sorted((t, s, p) for s, p, t in arr)
    called: list[int] = []
    t = 0
    i = 0
    while i < len(events) or any(sim.waiting.values()):
        while i < len(events) and events[i][0] <= t:
            _, s, p = events[i]
            sim.arrive(s, p, T0 + dt.timedelta(seconds=events[i][0]))
            i += 1
        choice = sim.call(T0 + dt.timedelta(seconds=t))
        if choice:
            called.append(choice.ticket_id)
        t += call_every
    assert sorted(called) == list(range(1, sim.next_id)), "every ticket is called exactly once"
    by_class: dict[tuple[int, bool], list[int]] = {}
    for tid in called:
        s, p, _ = sim.info[tid]
        by_class.setdefault((s, p), []).append(tid)
    for key, ids in by_class.items():
        assert ids == sorted(ids), f"FIFO broken in {key}: {ids}"


@settings(max_examples=300, deadline=None)
@given(ratios, st.integers(0, 20), st.integers(0, 20), st.integers(1, 30))
def test_interleave_ratio_held_while_both_classes_wait(ratio, n_pri, n_norm, n_calls) -> None:
    """With both classes waiting at every call, the classes come in runs of exactly
    `priority` priority calls and `normal` normal calls (priority first)."""
    sim = Sim({0: (1.0, 20.0)}, ratio)
    for k in range(n_pri + n_calls):
        sim.arrive(0, True, T0 + dt.timedelta(seconds=k))
    for k in range(n_norm + n_calls):
        sim.arrive(0, False, T0 + dt.timedelta(seconds=k))
    classes = []
    for _ in range(n_calls):
        choice = sim.call(T0 + dt.timedelta(hours=1))
        assert choice is not None
        classes.append(choice.klass)
    if ratio.normal == 0:
        assert set(classes) == {PRIORITY}
        return
    pattern = [PRIORITY] * ratio.priority + [NORMAL] * ratio.normal
    expected = (pattern * (n_calls // len(pattern) + 1))[:n_calls]
    assert classes == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 50))
def test_no_class_starves_under_a_stream_of_the_other(p, n, backlog) -> None:
    """A lone normal ticket behind an endless stream of priority tickets is called within
    `priority` calls, and a lone priority ticket within `normal` + 1 calls."""
    ratio = Interleave(p, n)
    for lone_priority in (False, True):
        sim = Sim({0: (1.0, 20.0)}, ratio)
        for k in range(backlog):
            sim.arrive(0, not lone_priority, T0 + dt.timedelta(seconds=k))
        lone = sim.arrive(0, lone_priority, T0 + dt.timedelta(seconds=backlog))
        bound = (n + 1) if lone_priority else p
        for call in range(1, 1000):
            sim.arrive(0, not lone_priority, T0 + dt.timedelta(seconds=backlog + call))
            choice = sim.call(T0 + dt.timedelta(hours=1))
            assert choice is not None
            if choice.ticket_id == lone:
                assert call <= bound + 1, (call, bound)
                break
        else:
            raise AssertionError("starved")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]),
    st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]),
    st.sampled_from([5.0, 15.0, 30.0, 60.0]),
    st.sampled_from([5.0, 15.0, 30.0, 60.0]),
)
def test_no_service_starves_behind_a_busy_one(w_busy, w_lone, sla_busy, sla_lone) -> None:
    """Service 0 gets a new ticket every minute and the counter calls every minute; a single
    ticket of service 1 is still called, within the time its SLA-relative urgency needs."""
    sim = Sim({0: (w_busy, sla_busy), 1: (w_lone, sla_lone)}, Interleave(1, 2))
    lone = sim.arrive(1, False, T0)
    for minute in range(1, 100_000):
        now = T0 + dt.timedelta(minutes=minute)
        sim.arrive(0, False, now - dt.timedelta(seconds=30))
        choice = sim.call(now)
        if choice and choice.ticket_id == lone:
            # The busy service's head has waited at most 1 minute; the lone ticket wins once
            # minute / sla_lone * w_lone exceeds 1 / sla_busy * w_busy.
            bound = (w_busy / sla_busy) * sla_lone / w_lone + 1
            assert minute <= bound + 1
            return
    raise AssertionError("starved")


def test_longest_wait_relative_to_sla_and_weight() -> None:
    now = T0 + dt.timedelta(minutes=30)
    a = routing.ServiceQueue(
        1, 1.0, 20.0, ClassState(), None, routing.Head(1, 1, T0 + dt.timedelta(minutes=10))
    )  # 20/20 = 1.0
    b = routing.ServiceQueue(
        2, 1.0, 10.0, ClassState(), None, routing.Head(2, 2, T0 + dt.timedelta(minutes=15))
    )  # 15/10 = 1.5
    assert routing.choose([a, b], now, Interleave()).ticket_id == 2
    a2 = routing.ServiceQueue(1, 2.0, 20.0, ClassState(), None, a.normal_head)  # 2.0
    assert routing.choose([a2, b], now, Interleave()).ticket_id == 1
    assert routing.choose([], now, Interleave()) is None


def test_call_order_and_calls_before() -> None:
    order = routing.call_order([10, 11], [1, 2, 3, 4], ClassState(), Interleave(1, 2))
    assert order == [10, 1, 2, 11, 3, 4]
    assert routing.calls_before(11, [10, 11], [1, 2, 3, 4], ClassState(), Interleave(1, 2)) == 3
    # Mid-run state: two normal calls just happened, so priority is next.
    assert routing.call_order([10], [1], ClassState(NORMAL, 2), Interleave(1, 2)) == [10, 1]
    assert routing.call_order([10], [1], ClassState(NORMAL, 1), Interleave(1, 2)) == [1, 10]


def reference_call_order(
    p: list[int], n: list[int], state: ClassState, ratio: Interleave
) -> list[int]:
    """One call at a time through class_to_call: the definition call_order must match."""
    i = j = 0
    out = []
    while i < len(p) or j < len(n):
        klass = routing.class_to_call(state, i < len(p), j < len(n), ratio)
        if klass == PRIORITY:
            out.append(p[i])
            i += 1
        else:
            out.append(n[j])
            j += 1
        state = state.after(klass or NORMAL)
    return out


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(0, 30),
    ratios,
    st.sampled_from([None, PRIORITY, NORMAL]),
    st.integers(0, 6),
)
def test_fast_call_order_matches_one_call_at_a_time(n_p, n_n, ratio, last, run) -> None:
    p = list(range(1000, 1000 + n_p))
    n = list(range(n_n))
    state = ClassState(last, run if last else 0)
    assert routing.call_order(p, n, state, ratio) == reference_call_order(p, n, state, ratio)


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(0, 30),
    ratios,
    st.sampled_from([None, PRIORITY, NORMAL]),
    st.integers(0, 6),
)
def test_place_from_counts_matches_the_call_order(n_p, n_n, ratio, last, run) -> None:
    """calls_before_place (counts only) puts every ticket where the one-call-at-a-time order
    does, and a newcomer of either class after everyone of its class."""
    p = list(range(1000, 1000 + n_p))
    n = list(range(n_n))
    state = ClassState(last, run if last else 0)
    order = reference_call_order(p, n, state, ratio)
    for i, tid in enumerate(p):
        assert routing.calls_before_place(PRIORITY, i, n_n, state, ratio) == order.index(tid)
    for j, tid in enumerate(n):
        assert routing.calls_before_place(NORMAL, j, n_p, state, ratio) == order.index(tid)
    new_p = reference_call_order([*p, -1], n, state, ratio).index(-1)
    assert routing.calls_before_place(PRIORITY, n_p, n_n, state, ratio) == new_p
    new_n = reference_call_order(p, [*n, -1], state, ratio).index(-1)
    assert routing.calls_before_place(NORMAL, n_n, n_p, state, ratio) == new_n
