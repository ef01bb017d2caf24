"""A small JSON-over-HTTP client for the gateway channels (standard library only), with the
answer sorted into what an :class:`~messaging.base.Outcome` needs: the status code, the JSON
body (or None), the ``Retry-After`` header in seconds, or the transport error."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (timeout, refused, reset)
    body: Any  # the parsed JSON, None when not JSON
    retry_after: float | None
    error: str = ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the outbox's own backoff applies


def request(method: str, url: str, body: Any, headers: dict[str, str],
            timeout: float) -> Answer:
    """Send ``body`` as JSON (None: no body) and read the answer within ``timeout``."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=data, method=method.upper())
    req.add_header("Content-Type", "application/json; charset=utf-8")
    req.add_header("Accept", "application/json")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(1_000_000)
            return Answer(resp.status, _json(raw), _retry_after(resp.headers.get("Retry-After")))
    except urllib.error.HTTPError as exc:
        raw = exc.read(1_000_000) if exc.fp is not None else b""
        return Answer(exc.code, _json(raw), _retry_after(exc.headers.get("Retry-After")))
    except TimeoutError:
        return Answer(0, None, None, "timeout")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return Answer(0, None, None, "timeout")
        return Answer(0, None, None, f"connection failed: {reason}")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


def lookup(body: Any, path: str) -> Any:
    """``a.b.0.c`` in a parsed JSON body (None when absent)."""
    node = body
    for part in path.split(".") if path else []:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``template`` (JSON-like) with every string ``"{name}"`` that is exactly one placeholder
    replaced by the value itself, and placeholders inside longer strings by their text."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        out = template
        for name, value in values.items():
            out = out.replace("{" + name + "}", str(value))
        return out
    return template
