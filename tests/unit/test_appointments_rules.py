"""Appointments: slots, capacity, check-in verdicts, limits and, with hypothesis, where a
booked ticket is placed among walk-ins (pure; no I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.rules import appointments as ap
from server.rules import routing
from server.rules.calendar import queue_position_key
from server.rules.fields import FieldProblem, booking_settings, online_share
from server.rules.routing import NORMAL, PRIORITY, ClassState, Interleave

TZ = "Asia/Ho_Chi_Minh"
HOURS = {str(d): [["07:30", "11:30"], ["13:30", "17:00"]] for d in range(5)}
MONDAY = dt.date(2026, 12, 7)
S = ap.BookingSettings()


def utc(day: dt.date, hhmm: str) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, h, m, tzinfo=dt.UTC) - dt.timedelta(hours=7)


# --- slots and capacity ---------------------------------------------------------------------


def test_slots_follow_the_opening_hours() -> None:
    slots = ap.day_slots(HOURS, set(), MONDAY, TZ, 30)
    assert len(slots) == 8 + 7
    assert slots[0] == ap.Slot(utc(MONDAY, "07:30"), utc(MONDAY, "08:00"))
    assert slots[7].end == utc(MONDAY, "11:30")
    assert slots[8].start == utc(MONDAY, "13:30")
    assert slots[-1].end == utc(MONDAY, "17:00")


def test_a_short_last_piece_is_not_a_slot_and_last_ticket_time_ends_slots() -> None:
    hours = {"0": [["08:00", "09:50"]]}
    assert [s.start for s in ap.day_slots(hours, set(), MONDAY, TZ, 30)] == [
        utc(MONDAY, "08:00"), utc(MONDAY, "08:30"), utc(MONDAY, "09:00")]
    assert len(ap.day_slots(HOURS, set(), MONDAY, TZ, 30, dt.time(9, 0))) == 3


def test_closed_days_and_holidays_have_no_slots() -> None:
    assert ap.day_slots(HOURS, set(), MONDAY + dt.timedelta(days=5), TZ, 30) == []  # Saturday
    assert ap.day_slots(HOURS, {MONDAY}, MONDAY, TZ, 30) == []
    # no opening hours set: Monday to Friday 08:00-16:00
    assert len(ap.day_slots(None, set(), MONDAY, TZ, 60)) == 8
    assert ap.day_slots(None, set(), MONDAY + dt.timedelta(days=6), TZ, 60) == []


def test_capacity_is_counters_times_slot_over_service_minutes_times_share() -> None:
    assert ap.slot_capacity(2, 30, 6, 0.5) == 5
    assert ap.slot_capacity(1, 30, 8, 0.5) == 1  # floor(1.875)
    assert ap.slot_capacity(0, 30, 8, 0.5) == 0
    assert ap.slot_capacity(3, 30, 8, 0) == 0
    # a counter shared half-half between two services counts half for each
    profiles = [{"civil": 1.0}, {"civil": 1.0, "land": 1.0}]
    assert ap.counters_serving(profiles, "civil") == 1.5
    assert ap.expected_capacity(profiles, "civil", 9.0, [], 30, 0.5) == 2  # 1.5*30/9*.5=2.5
    assert ap.expected_capacity(profiles, "land", 9.0, [], 30, 1.0) == 1


def test_what_holds_a_place() -> None:
    now = utc(MONDAY, "08:00")
    later, earlier = now + dt.timedelta(minutes=1), now - dt.timedelta(minutes=1)
    assert ap.holds_place("held", later, None, now)
    assert not ap.holds_place("held", earlier, None, now)
    assert ap.holds_place("confirmed", None, None, now)
    assert ap.holds_place("checked_in", None, None, now)
    assert ap.holds_place("cancelled", None, later, now)  # quarantine
    assert not ap.holds_place("cancelled", None, earlier, now)
    assert not ap.holds_place("no_show", None, None, now)
    assert not ap.holds_place("expired", later, None, now)


# --- check-in, limits, reminders ------------------------------------------------------------


def test_checkin_verdicts() -> None:
    start = utc(MONDAY, "09:00")
    early = ap.checkin_verdict(start, start - dt.timedelta(minutes=31), S)
    assert early.kind == ap.TOO_EARLY and early.opens_at == start - dt.timedelta(minutes=30)
    assert ap.checkin_verdict(start, start - dt.timedelta(minutes=30), S).kind == ap.IN_WINDOW
    assert ap.checkin_verdict(start, start + dt.timedelta(minutes=15), S).kind == ap.IN_WINDOW
    late = ap.checkin_verdict(start, start + dt.timedelta(minutes=15, seconds=1), S)
    assert late.kind == ap.LATE
    assert ap.no_show_due(start, S) == start + dt.timedelta(minutes=15)


def test_person_limits_and_no_show_block() -> None:
    assert ap.person_limit(0, 0, S) is None
    assert ap.person_limit(1, 0, S) is None
    assert ap.person_limit(1, 1, S) == "booking_limit_service"
    assert ap.person_limit(2, 0, S) == "booking_limit_day"
    now = utc(MONDAY, "08:00")
    days = [now - dt.timedelta(days=d) for d in (80, 40, 10)]
    assert ap.blocked_until(days[:2], now, S) is None
    assert ap.blocked_until(days, now, S) == days[-1] + dt.timedelta(days=30)
    assert ap.blocked_until([now - dt.timedelta(days=d) for d in (200, 40, 10)], now, S) is None


def test_reminder_the_day_before_at_local_time() -> None:
    slot = utc(MONDAY, "09:00")
    assert ap.reminder_at(slot, TZ, utc(MONDAY - dt.timedelta(days=3), "10:00")) == utc(
        MONDAY - dt.timedelta(days=1), "17:00")
    assert ap.reminder_at(slot, TZ, utc(MONDAY - dt.timedelta(days=1), "18:00")) is None


def test_settings_rules() -> None:
    assert booking_settings(None) is None
    assert booking_settings({}) is None
    assert booking_settings({"slot_minutes": 20}) == {"slot_minutes": 20}
    with pytest.raises(FieldProblem):
        booking_settings({"slot_minutes": 1})
    with pytest.raises(FieldProblem):
        booking_settings({"nope": 1})
    with pytest.raises(FieldProblem):
        booking_settings({"per_day": 1, "per_service_day": 2})
    assert online_share(0.3) == 0.3
    with pytest.raises(FieldProblem):
        online_share(1.5)
    got = ap.BookingSettings.from_stored({"slot_minutes": 20, "hold_minutes": 999, "x": 1})
    assert got.slot_minutes == 20 and got.hold_minutes == 10
    assert ap.online_share(None) == 0.5


def test_codes_and_digests() -> None:
    assert ap.normalise_code(" abc-def ") == "ABCDEF"
    assert ap.valid_code("ABC234") and not ap.valid_code("ABC10O")
    assert ap.id_digest(b"k", "001234567890") != ap.id_digest(b"j", "001234567890")
    assert len(ap.secret_digest("x")) == 64


# --- placement among walk-ins (hypothesis) ---------------------------------------------------

T0 = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)  # 08:00 local


@dataclass(frozen=True)
class Arrival:
    tid: int
    priority: bool
    arrived: dt.datetime  # when the ticket enters the line (walk-in: issue; booking: check-in)
    slot: dt.datetime | None  # a booking's slot start


def _pos(a: Arrival, booked_placement: bool) -> tuple[int, dt.datetime]:
    if a.slot is not None and booked_placement:
        return ap.placement_key(a.slot), ap.placement(a.slot)
    return queue_position_key(a.arrived), a.arrived


def _run(arrivals: list[Arrival], call_every: int, ratio: Interleave,
         booked_placement: bool = True, times: bool = False) -> list[Any]:
    """One service, one counter calling every ``call_every`` minutes from 08:00 until the
    line is empty: the (ticket, class) of each call, by the pure routing policy."""
    waiting: list[tuple[int, dt.datetime, Arrival]] = []
    pending = sorted(arrivals, key=lambda a: (a.arrived, a.tid))
    state = ClassState()
    out: list[Any] = []
    now = T0
    while pending or waiting:
        while pending and pending[0].arrived <= now:
            a = pending.pop(0)
            pos, placed = _pos(a, booked_placement)
            waiting.append((pos, placed, a))
        heads = {}
        for prio in (True, False):
            line = sorted((w for w in waiting if w[2].priority is prio),
                          key=lambda w: (w[0], w[2].tid))
            if line:
                heads[prio] = routing.Head(line[0][2].tid, line[0][0], line[0][1])
        q = routing.ServiceQueue(1, 1.0, 20.0, state, heads.get(True), heads.get(False))
        choice = routing.choose([q], now, ratio)
        if choice is not None:
            out.append((choice.ticket_id, choice.klass, now) if times
                       else (choice.ticket_id, choice.klass))
            state = state.after(choice.klass)
            waiting = [w for w in waiting if w[2].tid != choice.ticket_id]
        now += dt.timedelta(minutes=call_every)
    return out


@st.composite
def days(draw: st.DrawFn) -> list[Arrival]:
    n_walk = draw(st.integers(0, 25))
    n_book = draw(st.integers(1, 8))
    out = []
    for i in range(n_walk):
        out.append(Arrival(i, draw(st.booleans()),
                           T0 + dt.timedelta(minutes=draw(st.integers(0, 240))), None))
    for j in range(n_book):
        slot = T0 + dt.timedelta(minutes=30 * draw(st.integers(0, 7)))
        # checked in inside the window: 30 min before .. 15 min after the slot's start
        offset = draw(st.integers(-30, 15))
        arrived = max(slot + dt.timedelta(minutes=offset), T0)
        out.append(Arrival(100 + j, draw(st.booleans()), arrived, slot))
    return out


RATIOS = st.builds(Interleave, priority=st.integers(1, 3), normal=st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(days(), st.integers(1, 12), RATIOS)
def test_a_booked_ticket_is_never_called_before_a_walk_in_who_came_before_its_slot(
    arrivals: list[Arrival], call_every: int, ratio: Interleave
) -> None:
    """...while both wait: a booked citizen who checked in early at an idle counter is served
    at once (nobody waits behind a free counter); a walk-in who comes in after that call,
    still before the slot, was not kept waiting by it."""
    calls = _run(arrivals, call_every, ratio, times=True)
    rank = {tid: k for k, (tid, _k, _at) in enumerate(calls)}
    called_at = {tid: at for tid, _k, at in calls}
    for b in arrivals:
        if b.slot is None:
            continue
        for w in arrivals:
            if (w.slot is None and w.priority is b.priority and w.arrived < b.slot
                    and w.arrived <= called_at[b.tid]):
                assert rank[w.tid] < rank[b.tid], (w, b)


@settings(max_examples=300, deadline=None)
@given(days(), st.integers(1, 12), RATIOS)
def test_priority_interleaving_is_unchanged_by_placement(
    arrivals: list[Arrival], call_every: int, ratio: Interleave
) -> None:
    """The classes called, call after call, are those of the same day with every booked
    ticket placed at its check-in: placement orders a ticket inside its class only."""
    placed = [k for _t, k in _run(arrivals, call_every, ratio, booked_placement=True)]
    as_walk_ins = [k for _t, k in _run(arrivals, call_every, ratio, booked_placement=False)]
    assert placed == as_walk_ins


@settings(max_examples=300, deadline=None)
@given(days(), st.integers(1, 12), RATIOS)
def test_no_starvation_and_fifo_by_placement_inside_each_class(
    arrivals: list[Arrival], call_every: int, ratio: Interleave
) -> None:
    calls = _run(arrivals, call_every, ratio)
    assert sorted(t for t, _k in calls) == sorted(a.tid for a in arrivals)  # everyone called
    by_id = {a.tid: a for a in arrivals}
    for klass in (PRIORITY, NORMAL):
        mine = [by_id[t] for t, k in calls if k == klass]
        # a ticket is called after another of its class that was placed later only if that
        # other one was already called before this one entered the line
        for i, a in enumerate(mine):
            for b in mine[i + 1:]:
                pa, pb = _pos(a, True)[0], _pos(b, True)[0]
                if pb < pa:
                    assert b.arrived > a.arrived  # b was not yet in the line


def test_a_booked_ticket_checked_in_early_waits_behind_walk_ins_until_its_slot() -> None:
    slot = T0 + dt.timedelta(minutes=60)
    walk = Arrival(1, False, T0 + dt.timedelta(minutes=40), None)
    booked = Arrival(2, False, T0 + dt.timedelta(minutes=35), slot)
    after = Arrival(3, False, T0 + dt.timedelta(minutes=65), None)
    # one call at 08:00 (nobody), then the counter is next free at 09:10: 1, 2, 3 in order
    assert [t for t, _k in _run([walk, booked, after], 70, Interleave())] == [1, 2, 3]
    # routing's urgency counts from the slot's start, not the check-in
    head = routing.Head(2, ap.placement_key(slot), ap.placement(slot))
    q = routing.ServiceQueue(1, 1.0, 20.0, ClassState(), None, head)
    urgency = routing.urgency(q, slot + dt.timedelta(minutes=10))
    assert urgency is not None and urgency[1] == slot
