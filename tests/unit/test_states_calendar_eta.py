"""State machine, business days and the ETA formula (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from server.queue import eta
from server.queue.calendar import business_day, format_label
from server.queue.states import TRANSITIONS, Action, IllegalTransition, Status, next_status


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


def test_labels() -> None:
    assert format_label("A", 7) == "A007"
    assert format_label("B", 1234) == "B1234"


def test_eta() -> None:
    assert eta.estimate_minutes(0, 10, 1) == 0
    assert eta.estimate_minutes(3, 10, 2) == 15
    assert eta.estimate_minutes(3, 10, 0) is None
    assert eta.mean_service_minutes([], 8.0) == 8.0
    assert eta.mean_service_minutes([2.0] * 5, 8.0) == 2.0
    assert eta.mean_service_minutes([2.0], 8.0) == pytest.approx((2 + 4 * 8) / 5)


def test_closing_the_day_ends_the_queue_not_the_counters() -> None:
    assert next_status("waiting", "close_day") == Status.UNSERVED_AT_CLOSE
    assert next_status("parked", "close_day") == Status.UNSERVED_AT_CLOSE
    for status in ("called", "serving", "done", "unserved_at_close"):
        with pytest.raises(IllegalTransition):
            next_status(status, "close_day")
