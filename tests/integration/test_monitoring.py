"""The metrics the shipped alerts (deploy/prometheus/motcua.rules.yml) need, on SQLite and
PostgreSQL: the longest wait against the SLA, printers in any bad state and their waiting jobs,
realtime events dropped, the last backup, the schema revision, disk use."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.config import Settings
from server.core.db import Database
from server.core.migrate import current_revision
from server.models import PrinterState, PrintJob
from server.node import backup_marker
from tests.conftest import BASE_URL, Api, Clock, World


def samples(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("audio", "spool", "backups")}


@pytest.fixture
def app_settings(folders: dict[str, Path]) -> dict[str, object]:
    return {"audio_dir": str(folders["audio"]), "printer_spool_dir": str(folders["spool"]),
            "backup_dir": str(folders["backups"]), "audio_cache_max": 50}


def land(site: str = "HT") -> tuple[tuple[str, str], ...]:
    return (("service", "land"), ("site", site))


def test_longest_wait_against_the_sla(api: Api, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))  # 9:00 in Hanoi
    m = samples(api.client)
    assert m[("motcua_longest_wait_seconds", land())] == 0  # nobody waiting
    assert m[("motcua_sla_target_seconds", land())] == 20 * 60
    api.issue("land")
    clock.advance(minutes=25)
    api.issue("land")
    api.issue("civil")
    clock.advance(minutes=1)
    m = samples(api.client)
    assert m[("motcua_longest_wait_seconds", land())] == 26 * 60  # the oldest of the two
    assert m[("motcua_longest_wait_seconds", (("service", "civil"), ("site", "HT")))] == 60
    assert m[("motcua_waiting_tickets", land())] == 2
    api.call_next(1)  # the oldest is called: the next one has waited a minute
    assert samples(api.client)[("motcua_longest_wait_seconds", land())] == 60


def test_printers_in_any_bad_state_and_their_waiting_jobs(
    api: Api, db: Database, clock: Clock
) -> None:
    """An unreachable printer is 'error' (not offline or paper_out) and its jobs wait, retried,
    with none failed yet: both show."""
    now = clock.advance(seconds=0)  # fixed from here on
    uri = "tcp://10.0.0.5:9100"
    with db.write() as s:
        s.add(PrinterState(uri=uri, status="error", detail="connection refused", changed_at=now))
        s.add(PrinterState(uri="tcp://10.0.0.6:9100", status="online", changed_at=now))
        for minutes, status in ((12, "queued"), (3, "printing"), (1, "queued"), (30, "done"),
                                (40, "unknown")):
            s.add(PrintJob(id=uuid.uuid4().hex, uri=uri, data=b"slip", status=status,
                           attempts=1, next_attempt_at=now,
                           created_at=now - dt.timedelta(minutes=minutes)))
    m = samples(api.client)
    assert m[("motcua_printer_status", (("printer", "10.0.0.5:9100"), ("status", "error")))] == 1
    assert m[("motcua_printer_status", (("printer", "10.0.0.6:9100"), ("status", "online")))] == 1
    assert m[("motcua_printers", (("status", "error"),))] == 1
    assert m[("motcua_printer_jobs_waiting", (("printer", "10.0.0.5:9100"),))] == 3
    assert m[("motcua_printer_oldest_job_age_seconds", (("printer", "10.0.0.5:9100"),))] == 720
    assert m[("motcua_print_jobs", (("status", "queued"),))] == 2
    assert m[("motcua_print_jobs", (("status", "failed"),))] == 0
    # Any status a job can have but done is counted, including ones added later.
    assert m[("motcua_print_jobs", (("status", "unknown"),))] == 1
    assert ("motcua_print_jobs", (("status", "done"),)) not in m


def test_backup_marker(api: Api, folders: dict[str, Path]) -> None:
    key = ("motcua_backup_last_success_timestamp_seconds", ())
    assert samples(api.client)[key] == 0  # none recorded: the alert fires
    when = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)
    path = backup_marker.record_success(folders["backups"], when, "postgresql", "/b/x.dump")
    assert samples(api.client)[key] == when.timestamp()
    last = backup_marker.last_success(folders["backups"])
    assert last == backup_marker.LastBackup(when, "postgresql", "/b/x.dump")
    path.write_text("{not json")
    assert backup_marker.last_success(folders["backups"]) is None
    assert samples(api.client)[key] == 0


def test_schema_revision_and_disk_use(api: Api, db: Database, folders: dict[str, Path]) -> None:
    for lang in ("vi", "en"):
        (folders["audio"] / lang).mkdir(parents=True)
        for i in range(3):
            (folders["audio"] / lang / f"A00{i}-3.x.wav").write_bytes(b"w" * 1000)
            (folders["audio"] / lang / f"A00{i}-3.x.json").write_bytes(b"{}")
    folders["spool"].mkdir()
    (folders["spool"] / "kiosk-1.bin").write_bytes(b"s" * 777)
    m = samples(api.client)
    revision = current_revision(db.engine)
    assert m[("motcua_schema_revision_info", (("head", revision), ("revision", revision)))] == 1
    assert m[("motcua_database_size_bytes", ())] > 100_000
    assert m[("motcua_audio_cache_files", ())] == 6
    assert m[("motcua_audio_cache_bytes", ())] == 6000
    assert m[("motcua_audio_cache_max_files", ())] == 50
    assert m[("motcua_spool_bytes", ())] == 777


@pytest.fixture
def redis_away(db: Database, clock: Clock, world: World, folders: dict[str, Path]
               ) -> Iterator[Any]:
    """Redis configured but nothing listens there (port 1 on loopback)."""
    app = create_app(
        Settings(database_url=db.url, public_base_url=BASE_URL, print_worker=False,
                 outbox_worker=False,
                 redis_url="redis://127.0.0.1:1/0", rate_limits=False,
                 audio_dir=str(folders["audio"])),
        db=db, clock=clock,
    )
    app.testing = True
    yield app.test_client()
    app.extensions["motcua_printing"].stop()


def test_realtime_events_dropped_are_counted(redis_away: Any, world: World) -> None:
    key = ("motcua_realtime_events_dropped_total", ())
    assert samples(redis_away)[key] == 0
    for i in range(3):
        r = redis_away.post(f"/api/v1/sites/{world.site}/tickets", json={"service": "land"},
                            headers={"Authorization": f"Bearer {world.tokens['kiosk']}",
                                     "Idempotency-Key": f"drop-{i}"})
        assert r.status_code == 201, r.get_data(as_text=True)
    # Each issue publishes its events (the ticket, the queue's stats): none reached Redis.
    assert samples(redis_away)[key] >= 3


def test_backup_mark_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a backup timer runs after its backup (ExecStartPost): the marker the alert reads."""
    from click.testing import CliRunner

    from server.cli import main

    monkeypatch.setenv("MOTCUA_BACKUP_DIR", str(tmp_path / "b"))
    r = CliRunner().invoke(main, ["backup", "mark", "--kind", "pgbackrest-full",
                                  "--target", "/var/lib/pgbackrest"])
    assert r.exit_code == 0, r.output
    last = backup_marker.last_success(tmp_path / "b")
    assert last is not None and last.kind == "pgbackrest-full"
    assert last.target == "/var/lib/pgbackrest"
    assert abs((dt.datetime.now(dt.UTC) - last.finished_at).total_seconds()) < 600


def test_backup_create_records_its_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`motcua backup create` leaves the marker itself once the copy is complete, and a failed
    backup leaves none (the alert must not be silenced by a backup that did not happen)."""
    from click.testing import CliRunner

    from server.cli import main

    db = tmp_path / "motcua.db"
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("MOTCUA_BACKUP_DIR", str(tmp_path / "b"))
    r = CliRunner().invoke(main, ["init-db"])
    assert r.exit_code == 0, r.output
    (tmp_path / "out").mkdir()
    r = CliRunner().invoke(main, ["backup", "create", str(tmp_path / "out" / "x.db")])
    assert r.exit_code == 0, r.output
    last = backup_marker.last_success(tmp_path / "b")
    assert last is not None
    assert (last.kind, last.target) == ("sqlite", str(tmp_path / "out" / "x.db"))

    (tmp_path / "b" / backup_marker.MARKER_NAME).unlink()
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'none.db'}")
    r = CliRunner().invoke(main, ["backup", "create", str(tmp_path / "out" / "y.db")])
    assert r.exit_code != 0
    assert backup_marker.last_success(tmp_path / "b") is None
