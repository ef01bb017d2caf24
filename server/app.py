"""Application factory."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, request, send_from_directory

from printers.vietnamese import use_fonts
from server.config import Settings
from server.core.db import Database
from server.features import printing
from server.node import logs

log = logging.getLogger("motcua")

VENDOR_FILES = {
    "socket.io.min.js": Path("socket.io-client/dist/socket.io.min.js"),
    "socket.io.min.js.map": Path("socket.io-client/dist/socket.io.min.js.map"),
}


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Context:
    settings: Settings
    db: Database
    clock: Callable[[], dt.datetime]


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    db = db or Database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        connect_timeout_s=settings.db_connect_timeout_s,
        slow_timeout_ms=settings.db_report_timeout_ms,
    )
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["JSON_AS_ASCII"] = False
    app.extensions["motcua"] = Context(settings, db, clock or system_clock)

    # The app factory imports the entry points here, not at the top: they import features,
    # and the CLI and the node imports this module (system_clock) without building an app.

    from server.api.http import bp as api_bp
    from server.api.http import register_error_handlers

    app.register_blueprint(api_bp)
    register_error_handlers(app)
    from server.api import limits

    limits.init_app(app)

    pass
    from server.features.printing import Printing

    use_fonts(settings.print_font, settings.print_font_bold)  # for prints drawn as images
    app.extensions["motcua_printing"] = Printing(
        db, settings.public_base_url, publish_change=printing.emit_printer_changed,
        start_worker=settings.print_worker,
    )
    if settings.print_worker:  # the process's background workers: also closing the day
        from server.features.dailyops import DayCloser

        app.extensions["motcua_day_closer"] = DayCloser(db, app.extensions["motcua"].clock)
        app.extensions["motcua_day_closer"].start()

    from kiosk import bp as kiosk_bp
    from server.web import signin as web_auth
    from server.web.track import bp as track_bp

    web_auth.init_app(app)

    app.register_blueprint(track_bp)

    from server.web.dossier import bp as dossier_page_bp

    app.register_blueprint(dossier_page_bp)

    app.register_blueprint(kiosk_bp)

    from display import bp as display_bp

    app.register_blueprint(display_bp)

    from supervisor import bp as supervisor_bp

    app.register_blueprint(supervisor_bp)

    from counter import bp as counter_bp

    app.register_blueprint(counter_bp)

    from admin import bp as admin_bp  # /admin/ console and the public /pair page

    app.register_blueprint(admin_bp)

    from server.realtime.hub import Hub

    app.extensions["motcua_hub"] = Hub(
        app, settings.async_mode, settings.redis_url, settings.redis_channel
    )

    from server.node.health import init_ops  # /healthz, /readyz, /metrics (docs/operations.md)

    init_ops(app)

    node_modules = Path(settings.node_modules)

    @app.get("/static/vendor/<path:name>")
    def vendor(name: str) -> Any:
        """Front-end libraries installed by npm (package-lock.json), never from a CDN."""
        if name not in VENDOR_FILES:
            abort(404)
        return send_from_directory(
            node_modules / VENDOR_FILES[name].parent, VENDOR_FILES[name].name, max_age=86400
        )

    access_log = logging.getLogger("motcua.access")
    if not settings.access_log:
        access_log.setLevel(logging.WARNING)

    @app.before_request
    def _start() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _access(resp: Response) -> Response:
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": resp.status_code,
                    "ms": round((time.perf_counter() - g.get("t0", time.perf_counter())) * 1000, 2),
                    "actor": getattr(g.get("principal"), "actor", None),
                },
            )
        return resp

    @app.get("/")
    def index() -> Any:
        return Response(
            "<!doctype html><html lang=vi><meta charset=utf-8><title>Motcua</title>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            "<link rel=stylesheet href=/static/staff.css><body class=auth><main class=auth-card>"
            "<h1>Motcua — hệ thống xếp hàng một cửa</h1>"
            "<p lang=en class=product>Motcua — one-stop queue system</p>"
            "<ul>"
            "<li><a href=/counter/>Quầy tiếp nhận</a> <span lang=en>(counter station)</span></li>"
            "<li><a href=/supervisor/>Giám sát</a> <span lang=en>(supervisor)</span></li>"
            "<li><a href=/admin/>Quản trị</a> <span lang=en>(admin console)</span></li>"
            "<li><a href=/pair>Ghép nối thiết bị</a> <span lang=en>(pair a kiosk or TV)</span>"
            "</li>"
            "<li><a href=/api/v1/openapi.json>API v1 (OpenAPI)</a></li>"
            "</ul></main></body></html>",
            mimetype="text/html",
        )

    return app
