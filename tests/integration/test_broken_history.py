"""A database stamped by a rewired history: an earlier build's 0007 followed 0005 directly, so a
database stamped ``0007`` then never receives today's 0006 (``tickets.reserved_counter_id``).
Alembic trusts the stamp. Here: ``motcua init-db`` refuses it in one line naming what is
missing and the repair; ``/readyz`` answers 503 schema_behind until it is repaired; issuing and
calling answer 503 schema_behind, never 500; ``motcua db repair`` brings it to the schema a
fresh database has at head, after which everything works."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect

from server.app import create_app
from server.cli import main
from server.config import Settings
from server.core import migrate, schema_check
from server.core.db import Database
from server.node.health import node_state
from server.node.preflight import database_problem
from tests.conftest import BASE_URL, Api, Clock, World, build_world, scratch_pg
from tests.support import fill_every_table, free_port, full_schema, row_counts

DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def old_history(tmp_path: Path) -> Path:
    """The migrations as the earlier build had them: 0001…0005, then 0007 (no 0006)."""
    folder = tmp_path / "old-history"
    shutil.copytree(migrate.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    versions = folder / "versions"
    for path in versions.glob("*.py"):
        if path.name[:4] > "0007" or path.name.startswith("0006"):
            path.unlink()
    rewired = next(versions.glob("0007_*.py"))
    rewired.write_text(rewired.read_text().replace('down_revision = "0006"',
                                                   'down_revision = "0005"'))
    return folder


def build_rewired(url: str, tmp_path: Path, then_head: bool = False) -> None:
    """Stamp 0007 over a 0005-shaped schema plus 0007's objects. ``then_head``: and let the
    upgrade that ran before this check existed carry it on to head (stamped at head, 0006's
    column still missing: the database the measured 500s came from)."""
    cfg = migrate.alembic_config(url)
    cfg.set_main_option("script_location", str(old_history(tmp_path)))
    command.upgrade(cfg, "0007")
    if then_head:
        migrate.upgrade(url)


def init_db(url: str) -> Any:
    return CliRunner().invoke(main, ["init-db"], env={"MOTCUA_DATABASE_URL": url})


@pytest.mark.parametrize("empty_url", DIALECTS, indirect=True)
def test_init_db_refuses_then_db_repair_brings_it_to_head(
        empty_url: str, tmp_path: Path) -> None:
    build_rewired(empty_url, tmp_path)
    # A row in every table: the repair rebuilds tickets (SQLite) under rows that point at it.
    rows = fill_every_table(empty_url)
    db = Database(empty_url)
    try:
        done = init_db(empty_url)
        assert done.exit_code == 1, done.output
        lines = [line for line in done.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in done.output, done.output
        for part in ("stamped at schema revision 0007", "tickets.reserved_counter_id",
                     "index ix_tickets_reserved_counter", "(revision 0006)",
                     "motcua db repair", "motcua backup create"):
            assert part in lines[0], lines[0]
        assert migrate.current_revision(db.engine) == "0007"  # nothing ran
        # A node refuses to start on it with the same line.
        assert "tickets.reserved_counter_id" in (database_problem(empty_url) or "")
        check = CliRunner().invoke(main, ["db", "check"], env={"MOTCUA_DATABASE_URL": empty_url})
        assert check.exit_code == 1 and "revision 0006" in check.output

        repaired = CliRunner().invoke(main, ["db", "repair"],
                                      env={"MOTCUA_DATABASE_URL": empty_url})
        assert repaired.exit_code == 0, repaired.output
        assert "Applied the skipped revision(s) 0006" in repaired.output
        assert migrate.current_revision(db.engine) == schema_check.head()
        assert schema_check.inspect_schema(db.engine).matches
        again = init_db(empty_url)
        assert again.exit_code == 0 and "Database ready at revision" in again.output
        check = CliRunner().invoke(main, ["db", "check"], env={"MOTCUA_DATABASE_URL": empty_url})
        assert check.exit_code == 0 and "Schema matches revision" in check.output
    finally:
        db.dispose()
    after = row_counts(empty_url, list(rows))
    after.pop("priority_categories")  # init-db adds the default priority categories
    rows.pop("priority_categories")
    assert after == rows  # the repair kept every row
    # Compared with a database built fresh at head in one of its own (the session's shared
    # PostgreSQL database may hold a restored dump, which spells check constraints otherwise).
    if empty_url.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        migrate.upgrade(fresh)
        assert full_schema(empty_url) == full_schema(fresh)
    else:
        with scratch_pg() as fresh:
            migrate.upgrade(fresh)
            assert full_schema(empty_url) == full_schema(fresh)


def test_a_half_applied_revision_is_refused_not_guessed(tmp_path: Path) -> None:
    """Only a revision missing as a whole is applied by the repair: with part of it there
    (here 0006's index without its column is impossible, so: 0007's table dropped but its
    columns kept), the repair refuses and says to restore the backup."""
    url = f"sqlite:///{tmp_path / 'half.sqlite3'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE pairing_codes")
        with pytest.raises(schema_check.SchemaMismatch, match="restore the backup"):
            schema_check.repair(db.engine)
        done = init_db(url)
        assert done.exit_code == 1 and "table pairing_codes (revision 0007)" in done.output
    finally:
        db.dispose()


def _serve(db: Database, clock: Clock, seed: bool = True) -> tuple[Any, Api]:
    """The app on ``db``; ``seed``: with the small site of tests/conftest.py (else tokens that
    are never looked up: a database stamped 0007 lacks the token table's later columns, so the
    requests fail at authentication, with the same answer)."""
    world = build_world(db, clock()) if seed else World(
        db, tokens={"kiosk": "k" * 40, "clerk": "c" * 40}, counters={1: 1})
    app = create_app(Settings(database_url=db.url, public_base_url=BASE_URL, print_worker=False,
                              outbox_worker=False,
                              rate_limits=False), db=db, clock=clock)
    app.testing = True
    return app, Api(app.test_client(), world)


@pytest.mark.parametrize("then_head", [False, True], ids=["stamped-0007", "stamped-head"])
@pytest.mark.parametrize("empty_url", DIALECTS, indirect=True)
def test_the_api_answers_503_schema_behind_until_repaired(
        empty_url: str, then_head: bool, tmp_path: Path, clock: Clock) -> None:
    build_rewired(empty_url, tmp_path, then_head=then_head)
    db = Database(empty_url)
    app, api = _serve(db, clock, seed=then_head)
    # The app's first start replaces the root logger's handlers (server/node/logs.py), so
    # pytest's caplog would miss these: listen on the loggers themselves.
    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign]
    watched = [logging.getLogger("motcua.incidents"), logging.getLogger("motcua.api")]
    for logger in watched:
        logger.addHandler(listener)
    try:
        ready = api.call("GET", "/readyz")
        assert ready.status_code == 503
        body = ready.get_json()
        assert body["error"]["code"] == "schema_behind"
        assert "Quý khách" not in body["error"]["message"] and "bạn" not in body["error"]["message"]
        assert "nâng cấp cơ sở dữ liệu" in body["error"]["message"]
        assert "database upgrade" in api.call("GET", "/readyz?lang=en").get_json()["error"][
            "message"]
        assert body["checks"]["schema"] == "behind"
        assert body["reason"].startswith("schema behind: missing ")
        # The reason names the first few; the skipped revision's column is among what is missing.
        assert "tickets.reserved_counter_id" in schema_check.missing_model_columns(db.engine)

        statuses: dict[int, int] = {}
        for i in range(340):  # 680 requests, as many as the 500s measured before
            r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk", json={"service": "land"},
                         headers={"Idempotency-Key": f"k{i}"})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code == 503 and r.get_json()["error"]["code"] == "schema_behind"
            assert r.headers["Retry-After"]
            r = api.call("POST", f"/api/v1/counters/{api.world.counters[1]}/call-next", "clerk")
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code == 503 and r.get_json()["error"]["code"] == "schema_behind"
        assert statuses == {503: 680}
        # One incident, one log line, not 680; the supervisor sees it.
        assert db.incidents.is_open("schema")
        began = [r for r in records if r.name == "motcua.incidents"
                 and r.getMessage() == "schema unavailable"]
        assert len(began) == 1, [r.getMessage() for r in records]
        assert not [r for r in records if r.name == "motcua.api"]  # no "unhandled error"
        metrics = api.client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
        assert 'motcua_dependency_up{part="schema"} 0.0' in metrics
        assert 'motcua_schema_unavailable_total{kind="missing_column"}' in metrics
        assert sum(n for (part, _), n in db.incidents.counts.items() if part == "schema") >= 680

        done = CliRunner().invoke(main, ["db", "repair"], env={"MOTCUA_DATABASE_URL": db.url})
        assert done.exit_code == 0, done.output
        # /readyz reads the schema again after SCHEMA_CHECK_EVERY_S; clear its memory instead
        # of waiting.
        node_state(app).schema = None
        if not then_head:
            api.world = build_world(db, clock())
        ready = api.call("GET", "/readyz")
        assert ready.status_code == 200, ready.get_json()
        assert ready.get_json()["checks"]["schema"] == "ok"
        assert not db.incidents.is_open("schema")
        issued = api.issue("land")
        called = api.call_next(1)
        assert called is not None and called["id"] == issued["id"]
        assert "reserved_counter_id" in {c["name"] for c in inspect(db.engine).get_columns(
            "tickets")}
    finally:
        for logger in watched:
            logger.removeHandler(listener)
        app.extensions["motcua_printing"].stop()
        db.dispose()


def test_readyz_reads_the_schema_at_most_every_few_seconds(db: Database, clock: Clock) -> None:
    """The schema check is cached: a second /readyz within SCHEMA_CHECK_EVERY_S reuses it."""
    app, api = _serve(db, clock)
    try:
        assert api.call("GET", "/readyz").status_code == 200
        first = node_state(app).schema
        assert first is not None and first.result == "ok"
        assert api.call("GET", "/readyz").status_code == 200
        assert node_state(app).schema is first
    finally:
        app.extensions["motcua_printing"].stop()


@pytest.mark.parametrize("empty_url", DIALECTS, indirect=True)
def test_a_newer_schema_leaves_the_node_ready(empty_url: str, clock: Clock) -> None:
    """During a rolling upgrade the next release stamps a revision this code does not know:
    with every table and column this code uses still there (expand then contract), the node
    stays ready and says so; a column it uses gone makes it 503 schema_behind. (A database of
    its own: the test changes its schema.)"""
    migrate.upgrade(empty_url)
    db = Database(empty_url)
    app, api = _serve(db, clock)
    try:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dcafe0010'")
        r = api.call("GET", "/readyz")
        assert r.status_code == 200 and r.get_json()["checks"]["schema"] == "newer"
        assert r.get_json()["status"] == "ready"
        # A revision of this release's history before its head: behind, columns or not.
        older = schema_check.chain(schema_check.head())[-2]
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{older}'")
        node_state(app).schema = None
        r = api.call("GET", "/readyz")
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "schema_behind"
        assert f"at revision {older}" in r.get_json()["reason"]
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE sites DROP COLUMN phone")
        node_state(app).schema = None
        r = api.call("GET", "/readyz")
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "schema_behind"
        assert "sites.phone" in r.get_json()["reason"]
    finally:
        app.extensions["motcua_printing"].stop()
        db.dispose()


def test_a_node_refuses_to_start_on_it(tmp_path: Path) -> None:
    """`motcua run` on SQLite migrates by itself; over a schema that is not what its stamp says
    it refuses instead, in one line, without migrating."""
    url = f"sqlite:///{tmp_path / 'rewired.sqlite3'}"
    build_rewired(url, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "server", "run", "--port", str(free_port())], cwd=tmp_path,
        env={**os.environ, "MOTCUA_DATABASE_URL": url}, capture_output=True, text=True,
        timeout=120, check=False)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0 and "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert output.startswith("Error: Motcua cannot start: the database")
    assert "tickets.reserved_counter_id" in output and "motcua db repair" in output
    db = Database(url)
    try:
        assert migrate.current_revision(db.engine) == "0007"  # nothing ran
    finally:
        db.dispose()
