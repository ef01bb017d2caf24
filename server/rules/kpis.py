"""The one definition of the queue KPIs, as counts that add up.

A report's figures for any group of tickets (a service, a counter, an hour, a day, a year) are
worked out from a ``Cell``: counts, sums of whole seconds and the waits themselves in whole
seconds (one integer per called ticket: the P90 of merged cells is exact). Cells of disjoint
groups merge by adding, so the daily close can store one cell per site, day and grouping
(``server/features/aggregates.py``) and a year's report merges ~365 of them per service; a
report of days not yet closed builds the same cells from the tickets themselves. Both paths
end in ``figures``: the same numbers from the same computation.

Definitions:
- a ticket's wait is from its issue (or transfer) to its first call, in whole seconds (rounded);
  its service time, from start to finish of a served ticket, likewise;
- ``awt_min``: mean wait of the called tickets; ``p90_wait_min``: nearest-rank 90th percentile
  of their waits;
- ``ast_min``: mean service time of the served tickets;
- ``service_level``: share of the called tickets whose wait was within the service's target.

Appointments (citizens who booked a slot ahead, ``rules/appointments.py``):
- ``bookings``: bookings confirmed for the group's slots (a hold never confirmed is not one),
  by what became of them: ``bookings_checked_in`` (checked in at the kiosk or a counter inside
  the window), ``bookings_no_show`` (not checked in by the end of the window, or checked in
  too late: given a walk-in ticket), ``bookings_cancelled``; a booking counts toward its
  service and its slot's local hour;
- ``appointments``: tickets issued from a booking checked in inside its window;
  ``online_share_used``: their share of the tickets issued (beside the service's online share,
  the share of its capacity offered to bookings);
- ``punctuality``: share of the appointments first called at most ``PUNCTUAL_MIN`` minutes after
  their slot's start (before it counts too; never called: not punctual).

Pure: no database, no Flask.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, fields
from typing import Any

SCORES = ("very_satisfied", "satisfied", "not_satisfied")
#: A booked citizen called at most this many minutes after the slot's start was served on time.
PUNCTUAL_MIN = 10
#: What became of a confirmed booking -> the count it adds to (held or expired: none).
BOOKING_OUTCOMES = {
    "confirmed": None,  # still to come (a report of today)
    "checked_in": "bookings_checked_in",
    "no_show": "bookings_no_show",
    "cancelled": "bookings_cancelled",
}
#: Final statuses counted as outcomes (``waiting``, ``called``... count only as issued).
OUTCOMES = {
    "done": "served",
    "no_show": "no_shows",
    "cancelled": "cancelled",
    "transferred": "transferred",
    "unserved_at_close": "unserved_at_close",
}
#: The integer fields of a cell, in the order the stored row keeps them.
COUNTS = (
    "issued",
    "transferred_in",
    "served",
    "no_shows",
    "cancelled",
    "transferred",
    "unserved_at_close",
    "waited",
    "wait_sum_s",
    "within_sla",
    "timed",
    "service_sum_s",
    *SCORES,
    "appointments",
    "punctual",
    "bookings",
    "bookings_checked_in",
    "bookings_no_show",
    "bookings_cancelled",
)


def seconds(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    """Whole seconds from ``start`` to ``end`` (never negative), None if either is missing."""
    if start is None or end is None:
        return None
    return max(round((end - start).total_seconds()), 0)


@dataclass
class Cell:
    """What the figures of one group of tickets are made of."""

    issued: int = 0
    transferred_in: int = 0
    served: int = 0
    no_shows: int = 0
    cancelled: int = 0
    transferred: int = 0
    unserved_at_close: int = 0
    waited: int = 0  # tickets called at least once
    wait_sum_s: int = 0
    within_sla: int = 0
    timed: int = 0  # served tickets with a start and a finish
    service_sum_s: int = 0
    very_satisfied: int = 0
    satisfied: int = 0
    not_satisfied: int = 0
    appointments: int = 0  # tickets issued from a booking (inside its check-in window)
    punctual: int = 0  # ... first called at most PUNCTUAL_MIN minutes after the slot's start
    bookings: int = 0  # confirmed bookings of the group's slots
    bookings_checked_in: int = 0
    bookings_no_show: int = 0
    bookings_cancelled: int = 0
    waits: list[int] = field(default_factory=list)  # each called ticket's wait, seconds

    def add_ticket(
        self,
        status: str,
        transfer: bool,
        wait_s: int | None,
        sla_s: float,
        service_s: int | None,
        rating: str | None,
        appointment: bool = False,
        late_s: int | None = None,
    ) -> None:
        """One ticket. ``appointment``: issued from a booking; ``late_s``: then, seconds from
        its slot's start to its first call (``late_seconds``)."""
        if appointment:
            self.appointments += 1
            if on_time(late_s):
                self.punctual += 1
        if transfer:
            self.transferred_in += 1
        else:
            self.issued += 1
        outcome = OUTCOMES.get(status)
        if outcome is not None:
            setattr(self, outcome, getattr(self, outcome) + 1)
        if wait_s is not None:
            self.waited += 1
            self.wait_sum_s += wait_s
            self.waits.append(wait_s)
            if wait_s <= sla_s:
                self.within_sla += 1
        if status == "done" and service_s is not None:
            self.timed += 1
            self.service_sum_s += service_s
        if rating in SCORES:
            setattr(self, rating, getattr(self, rating) + 1)

    def add_booking(self, status: str) -> None:
        """One booking whose slot is in the group (held or expired ones are not counted)."""
        if status not in BOOKING_OUTCOMES:
            return
        self.bookings += 1
        outcome = BOOKING_OUTCOMES[status]
        if outcome is not None:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def merge(self, other: Cell) -> Cell:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waits.extend(other.waits)
        return self

    def sorted_waits(self) -> list[int]:
        """The waits in ascending order (how they are stored)."""
        return sorted(self.waits)

    @classmethod
    def from_stored(cls, counts: dict[str, int], waits: list[int] | None) -> Cell:
        cell = cls(**{name: int(counts[name] or 0) for name in COUNTS})
        cell.waits = list(waits or ())
        return cell


assert tuple(f.name for f in fields(Cell))[: len(COUNTS)] == COUNTS


def percentile_90(values: list[int]) -> int | None:
    """Nearest-rank 90th percentile: the smallest value that at least 90 % of the values are
    <=."""
    if not values:
        return None
    return sorted(values)[max(math.ceil(0.9 * len(values)), 1) - 1]


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def figures(cell: Cell) -> dict[str, Any]:
    """The ticket figures of a report row."""
    p90 = percentile_90(cell.waits)
    rated = cell.very_satisfied + cell.satisfied + cell.not_satisfied
    return {
        "issued": cell.issued,
        "transferred_in": cell.transferred_in,
        "served": cell.served,
        "no_shows": cell.no_shows,
        "cancelled": cell.cancelled,
        "transferred": cell.transferred,
        "unserved_at_close": cell.unserved_at_close,
        "awt_min": _r(cell.wait_sum_s / cell.waited / 60.0) if cell.waited else None,
        "p90_wait_min": _r(p90 / 60.0) if p90 is not None else None,
        "ast_min": _r(cell.service_sum_s / cell.timed / 60.0) if cell.timed else None,
        "service_level": _r(cell.within_sla / cell.waited, 4) if cell.waited else None,
        "very_satisfied": cell.very_satisfied,
        "satisfied": cell.satisfied,
        "not_satisfied": cell.not_satisfied,
        "rated": rated,
        "satisfaction_rate": (
            _r((cell.very_satisfied + cell.satisfied) / rated, 4) if rated else None
        ),
        **booking_figures(cell),
    }


def booking_figures(cell: Cell) -> dict[str, Any]:
    """The appointment figures of a report row (see the module's definitions)."""
    return {
        "bookings": cell.bookings,
        "bookings_checked_in": cell.bookings_checked_in,
        "bookings_no_show": cell.bookings_no_show,
        "bookings_cancelled": cell.bookings_cancelled,
        "appointments": cell.appointments,
        "online_share_used": _r(cell.appointments / cell.issued, 4) if cell.issued else None,
        "appointments_punctual": cell.punctual,
        "punctuality": _r(cell.punctual / cell.appointments, 4) if cell.appointments else None,
    }


def late_seconds(slot_start: dt.datetime | None, first_call: dt.datetime | None) -> int | None:
    """Whole seconds from a booked ticket's slot start to its first call (negative: called
    before the slot), None when either is missing (never called)."""
    if slot_start is None or first_call is None:
        return None
    return round((first_call - slot_start).total_seconds())


def on_time(late_s: int | None) -> bool:
    """Called at most ``PUNCTUAL_MIN`` minutes after the slot's start (``late_seconds``): the
    one test of punctuality, for the reports and the simulator."""
    return late_s is not None and late_s <= PUNCTUAL_MIN * 60
