"""How far a restore fence moves a counter (server/rules/fence.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.rules.fence import jump_id, jump_number, margin_for, round_unit


def test_examples() -> None:
    assert jump_number(0, 100) == 100  # a day the backup had not started: A101 next
    assert jump_number(42, 100) == 200  # at least 100 more, to a round hundred: A201 next
    assert jump_number(100, 100) == 200
    assert jump_number(3, 10) == 20  # a PITR: A021 next
    assert jump_number(7, 250) == 300
    assert round_unit(1) == 1 and round_unit(99) == 10 and round_unit(1000) == 1000
    assert jump_id(57, 1_000_000) == 1_000_057


@given(st.integers(0, 10**6), st.integers(1, 10**5))
def test_the_jump_is_at_least_the_margin_and_round(last: int, margin: int) -> None:
    new = jump_number(last, margin)
    assert new >= last + margin
    assert new % round_unit(margin) == 0
    assert new - (last + margin) < round_unit(margin)  # no further than the next round number


def test_bad_margins_are_refused() -> None:
    with pytest.raises(ValueError):
        jump_number(5, 0)
    with pytest.raises(ValueError):
        jump_id(5, 0)
    with pytest.raises(ValueError):
        jump_number(-1, 10)


def test_a_busy_counter_gets_twice_its_recent_pace() -> None:
    assert margin_for(10, 0) == 10 and margin_for(10, 5) == 10
    assert margin_for(10, 40) == 80  # 40 numbers in the 5 minutes before: 80 of margin
    assert jump_number(120, margin_for(10, 40)) == 200
