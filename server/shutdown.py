"""Graceful shutdown of an app node (gunicorn worker) on SIGTERM.

gunicorn alone stops accepting on SIGTERM, then waits up to ``graceful_timeout`` for open
requests to end; a websocket or a long-poll never ends by itself, so a node with connected
lobby TVs would hang for the whole grace period and then cut them. Instead, on SIGTERM:

1. the node reports itself draining (``/readyz`` answers 503, ``motcua_node_draining`` 1);
2. after ``LISTENER_CLOSE_WAIT_S`` (gunicorn's gevent worker closes its listening socket within
   one second of the signal: a client that comes back now is refused, and nginx passes it to
   the next node), every Engine.IO connection of this node is dropped *without* a goodbye
   packet. Clients treat that like a network cut and reconnect on their own (python-socketio
   and socket.io-client both do; after an orderly Engine.IO "close" packet the Python client
   would stay away). Through nginx they land on another node, get a snapshot on connect and go
   on by ``seq``;
3. the print worker finishes the job in hand and stops;
4. with no open connection left, gunicorn's worker loop ends within a second: the node exits a
   few seconds after the signal, well inside ``graceful_timeout``.

Installed by the gunicorn ``post_worker_init`` hook (``server/serve.py`` for ``motcua run``,
``deploy/gunicorn.conf.py`` for an operator's gunicorn), never in tests that build the app in
process.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from flask import Flask

from .ops import node_state

log = logging.getLogger("motcua.shutdown")

LISTENER_CLOSE_WAIT_S = 1.5
PRINT_WORKER_STOP_S = 5.0


def drop_socket_clients(app: Flask) -> int:
    """Close every Engine.IO connection of this node abruptly; the number closed."""
    hub = app.extensions.get("motcua_hub")
    if hub is None:
        return 0
    eio = hub.socketio.server.eio
    closed = 0
    for sid, sock in list(eio.sockets.items()):
        try:
            sock.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
            closed += 1
        except Exception:  # one broken connection must not keep the others here
            log.exception("closing a socket client failed")
        eio.sockets.pop(sid, None)
    return closed


def drain(app: Flask, wait_s: float = LISTENER_CLOSE_WAIT_S) -> None:
    t0 = time.monotonic()
    node_state(app).draining = True
    log.info("draining: stopping", extra={"wait_s": wait_s})
    time.sleep(wait_s)
    closed = drop_socket_clients(app)
    printing = app.extensions.get("motcua_printing")
    if printing is not None and printing.worker is not None:
        try:
            printing.worker.stop(timeout=PRINT_WORKER_STOP_S)
        except Exception:
            log.exception("stopping the print worker failed")
    log.info(
        "drained: socket clients sent to the other nodes",
        extra={"clients": closed, "ms": round((time.monotonic() - t0) * 1000)},
    )


def post_worker_init(worker: Any) -> None:
    """gunicorn hook: run ``drain`` in the background when the worker gets SIGTERM."""
    app = getattr(worker, "wsgi", None)
    if not isinstance(app, Flask) or "motcua_node" not in app.extensions:
        return
    previous = signal.getsignal(signal.SIGTERM)
    started = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)  # gunicorn's handle_exit: stop the worker loop
        if not started.is_set():
            started.set()
            # A thread (a greenlet under gevent's monkey-patching): signal handlers must
            # not block.
            threading.Thread(target=drain, args=(app,), name="motcua-drain", daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.siginterrupt(signal.SIGTERM, False)
