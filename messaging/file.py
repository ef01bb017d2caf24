"""The demo's channel: one JSON object per line appended to ``messages.jsonl``.

Everything a gateway would receive, the file receives: ``channel`` (the channel the message
was meant for when no gateway is configured, else ``file``), ``kind``, ``to`` (the full
number or address: this file *is* the demo's gateway), ``text``, ``idempotency_key``, ``ref``,
``created_at`` and ``sent_at`` (ISO 8601, UTC). Lines are appended with one ``write`` under an
exclusive lock, so the workers of several processes never interleave them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from messaging.base import Message, Outcome


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FileChannel:
    path: Path
    name: str = "file"
    max_length: int | None = None

    def line(self, message: Message, sent_at: dt.datetime) -> str:
        return json.dumps({
            "channel": message.channel,
            "kind": message.kind,
            "to": message.to,
            "text": message.text,
            "idempotency_key": message.idempotency_key,
            "ref": message.ref,
            "lang": message.lang,
            "data": message.data,
            "created_at": _iso(message.created_at),
            "sent_at": _iso(sent_at),
        }, ensure_ascii=False, sort_keys=False) + "\n"

    def send(self, message: Message, timeout: float) -> Outcome:
        data = self.line(message, dt.datetime.now(dt.UTC)).encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            return Outcome.retry(f"cannot write {self.path.name}: {exc.strerror}")
        return Outcome.sent("written")
