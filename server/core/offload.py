"""CPU-bound work of a request run in other processes, off the event loop.

Under gevent (the default worker) every request of a node shares one OS thread: a request
that computes for a second in pure Python holds every other request, websocket and timer of
the node for that second (a year's KPI export once held them all for 7.7 s). A pool of real
threads is not enough: the computing thread holds the interpreter lock, and the loop's thread
waits for it (up to ``sys.getswitchinterval``, 5 ms) at every return from I/O, dozens of times
per request, so requests beside a running export took 29x longer at p99. So the work goes to
a few long-lived worker processes (``python -m server.core.offload``), each with its own
interpreter and, for ``run_with_db``, its own connection to the database: the node's loop only
writes the job to a pipe and waits for the answer cooperatively.

A job is a module-level function and plain-data arguments (pickled: the function by name), its
result plain data too. ``workers`` bounds how many jobs run at once per node (more wait their
turn), so exports cannot take every CPU of the machine; a worker that dies is replaced at the
next job and the job that was running raises ``OffloadFailed``. A worker ends by itself when
the node's end of its pipe closes (the node exiting, or killed).

Without gevent (threading mode, tests, the command line) the work runs in the caller's thread,
with the caller's database: each request already has its own thread.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from server.core.db import Database

T = TypeVar("T")

FRAME = struct.Struct(">Q")  # each message: its length, then the pickle
NICENESS = 10  # the worker processes' scheduling priority, below the node's


class OffloadFailed(RuntimeError):
    """The worker process running a job died or answered nonsense."""


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def _write(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(FRAME.pack(len(data)) + data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    head = _read_exactly(stream, FRAME.size)
    if head is None:
        return None
    body = _read_exactly(stream, FRAME.unpack(head)[0])
    if body is None:
        raise EOFError("truncated message")
    return pickle.loads(body)  # our own process on the other end of the pipe


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self) -> None:
        # The node's interpreter, environment and folder (its ``server`` package imports the
        # same way). subprocess is gevent's here (the node is patched): reads wait
        # cooperatively.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.core.offload"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    def call(self, job: tuple[Any, ...]) -> tuple[bool, Any]:
        """``(True, result)`` or ``(False, the exception the job raised)``; OffloadFailed
        when the process did not answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _write(self.proc.stdin, job)
            answer = _read(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError, TypeError, AttributeError) as exc:
            raise OffloadFailed(f"report worker failed: {exc}") from None
        if answer is None:
            raise OffloadFailed(f"report worker exited ({self.proc.poll()})")
        ok, value = answer
        return bool(ok), value

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # already gone
            pass


class OffLoop:
    """Up to ``workers`` worker processes for CPU-bound work, started on first use.

    ``db`` is the node's database (used as is without gevent); ``db_spec`` how a worker
    process opens its own: ``(url, keyword arguments of Database)``."""

    def __init__(self, workers: int = 2, db: Any = None,
                 db_spec: tuple[str, dict[str, Any]] | None = None) -> None:
        self.workers = max(1, workers)
        self.db = db
        self.db_spec = db_spec
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process under gevent (the calling greenlet waits
        cooperatively), else right here."""
        if not _gevent_patched():
            return fn(*args)
        result: T = self._call(("plain", fn, args))
        return result

    def run_with_db(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(database, *args)``: in a worker process with its own connection under gevent,
        else right here with the node's database."""
        if not _gevent_patched():
            return fn(self.db, *args)
        if self.db_spec is None:
            raise OffloadFailed("no database for the report workers")
        result: T = self._call(("db", fn, args, self.db_spec))
        return result

    def _call(self, job: tuple[Any, ...]) -> Any:
        worker = self._take()
        try:
            ok, value = worker.call(job)
        except BaseException:
            # No answer (the process died), or the waiting greenlet was interrupted (a
            # timeout) with the job's answer still to come: this process is not reused.
            worker.kill()
            with self._lock:
                self._started -= 1
            raise
        self._idle.put(worker)
        if ok:
            return value
        raise value

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            start = self._started < self.workers
            if start:
                self._started += 1
        if start:
            try:
                return _Worker()
            except OSError:
                with self._lock:
                    self._started -= 1
                raise
        return self._idle.get()  # every worker busy: wait for one



def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """A worker process: read a job, run it, answer, until the node closes the pipe."""
    databases: dict[str, Any] = {}
    while True:
        job = _read(stdin)
        if job is None:
            return
        try:
            if job[0] == "db":
                _kind, fn, args, (url, kwargs) = job
                if url not in databases:
                    databases[url] = Database(url, **kwargs)
                answer: tuple[bool, Any] = (True, fn(databases[url], *args))
            else:
                _kind, fn, args = job
                answer = (True, fn(*args))
        except Exception as exc:  # handed back to the caller, who raises it
            answer = (False, exc)
        try:
            _write(stdout, answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _write(stdout, (False, OffloadFailed(f"unpicklable answer: {exc}")))


if __name__ == "__main__":
    # Below the node's own processes for the CPU: a report may take a little longer when the
    # machine is busy, the counters' requests do not.
    os.nice(NICENESS)
    # The answers go to a private copy of stdout; anything printed (a log line) goes to stderr.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, answers)
