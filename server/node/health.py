"""Operations endpoints of one app node: ``/healthz`` (the process answers), ``/readyz`` (it can
serve: database reachable with the schema this code needs, Redis when configured; not
draining) and ``/metrics``
(Prometheus, see ``server/metrics.py``). No authentication on the health checks (nginx and the
orchestrator call them), never a stack trace in an answer.

``init_ops(app)`` registers them; the app factory calls it once the realtime hub exists.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, json
from sqlalchemy import text

from server.core import schema_check
from server.core.errors import AppError
from server.node.metrics import init_metrics
from server.web.i18n import request_lang

log = logging.getLogger("motcua.ops")

bp = Blueprint("ops", __name__)

CHECK_TIMEOUT_S = 2.0
# The schema is read again at most this often (a revision and one reflection of the columns):
# an orchestrator calling /readyz every second does not reflect the schema every second.
SCHEMA_CHECK_EVERY_S = 5.0


@dataclass(frozen=True)
class SchemaState:
    checked: float  # time.monotonic() of the check
    result: str  # "ok", "behind", "newer"
    detail: str = ""


@dataclass
class NodeState:
    """What this process knows about itself: its name and whether it is shutting down."""

    name: str
    draining: bool = False
    redis: Any = None  # a redis client for the readiness check, made on first use
    schema: SchemaState | None = None  # the last schema check, reused for SCHEMA_CHECK_EVERY_S
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


def _check_schema() -> SchemaState:
    """Is the database's schema the one this code needs? ``behind`` when a table or column the
    models use is missing, or the stamped revision is an older one of this release's history;
    ``newer`` when the revision is unknown here and nothing the models use is missing (a newer
    release has upgraded the database: by the expand-then-contract rule this code still
    works on it, so the node stays ready during a rolling upgrade); else ``ok``."""
    state = node_state()
    cached = state.schema
    now = time.monotonic()
    if cached is not None and now - cached.checked < SCHEMA_CHECK_EVERY_S:
        return cached
    db = current_app.extensions["motcua"].db
    with db.read() as session:  # a read transaction (on SQLite it takes no write lock)
        conn = session.connection()
        revision = schema_check.current_revision(conn)
        missing = schema_check.missing_model_columns(conn)
    head = schema_check.head()
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        result = SchemaState(now, "behind", f"schema behind: missing {shown}; run "
                                            "`motcua init-db` (docs/operations.md, Migrate)")
    elif revision is None:
        result = SchemaState(now, "behind", "schema behind: no revision stamped; run "
                                            "`motcua init-db`")
    elif revision != head and schema_check.known(revision):
        result = SchemaState(now, "behind", f"schema behind: at revision {revision}, this "
                                            f"release needs {head}; run `motcua init-db`")
    elif revision != head:
        result = SchemaState(now, "newer", f"schema at revision {revision}, newer than {head}")
    else:
        result = SchemaState(now, "ok")
    incidents = db.incidents
    if result.result == "behind":
        incidents.failed("schema", "behind", result.detail)
    else:
        incidents.worked("schema", quiet_s=0)
    state.schema = result
    return result


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
    schema = None
    if checks["database"] == "ok":
        try:
            schema = _check_schema()
            checks["schema"] = schema.result
        except Exception as exc:  # the database went away between the two checks
            log.warning("readiness: schema not read", extra={"error": type(exc).__name__})
            checks["database"] = "unreachable"
    if settings.redis_url:
        checks["redis"] = _check_redis(settings.redis_url)
    failed = [name for name, result in checks.items()
              if result not in ("ok", "newer") and name not in ("redis", "schema")]
    if state.draining:
        failed.insert(0, "draining")
    if failed:
        reason = "shutting down" if state.draining else f"{', '.join(failed)} unreachable"
        return _json(
            {"status": "unavailable", "node": state.name, "reason": reason, "checks": checks},
            503,
        )
    if schema is not None and schema.result == "behind":
        err = AppError("schema_behind")
        return _json({"status": "unavailable", "node": state.name, "reason": schema.detail,
                      "checks": checks,
                      "error": {"code": err.code, "message": err.message(request_lang())}}, 503)
    if checks.get("redis", "ok") != "ok":
        return _json({"status": "degraded", "node": state.name, "checks": checks,
                      "degraded": ["redis"]})
    return _json({"status": "ready", "node": state.name, "checks": checks})


def init_ops(app: Flask) -> None:
    settings = app.extensions["motcua"].settings
    app.extensions["motcua_node"] = NodeState(settings.node_name or default_node_name())
    app.register_blueprint(bp)

    init_metrics(app)
