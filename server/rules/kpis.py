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

Pure: no database, no Flask.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, fields
from typing import Any

SCORES = ("very_satisfied", "satisfied", "not_satisfied")
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
    waits: list[int] = field(default_factory=list)  # each called ticket's wait, seconds

    def add_ticket(
        self,
        status: str,
        transfer: bool,
        wait_s: int | None,
        sla_s: float,
        service_s: int | None,
        rating: str | None,
    ) -> None:
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
    }
