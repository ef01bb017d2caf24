"""Serve the app with gunicorn from ``motcua run``: one worker process (Socket.IO keeps
per-process client state; scale with more processes behind nginx and Redis), threaded or
gevent according to the ``async_mode`` setting."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from server.app import create_app
from server.config import Settings
from server.node.gunicorn_settings import gunicorn_settings


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
    """The node's settings for a given address and mode (the benchmarks start nodes so)."""
    return gunicorn_settings(bind=f"{host}:{port}", threads=threads, async_mode=async_mode)


def serve(host: str, port: int, settings: Settings, threads: int | None = None) -> None:
    """The node with deploy/gunicorn.conf.py's settings (the same function), bound here; the
    app is built in the worker from ``settings`` (the options of ``motcua run`` applied)."""
    _Gunicorn(gunicorn_settings(bind=f"{host}:{port}", threads=threads), settings).run()
