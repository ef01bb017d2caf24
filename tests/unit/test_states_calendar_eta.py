"""State machine, business days and the ETA formula (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.rules import eta
from server.rules.calendar import business_day, day_start, format_label
from server.rules.states import TRANSITIONS, Action, IllegalTransition, Status, next_status


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_every_pair_is_either_allowed_or_refused(status: Status, action: Action) -> None:
    if (status, action) in TRANSITIONS:
        assert next_status(status, action) == TRANSITIONS[(status, action)]
    else:
        with pytest.raises(IllegalTransition):
            next_status(status, action)


def test_final_states_allow_nothing() -> None:
    for status in (
        Status.DONE,
        Status.NO_SHOW,
        Status.CANCELLED,
        Status.TRANSFERRED,
        Status.UNSERVED_AT_CLOSE,
    ):
        assert not [a for (s, a) in TRANSITIONS if s == status]


def test_unknown_names_are_refused() -> None:
    with pytest.raises(IllegalTransition):
        next_status("flying", "call")
    with pytest.raises(IllegalTransition):
        next_status("waiting", "teleport")


def test_business_day_follows_site_time_zone() -> None:
    # 23:59 in Hanoi is 16:59 UTC; one minute later it is the next business day.
    before = dt.datetime(2026, 11, 25, 16, 59, tzinfo=dt.UTC)
    after = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)
    assert business_day(before, "Asia/Ho_Chi_Minh") == dt.date(2026, 11, 25)
    assert business_day(after, "Asia/Ho_Chi_Minh") == dt.date(2026, 11, 26)
    assert business_day(after, "UTC") == dt.date(2026, 11, 25)
    with pytest.raises(ValueError):
        business_day(dt.datetime(2026, 11, 25, 12, 0), "UTC")


def test_day_start_is_the_site_midnight_in_utc() -> None:
    day = dt.date(2026, 12, 7)
    start = day_start(day, "Asia/Ho_Chi_Minh")
    assert start == dt.datetime(2026, 12, 6, 17, 0, tzinfo=dt.UTC)
    assert business_day(start, "Asia/Ho_Chi_Minh") == day
    assert business_day(start - dt.timedelta(microseconds=1), "Asia/Ho_Chi_Minh") == (
        dt.date(2026, 12, 6)
    )
    assert day_start(day, "UTC") == dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def test_labels() -> None:
    assert format_label("A", 7) == "A007"
    assert format_label("B", 1234) == "B1234"


def test_eta() -> None:
    # Nobody ahead and an idle counter: called at once. All counters busy: the tickets ahead
    # plus half a service, at the rate the counters call.
    assert eta.estimate_minutes(0, 10, 1, idle=1) == 0
    assert eta.estimate_minutes(0, 10, 1) == 5
    assert eta.estimate_minutes(3, 10, 2) == 18  # 3.5 x 10 / 2 = 17.5
    assert eta.estimate_minutes(3, 10, 2, idle=1) == 13  # 2.5 x 10 / 2
    assert eta.estimate_minutes(3, 10, 2, idle=4) == 0
    assert eta.estimate_minutes(3, 10, 0) is None
    # The counters called faster than their share promised (routing gave them more): use it.
    assert eta.estimate_minutes(3, 10, 1, observed_per_min=0.35) == 10  # 3.5 / 0.35
    assert eta.estimate_minutes(3, 10, 1, observed_per_min=0.05) == 35  # the share wins
    assert eta.mean_service_minutes([], 8.0) == 8.0
    assert eta.mean_service_minutes([2.0] * 5, 8.0) == 2.0
    assert eta.mean_service_minutes([2.0], 8.0) == pytest.approx((2 + 4 * 8) / 5)


def test_eta_range() -> None:
    assert eta.estimate_range(None) is None
    assert eta.estimate_range(0) == (0, 0)
    assert eta.estimate_range(10) == (7, 16)
    low, high = eta.estimate_range(1)  # type: ignore[misc]
    assert low <= 1 < high


@pytest.mark.parametrize("ahead", range(0, 40, 3))
def test_eta_never_falls_as_more_wait_ahead(ahead: int) -> None:
    a = eta.estimate_minutes(ahead, 7.5, 2.5, idle=1, observed_per_min=0.2)
    b = eta.estimate_minutes(ahead + 1, 7.5, 2.5, idle=1, observed_per_min=0.2)
    assert a is not None and b is not None and a <= b


def test_closing_the_day_ends_the_queue_not_the_counters() -> None:
    assert next_status("waiting", "close_day") == Status.UNSERVED_AT_CLOSE
    assert next_status("parked", "close_day") == Status.UNSERVED_AT_CLOSE
    for status in ("called", "serving", "done", "unserved_at_close"):
        with pytest.raises(IllegalTransition):
            next_status(status, "close_day")


@settings(max_examples=300, deadline=None)
@given(
    places=st.integers(0, 60),
    minutes=st.floats(0.5, 30),
    capacity=st.one_of(st.just(0.0), st.floats(0.05, 4)),
    idle=st.integers(0, 3),
    observed=st.floats(0, 2),
)
def test_a_lines_estimates_equal_one_estimate_at_a_time(
    places: int, minutes: float, capacity: float, idle: int, observed: float
) -> None:
    """What a screen gets for every place (rate worked out once, ranges once per value) is
    what each place would get alone."""
    first = eta.estimate_minutes_first(places, minutes, capacity, idle, observed)
    assert first == [eta.estimate_minutes(a, minutes, capacity, idle, observed)
                     for a in range(places)]
    assert eta.estimate_ranges(first) == [eta.estimate_range(m) for m in first]
