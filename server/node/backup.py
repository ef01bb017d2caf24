"""Back up and restore the Motcua database: ``motcua backup create FILE`` /
``motcua backup restore FILE``.

- SQLite: SQLite's online backup API (``sqlite3.Connection.backup``), which copies a
  consistent snapshot while the server keeps writing (in WAL mode a reader does not block the
  writer). Restore copies the backup into the live file with the same API, under SQLite's own
  locks.
- PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot in one transaction, taken
  while the nodes run) and ``pg_restore --clean --if-exists --single-transaction`` (all or
  nothing). The client binaries must be installed, of the server's major version or newer;
  the password goes to them in ``PGPASSWORD``, never on a command line.

Restore replaces what is in the database: stop the app nodes first (``systemctl stop
'motcua@*'``), restore, run ``motcua init-db`` if the backup is from an older version, start
them again. ``motcua backup restore`` (server/cli/backup.py) then fences the restored data
(features/fences.py) so that nothing handed out after the backup is handed out again.
Point-in-time recovery with pgBackRest is in ``node/pitr.py``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
PG_TIMEOUT_S = 3600


class BackupError(Exception):
    """Something the operator can fix; the message says what."""


def kind_of_file(path: Path) -> str | None:
    """'sqlite', 'postgresql' (pg_dump custom format) or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    return None


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _pg_command(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BackupError(
            f"{tool} not found: install the PostgreSQL client programs of the server's major "
            f"version or newer (Debian: apt-get install postgresql-client)"
        )
    return found


def _pg_target(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish in {PG_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {' / '.join(detail[-5:]) or proc.returncode}")


def create(database_url: str, dest: Path) -> str:
    """Write a backup of the database to ``dest`` (replaced atomically); a short summary."""
    url = make_url(database_url)
    dest = dest.resolve()
    if not dest.parent.is_dir():
        raise BackupError(f"no such folder: {dest.parent}")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if url.get_backend_name() == "sqlite":
            source = _sqlite_path(url)
            if not source.exists():
                raise BackupError(f"no SQLite database at {source}")
            src = sqlite3.connect(str(source), timeout=30)
            dst = sqlite3.connect(str(tmp))
            try:
                src.backup(dst)  # all pages in one step: one consistent snapshot
            finally:
                dst.close()
                src.close()
        elif url.get_backend_name() == "postgresql":
            uri, env = _pg_target(url)
            _run(
                [_pg_command("pg_dump"), "--format=custom", f"--file={tmp}", f"--dbname={uri}"],
                env,
                "pg_dump",
            )
        else:
            raise BackupError(f"cannot back up a {url.get_backend_name()} database")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return f"{url.get_backend_name()} backup written to {dest} ({dest.stat().st_size} bytes)"


def _check_sqlite_backup(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from None
    finally:
        conn.close()
    if not result or result[0] != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result}")
    if "tickets" not in tables or "alembic_version" not in tables:
        raise BackupError(f"{path} is not a Motcua database (no tickets/alembic_version table)")


def restore(database_url: str, source: Path) -> str:
    """Replace the database's content with the backup at ``source``; a short summary."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    kind = kind_of_file(source)
    if kind is None:
        raise BackupError(f"{source} is neither a SQLite file nor a pg_dump custom-format file")
    if kind != backend:
        raise BackupError(f"{source} is a {kind} backup but the database is {backend}")
    if backend == "sqlite":
        _check_sqlite_backup(source)
        target = _sqlite_path(url)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(str(target), timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        uri, env = _pg_target(url)
        _run(
            [
                _pg_command("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={uri}",
                str(source),
            ],
            env,
            "pg_restore",
        )
    return f"{backend} database restored from {source}"
