"""Outages one process sees (the database, Redis): one log line when an incident begins and one
when it ends — never one per request —, counts per kind for ``/metrics``, and the open or recent
incidents for the supervisor's alerts.

An incident ends once its part has worked again for ``QUIET_S`` without a new failure, so a
table locked for a minute (some requests time out, others go through) is one incident, not one
per timed-out request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger("motcua.incidents")

QUIET_S = 10.0  # working again this long without a failure: the incident is over
RECENT_S = 900.0  # an ended incident stays on the supervisor's screen this long


@dataclass
class Incident:
    part: str  # "database", "redis"
    kind: str  # what went wrong first: "statement_timeout", "unreachable", ...
    started: float  # wall clock (time.time())
    last_failure: float
    failures: int = 1
    ended: float | None = None


class Incidents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Incident] = {}
        self._recent: list[Incident] = []
        self.counts: Counter[tuple[str, str]] = Counter()  # (part, kind) -> failures

    def failed(self, part: str, kind: str, detail: str = "") -> None:
        now = time.time()
        with self._lock:
            self.counts[(part, kind)] += 1
            incident = self._open.get(part)
            if incident is not None:
                incident.failures += 1
                incident.last_failure = now
                return
            self._open[part] = Incident(part, kind, now, now)
        log.error(f"{part} unavailable", extra={"part": part, "kind": kind, "detail": detail[:200]})

    def worked(self, part: str, quiet_s: float = QUIET_S) -> None:
        """``part`` answered: ends its open incident once it has been quiet for ``quiet_s``."""
        if part not in self._open:  # the common case, without the lock
            return
        now = time.time()
        with self._lock:
            incident = self._open.get(part)
            if incident is None or now - incident.last_failure < quiet_s:
                return
            del self._open[part]
            incident.ended = now
            self._recent = [i for i in self._recent if now - (i.ended or now) < RECENT_S]
            self._recent.append(incident)
        log.warning(f"{part} available again", extra={
            "part": part, "kind": incident.kind, "failures": incident.failures,
            "down_s": round(now - incident.started, 1)})

    def is_open(self, part: str) -> bool:
        return part in self._open

    def current(self) -> list[Incident]:
        """Open incidents and those that ended in the last ``RECENT_S``."""
        now = time.time()
        with self._lock:
            recent = [i for i in self._recent if now - (i.ended or now) < RECENT_S]
            return [*self._open.values(), *recent]
