"""The marker of the last successful backup: ``motcua-last-backup.json`` in the backup folder
(the ``backup_dir`` setting), written after a backup is complete and read by ``/metrics``
(``motcua_backup_last_success_timestamp_seconds``) so an alert fires when backups stop.

Two small functions and nothing else, so that every way of taking a backup (``motcua backup
create``, a pgBackRest timer through ``motcua backup mark``) records success the same way. The
file is replaced atomically: a reader sees the previous marker or the new one, never half.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

MARKER_NAME = "motcua-last-backup.json"


@dataclass(frozen=True)
class LastBackup:
    finished_at: dt.datetime  # UTC
    kind: str  # "sqlite", "postgresql", "pgbackrest-full", ...
    target: str  # the file or repository written


def record_success(folder: Path, finished_at: dt.datetime, kind: str, target: str) -> Path:
    """Write the marker of a backup that has just completed; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "finished_at": finished_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "kind": kind,
        "target": target,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{MARKER_NAME}.", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(body, f)
        os.replace(tmp, folder / MARKER_NAME)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return folder / MARKER_NAME


def last_success(folder: Path) -> LastBackup | None:
    """The last recorded backup, or None (no marker, or one that cannot be read)."""
    try:
        body = json.loads((folder / MARKER_NAME).read_text())
        when = dt.datetime.fromisoformat(str(body["finished_at"]).replace("Z", "+00:00"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return LastBackup(when.astimezone(dt.UTC), str(body.get("kind", "")),
                      str(body.get("target", "")))
