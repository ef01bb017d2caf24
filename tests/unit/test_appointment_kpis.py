"""Appointment figures in the one KPI definition (server/rules/kpis.py), the wait estimate of a
ticket placed later than now (server/rules/eta.py), and the simulator's booking pieces."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.features import simulate
from server.rules import eta
from server.rules.kpis import (
    BOOKING_OUTCOMES,
    COUNTS,
    PUNCTUAL_MIN,
    Cell,
    figures,
    late_seconds,
    on_time,
)

SLOT = dt.datetime(2026, 3, 4, 2, 0, tzinfo=dt.UTC)  # 09:00 in Hà Nội

appointment = st.tuples(
    st.sampled_from(("done", "no_show", "unserved_at_close", "waiting")),
    st.booleans(),  # from a booking
    st.one_of(st.none(), st.integers(-45 * 60, 90 * 60)),  # first call, seconds from the slot
)
booking_status = st.sampled_from(("held", "expired", *BOOKING_OUTCOMES))


def _cell(tickets: list[tuple[str, bool, int | None]], statuses: list[str]) -> Cell:
    cell = Cell()
    for status, booked, call_s in tickets:
        called = SLOT + dt.timedelta(seconds=call_s) if call_s is not None else None
        issued = SLOT - dt.timedelta(minutes=50)
        cell.add_ticket(status, False, None if called is None else max(
            round((called - issued).total_seconds()), 0), 1200.0, None, None,
            appointment=booked, late_s=late_seconds(SLOT, called) if booked else None)
    for status in statuses:
        cell.add_booking(status)
    return cell


def test_punctual_is_called_at_most_ten_minutes_after_the_slot() -> None:
    assert PUNCTUAL_MIN == 10
    assert on_time(late_seconds(SLOT, SLOT - dt.timedelta(minutes=20)))  # called before it
    assert on_time(late_seconds(SLOT, SLOT + dt.timedelta(minutes=10)))
    assert not on_time(late_seconds(SLOT, SLOT + dt.timedelta(minutes=10, seconds=1)))
    assert not on_time(late_seconds(SLOT, None))  # never called
    assert late_seconds(None, SLOT) is None


def test_the_figures_of_a_small_day() -> None:
    cell = _cell(
        [("done", True, -120), ("done", True, 11 * 60), ("unserved_at_close", True, None),
         ("done", False, 300), ("done", False, 900)],
        ["checked_in", "checked_in", "checked_in", "no_show", "cancelled", "confirmed",
         "held", "expired"],
    )
    f = figures(cell)
    assert (f["bookings"], f["bookings_checked_in"], f["bookings_no_show"],
            f["bookings_cancelled"]) == (6, 3, 1, 1)
    assert f["appointments"] == 3 and f["appointments_punctual"] == 1
    assert f["punctuality"] == pytest.approx(1 / 3, abs=1e-4)
    assert f["online_share_used"] == 0.6 and f["issued"] == 5
    empty = figures(Cell())
    assert empty["punctuality"] is None and empty["online_share_used"] is None


@given(st.lists(appointment, max_size=50), st.lists(booking_status, max_size=30),
       st.integers(1, 5), st.randoms())
def test_merged_parts_give_the_appointment_figures_of_the_whole(
    tickets: list[tuple[str, bool, int | None]], statuses: list[str], parts: int,
    rnd: random.Random,
) -> None:
    t_groups: list[list[tuple[str, bool, int | None]]] = [[] for _ in range(parts)]
    b_groups: list[list[str]] = [[] for _ in range(parts)]
    for t in tickets:
        t_groups[rnd.randrange(parts)].append(t)
    for b in statuses:
        b_groups[rnd.randrange(parts)].append(b)
    merged = Cell()
    for tg, bg in zip(t_groups, b_groups, strict=True):
        part = _cell(tg, bg)
        merged.merge(Cell.from_stored({n: getattr(part, n) for n in COUNTS},
                                      part.sorted_waits()))
    whole = figures(_cell(tickets, statuses))
    assert figures(merged) == whole
    assert whole["appointments_punctual"] <= whole["appointments"] <= whole["issued"]
    assert whole["bookings"] == sum(1 for s in statuses if s in BOOKING_OUTCOMES)
    assert (whole["bookings_checked_in"] + whole["bookings_no_show"]
            + whole["bookings_cancelled"]) <= whole["bookings"]


# --- the estimate of a ticket placed later than now -----------------------------------------


def test_a_booking_placed_later_waits_for_the_walk_ins_before_its_slot() -> None:
    # 2 ahead, 1 counter, 5 min a citizen: 2.5 x 5 = 12.5 min without arrivals.
    assert eta.estimate_exact(2, 5.0, 1.0) == pytest.approx(12.5)
    # Its slot is 20 min away, a walk-in every 10 min (load 0.5): t = 12.5 / 0.5 = 25 > 20,
    # so every walk-in until the slot goes ahead: 12.5 + 0.5 x 20 = 22.5.
    assert eta.estimate_exact(2, 5.0, 1.0, until=20, arrivals=0.1) == pytest.approx(22.5)
    # Its slot is 40 min away: called before it, at 25 min.
    assert eta.estimate_exact(2, 5.0, 1.0, until=40, arrivals=0.1) == pytest.approx(25.0)
    # An idle counter takes it at once, whatever its slot.
    assert eta.estimate_minutes(0, 5.0, 1.0, idle=1, until=30, arrivals=0.5) == 0


@settings(max_examples=300, deadline=None)
@given(
    ahead=st.integers(0, 40),
    minutes=st.floats(1, 20),
    capacity=st.floats(0.2, 6),
    idle=st.integers(0, 2),
    until=st.floats(0, 120),
    arrivals=st.floats(0, 3),
)
def test_a_later_placement_never_shortens_the_estimate(
    ahead: int, minutes: float, capacity: float, idle: int, until: float, arrivals: float
) -> None:
    now = eta.estimate_exact(ahead, minutes, capacity, idle)
    later = eta.estimate_exact(ahead, minutes, capacity, idle, until=until, arrivals=arrivals)
    assert now is not None and later is not None
    assert now - 1e-9 <= later
    # at most every walk-in until the slot comes first
    rate = eta.call_rate(capacity, minutes)
    assert later <= now + arrivals * until / rate + 1e-6
    # and it grows with the time to the slot
    further = eta.estimate_exact(ahead, minutes, capacity, idle, until=until + 10,
                                 arrivals=arrivals)
    assert further is not None and later <= further + 1e-9


# --- the simulator's booking pieces ---------------------------------------------------------


def test_citizens_try_the_slot_of_their_time_then_the_nearest() -> None:
    starts = [SLOT + dt.timedelta(minutes=30 * k) for k in range(-6, 8)]
    slot = dt.timedelta(minutes=30)
    order = simulate.slot_preference(starts, slot, SLOT + dt.timedelta(minutes=40))
    assert order[0] == SLOT + dt.timedelta(minutes=30)  # the slot holding 09:40
    assert order[1] == SLOT + dt.timedelta(minutes=60)  # 20 min away, then 40 min away
    assert order[2] == SLOT
    assert all(abs(st - (SLOT + dt.timedelta(minutes=40))) <= simulate.BOOKING_REACH
               for st in order)
    gaps = [abs(st - (SLOT + dt.timedelta(minutes=40))) for st in order[1:]]
    assert gaps == sorted(gaps)


@given(st.floats(0, 0.95), st.integers(0, 10_000))
def test_a_share_of_the_citizens_book_and_arrive_as_the_model_says(
    share: float, seed: int
) -> None:
    arrivals = [simulate.Arrival(SLOT, "land", None, citizen=i) for i in range(300)]
    plans = simulate.plan_bookers(random.Random(seed), arrivals, share)
    assert len({p.citizen for p in plans}) == len(plans)
    kinds = {kind: (lo, hi) for _w, kind, lo, hi in simulate.BOOKED_ARRIVAL}
    assert len(kinds) == len(simulate.BOOKED_ARRIVAL)
    assert sum(w for w, *_rest in simulate.BOOKED_ARRIVAL) == pytest.approx(1.0)
    for p in plans:
        lo, hi = kinds[p.kind]
        assert lo <= p.offset_min <= hi
    if share == 0:
        assert plans == []
    # the draw is per citizen: about the share of 300 (a loose band, 5 sigma)
    sigma = (300 * share * (1 - share)) ** 0.5
    assert abs(len(plans) - 300 * share) <= 5 * sigma + 1
