"""Fake message gateways on loopback, speaking the request and answer shapes of the real ones
(docs/operations.md "The outbox"), error answers included.

* :class:`FakeSms`: a brand-name SMS gateway in the shape most Vietnamese ones use: ``POST
  /sms/send`` with ``{"ApiKey", "SecretKey", "Phone", "Content", "Brandname", "RequestId"}``;
  answers ``{"CodeResult": "100", "SMSID": "…"}`` (accepted), ``"108"`` (invalid number),
  ``"124"`` (this RequestId was already accepted: not sent again), HTTP 429 with
  ``Retry-After`` (rate limited), HTTP 503 (down), or no answer in time (``timeout``).
* :class:`FakeZns`: Zalo ZNS ``POST /message/template`` with the ``access_token`` header and
  ``{"phone", "template_id", "template_data", "tracking_id"}``; answers ``{"error": 0,
  "message": "Success", "data": {"msg_id": "…"}}``, ``-108`` (invalid phone), ``-124`` (bad
  access token), HTTP 429, HTTP 503, or no answer in time.

Both record every request, and which idempotency keys they *accepted* (``accepted``: each
key at most once, a repeat is answered as a duplicate and counted in ``duplicates``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SMS_CONFIG_TEMPLATE = {
    "method": "POST",
    "body": {"ApiKey": "test-key", "SecretKey": "test-secret", "Phone": "{to}",
             "Content": "{text}", "Brandname": "{brandname}", "SmsType": "2",
             "RequestId": "{idempotency_key}"},
    "brandname": "MOTCUA",
    "phone_format": "84",
    "result_field": "CodeResult",
    "ok_codes": ["100"],
    "duplicate_codes": ["124"],
    "invalid_codes": ["99", "108"],
    "id_field": "SMSID",
}


class _Gateway:
    path = "/"

    def __init__(self) -> None:
        self.mode = "ok"  # ok, rate_limited, down, timeout
        self.retry_after = 1
        self.timeout_s = 3.0
        self.invalid: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.accepted: dict[str, dict[str, Any]] = {}
        self.duplicates: Counter[str] = Counter()
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self, port: int = 0) -> _Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw.decode())
                except ValueError:
                    body = None
                status, answer, headers = gateway.handle(self.path, dict(self.headers), body)
                if status == 0:  # no answer in time
                    time.sleep(gateway.timeout_s)
                    status, answer, headers = 504, {"error": "late"}, {}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, path: str, headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def _record(self, key: str, phone: str, body: Any) -> bool:
        """Accept ``key`` once; False when it was accepted before (a duplicate)."""
        with self._lock:
            if key in self.accepted:
                self.duplicates[key] += 1
                return False
            self.accepted[key] = {"phone": phone, "body": body, "at": time.time()}
            return True


class FakeSms(_Gateway):
    path = "/sms/send"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {**SMS_CONFIG_TEMPLATE, "url": self.url, **extra}

    def handle(self, path: str, headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
        if self.mode == "down":
            return 503, {"message": "Service Unavailable"}, {}
        if self.mode == "timeout":
            return 0, None, {}
        if self.mode == "rate_limited":
            return 429, {"CodeResult": "429", "ErrorMessage": "Too many requests"}, {
                "Retry-After": str(self.retry_after)}
        if not isinstance(body, dict) or not body.get("RequestId") or not body.get("Phone"):
            return 400, {"CodeResult": "118", "ErrorMessage": "Bad request"}, {}
        if body.get("ApiKey") != "test-key":
            return 200, {"CodeResult": "101", "ErrorMessage": "Wrong ApiKey"}, {}
        phone = str(body["Phone"])
        if phone in self.invalid or not phone.startswith("84"):
            return 200, {"CodeResult": "108", "ErrorMessage": "Phone number invalid"}, {}
        if not self._record(str(body["RequestId"]), phone, body):
            return 200, {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}, {}
        return 200, {"CodeResult": "100", "SMSID": uuid.uuid4().hex}, {}


class FakeZns(_Gateway):
    path = "/message/template"
    token = "zns-token"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "access_token": self.token, "templates": {
            "near": {"template_id": "301001", "data": {
                "so_thu_tu": "{number}", "con_lai": "{ahead}", "theo_doi": "{url}"}},
            "called": {"template_id": "301002", "data": {
                "so_thu_tu": "{number}", "quay": "{counter}"}},
            "test": {"template_id": "301000", "data": {"noi_dung": "{channel}"}},
        }, "max_length": 80, **extra}

    def handle(self, path: str, headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
        if self.mode == "down":
            return 503, {"message": "Service Unavailable"}, {}
        if self.mode == "timeout":
            return 0, None, {}
        if self.mode == "rate_limited":
            return 429, {"error": -32, "message": "Rate limit"}, {
                "Retry-After": str(self.retry_after)}
        token = {k.lower(): v for k, v in headers.items()}.get("access_token")
        if token != self.token:
            return 200, {"error": -124, "message": "Access token is invalid"}, {}
        if not isinstance(body, dict) or not body.get("template_id"):
            return 200, {"error": -109, "message": "Template ID invalid"}, {}
        phone = str(body.get("phone") or "")
        if phone in self.invalid or not phone.startswith("84"):
            return 200, {"error": -108, "message": "Phone number invalid"}, {}
        key = str(body.get("tracking_id") or "")
        first = self._record(key, phone, body) if key else True
        msg_id = uuid.uuid4().hex if first else "duplicate"
        return 200, {"error": 0, "message": "Success", "data": {
            "msg_id": msg_id, "sent_time": str(int(time.time() * 1000))}}, {}
