"""A webhook receiver on loopback for tests: records every delivery (headers and raw body) and
answers 200, or 500 while ``fail`` is set."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.fail = False
        self.deliveries: list[dict[str, Any]] = []  # every request, answered or not
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def accepted(self) -> list[dict[str, Any]]:
        return [d for d in self.deliveries if d["answer"] == 200]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = 500 if receiver.fail else 200
                receiver.deliveries.append({"headers": {k.lower(): v for k, v in
                                                        self.headers.items()},
                                            "body": body, "answer": answer})
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
