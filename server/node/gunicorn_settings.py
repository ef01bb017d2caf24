"""The gunicorn settings of one app node, shared by ``motcua run`` (``server/node/serve.py``)
and an operator's ``gunicorn -c deploy/gunicorn.conf.py`` (the systemd unit, the container), so
a node starts the same way whichever way it is launched.

This module runs in gunicorn's master, before the worker forks and gevent patches the standard
library. It must not import a database driver, directly or through the app: psycopg picks its
wait function when it is first imported, and one picked before gevent's patch blocks the whole
event loop while any one query waits (a locked table froze ``/healthz`` for seconds). So it
imports only the settings at module level; the worker builds the app after the patch.

One worker per process: Socket.IO keeps each client's session in the process that accepted it,
and gunicorn cannot route a client back to the same worker. A province scales by running
several such processes behind nginx, sharing PostgreSQL and Redis.
"""

from __future__ import annotations

from typing import Any

from server import config

GRACEFUL_TIMEOUT_S = 20  # SIGTERM drains a node in a few seconds; this is only the upper bound


def post_worker_init(worker: Any) -> None:
    """On SIGTERM, send the socket clients to the other nodes and exit (``node/shutdown.py``)."""
    # Imported in the worker, after gevent's monkey-patching (see the module's docstring).
    from server.node.shutdown import post_worker_init as drain_on_sigterm

    drain_on_sigterm(worker)


def gunicorn_settings(bind: str | None = None, threads: int | None = None,
                      async_mode: str | None = None) -> dict[str, Any]:
    """gunicorn's settings for one node: ``bind`` (default the bind setting, 127.0.0.1:8000),
    the worker class from ``async_mode`` or the async-mode setting (gevent unless told
    ``threading``; the app reads the same setting, so they always match)."""
    settings = config.gunicorn_settings(async_mode)
    options: dict[str, Any] = {
        "bind": bind or settings.bind,
        "workers": 1,
        "timeout": 60,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "keepalive": 5,
        "accesslog": None,  # the app writes structured access logs itself
        "errorlog": "-",
        "loglevel": "warning",
        "post_worker_init": post_worker_init,
    }
    if settings.async_mode == "gevent":
        # One greenlet per websocket: a node holds thousands of lobby TVs and phones.
        options.update(worker_class="gevent", worker_connections=settings.worker_connections)
    else:
        # Threading mode holds one thread per websocket client; gunicorn also stops accepting
        # at worker_connections, so it must exceed the threads.
        threads = threads or settings.threads
        options.update(worker_class="gthread", threads=threads, worker_connections=threads + 64)
    return options
