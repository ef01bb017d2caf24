"""The dossier step table: the main path, supplement and resubmission, final states."""

from __future__ import annotations

import pytest

from server.features.dossiers import mask_id
from server.rules.dossier_states import (
    FINAL,
    RESUBMITTED,
    STEPS,
    TRANSITIONS,
    DossierStatus,
    IllegalDossierStep,
    next_status,
)

D = DossierStatus


def test_main_path() -> None:
    s = D.RECEIVED
    for step in ("transferred", "processing", "result_ready", "returned"):
        s = next_status(s, step)
        assert s == step
    assert s in FINAL


@pytest.mark.parametrize("origin", [D.RECEIVED, D.TRANSFERRED, D.PROCESSING])
def test_resubmission_goes_back_to_the_interrupted_step(origin: DossierStatus) -> None:
    paused = next_status(origin, "supplement_requested")
    assert paused == D.SUPPLEMENT_REQUESTED
    assert next_status(paused, RESUBMITTED, origin) == origin


def test_resubmission_without_a_known_origin_goes_back_to_received() -> None:
    assert next_status(D.SUPPLEMENT_REQUESTED, RESUBMITTED, None) == D.RECEIVED
    assert next_status(D.SUPPLEMENT_REQUESTED, RESUBMITTED, "returned") == D.RECEIVED


def test_final_states_allow_nothing_and_unknowns_raise() -> None:
    for final in FINAL:
        for step in STEPS:
            with pytest.raises(IllegalDossierStep):
                next_status(final, step)
    with pytest.raises(IllegalDossierStep):
        next_status("lost", "processing")
    with pytest.raises(IllegalDossierStep):
        next_status(D.RECEIVED, "received")
    with pytest.raises(IllegalDossierStep):
        next_status(D.RESULT_READY, "supplement_requested")


def test_every_status_has_a_row_and_steps_cover_the_table() -> None:
    assert set(TRANSITIONS) == set(D)
    reachable = set().union(*TRANSITIONS.values())
    assert reachable == set(STEPS)


def test_mask_id_keeps_four_and_two() -> None:
    assert mask_id("034090001234") == "0340******34"
    assert mask_id("123") == "***"
