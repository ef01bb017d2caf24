"""Operations endpoints of one app node: ``/healthz`` (the process answers), ``/readyz`` (it can
serve: database and, when configured, Redis reachable; not draining) and ``/metrics``
(Prometheus, see ``server/metrics.py``). No authentication on the health checks (nginx and the
orchestrator call them), never a stack trace in an answer.

``init_ops(app)`` registers them; the app factory calls it once the realtime hub exists.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, json
from sqlalchemy import text

from server.node.metrics import init_metrics

log = logging.getLogger("motcua.ops")

bp = Blueprint("ops", __name__)

CHECK_TIMEOUT_S = 2.0


@dataclass
class NodeState:
    """What this process knows about itself: its name and whether it is shutting down."""

    name: str
    draining: bool = False
    redis: Any = None  # a redis client for the readiness check, made on first use
    lock: threading.Lock = field(default_factory=threading.Lock)


def node_state(app: Flask | None = None) -> NodeState:
    return (app or current_app).extensions["motcua_node"]


def default_node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _json(body: dict[str, Any], status: int = 200) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers HTTP. Touches nothing else (cheap enough to call every
    second)."""
    return _json({"status": "ok", "node": node_state().name})


def _check_database() -> str:
    db = current_app.extensions["motcua"].db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the kind goes to the log only
        log.warning("readiness: database unreachable", extra={"error": type(exc).__name__})
        return "unreachable"
    return "ok"


def _check_redis(url: str) -> str:
    state = node_state()
    incidents = current_app.extensions["motcua"].db.incidents
    try:
        with state.lock:
            if state.redis is None:

                state.redis = redis.Redis.from_url(
                    url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
                )
        state.redis.ping()
    except Exception as exc:  # one log line per outage (server/core/incidents.py)
        incidents.failed("redis", "unreachable", type(exc).__name__)
        return "down"
    incidents.worked("redis", quiet_s=0)
    return "ok"


@bp.get("/readyz")
def readyz() -> Response:
    """Ready to serve: 200, or 503 with the reason (``checks`` says which part failed).

    Redis down does not make the node unready: it issues, calls and serves its own clients;
    only events between nodes wait for Redis. The answer is then 200 with ``"status":
    "degraded"`` and ``"redis": "down"`` (a load balancer watching ``/readyz`` must not take
    every node out for a Redis blip)."""
    state = node_state()
    settings = current_app.extensions["motcua"].settings
    checks = {"database": _check_database()}
    if settings.redis_url:
        checks["redis"] = _check_redis(settings.redis_url)
    failed = [name for name, result in checks.items() if result != "ok" and name != "redis"]
    if state.draining:
        failed.insert(0, "draining")
    if failed:
        reason = "shutting down" if state.draining else f"{', '.join(failed)} unreachable"
        return _json(
            {"status": "unavailable", "node": state.name, "reason": reason, "checks": checks},
            503,
        )
    if checks.get("redis", "ok") != "ok":
        return _json({"status": "degraded", "node": state.name, "checks": checks,
                      "degraded": ["redis"]})
    return _json({"status": "ready", "node": state.name, "checks": checks})


def init_ops(app: Flask) -> None:
    settings = app.extensions["motcua"].settings
    app.extensions["motcua_node"] = NodeState(settings.node_name or default_node_name())
    app.register_blueprint(bp)

    init_metrics(app)
