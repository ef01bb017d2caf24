"""Working days for dossier due dates: pure functions, no database, no Flask.

Rules (decided here, tested in tests/unit/test_workdays.py):

* A working day is Monday to Friday and not one of the province's holidays.
* The processing clock starts on the *start day*: the day of receipt when the dossier is
  received on a working day before the site's cut-off time (default 16:30 local); otherwise
  (after the cut-off, on a weekend or a holiday) the next working day.
* A procedure of N working days is due on the N-th working day after the start day
  (N = 0: due on the start day itself, for "same day" procedures such as certified copies).
* The appointment is at the cut-off time of the due day, site local time, stored in UTC: the
  result is promised before the counter stops taking dossiers that day.
* A supplement request pauses the clock. On resubmission the due date moves by the working
  days spent paused: those from the day of the request (included) to the day the clock
  restarts (excluded), the restart day following the same cut-off rule as a receipt. A pause
  and resubmission on the same working day before the cut-off costs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from server.rules.calendar import zone
from server.rules.fields import HHMM

DEFAULT_CUTOFF = dt.time(16, 30)

#: A longer run of non-working days than this means a broken calendar (guards the loops).
MAX_GAP_DAYS = 366


def parse_cutoff(value: str | None) -> dt.time | None:
    """``"16:30"`` -> ``time(16, 30)``; ``None``/empty -> ``None``; anything else raises."""
    if value is None or value == "":
        return None
    if not HHMM.match(value):  # the one HH:MM rule (server/rules/fields.py)
        raise ValueError(f"cut-off must be HH:MM, got {value!r}")
    hour, minute = value.split(":")
    return dt.time(int(hour), int(minute))


def is_working_day(day: dt.date, holidays: Collection[dt.date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_working_day(day: dt.date, holidays: Collection[dt.date]) -> dt.date:
    """The first working day strictly after ``day``."""
    d = day
    for _ in range(MAX_GAP_DAYS):
        d += dt.timedelta(days=1)
        if is_working_day(d, holidays):
            return d
    raise ValueError("no working day within a year: check the holiday calendar")


def add_working_days(day: dt.date, n: int, holidays: Collection[dt.date]) -> dt.date:
    """The n-th working day after ``day`` (``day`` itself when n == 0)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    d = day
    for _ in range(n):
        d = next_working_day(d, holidays)
    return d


def working_days_between(start: dt.date, end: dt.date, holidays: Collection[dt.date]) -> int:
    """Working days in ``[start, end)``; 0 when ``end <= start``."""
    count = 0
    d = start
    while d < end:
        if is_working_day(d, holidays):
            count += 1
        d += dt.timedelta(days=1)
    return count


def clock_day(at: dt.datetime, tz: str, cutoff: dt.time, holidays: Collection[dt.date]) -> dt.date:
    """The working day the clock counts from for something received at ``at``."""
    if at.tzinfo is None:
        raise ValueError("aware datetime required")
    loc = at.astimezone(zone(tz))
    day = loc.date()
    if is_working_day(day, holidays) and loc.time() < cutoff:
        return day
    return next_working_day(day, holidays)


def appointment(day: dt.date, tz: str, cutoff: dt.time) -> dt.datetime:
    """The appointment instant (UTC) on a due day: the cut-off time, site local."""
    return dt.datetime.combine(day, cutoff, tzinfo=zone(tz)).astimezone(dt.UTC)


def due_at(
    received_at: dt.datetime,
    processing_days: int,
    tz: str,
    cutoff: dt.time,
    holidays: Collection[dt.date],
) -> dt.datetime:
    """When a dossier received at ``received_at`` is due (UTC)."""
    start = clock_day(received_at, tz, cutoff, holidays)
    return appointment(add_working_days(start, processing_days, holidays), tz, cutoff)


def paused_working_days(
    paused_at: dt.datetime,
    resumed_at: dt.datetime,
    tz: str,
    cutoff: dt.time,
    holidays: Collection[dt.date],
) -> int:
    """Working days the clock stood still between a supplement request and resubmission."""
    pause_day = paused_at.astimezone(zone(tz)).date()
    restart_day = clock_day(resumed_at, tz, cutoff, holidays)
    return working_days_between(pause_day, restart_day, holidays)


def shift_due(
    due: dt.datetime,
    days: int,
    tz: str,
    cutoff: dt.time,
    holidays: Collection[dt.date],
) -> dt.datetime:
    """``due`` moved ``days`` working days later, keeping the appointment time."""
    if days <= 0:
        return due
    due_day = due.astimezone(zone(tz)).date()
    if not is_working_day(due_day, holidays):
        due_day = next_working_day(due_day, holidays)
        days -= 1
    return appointment(add_working_days(due_day, days, holidays), tz, cutoff)


def due_soon_limit(now: dt.datetime, tz: str, holidays: Collection[dt.date]) -> dt.datetime:
    """Dossiers due before this instant (UTC) are "due soon": due today or on the next
    working day (site local), i.e. within one working day."""
    today = now.astimezone(zone(tz)).date()
    after = next_working_day(today, holidays) + dt.timedelta(days=1)
    return dt.datetime.combine(after, dt.time(0, 0), tzinfo=zone(tz)).astimezone(dt.UTC)
