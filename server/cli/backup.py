"""``motcua backup``: dumps (``create``/``restore`` FILE), point-in-time recovery with pgBackRest
(``pitr create|info|restore``), the restore fence (``fence``) and ``verify``.

``restore`` fences by itself once the data is back. After a pgBackRest restore (PostgreSQL
replays the WAL when it starts) or a replica's promotion, the database is not reachable from
the restore command: ``motcua backup fence --pitr`` is run once PostgreSQL accepts writes,
before the app nodes start (docs/operations.md, "Restoring").
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from server.app import system_clock
from server.cli.common import settings_from_env
from server.cli.ops import CLI
from server.config import Settings
from server.core import migrate
from server.core.db import Database
from server.features import fences
from server.node import backup as dump
from server.node import backup_marker, pitr
from server.node.backup import BackupError


@click.group(help="Back up and restore the database (SQLite file or PostgreSQL).")
def backup() -> None:
    pass


def _repo(settings: Settings) -> pitr.Repo:
    return pitr.Repo(stanza=settings.pgbackrest_stanza, config=settings.pgbackrest_config)


@backup.command("create", help="Write a consistent backup of the database to FILE.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def create_cmd(file: Path) -> None:
    settings = settings_from_env()
    try:
        click.echo(dump.create(settings.database_url, file))
    except BackupError as err:
        raise click.ClickException(str(err)) from None
    _record(settings, make_url(settings.database_url).get_backend_name(), str(file))


def _record(settings: Settings, kind: str, target: str) -> None:
    """Leave the marker of a backup that has just completed (the backup-age alert reads it)."""
    now = dt.datetime.now(dt.UTC)
    path = backup_marker.record_success(settings.backup_folder(), now, kind, target)
    click.echo(f"last successful backup recorded at {now.isoformat(timespec='seconds')}: {path}")


@backup.command(
    "mark",
    help="Record that a backup has just completed (the marker /metrics reads for the "
    "backup-age alert); for backups taken by other tools, e.g. a pgBackRest timer's "
    "ExecStartPost. `create` and `pitr create` record their own.",
)
@click.option("--kind", default="external", show_default=True, help="What made the backup")
@click.option("--target", default="", help="The file or repository written")
def mark_cmd(kind: str, target: str) -> None:
    _record(settings_from_env(), kind, target)


def fence_database(settings: Settings, kind: str, source: str | None) -> dict[str, Any]:
    """Fence the database of ``settings`` after a restore of ``kind``, with its margins."""
    if kind == "pitr":
        numbers, ids = settings.restore_pitr_number_margin, settings.restore_pitr_id_margin
    else:
        numbers, ids = settings.restore_number_margin, settings.restore_id_margin
    db = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        if "restore_fences" not in inspect(db.engine).get_table_names():
            raise click.ClickException(
                "the restored database predates restore fences: run `motcua init-db`, then "
                "`motcua backup fence`, before starting the app nodes"
            )
        with db.write() as s:
            return fences.apply(s, CLI, system_clock(), kind, numbers, ids, source)
    finally:
        db.dispose()


def _echo_fence(summary: dict[str, Any]) -> None:
    services = summary["services"].values()
    click.echo(
        f"Restore fence {summary['id']} ({summary['kind']}): the data ends at "
        f"{summary['restored_to'] or '(no activity recorded)'}; numbers jump by at least "
        f"{summary['number_margin']}, ids by {summary['id_margin']}."
    )
    if services:
        click.echo("  tickets continue from: " + ", ".join(
            f"{v['site']}/{v['service']} {v['next']}" for v in services))
    for key, v in summary["dossiers"].items():
        click.echo(f"  dossier codes {key}: {v['from']} -> {v['to']}")
    for table, v in summary["ids"].items():
        click.echo(f"  ids of {table}: {v['from']} -> {v['to']}")


@backup.command(
    "restore",
    help="Replace the database's content with the backup FILE, then fence it (numbers, "
    "dossier codes and ids jump past what was handed out after the backup). Stop the app "
    "nodes first.",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def restore_cmd(file: Path, yes: bool) -> None:
    settings = settings_from_env()
    url = settings.database_url
    if not yes:
        click.confirm(
            f"Replace everything in {make_url(url).render_as_string(hide_password=True)} "
            f"with {file}?",
            abort=True,
        )
    try:
        click.echo(dump.restore(url, file))
    except BackupError as err:
        raise click.ClickException(str(err)) from None
    db = Database(url)
    try:
        revision = migrate.current_revision(db.engine)
    finally:
        db.dispose()
    click.echo(f"Schema revision of the restored data: {revision} (`motcua init-db` upgrades it).")
    _echo_fence(fence_database(settings, "backup", str(file)))


@backup.command(
    "fence",
    help="Make ticket numbers, dossier codes and ids jump past anything handed out after the "
    "restored point. Run once after a pgBackRest restore or a replica's promotion, before "
    "the app nodes start (`restore` of a FILE does it by itself).",
)
@click.option("--pitr", "is_pitr", is_flag=True,
              help="The restore reached the end of the archived WAL: the smaller margins")
@click.option("--source", default=None, help="What was restored (kept with the fence)")
@click.option("--json", "as_json", is_flag=True, help="Print the fence as JSON")
def fence_cmd(is_pitr: bool, source: str | None, as_json: bool) -> None:
    summary = fence_database(settings_from_env(), "pitr" if is_pitr else "backup", source)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _echo_fence(summary)


@backup.group("pitr", help="Point-in-time recovery of PostgreSQL with pgBackRest.")
def pitr_group() -> None:
    pass


@pitr_group.command("create", help="Take a pgBackRest backup (the systemd timers do it daily).")
@click.option("--type", "kind", type=click.Choice(pitr.BACKUP_TYPES), default="full")
def pitr_create(kind: str) -> None:
    settings = settings_from_env()
    try:
        b = pitr.create(_repo(settings), kind)
    except BackupError as err:
        raise click.ClickException(str(err)) from None
    click.echo(
        f"{b['type']} backup {b['label']} in {b['seconds']} s: database {b['database_bytes']} "
        f"bytes, {b['repository_bytes']} bytes in the repository"
    )
    _record(settings, f"pgbackrest-{b['type']}", f"{settings.pgbackrest_stanza}:{b['label']}")


@pitr_group.command("info", help="The backups in the repository and the archived WAL range.")
@click.option("--json", "as_json", is_flag=True)
def pitr_info(as_json: bool) -> None:
    try:
        facts = pitr.info(_repo(settings_from_env()))
    except BackupError as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(facts))
        return
    click.echo(f"status: {facts['status']}; WAL archived {facts['wal_min']} .. {facts['wal_max']}")
    for b in facts["backups"]:
        click.echo(f"  {b['label']} {b['type']:<5} stop {b['stop']} {b['repository_bytes']} B")


@pitr_group.command(
    "restore",
    help="Restore the (stopped) cluster's data directory from the repository, to the end of the "
    "archived WAL or to --target. Then start PostgreSQL and run `motcua backup fence --pitr` "
    "(without --target) or `motcua backup fence` (with one) before the app nodes.",
)
@click.option("--target", default=None,
              help="A time to stop at, e.g. '2026-12-07 09:30:00+07' (default: the end of the WAL)")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Default: pg1-path of the pgBackRest configuration")
@click.option("--wal-stream", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The folder of a synchronous pg_receivewal (deploy/systemd/"
              "motcua-walstream.service): its WAL is replayed too, to the last commit. "
              "Needs --data-dir")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def pitr_restore(target: str | None, data_dir: Path | None, wal_stream: Path | None,
                 yes: bool) -> None:
    if wal_stream is not None and (data_dir is None or target):
        raise click.UsageError("--wal-stream needs --data-dir and no --target")
    if not yes:
        click.confirm("Overwrite the cluster's data directory from the pgBackRest repository?",
                      abort=True)
    try:
        took = pitr.restore(_repo(settings_from_env()), data_dir=data_dir, target=target)
        if wal_stream is not None and data_dir is not None:
            copied = pitr.copy_wal_stream(wal_stream, data_dir)
            click.echo(f"WAL from the stream: {', '.join(copied) or 'none'}")
    except BackupError as err:
        raise click.ClickException(str(err)) from None
    fence = "motcua backup fence" if target else "motcua backup fence --pitr"
    click.echo(
        f"Restored in {took:.1f} s. Start PostgreSQL (it replays the archived WAL), then run "
        f"`{fence}` before starting the app nodes."
    )


@backup.command(
    "verify",
    help="Restore FILE (SQLite or pg_dump) or, on PostgreSQL without FILE, the newest pgBackRest "
    "backup, into a scratch copy and print its table row counts beside the live database's.",
)
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                required=False)
def verify_cmd(file: Path | None) -> None:
    settings = settings_from_env()
    try:
        lines, whole = pitr.verify(settings.database_url, _repo(settings), file)
    except BackupError as err:
        raise click.ClickException(str(err)) from None
    for line in lines:
        click.echo(line)
    if not whole:
        raise click.ClickException("the restored copy lacks tables the live database has")
    click.echo("the restored copy is whole (rows the live database gained since the "
               "backup show as missing)")
