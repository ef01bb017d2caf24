"""The point-in-time recovery drill, short: a private PostgreSQL cluster archiving to a
pgBackRest repository under a few API clients loses its data directory at a random moment;
restored to the end of the archived WAL, nothing acknowledged before the last archived WAL
switch is lost, and after ``motcua backup fence --pitr`` nothing is handed out twice.
(tests/bench/drill_pitr.py is the full drill, with its figures.)"""

from __future__ import annotations

import pytest

from tests.bench import drill_pitr


@pytest.mark.postgres
@pytest.mark.slow
def test_pitr_drill_loses_nothing_acknowledged_and_reissues_nothing() -> None:
    fig = drill_pitr.drill(seconds=8, kiosks=2, counters=2, after_seconds=3, verify=True,
                           seed=7)
    print("\n" + "\n".join(drill_pitr.report(fig)))
    assert fig["acked_tickets"] > 20 and fig["after_tickets"] > 5
    assert fig["lost_tickets_before_switch"] == 0
    assert fig["lost_dossiers_before_switch"] == 0
    assert fig["reused_numbers"] == 0
    assert fig["reused_ticket_ids"] == 0
    assert fig["reused_dossier_codes"] == 0
    assert drill_pitr.failed(fig) == []
    # verify restored the newest backup into a scratch cluster and printed both counts.
    assert any(line.startswith("tickets ") for line in fig["verify_output"])
    assert fig["verify_output"][-1].startswith("the restored copy is whole")
