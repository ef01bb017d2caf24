"""Point-in-time recovery of PostgreSQL with pgBackRest, and restore verification.

PostgreSQL archives every WAL segment to a pgBackRest repository (``archive_command``,
deploy/postgresql/motcua-archive.conf); full and differential backups are taken by systemd
timers (deploy/systemd/motcua-backup-*.timer). These functions wrap the ``pgbackrest`` program
for ``motcua backup pitr create|info|restore`` and run ``motcua backup verify``: restore the
newest backup into a scratch cluster (or a dump into a scratch database, a SQLite copy into a
scratch file) and print its table row counts beside the live database's.

pgBackRest runs as the operating-system user that owns the cluster (``postgres``); when the
command runs as root it is started through ``runuser -u postgres``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url

from server.node.backup import BackupError, kind_of_file
from server.node.backup import restore as restore_dump

PGBACKREST_TIMEOUT_S = 6 * 3600
PG_OWNER = "postgres"
BACKUP_TYPES = ("full", "diff", "incr")


@dataclass(frozen=True)
class Repo:
    """Where pgBackRest finds its configuration and which stanza is the Motcua cluster."""

    stanza: str = "motcua"
    config: str | None = None  # None: pgBackRest's default (/etc/pgbackrest/pgbackrest.conf)
    run_as: str | None = PG_OWNER  # the cluster's owner; used only when running as root

    def command(self, *args: str) -> list[str]:
        exe = shutil.which("pgbackrest")
        if exe is None:
            raise BackupError("pgbackrest not found: apt-get install pgbackrest")
        cmd = [exe, f"--stanza={self.stanza}"]
        if self.config:
            cmd.append(f"--config={self.config}")
        cmd.extend(args)
        if self.run_as and os.geteuid() == 0:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        return cmd


def _run(cmd: list[str], what: str, timeout: float = PGBACKREST_TIMEOUT_S) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish in {timeout:.0f} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {' / '.join(detail[-5:]) or proc.returncode}")
    return proc.stdout


def create(repo: Repo, kind: str = "full") -> dict[str, Any]:
    """Take a backup (``full``, ``diff`` or ``incr``); the newest backup's facts."""
    if kind not in BACKUP_TYPES:
        raise BackupError(f"backup type must be one of {', '.join(BACKUP_TYPES)}")
    started = time.monotonic()
    _run(repo.command(f"--type={kind}", "backup"), f"pgbackrest backup --type={kind}")
    seconds = time.monotonic() - started
    backups = info(repo)["backups"]
    if not backups:
        raise BackupError("pgbackrest reported no backup after taking one")
    return {**backups[-1], "seconds": round(seconds, 2)}


def info(repo: Repo) -> dict[str, Any]:
    """The repository's backups (oldest first) and the archived WAL range."""
    out = _run(repo.command("--output=json", "info"), "pgbackrest info")
    try:
        stanzas = json.loads(out)
    except ValueError:
        raise BackupError("pgbackrest info did not answer JSON") from None
    stanza = next((s for s in stanzas if s.get("name") == repo.stanza), None)
    if stanza is None:
        raise BackupError(f"no stanza {repo.stanza} in the pgBackRest repository")
    backups = [
        {
            "label": b["label"],
            "type": b["type"],
            "start": b["timestamp"]["start"],
            "stop": b["timestamp"]["stop"],
            "database_bytes": b["info"]["size"],
            "repository_bytes": b["info"]["repository"]["delta"],
            "wal_start": b["archive"]["start"],
            "wal_stop": b["archive"]["stop"],
        }
        for b in stanza.get("backup", [])
    ]
    archives = stanza.get("archive", [])
    return {
        "status": stanza.get("status", {}).get("message"),
        "backups": backups,
        "wal_min": archives[-1].get("min") if archives else None,
        "wal_max": archives[-1].get("max") if archives else None,
    }


def restore(
    repo: Repo, data_dir: Path | None = None, target: str | None = None, delta: bool = True,
    archive_off: bool = False,
) -> float:
    """Restore the cluster's data directory (stopped) from the repository: to the end of the
    archived WAL, or to ``target`` (a time PostgreSQL understands, e.g. ``2026-12-07
    09:30:00+07``), then promote. Returns the seconds pgBackRest took; PostgreSQL replays
    the WAL when it is started."""
    args = []
    if data_dir is not None:
        args.append(f"--pg1-path={data_dir}")
    if delta:
        args.append("--delta")
    if target:
        args += ["--type=time", f"--target={target}", "--target-action=promote"]
    if archive_off:
        args.append("--archive-mode=off")
    started = time.monotonic()
    _run(repo.command(*args, "restore"), "pgbackrest restore")
    return time.monotonic() - started


def copy_wal_stream(stream: Path, data_dir: Path, run_as: str | None = PG_OWNER) -> list[str]:
    """After a restore: put the WAL a synchronous ``pg_receivewal`` kept (``stream``, on
    another disk) into the restored cluster's ``pg_wal``, the segment it was writing
    (``.partial``) under its real name. PostgreSQL replays them after the archived WAL, so the
    restore reaches the last committed transaction. Segments already archived are skipped
    (recovery takes those from the repository). Returns the names copied."""
    if not stream.is_dir():
        raise BackupError(f"no WAL stream folder at {stream}")
    target = data_dir / "pg_wal"
    if not target.is_dir():
        raise BackupError(f"{data_dir} is not a restored data directory (no pg_wal)")
    copied = []
    for src in sorted(stream.iterdir()):
        name = src.name.removesuffix(".partial")
        if not src.is_file() or len(name) != 24 or not all(c in "0123456789ABCDEF" for c in name):
            continue  # a history file, a temporary file
        dest = target / name
        if dest.exists() and not src.name.endswith(".partial"):
            continue
        shutil.copyfile(src, dest)
        if run_as and os.geteuid() == 0:
            shutil.chown(dest, run_as, run_as)
        dest.chmod(0o600)
        copied.append(name)
    _drop_synchronous_standby(data_dir)
    return copied


def _drop_synchronous_standby(data_dir: Path) -> None:
    """The restored cluster must not wait for a WAL stream that is gone (every commit would
    hang): comment out ``synchronous_standby_names`` in ``postgresql.auto.conf`` (where
    ``ALTER SYSTEM`` put it). Set it again once motcua-walstream runs with a new slot."""
    auto = data_dir / "postgresql.auto.conf"
    if not auto.exists():
        return
    lines = auto.read_text().splitlines()
    kept = [
        f"# {line}  # off after a restore (motcua backup pitr restore --wal-stream)"
        if line.strip().startswith("synchronous_standby_names") else line
        for line in lines
    ]
    if kept != lines:
        auto.write_text("\n".join(kept) + "\n")


# --- verify ---------------------------------------------------------------------------------


def row_counts(url: str) -> dict[str, int]:
    """Rows of every table (``alembic_version`` included) of the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            out = {}
            for name in names:
                table = text(f'"{name}"')  # names come from the catalogue, quoted
                out[name] = int(conn.scalar(select(func.count()).select_from(table)) or 0)
            return out
    finally:
        engine.dispose()


def compare(live: dict[str, int], restored: dict[str, int]) -> tuple[list[str], bool]:
    """Lines of a table ``table  live  restored  difference`` and whether the copy is whole:
    every live table is present in it (a live database that moved on after the backup has
    more rows; that is expected and shown, not a failure)."""
    lines = [f"{'table':<28}{'live':>10}{'restored':>10}{'missing':>10}"]
    whole = True
    for name in sorted(set(live) | set(restored)):
        a, b = live.get(name), restored.get(name)
        if b is None:
            whole = False
        diff = "" if a is None or b is None else str(a - b)
        lines.append(
            f"{name:<28}{'-' if a is None else a:>10}{'-' if b is None else b:>10}{diff:>10}"
        )
    return lines, whole


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / tool).exists():
            return str(base / tool)
    raise BackupError(f"{tool} not found: install the PostgreSQL server programs")


def _as_owner(cmd: list[str], run_as: str | None) -> list[str]:
    if run_as and os.geteuid() == 0:
        return ["runuser", "-u", run_as, "--", *cmd]
    return cmd


@contextlib.contextmanager
def scratch_cluster(repo: Repo, live: URL) -> Iterator[tuple[str, float]]:
    """The newest backup restored (to the end of the archive) into a cluster of its own in a
    temporary folder on a free loopback port, archiving off (it never writes to the
    repository); yields its URL (same role and database as ``live``) and the restore time."""
    parent = Path(tempfile.mkdtemp(prefix="motcua-verify-"))
    data = parent / "pgdata"
    data.mkdir()
    parent.chmod(0o755)
    data.chmod(0o700)
    if repo.run_as and os.geteuid() == 0:
        shutil.chown(data, repo.run_as, repo.run_as)
    port = free_port()
    started = False
    try:
        took = restore(repo, data_dir=data, delta=False, archive_off=True)
        opts = f"-p {port} -h 127.0.0.1 -k {data} -c archive_mode=off"
        try:
            _run(
                _as_owner([_pg_bin("pg_ctl"), "-D", str(data), "-w", "-t", "3600",
                           "-l", str(data / "verify.log"), "-o", opts, "start"], repo.run_as),
                "starting the scratch cluster",
            )
        except BackupError as err:
            logged = (data / "verify.log").read_text(errors="replace") if (
                data / "verify.log").exists() else ""
            raise BackupError(f"{err} / {' / '.join(logged.strip().splitlines()[-12:])}") from None
        started = True
        url = live.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        _wait_promoted(url)
        yield url, took
    finally:
        if started:
            subprocess.run(
                _as_owner([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                          repo.run_as),
                capture_output=True, check=False, timeout=120,
            )
        shutil.rmtree(parent, ignore_errors=True)


def _wait_promoted(url: str, timeout_s: float = 3600) -> None:
    """Wait until the restored cluster has replayed the WAL and accepts writes."""
    engine = create_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect() as conn:
                    if not conn.scalar(text("SELECT pg_is_in_recovery()")):
                        return
            except Exception as exc:  # still starting: the connection is refused
                if time.monotonic() > deadline:
                    raise BackupError(f"the scratch cluster did not come up: {exc}") from None
            if time.monotonic() > deadline:
                raise BackupError("the scratch cluster is still replaying WAL")
            time.sleep(0.2)
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_database(live: URL, dump: Path) -> Iterator[str]:
    """A pg_dump file restored into a new database of the live server, dropped afterwards."""
    name = f"motcua_verify_{os.getpid()}"
    admin = create_engine(live.render_as_string(hide_password=False),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = live.set(database=name)
        from_url = url.render_as_string(hide_password=False)
        try:
            restore_dump(from_url, dump)
            yield from_url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def scratch_sqlite(copy: Path) -> Iterator[str]:
    """A SQLite backup checked and opened from a temporary copy (the file stays untouched)."""
    folder = Path(tempfile.mkdtemp(prefix="motcua-verify-"))
    try:
        target = folder / "verify.sqlite3"
        src = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)
            ok = dst.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{copy} is not a readable SQLite database: {exc}") from None
        finally:
            dst.close()
            src.close()
        if not ok or ok[0] != "ok":
            raise BackupError(f"{copy} failed SQLite's integrity check: {ok}")
        yield f"sqlite:///{target}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def verify(database_url: str, repo: Repo, source: Path | None) -> tuple[list[str], bool]:
    """Restore ``source`` (a SQLite or pg_dump file) or, without one, the newest pgBackRest
    backup, into a scratch copy; the comparison table and whether the copy is whole."""
    live = make_url(database_url)
    backend = live.get_backend_name()
    started = time.monotonic()
    header: list[str] = []
    if source is not None:
        kind = kind_of_file(source)
        if kind != backend:
            raise BackupError(f"{source} is not a {backend} backup")
        ctx: Any = scratch_sqlite(source) if backend == "sqlite" else scratch_database(
            live, source)
        with ctx as url:
            restored = row_counts(url)
        header.append(f"restored {source} in {time.monotonic() - started:.1f} s")
    elif backend == "postgresql":
        newest = info(repo)["backups"]
        if not newest:
            raise BackupError("the pgBackRest repository holds no backup yet")
        # Switch and archive the current WAL segment first (pgbackrest check does both), so
        # the copy reaches the last few seconds and the counts are comparable.
        _run(repo.command("check"), "pgbackrest check")
        with scratch_cluster(repo, live) as (url, took):
            restored = row_counts(url)
        header.append(
            f"restored backup {newest[-1]['label']} and the archived WAL after it in "
            f"{took:.1f} s (pgbackrest) + replay, {time.monotonic() - started:.1f} s in all"
        )
    else:
        raise BackupError("a SQLite database is verified against a backup FILE")
    live_counts = row_counts(database_url)
    lines, whole = compare(live_counts, restored)
    return header + lines, whole
