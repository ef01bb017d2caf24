"""Working-day counting for dossier due dates: weekends, holidays, the cut-off, the
supplement pause. Asia/Ho_Chi_Minh is UTC+7."""

from __future__ import annotations

import datetime as dt

import pytest

from server.rules import workdays as wd

TZ = "Asia/Ho_Chi_Minh"
CUT = dt.time(16, 30)
VN = dt.timezone(dt.timedelta(hours=7))


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    """A site-local wall-clock time as an aware UTC instant."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=VN).astimezone(dt.UTC)


def local(t: dt.datetime) -> tuple[dt.date, dt.time]:
    loc = t.astimezone(VN)
    return loc.date(), loc.time()


# 2026-11-23 is a Monday.
MON, TUE, WED, THU, FRI = (dt.date(2026, 11, 23 + i) for i in range(5))
SAT, SUN = dt.date(2026, 11, 28), dt.date(2026, 11, 29)
NEXT_MON, NEXT_TUE = dt.date(2026, 11, 30), dt.date(2026, 12, 1)


def test_due_counts_working_days_after_the_day_of_receipt() -> None:
    due = wd.due_at(at(2026, 11, 23, 9), 3, TZ, CUT, set())
    assert local(due) == (THU, CUT)
    assert due.tzinfo is not None and due.utcoffset() == dt.timedelta(0)
    assert due == dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)


def test_weekend_is_skipped() -> None:
    # Thursday + 3 working days: Fri, Mon, Tue.
    assert local(wd.due_at(at(2026, 11, 26, 10), 3, TZ, CUT, set()))[0] == NEXT_TUE


def test_received_on_a_weekend_counts_from_monday() -> None:
    assert local(wd.due_at(at(2026, 11, 28, 10), 1, TZ, CUT, set()))[0] == NEXT_TUE
    assert local(wd.due_at(at(2026, 11, 29, 8), 0, TZ, CUT, set()))[0] == NEXT_MON


def test_holidays_are_skipped() -> None:
    holidays = {TUE, WED}
    # Monday + 2 working days, Tue and Wed off: Thu, Fri.
    assert local(wd.due_at(at(2026, 11, 23, 9), 2, TZ, CUT, holidays))[0] == FRI
    # Received on a holiday: the clock starts the next working day.
    assert local(wd.due_at(at(2026, 11, 24, 9), 0, TZ, CUT, holidays))[0] == THU


def test_tet_week_in_2026() -> None:
    tet = {dt.date(2026, 2, d) for d in range(14, 23)}  # Sat 14 Feb .. Sun 22 Feb
    # Friday 13 Feb + 1 working day: Monday 23 Feb, after the whole Tết week.
    due = wd.due_at(at(2026, 2, 13, 10), 1, TZ, CUT, tet)
    assert local(due)[0] == dt.date(2026, 2, 23)


def test_cutoff_moves_the_start_to_the_next_working_day() -> None:
    before = wd.due_at(at(2026, 11, 23, 16, 29), 1, TZ, CUT, set())
    exactly = wd.due_at(at(2026, 11, 23, 16, 30), 1, TZ, CUT, set())
    after = wd.due_at(at(2026, 11, 23, 17, 5), 1, TZ, CUT, set())
    assert local(before)[0] == TUE
    assert local(exactly)[0] == WED
    assert local(after)[0] == WED
    # Friday after the cut-off: Monday starts, due Tuesday.
    assert local(wd.due_at(at(2026, 11, 27, 16, 45), 1, TZ, CUT, set()))[0] == NEXT_TUE
    # A site's own cut-off.
    early = dt.time(11, 0)
    assert local(wd.due_at(at(2026, 11, 23, 11, 30), 0, TZ, early, set())) == (TUE, early)


def test_same_day_procedure() -> None:
    assert local(wd.due_at(at(2026, 11, 23, 8), 0, TZ, CUT, set())) == (MON, CUT)


def test_site_local_day_not_utc_day() -> None:
    # 06:30 local Monday is 23:30 UTC on Sunday: it is still Monday's receipt.
    t = at(2026, 11, 23, 6, 30)
    assert t.date() == dt.date(2026, 11, 22)  # a Sunday in UTC
    assert local(wd.due_at(t, 0, TZ, CUT, set()))[0] == MON


def test_supplement_pause_moves_the_due_date_by_the_paused_working_days() -> None:
    due = wd.due_at(at(2026, 11, 23, 9), 5, TZ, CUT, set())  # Mon + 5 = next Mon
    assert local(due)[0] == NEXT_MON
    # Paused Tuesday, resubmitted Thursday morning: Tue and Wed did not count.
    days = wd.paused_working_days(at(2026, 11, 24, 10), at(2026, 11, 26, 9), TZ, CUT, set())
    assert days == 2
    assert local(wd.shift_due(due, days, TZ, CUT, set()))[0] == dt.date(2026, 12, 2)


def test_pause_over_a_weekend_and_a_holiday_counts_only_working_days() -> None:
    days = wd.paused_working_days(
        at(2026, 11, 27, 10), at(2026, 12, 2, 9), TZ, CUT, {NEXT_TUE}
    )  # Fri, (Sat, Sun), Mon, (Tue holiday) -> 2
    assert days == 2


def test_resubmission_after_the_cutoff_costs_that_day_too() -> None:
    same_day = wd.paused_working_days(at(2026, 11, 24, 9), at(2026, 11, 24, 15), TZ, CUT, set())
    late = wd.paused_working_days(at(2026, 11, 24, 9), at(2026, 11, 24, 17), TZ, CUT, set())
    assert (same_day, late) == (0, 1)


def test_shift_keeps_the_appointment_time_and_skips_holidays() -> None:
    due = wd.appointment(MON, TZ, CUT)
    assert local(wd.shift_due(due, 0, TZ, CUT, set())) == (MON, CUT)
    assert local(wd.shift_due(due, 2, TZ, CUT, {TUE})) == (THU, CUT)


def test_due_soon_limit_is_the_end_of_the_next_working_day() -> None:
    limit = wd.due_soon_limit(at(2026, 11, 27, 10), TZ, set())  # Friday
    assert limit == dt.datetime(2026, 12, 1, 0, 0, tzinfo=VN)  # end of Monday
    assert wd.due_soon_limit(at(2026, 11, 23, 10), TZ, set()) == dt.datetime(
        2026, 11, 25, 0, 0, tzinfo=VN
    )


def test_cutoff_parsing() -> None:
    assert wd.parse_cutoff("16:30") == CUT
    assert wd.parse_cutoff(None) is None
    for bad in ("4:30", "24:00", "16:60", "1630", "16:30:00"):
        with pytest.raises(ValueError):
            wd.parse_cutoff(bad)


def test_helpers_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        wd.add_working_days(MON, -1, set())
    with pytest.raises(ValueError):
        wd.due_at(dt.datetime(2026, 11, 23, 9), 1, TZ, CUT, set())
    every_day = {MON + dt.timedelta(days=i) for i in range(400)}
    with pytest.raises(ValueError):
        wd.next_working_day(MON, every_day)
    assert wd.working_days_between(FRI, MON, set()) == 0
    assert wd.working_days_between(MON, NEXT_MON, set()) == 5
