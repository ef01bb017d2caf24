"""Graceful shutdown of an app node (gunicorn worker) on SIGTERM.

gunicorn alone stops accepting on SIGTERM, then waits up to ``graceful_timeout`` for open
requests to end; a websocket or a long-poll never ends by itself, so a node with connected
lobby TVs would hang for the whole grace period and then cut them. Instead, on SIGTERM:

1. the node reports itself draining (``/readyz`` answers 503, ``motcua_node_draining`` 1), new
   Socket.IO requests get 503 and every answer closes its connection (``DrainGate``);
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

import json
import logging
import signal
import threading
import time
from typing import Any

from flask import Flask

from server.node.health import node_state

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
    sender = app.extensions.get("motcua_outbox")  # its messages in flight finish or lease out
    if sender is not None and sender.worker is not None:
        try:
            sender.worker.stop(timeout=PRINT_WORKER_STOP_S)
        except Exception:
            log.exception("stopping the outbox worker failed")
    closer = app.extensions.get("motcua_day_closer")  # no new close round on a leaving node
    if closer is not None:
        closer.stop()
    log.info(
        "drained: socket clients sent to the other nodes",
        extra={"clients": closed, "ms": round((time.monotonic() - t0) * 1000)},
    )


DRAINING_BODY = json.dumps(
    {"error": {"code": "draining",
               "message": "Máy chủ này đang dừng; hãy kết nối lại. / "
                          "This node is shutting down; reconnect."}},
    ensure_ascii=False,
).encode()


class DrainGate:
    """WSGI wrapper, outermost: while the node drains, a new Socket.IO request gets 503 (nginx
    passes a 503 GET to the next node: ``proxy_next_upstream ... http_503``), and every other
    answer closes its connection. Without it nginx would bring reconnecting clients back over
    the idle keep-alive connections it still holds to this node, and keep it alive until the
    grace period ran out."""

    def __init__(self, wsgi_app: Any, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.state = node_state(app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.state.draining:
            return self.wsgi_app(environ, start_response)
        if environ.get("PATH_INFO", "").startswith("/socket.io"):
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "application/json; charset=utf-8"),
                 ("Content-Length", str(len(DRAINING_BODY))),
                 ("Retry-After", "1"), ("Connection", "close")],
            )
            return [DRAINING_BODY]

        def closing(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() != "connection"]
            return start_response(status, [*kept, ("Connection", "close")], exc_info)

        return self.wsgi_app(environ, closing)


def _in_background(fn: Any, *args: Any) -> None:
    """Start ``fn`` without blocking the signal handler. Under gevent the handler runs in the
    event loop, where even ``Thread.start()`` (which waits for the thread) is forbidden."""
    try:
        from gevent import monkey  # only asked when a signal arrives: which worker class runs
    except ImportError:  # pragma: no cover - gevent is a dependency
        monkey = None
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent  # loaded already: the gevent worker is running

        gevent.spawn(fn, *args)
    else:
        threading.Thread(target=fn, args=args, name="motcua-drain", daemon=True).start()


def post_worker_init(worker: Any) -> None:
    """gunicorn hook: run ``drain`` in the background when the worker gets SIGTERM."""
    app = getattr(worker, "wsgi", None)
    if not isinstance(app, Flask) or "motcua_node" not in app.extensions:
        return
    app.wsgi_app = DrainGate(app.wsgi_app, app)  # type: ignore[method-assign]
    previous = signal.getsignal(signal.SIGTERM)
    started = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)  # gunicorn's handle_exit: stop the worker loop
        if not started.is_set():
            started.set()
            _in_background(drain, app)

    signal.signal(signal.SIGTERM, on_term)
    signal.siginterrupt(signal.SIGTERM, False)
