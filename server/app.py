"""Application factory."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request, send_from_directory
from flask_compress import Compress
from flask_talisman import Talisman

from printers.vietnamese import use_fonts
from server.config import Settings, env_name, is_placeholder
from server.core.db import Database
from server.core.offload import OffLoop
from server.features import printing
from server.node import logs
from server.web import client

log = logging.getLogger("motcua")

def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Context:
    settings: Settings
    db: Database
    clock: Callable[[], dt.datetime]
    # CPU-bound work of long reports and exports, off the event loop (server/core/offload.py).
    offload: OffLoop = field(default_factory=OffLoop)


#: Content-Security-Policy of every response. Pages load only their own scripts and styles
#: (their configuration travels in <script type="application/json"> blocks, which CSP does not
#: execute); audio and QR codes may come from blob:/data: URLs made by the page; nothing may
#: frame a page (the admin console cannot be put under a click-jacking overlay).
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:", "blob:"],
    "media-src": ["'self'", "data:", "blob:"],
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _security_headers(app: Flask, settings: Settings) -> None:
    """CSP, X-Frame-Options DENY, nosniff, a same-origin referrer policy, and HSTS on https
    requests (flask-talisman). HTTP is not redirected here: nginx does that (deploy/)."""
    class _Talisman(Talisman):  # type: ignore[misc]
        # A page that carries a secret in its address (tracking, rating tablet, board) sends
        # the stricter "no-referrer" itself: keep it, same-origin is only the default.
        def _set_referrer_policy_headers(self, headers: Any) -> None:
            headers.setdefault("Referrer-Policy", self.referrer_policy)

    _Talisman(
        app,
        force_https=False,
        frame_options="DENY",
        content_security_policy=CSP,
        referrer_policy="same-origin",
        strict_transport_security=True,  # sent only on https requests
        session_cookie_secure=settings.cookie_secure,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        x_content_type_options=True,
    )


def _secret_key(settings: Settings) -> str:
    """The key that signs session cookies. The placeholder of deploy/motcua.env.example is
    refused in production (anyone could sign a session with it) and warned about otherwise."""
    key = settings.secret_key or ""
    if is_placeholder(key):
        if settings.env == "production":
            raise RuntimeError(
                f"{env_name('secret_key')} is still the placeholder of motcua.env.example: "
                "make one with python3 -c \"import secrets; print(secrets.token_hex(32))\""
            )
        log.warning(f"{env_name('secret_key')} is the placeholder of motcua.env.example: "
                    "set a real key before going into production")
    if not key:
        # A key drawn here differs on every node and after every restart: staff signed in on
        # one node are signed out by the next (production refuses to start so, preflight.py).
        log.warning(f"{env_name('secret_key')} is not set: this process signs sessions with a "
                    "random key, so staff are signed out at each restart and by other nodes")
    return key or secrets.token_hex(32)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    db_options: dict[str, Any] = {
        "sqlite_synchronous": settings.sqlite_synchronous,
        "statement_timeout_ms": settings.db_statement_timeout_ms,
        "lock_timeout_ms": settings.db_lock_timeout_ms,
        "connect_timeout_s": settings.db_connect_timeout_s,
        "slow_timeout_ms": settings.db_report_timeout_ms,
    }
    db = db or Database(settings.database_url, **db_options)
    app = Flask(__name__)
    app.config["SECRET_KEY"] = _secret_key(settings)
    app.config["JSON_AS_ASCII"] = False
    # The report processes (under gevent) open the same database with the same options.
    offload = OffLoop(settings.report_workers, db, (settings.database_url, db_options))
    app.extensions["motcua"] = Context(settings, db, clock or system_clock, offload)

    # The app factory imports the entry points here, not at the top: they import features,
    # and the CLI and the node imports this module (system_clock) without building an app.

    from server.api.http import bp as api_bp
    from server.api.http import register_error_handlers, register_input_guards
    from server.web import i18n
    from server.web.client import trust_proxies

    # The wording: the gettext catalogs with the province's overrides (server/core/catalogs.py).
    i18n.init_app(app, settings.translations_dir)

    # X-Forwarded-For only from MOTCUA_FORWARDED_ALLOW_IPS (server/web/client.py).
    trust_proxies(app, settings.forwarded_allow_ips)
    register_input_guards(app)  # before any blueprint: the <int:> converter binds at register
    app.register_blueprint(api_bp)
    register_error_handlers(app)
    from server.api import limits

    limits.init_app(app)

    from server.features.printing import Printing

    use_fonts(settings.print_font, settings.print_font_bold)  # for prints drawn as images
    app.extensions["motcua_printing"] = Printing(
        db, settings.public_base_url, publish_change=printing.emit_printer_changed,
        start_worker=settings.print_worker,
        # The widest policy anyone may set (the command line's), applied again at send time.
        policy=printing.printer_policy(settings, "cli"),
        file_max_bytes=settings.print_file_max_bytes or None,
    )
    # Messages to citizens: written with their cause before each commit, sent by this
    # process's outbox worker (every node may run one; claims never overlap).
    from server.features import notifications
    from server.node.outbox import Outbox, policy_from

    policy = policy_from(settings, app.extensions["motcua"].clock)
    notifications.install(db, policy)
    from server.features import webhooks

    webhooks.install(db, policy)
    app.extensions["motcua_outbox"] = Outbox(db, settings, policy,
                                             start_worker=settings.outbox_worker)
    if settings.print_worker:  # the process's background workers: also closing the day
        from server.features import bookings
        from server.features.dailyops import DayCloser
        from server.features.retention import Periods

        app.extensions["motcua_day_closer"] = DayCloser(
            db, app.extensions["motcua"].clock, retention_days=settings.retention_days,
            periods=Periods(settings.ticket_detail_days, settings.aggregate_days),
            # Appointments: expired holds, no-shows, bookings of a day closed after them.
            every_round=[lambda s, now: bookings.sweep(s, now, policy=policy)],
        )
        app.extensions["motcua_day_closer"].start()

    from kiosk import bp as kiosk_bp
    from server.web import signin as web_auth
    from server.web.track import bp as track_bp

    web_auth.init_app(app)

    app.register_blueprint(track_bp)

    from server.web.dossier import bp as dossier_page_bp

    app.register_blueprint(dossier_page_bp)

    from server.web.book import bp as book_page_bp  # /book and /b/<token>: citizens book a time

    app.register_blueprint(book_page_bp)

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
    _security_headers(app, settings)

    # Pages and larger JSON answers compressed on the fly (fast settings: they change at every
    # request); static files are compressed once per version by static_files, which also gives
    # them content-hashed addresses and serves the stations' service worker at /sw.js.
    app.config.update(
        COMPRESS_MIMETYPES=["text/html", "application/json"],
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_BR_LEVEL=4,
        COMPRESS_LEVEL=6,
        COMPRESS_MIN_SIZE=1024,
        COMPRESS_STREAMS=False,
    )
    Compress(app)
    from server.web.static_files import init_static

    app.extensions["motcua_static"] = init_static(
        app, Path(settings.node_modules),
        lambda path: send_from_directory(path.parent, path.name),
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
            query = request.query_string.decode("latin-1")
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    # Tracking and booking tokens are secrets: never written to the logs.
                    "path": client.redact_path(request.path),
                    **({"query": client.redact_query(query)} if query else {}),
                    "client": client.client_address(),
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
            "<ul class=links>"
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
