#!/usr/bin/env python
"""The transport floor for ``bench_realtime.py``: a bare python-socketio server (no Flask, no
database) served by gunicorn with exactly the worker settings of ``motcua run``
(``server.serve.gunicorn_options``: one worker, gthread with N threads or gevent).

- Socket.IO namespace ``/display`` accepts any connection, puts it in one room and emits
  ``snapshot`` ``{"seq": n}`` from the connect handler, as the real hub does;
- ``POST /broadcast`` with ``{"number": "B001"}`` (optional) emits one message
  ``event`` ``{"seq": n, "type": "ticket.called", "data": {"number", "counter", "service"}}``
  to the room from the request thread (as the real server publishes after its commit) and then
  answers 200 ``{"seq": n}``;
- ``GET /ping`` answers 200.

Usage: ``python tests/bench/floor_server.py --port P --mode threading|gevent [--threads N]``.
Loopback only: the host must be 127.0.0.1 (or another 127.x address).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.node.serve import gunicorn_options  # noqa: E402 - needs the repository on sys.path

NAMESPACE = "/display"
ROOM = "site:1"
MAX_BODY = 4096


def make_app(async_mode: str) -> Any:
    """The WSGI callable: socketio.WSGIApp around a tiny plain-WSGI HTTP app."""
    import socketio

    sio = socketio.Server(
        async_mode=async_mode,
        cors_allowed_origins=[],
        ping_interval=10,
        ping_timeout=10,
        logger=False,
        engineio_logger=False,
    )
    state = {"seq": 0}
    lock = threading.Lock()  # under the gevent worker this is gevent's (monkey-patched) lock

    def on_connect(sid: str, _environ: dict[str, Any], _auth: Any = None) -> None:
        sio.enter_room(sid, ROOM, namespace=NAMESPACE)
        sio.emit("snapshot", {"seq": state["seq"]}, to=sid, namespace=NAMESPACE)

    sio.on("connect", on_connect, namespace=NAMESPACE)

    def reply(start_response: Any, status: str, payload: dict[str, Any]) -> list[bytes]:
        body = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def http_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/ping" and method == "GET":
            return reply(start_response, "200 OK", {"pong": True})
        if path == "/broadcast" and method == "POST":
            try:
                size = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
            except ValueError:
                size = 0
            raw = environ["wsgi.input"].read(size) if size else b""
            try:
                req = json.loads(raw) if raw else {}
            except ValueError:
                req = {}
            number = str(req.get("number", "B001")) if isinstance(req, dict) else "B001"
            with lock:
                state["seq"] += 1
                seq = state["seq"]
                sio.emit(
                    "event",
                    {
                        "seq": seq,
                        "type": "ticket.called",
                        "data": {"number": number, "counter": 3, "service": "civil"},
                    },
                    namespace=NAMESPACE,
                    to=ROOM,
                )
            return reply(start_response, "200 OK", {"seq": seq})
        return reply(start_response, "404 Not Found", {"error": "not_found"})

    return socketio.WSGIApp(sio, http_app)


class FloorApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], async_mode: str) -> None:
        self.options = options
        self.async_mode = async_mode
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built in the worker, after the gevent worker has monkey-patched the process.
        return make_app(self.async_mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("threading", "gevent"), default="threading")
    parser.add_argument("--threads", type=int, default=1200)
    parser.add_argument(
        "--worker-connections",
        type=int,
        default=None,
        help="override gunicorn's worker_connections (default: as motcua run)",
    )
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("loopback only: --host must be a 127.x address")
    options = gunicorn_options(args.host, args.port, args.mode, args.threads)
    if args.worker_connections is not None:
        options["worker_connections"] = args.worker_connections
    FloorApplication(options, args.mode).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
