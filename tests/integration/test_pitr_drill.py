"""The point-in-time recovery drill, short: a private PostgreSQL cluster archiving to a
pgBackRest repository, with a synchronous ``pg_receivewal`` keeping the WAL on the side,
under a few API clients loses its data directory at a random moment, without warning (no WAL
switch); restored from the repository plus the stream, nothing acknowledged is lost, and
after ``motcua backup fence --pitr`` nothing is handed out twice.
(tests/bench/drill_pitr.py is the full drill, with its figures and the other modes.)"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

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


@pytest.mark.postgres
def test_motcua_backup_pitr_commands_drive_pgbackrest(tmp_path: Path) -> None:
    """``motcua backup pitr create|info|restore``, ``fence --pitr`` and ``verify`` on a private
    cluster archiving to a repository of its own, through the command line an operator uses."""
    base = Path(tempfile.mkdtemp(prefix="motcua-pitr-cli-"))
    cluster = drill_pitr.Cluster(base, archive_timeout=60)
    try:
        cluster.init()
        env = {**os.environ, "MOTCUA_DATABASE_URL": cluster.url,
               "MOTCUA_PGBACKREST_CONFIG": str(cluster.conf), "MOTCUA_PGBACKREST_STANZA": "motcua"}
        drill_pitr.motcua(env, "init-db")
        out = drill_pitr.motcua(env, "backup", "pitr", "create", "--type", "full")
        assert out.startswith("full backup ") and " bytes in the repository" in out
        facts = json.loads(drill_pitr.motcua(env, "backup", "pitr", "info", "--json"))
        assert [b["type"] for b in facts["backups"]] == ["full"] and facts["wal_max"]
        demo_out = drill_pitr.motcua(env, "demo")  # work after the backup, in the WAL only
        assert "HACTHANH" in demo_out
        engine = create_engine(cluster.url)
        with engine.connect() as conn:
            sites = conn.scalar(text("SELECT count(*) FROM sites"))
        engine.dispose()
        cluster.switch_and_archive()
        cluster.destroy()
        out = drill_pitr.motcua(env, "backup", "pitr", "restore", "--yes",
                                "--data-dir", str(cluster.data))
        assert "motcua backup fence --pitr" in out
        cluster.start()
        cluster.wait_writable()
        engine = create_engine(cluster.url)
        with engine.connect() as conn:  # the demo came back from the archived WAL
            assert conn.scalar(text("SELECT count(*) FROM sites")) == sites
        engine.dispose()
        assert "Restore fence 1 (pitr)" in drill_pitr.motcua(env, "backup", "fence", "--pitr")
        out = drill_pitr.motcua(env, "backup", "verify")
        assert "the restored copy is whole" in out
    finally:
        cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
