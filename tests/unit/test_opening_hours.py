"""Opening hours and the next opening (pure functions: server/rules/opening_hours.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from server.features.dailyops import next_open_words
from server.rules.fields import parse_hhmm
from server.rules.opening_hours import (
    closed_for_today,
    is_open,
    next_opening,
    validate_opening_hours,
)

TZ = "Asia/Ho_Chi_Minh"
HOURS = {str(d): [["07:30", "11:30"], ["13:30", "17:00"]] for d in range(5)}
HOURS["5"] = [["07:30", "11:30"]]  # Saturday morning


def local(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hh, mm, tzinfo=dt.timezone(dt.timedelta(hours=7)))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("07:30", True),
        ("00:00", True),
        ("23:59", True),
        ("7:30", False),
        ("24:00", False),
        ("07:60", False),
        ("0730", False),
        (450, False),
    ],
)
def test_parse_hhmm(value: object, ok: bool) -> None:
    if ok:
        assert parse_hhmm(value).strftime("%H:%M") == value  # type: ignore[arg-type]
    else:
        with pytest.raises(ValueError):
            parse_hhmm(value)  # type: ignore[arg-type]


def test_validate_normalises_and_refuses() -> None:
    assert validate_opening_hours(None) is None
    assert validate_opening_hours({1: [("07:30", "11:30")], 0: []}) == {
        "0": [],
        "1": [["07:30", "11:30"]],
    }
    bad = [
        ([], "mapping"),
        ({"8": []}, "weekday"),
        ({"0": "07:30-11:30"}, "list"),
        ({"0": [["07:30"]]}, r"0\[0\]"),
        ({"0": [["11:30", "07:30"]]}, "before closing"),
        ({"0": [["07:30", "11:30"], ["11:00", "12:00"]]}, "overlaps"),
        ({"0": [["7:30", "11:30"]]}, "HH:MM"),
    ]
    for value, words in bad:
        with pytest.raises(ValueError, match=words):
            validate_opening_hours(value)


def test_is_open_edges() -> None:
    assert not is_open(HOURS, local(25, 7, 29))
    assert is_open(HOURS, local(25, 7, 30))
    assert not is_open(HOURS, local(25, 11, 30))  # the end is exclusive
    assert is_open(HOURS, local(28, 9))  # Saturday morning
    assert not is_open(HOURS, local(29, 9))  # Sunday: no key
    assert is_open(None, local(29, 3))  # no hours set: always open


def test_next_opening() -> None:
    nxt = next_opening(HOURS, set(), local(25, 12), TZ)
    assert (nxt.day, nxt.time) == (dt.date(2026, 11, 25), dt.time(13, 30))
    assert nxt.iso() == "2026-11-25T13:30:00+07:00"
    assert next_open_words(nxt, "en", dt.date(2026, 11, 25)) == "today from 13:30"
    nxt = next_opening(HOURS, set(), local(25, 12), TZ, not_today=True)
    assert next_open_words(nxt, "vi", dt.date(2026, 11, 25)) == "ngày mai từ 07:30"
    # Saturday afternoon -> Monday; with Monday a holiday -> Tuesday.
    nxt = next_opening(HOURS, set(), local(28, 12), TZ)
    assert nxt.day == dt.date(2026, 11, 30)
    assert next_open_words(nxt, "en", dt.date(2026, 11, 28)) == "on Monday 30/11 from 07:30"
    nxt = next_opening(HOURS, {dt.date(2026, 11, 30)}, local(28, 12), TZ)
    assert nxt.day == dt.date(2026, 12, 1)
    assert next_open_words(nxt, "vi", dt.date(2026, 11, 28)) == "Thứ Ba 01/12 từ 07:30"
    # No hours: the next day that is not a holiday, without a time.
    nxt = next_opening(None, {dt.date(2026, 11, 26)}, local(25, 20), TZ, not_today=True)
    assert (nxt.day, nxt.time, nxt.iso()) == (dt.date(2026, 11, 27), None, "2026-11-27")
    # Nothing open within the horizon.
    assert next_opening({}, set(), local(25, 9), TZ) is None


def test_closed_for_today() -> None:
    assert not closed_for_today(HOURS, set(), local(25, 16, 59))
    assert closed_for_today(HOURS, set(), local(25, 17, 0))
    assert closed_for_today(HOURS, set(), local(29, 9))  # Sunday
    assert closed_for_today(HOURS, {dt.date(2026, 11, 25)}, local(25, 9))
    assert not closed_for_today(None, set(), local(25, 23, 59))


def test_intervals_given_out_of_order_are_put_in_order() -> None:
    """The admin console and the configuration file share this check: a lunch break typed
    afternoon first is the same day."""
    assert validate_opening_hours({"2": [["13:30", "17:00"], ["07:30", "11:30"]]}) == {
        "2": [["07:30", "11:30"], ["13:30", "17:00"]]
    }
    with pytest.raises(ValueError, match="overlaps"):
        validate_opening_hours({"2": [["13:30", "17:00"], ["07:30", "14:00"]]})
