"""The point-in-time recovery drill, short: a private PostgreSQL cluster archiving to a
pgBackRest repository, with a synchronous ``pg_receivewal`` keeping the WAL on the side,
under a few API clients loses its data directory at a random moment, without warning (no WAL
switch); restored from the repository plus the stream, nothing acknowledged is lost, and
after ``motcua backup fence --pitr`` nothing is handed out twice.
(tests/bench/drill_pitr.py is the full drill, with its figures and the other modes.)"""

from __future__ import annotations

import pytest

from tests.bench import drill_pitr


@pytest.mark.postgres
@pytest.mark.slow
def test_pitr_drill_loses_nothing_acknowledged_and_reissues_nothing() -> None:
    fig = drill_pitr.drill(seconds=8, kiosks=2, counters=2, after_seconds=3, verify=True,
                           seed=7, stream=True)
    print("\n" + "\n".join(drill_pitr.report(fig)))
    assert fig["acked_tickets"] > 20 and fig["after_tickets"] > 5
    assert not fig["forced_switch"] and fig["wal_from_stream"]
    # Without a switch every acknowledgement counts as "before": all of them came back.
    assert fig["lost_tickets_before_switch"] == 0
    assert fig["lost_dossiers_before_switch"] == 0
    assert fig["reused_numbers"] == 0
    assert fig["reused_ticket_ids"] == 0
    assert fig["reused_dossier_codes"] == 0
    assert drill_pitr.failed(fig) == []
    # verify restored the newest backup into a scratch cluster and printed both counts.
    counts = {line.split()[0]: line.split()[1:] for line in fig["verify_output"][2:-1]}
    live, restored = (int(x) for x in counts["tickets"][:2])
    # verify switched and archived the WAL first, and no node ran meanwhile: the copy is the
    # live database, every acknowledged ticket in it.
    assert restored == live >= fig["acked_tickets"]
    assert fig["verify_output"][-1].startswith("the restored copy is whole")
