"""The outbox worker of one node: sends the due messages of every site through their
channels (server/features/outbox.py), with the print spool's worker loop
(:class:`printers.spool.Worker`). Every node may run one: claims never overlap.

A channel's settings are read from the database (a province's or the site's own, see
server/features/notifications.py) and kept for a few seconds, so a change in the admin console
applies to the next messages without a restart. A gateway that keeps failing opens an
incident (one log line, the node's health) that ends when it sends again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from messaging.base import Channel
from printers.spool import Worker
from server.config import Settings
from server.core.db import Database, unavailable_kind
from server.features import notifications, outbox

log = logging.getLogger("motcua.outbox")

#: Channels the worker sends (print has its own lanes in server/features/printing.py).
SENT_CHANNELS = ("zns", "sms", "file", "email", "webhook")
SETTINGS_TTL_S = 5.0


def policy_from(settings: Settings, clock: Callable[[], dt.datetime]) -> notifications.Policy:
    return notifications.Policy(
        base_url=settings.public_base_url,
        messages_file=settings.messages_path(),
        daily_limit=settings.message_daily_limit,
        quiet_hours=notifications.parse_quiet_hours(settings.message_quiet_hours),
        default_rate=settings.message_rate,
        clock=clock,
    )


class Outbox:
    """The node's message sender: a :class:`outbox.Dispatcher` run by a
    :class:`printers.spool.Worker`, channels resolved per site from their settings."""

    def __init__(self, db: Database, settings: Settings, policy: notifications.Policy,
                 start_worker: bool = True, clock: Callable[[], dt.datetime] | None = None,
                 interval: float = 0.5,
                 on_outcome: Callable[[str, int | None, str, str], None] | None = None,
                 ) -> None:
        self.db = db
        self.policy = policy
        self._cache: dict[tuple[str, int | None], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._listeners = [on_outcome] if on_outcome is not None else []
        self.dispatcher = outbox.Dispatcher(
            outbox.MessageStore(db), self.resolve, SENT_CHANNELS,
            clock=clock or policy.clock, max_attempts=settings.outbox_max_attempts,
            max_delay=settings.outbox_max_delay_s, on_outcome=self._on_outcome,
            # A gateway's rate counted in Redis when there is one: it holds across nodes.
            limit=outbox.SendLimit(settings.redis_url, prefix=settings.redis_channel))
        policy.wake = self.wake
        self.worker = (Worker(self.dispatcher, interval=interval, gather=0.05,  # type: ignore[arg-type]
                              name="motcua-outbox",
                              is_outage=lambda exc: unavailable_kind(exc) is not None)
                       if start_worker else None)
        if self.worker is not None:
            self.worker.start()

    def listen(self, fn: Callable[[str, int | None, str, str], None]) -> None:
        self._listeners.append(fn)

    def wake(self) -> None:
        self.dispatcher.work.set()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def resolve(self, name: str, site_id: int | None) -> tuple[Channel, float, str] | None:
        """The channel for a message of ``site_id``: built from the nearest settings, cached
        for a few seconds; its rate (messages a second) and the key of its gateway."""
        key = (name, site_id)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < SETTINGS_TTL_S:
                return hit[1]  # type: ignore[no-any-return]
        found: tuple[Channel, float, str] | None = None
        with self.db.read() as s:
            row = notifications.channel_row(s, site_id, name) if site_id is not None else None
            config = dict(row.config or {}) if row is not None and row.enabled else None
            gateway = f"{name}:{row.site_id}" if row is not None else f"{name}:default"
        if config is None and name == "file":
            config = {}
        if config is not None:
            try:
                channel = notifications.build_channel(name, config, self.policy)
            except (ValueError, TypeError) as exc:
                log.warning("channel settings unusable", extra={"channel": name,
                                                                "error": str(exc)[:200]})
                channel = None
            if channel is not None:
                rate = float(config.get("rate_per_second") or self.policy.default_rate)
                found = (channel, rate, gateway)
        with self._lock:
            self._cache[key] = (now, found)
        return found

    def _on_outcome(self, channel: str, site_id: int | None, status: str, detail: str) -> None:
        for fn in self._listeners:
            try:
                fn(channel, site_id, status, detail)
            except Exception:
                log.exception("outbox listener failed")
