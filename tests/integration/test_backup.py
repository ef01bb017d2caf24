"""``motcua backup create|restore``: round trips on SQLite and PostgreSQL, a SQLite backup taken
while another thread keeps issuing tickets, and clear errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from server.core.auth import Principal
from server.core.db import Database
from server.features import tickets
from server.models import Base
from server.node.backup import BackupError, restore
from tests.conftest import World

SYSTEM = Principal("system", None, "system", None)
#: What ``motcua backup restore`` changes after the restore itself (features/fences.py).
FENCED = {"service_days", "dossier_days", "restore_fences", "audit_log"}


def state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary key order."""
    db = Database(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with db.read() as s:
            for table in Base.metadata.sorted_tables:
                rows = s.execute(select(table).order_by(*table.primary_key.columns)).all()
                out[table.name] = [tuple(r) for r in rows]
            out["alembic_version"] = [
                tuple(r) for r in s.execute(select(_alembic_table())).all()
            ]
    finally:
        db.dispose()
    return out


def _alembic_table() -> Any:
    from sqlalchemy import Column, MetaData, String, Table

    return Table("alembic_version", MetaData(), Column("version_num", String(32)))


def issue(db: Database, service_code: str = "land") -> dict[str, Any]:
    with db.write() as s:
        now = dt.datetime.now(dt.UTC)
        return tickets.issue_ticket(s, SYSTEM, "HT", service_code, None, "vi", None, now, "")[0]


def cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"MOTCUA_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def test_round_trip(db: Database, world: World, tmp_path: Path) -> None:
    for code in ("land", "land", "civil"):
        issue(db, code)
    with db.write() as s:
        called = tickets.call_next(s, SYSTEM, world.counters[1], dt.datetime.now(dt.UTC), "")
    assert called is not None and called["number"] == "A001"
    before = state(db.url)
    assert len(before["tickets"]) == 3 and before["alembic_version"]

    out = cli(db.url, "backup", "create", str(tmp_path / "motcua.backup"))
    assert "backup written to" in out

    # The queue moves on after the backup: more tickets, a call, a new device.
    for _ in range(4):
        issue(db, "business")
    with db.write() as s:
        tickets.call_next(s, SYSTEM, world.counters[2], dt.datetime.now(dt.UTC), "")
    cli(db.url, "device", "add", "--site", "HT", "--kind", "display", "--name", "tv-2")
    assert state(db.url) != before

    db.engine.dispose()  # the server is stopped for a restore (pooled connections closed)
    out = cli(db.url, "backup", "restore", "--yes", str(tmp_path / "motcua.backup"))
    assert "restored from" in out and "Schema revision" in out
    # Everything came back as it was, except what the restore fence then moved on purpose.
    restored = state(db.url)
    assert {k: v for k, v in restored.items() if k not in FENCED} == {
        k: v for k, v in before.items() if k not in FENCED}
    assert [r[2] for r in restored["restore_fences"]] == ["backup"]
    assert [r[4] for r in restored["audit_log"]] == ["restore.fence"]
    # Numbering jumps past what was handed out after the backup (A003, C001.. are on slips
    # citizens hold): at least 100 numbers, to a round hundred.
    assert issue(db, "land")["number"] == "A201"
    assert issue(db, "business")["number"] == "C101"


def test_restore_asks_before_replacing(db: Database, world: World, tmp_path: Path) -> None:
    cli(db.url, "backup", "create", str(tmp_path / "b"))
    issue(db)
    result = CliRunner().invoke(
        main, ["backup", "restore", str(tmp_path / "b")], env={"MOTCUA_DATABASE_URL": db.url},
        input="n\n",
    )
    assert result.exit_code == 1 and "Aborted" in result.output
    assert len(state(db.url)["tickets"]) == 1  # nothing replaced


def test_sqlite_backup_is_consistent_while_the_server_writes(tmp_path: Path, clock: Any) -> None:
    from server.core import migrate
    from tests.conftest import build_world

    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    migrate.upgrade(url)
    db = Database(url)
    build_world(db, clock())
    stop = threading.Event()
    issued: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            issued.append(issue(db, "land")["number"])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backups = []
        for i in range(5):
            threading.Event().wait(0.05)
            path = tmp_path / f"b{i}.sqlite3"
            cli(url, "backup", "create", str(path))
            backups.append(path)
    finally:
        stop.set()
        thread.join()
        db.dispose()
    counts = []
    for path in backups:
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            numbers = [r[0] for r in conn.execute("SELECT number FROM tickets ORDER BY number")]
            last = conn.execute("SELECT max(last_number) FROM service_days").fetchone()[0]
        finally:
            conn.close()
        # A snapshot: the day's counter and the tickets agree, no hole, nothing half-written.
        assert numbers == list(range(1, len(numbers) + 1))
        assert (last or 0) == len(numbers)
        counts.append(len(numbers))
    assert counts == sorted(counts) and counts[-1] > counts[0]  # taken while tickets came in
    assert len(issued) >= counts[-1]


def test_clear_errors(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a backup")
    with pytest.raises(BackupError, match="neither a SQLite file nor a pg_dump"):
        restore(db_url, junk)
    with pytest.raises(BackupError, match="no backup file"):
        restore(db_url, tmp_path / "missing")
    other = tmp_path / "other"
    if db_url.startswith("sqlite"):
        other.write_bytes(b"PGDMP" + b"\0" * 100)
        with pytest.raises(BackupError, match="is a postgresql backup but the database is sqlite"):
            restore(db_url, other)
    else:
        sqlite3.connect(other).close()
        other.write_bytes(b"SQLite format 3\x00" + b"\0" * 100)
        with pytest.raises(BackupError, match="is a sqlite backup but the database is postgresql"):
            restore(db_url, other)
        monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump anywhere
        result = CliRunner().invoke(
            main, ["backup", "create", str(tmp_path / "x")], env={"MOTCUA_DATABASE_URL": db_url}
        )
        assert result.exit_code == 1
        assert "pg_dump not found: install the PostgreSQL client" in result.output
        assert "Traceback" not in result.output
