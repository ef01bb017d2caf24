"""The one KPI definition (server/rules/kpis.py): cells of parts merge into the cell of the
whole, so figures from stored daily cells equal figures from the tickets themselves."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given
from hypothesis import strategies as st

from server.rules.kpis import COUNTS, Cell, figures, percentile_90, seconds

T = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
STATUSES = ("done", "no_show", "cancelled", "transferred", "unserved_at_close", "waiting")
RATINGS = (None, "very_satisfied", "satisfied", "not_satisfied")

ticket = st.tuples(
    st.sampled_from(STATUSES),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 4 * 3600)),
    st.one_of(st.none(), st.integers(0, 3600)),
    st.sampled_from(RATINGS),
)


def _cell(tickets: list[tuple[str, bool, int | None, int | None, str | None]]) -> Cell:
    cell = Cell()
    for status, transfer, wait_s, service_s, rating in tickets:
        cell.add_ticket(status, transfer, wait_s, 20 * 60.0, service_s, rating)
    return cell


@given(st.lists(ticket, max_size=60), st.integers(1, 6), st.randoms())
def test_merged_parts_give_the_figures_of_the_whole(
    tickets: list[tuple[str, bool, int | None, int | None, str | None]], parts: int,
    rnd: random.Random,
) -> None:
    groups: list[list[tuple[str, bool, int | None, int | None, str | None]]] = [
        [] for _ in range(parts)
    ]
    for t in tickets:
        groups[rnd.randrange(parts)].append(t)
    merged = Cell()
    for g in groups:
        part = _cell(g)
        stored = Cell.from_stored({n: getattr(part, n) for n in COUNTS}, part.sorted_waits())
        merged.merge(stored)
    assert figures(merged) == figures(_cell(tickets))


def test_nearest_rank_p90_and_the_figures() -> None:
    assert percentile_90([]) is None
    assert percentile_90([300, 1800]) == 1800  # ceil(0.9 * 2) = 2nd
    assert percentile_90(list(range(1, 11))) == 9
    cell = _cell([("done", False, 300, 720, "satisfied"), ("no_show", False, 600, None, None),
                  ("done", False, 1800, 600, "not_satisfied"), ("cancelled", False, None,
                                                                 None, None)])
    f = figures(cell)
    assert (f["issued"], f["served"], f["no_shows"], f["cancelled"]) == (4, 2, 1, 1)
    assert f["awt_min"] == 15.0 and f["p90_wait_min"] == 30.0 and f["ast_min"] == 11.0
    assert f["service_level"] == 0.6667 and f["satisfaction_rate"] == 0.5
    assert seconds(T, T + dt.timedelta(seconds=59.6)) == 60
    assert seconds(T, T - dt.timedelta(seconds=5)) == 0 and seconds(None, T) is None
