"""Serve the app with gunicorn from ``motcua run``: one worker process (Socket.IO keeps
per-process client state; scale with more processes behind nginx and Redis), threaded or
gevent according to the ``async_mode`` setting."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from server.app import create_app
from server.config import Settings
from server.node.shutdown import post_worker_init


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], settings: Settings | None = None) -> None:
        self.options = options
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built in the worker (no preload), so database pools are never shared across fork.

        return create_app(self.settings)


def gunicorn_options(host: str, port: int, async_mode: str, threads: int) -> dict[str, Any]:

    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # SIGTERM: socket clients are sent to the other nodes, then the worker exits.
        "post_worker_init": post_worker_init,
    }
    if async_mode == "gevent":
        options.update(worker_class="gevent", worker_connections=10000)
    else:
        # Threading mode holds one thread per websocket client; gunicorn also stops accepting
        # at worker_connections (default 1000), so it must exceed the threads.
        options.update(worker_class="gthread", threads=threads,
                       worker_connections=threads + 64)
    return options


def serve(host: str, port: int, settings: Settings, threads: int = 256) -> None:
    """The app is built in the worker from ``settings`` (the options of ``motcua run`` applied)."""
    _Gunicorn(gunicorn_options(host, port, settings.async_mode, threads), settings).run()
