"""Opening hours: checking them, and "is it open now / when does it open next", as pure
functions of the hours, the holidays and a local time (no database; the daily operations that
use them are in ``server/features/dailyops.py``).

Hours are ``{"0": [["07:30", "11:30"], ["13:30", "17:00"]], ...}``: weekday 0 (Monday) to 6
(Sunday) to the day's intervals; ``None`` means no hours set (always open)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from server.rules.calendar import zone
from server.rules.fields import FieldProblem, parse_hhmm

HORIZON_DAYS = 60  # how far ahead to look for the next opening (Tết is ~9 days)


Interval = tuple[dt.time, dt.time]


def validate_opening_hours(value: Any) -> dict[str, list[list[str]]] | None:
    """Check and normalise opening hours: ``{"0": [["07:30", "11:30"], ...], ...}`` with
    weekday keys 0 (Monday) to 6 (Sunday), intervals not overlapping (returned in
    order). ``None`` stays
    ``None`` (not set). Raises ValueError naming the weekday and interval."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping of weekday (0=Monday .. 6=Sunday) to intervals")
    out: dict[str, list[list[str]]] = {}
    for key, intervals in value.items():
        k = str(key)
        if k not in {str(i) for i in range(7)}:
            raise ValueError(f"{key!r}: weekday must be 0 (Monday) to 6 (Sunday)")
        if not isinstance(intervals, list):
            raise ValueError(f'{k}: must be a list of ["HH:MM", "HH:MM"] intervals')
        parsed: list[tuple[dt.time, dt.time, int]] = []
        for i, iv in enumerate(intervals):
            if not isinstance(iv, list | tuple) or len(iv) != 2:
                raise ValueError(f'{k}[{i}]: must be ["HH:MM", "HH:MM"]')
            try:
                start, end = parse_hhmm(iv[0]), parse_hhmm(iv[1])
            except FieldProblem:
                # This module's messages are English lines of a configuration check (the
                # console says its own "hours" sentence): the rule's English, not its key.
                raise ValueError(f"{k}[{i}]: must be a time HH:MM (00:00-23:59)") from None
            if start >= end:
                raise ValueError(f"{k}[{i}]: opening {iv[0]} must be before closing {iv[1]}")
            parsed.append((start, end, i))
        parsed.sort()
        for (_, prev_end, _), (start, _, i) in itertools.pairwise(parsed):
            if start < prev_end:
                raise ValueError(f"{k}[{i}]: overlaps another interval")
        norm = [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b, _ in parsed]
        out[k] = norm
    return dict(sorted(out.items()))


def intervals_of(hours: Mapping[str, Any] | None, weekday: int) -> list[Interval] | None:
    """The opening intervals of a weekday; ``None`` when no hours are set (always open)."""
    if hours is None:
        return None
    return [(parse_hhmm(a), parse_hhmm(b)) for a, b in hours.get(str(weekday), [])]


def is_open(hours: Mapping[str, Any] | None, at_local: dt.datetime) -> bool:
    ivs = intervals_of(hours, at_local.weekday())
    if ivs is None:
        return True
    t = at_local.time().replace(tzinfo=None)
    return any(a <= t < b for a, b in ivs)


def closed_for_today(
    hours: Mapping[str, Any] | None, holidays: Collection[dt.date], at_local: dt.datetime
) -> bool:
    """No more opening today: a holiday, a closed weekday, or past the last interval's end."""
    if at_local.date() in holidays:
        return True
    ivs = intervals_of(hours, at_local.weekday())
    if ivs is None:
        return False
    t = at_local.time().replace(tzinfo=None)
    return all(t >= b for _, b in ivs)


@dataclass(frozen=True)
class NextOpen:
    """The next time the site takes tickets: a local day and, with opening hours, a time."""

    day: dt.date
    time: dt.time | None
    tz: str

    def iso(self) -> str:
        if self.time is None:
            return self.day.isoformat()
        return dt.datetime.combine(self.day, self.time, zone(self.tz)).isoformat()


def clock_label(t: dt.time) -> str:
    """ "07:30": a local time as the refusals say it (HH:MM, as everywhere)."""
    return f"{t.hour:02d}:{t.minute:02d}"


def next_opening(
    hours: Mapping[str, Any] | None,
    holidays: Collection[dt.date],
    at_local: dt.datetime,
    tz: str,
    not_today: bool = False,
) -> NextOpen | None:
    """The next opening after ``at_local`` (today's later intervals count unless
    ``not_today``); skips holidays and closed weekdays. Without hours: the next non-holiday
    day (no time). ``None`` if nothing opens within ``HORIZON_DAYS``."""
    today = at_local.date()
    t = at_local.time().replace(tzinfo=None)
    for offset in range(HORIZON_DAYS + 1):
        day = today + dt.timedelta(days=offset)
        if (offset == 0 and not_today) or day in holidays:
            continue
        ivs = intervals_of(hours, day.weekday())
        if ivs is None:
            if offset == 0:
                continue  # always open: "today" is not a next opening
            return NextOpen(day, None, tz)
        for start, _end in ivs:
            if offset > 0 or start > t:
                return NextOpen(day, start, tz)
    return None
