"""Rate limits of the sockets: a token bucket per key (a socket id for its messages, a client
address for its connections), in this process's memory.

Flask-Limiter limits HTTP requests; a socket sends many messages over one request, so they are
counted here. A message over the limit is dropped before any work (no database read, no
answer), and a socket that keeps flooding is disconnected: a flood costs the server a counter
increment per message. The limit strings are those of ``server/config.py``
(``MOTCUA_RATE_SOCKET``, ``MOTCUA_RATE_SOCKET_CONNECT``), e.g. ``"5 per 10 seconds"``: a
bucket of 5 refilled at 5 per 10 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from limits import parse_many

MAX_KEYS = 50_000  # beyond this many keys the oldest-looking are forgotten (memory bound)


def parse_rate(text: str) -> tuple[float, float]:
    """(bucket size, refill per second) of the strictest of the limits in ``text``."""
    items = parse_many(text)
    best = min(items, key=lambda i: i.amount / i.get_expiry())
    return float(best.amount), best.amount / best.get_expiry()


class TokenBucket:
    """One bucket per key, of the strictest limit in ``rate``, ``scale`` times as large and
    refilled ``scale`` times as fast."""

    def __init__(
        self, rate: str, clock: Callable[[], float] = time.monotonic, scale: float = 1.0
    ) -> None:
        size, refill = parse_rate(rate)
        self.size, self.refill = size * scale, refill * scale
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.size, now))
            tokens = min(self.size, tokens + (now - at) * self.refill)
            ok = tokens >= 1
            if ok:
                tokens -= 1
            if len(self._buckets) >= MAX_KEYS and key not in self._buckets:
                self._prune(now)
            self._buckets[key] = (tokens, now)
            return ok

    def forget(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)

    def _prune(self, now: float) -> None:
        # Full buckets carry no state worth keeping; drop them, else drop everything.
        full = [k for k, (t, at) in self._buckets.items()
                if t + (now - at) * self.refill >= self.size]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= MAX_KEYS:
            self._buckets.clear()


class Cooldown:
    """Keys (a token, an address) refused for a while: a socket disconnected for flooding may
    not come back at once with the same token and flood again."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def add(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._until) >= MAX_KEYS:
                self._until = {k: u for k, u in self._until.items() if u > now}
            self._until[key] = now + self.seconds

    def active(self, key: str) -> bool:
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return False
            if until <= self.clock():
                del self._until[key]
                return False
            return True
