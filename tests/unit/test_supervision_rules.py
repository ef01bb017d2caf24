"""The SLA colour rule of the supervisor dashboard (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.features.supervision import sla_state


def test_thresholds_at_75_and_100_percent_of_the_target() -> None:
    assert sla_state(None, 20) == "green"  # nobody waiting
    assert sla_state(0, 20) == "green"
    assert sla_state(14.9, 20) == "green"
    assert sla_state(15.0, 20) == "amber"
    assert sla_state(19.9, 20) == "amber"
    assert sla_state(20.0, 20) == "red"
    assert sla_state(90, 20) == "red"


ORDER = {"green": 0, "amber": 1, "red": 2}


@given(st.floats(0, 500), st.floats(0, 500), st.integers(1, 120))
def test_a_longer_wait_is_never_a_better_state(a: float, b: float, target: int) -> None:
    lo, hi = sorted((a, b))
    assert ORDER[sla_state(lo, target)] <= ORDER[sla_state(hi, target)]
