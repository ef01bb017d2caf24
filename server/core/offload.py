"""CPU-bound work of a request run off the event loop.

Under gevent (the default worker) every request of a node shares one OS thread: a request
that computes for a second in pure Python holds every other request, websocket and timer of
the node for that second (a year's KPI export once held them all for 7.7 s). Database waits
are cooperative (psycopg's gevent wait), computing is not. So a long report reads its rows in
the request's greenlet, then hands the computing (building the figures, writing CSV or XLSX)
to a small pool of real threads: the greenlet waits without holding the loop, and the
interpreter switches between the pool's thread and the loop's every few milliseconds
(``sys.getswitchinterval``), so other requests keep being answered while it runs.

What runs in the pool must be plain data in, plain data out: no session, no gevent primitive
(a real thread has no greenlet hub of the request's). ``workers`` bounds how many such jobs run
at once per process (more wait their turn), so exports cannot take every CPU of the node.

Without gevent (threading mode, tests, the command line) the work runs in the caller's thread:
each request already has its own.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


class OffLoop:
    """A pool of ``workers`` real threads for CPU-bound work, created on first use."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, workers)
        self._pool: Any = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the pool under gevent (the calling greenlet waits cooperatively),
        else right here."""
        if not _gevent_patched():
            return fn(*args)
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    from gevent.threadpool import ThreadPool

                    self._pool = ThreadPool(self.workers)
        result: T = self._pool.apply(fn, args)
        return result
