"""Configuration from the environment (``MOTCUA_*``), with embedded defaults.

This module is the only place that reads the environment: the rest of the server is handed a
:class:`Settings` (or, for gunicorn's own configuration file, :func:`gunicorn_settings`).
Every variable read here is listed in docs/configuration.md (a test compares the two)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

PREFIX = "MOTCUA_"
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")
ASYNC_MODES = ("threading", "gevent")


def env_name(setting: str) -> str:
    """The environment variable of a setting: ``audio_dir`` is ``MOTCUA_AUDIO_DIR``."""
    return PREFIX + setting.upper()


def default_sqlite_url() -> str:
    return f"sqlite:///{Path.cwd() / 'motcua.sqlite3'}"


def default_node_modules() -> str:
    return str(Path(__file__).resolve().parent.parent / "node_modules")


#: The placeholder of deploy/motcua.env.example: refused as a secret key in production.
PLACEHOLDER_SECRET_KEYS = frozenset({"CHANGE-ME-64-hex-characters", "CHANGE-ME", "change-me"})
#: The shortest secret key production accepts (``secrets.token_hex(32)`` makes 64 characters).
MIN_SECRET_KEY_LENGTH = 32


def is_placeholder(value: str | None) -> bool:
    """``value`` is (or starts like) an example value of deploy/motcua.env.example."""
    text = (value or "").strip()
    return text in PLACEHOLDER_SECRET_KEYS or text.upper().startswith("CHANGE-ME")


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name) or default)
    except ValueError:
        return default


@dataclass
class Settings:
    database_url: str = field(default_factory=default_sqlite_url)
    public_base_url: str = "http://127.0.0.1:5000"
    redis_url: str | None = None
    redis_channel: str = "motcua"
    secret_key: str | None = None
    default_lang: str = "vi"
    async_mode: str = "threading"
    print_worker: bool = True
    # `motcua demo` lives a working day of the demo site through the engine (its history)
    demo_history: bool = True
    # file:// printers (demo, tests) are moved to NAME.1 once past this size; 0: never.
    print_file_max_bytes: int = 10_000_000
    metrics_token: str | None = None  # /metrics wants this bearer token when set (deploy/)
    node_name: str | None = None  # names this node in /healthz and metrics (default host:pid)
    log_level: str = "INFO"
    access_log: bool = True  # one structured log line per request
    node_modules: str = field(default_factory=default_node_modules)  # npm's front-end files
    sqlite_synchronous: str = "FULL"  # FULL or NORMAL (core/db.py says what each costs)
    speech: str = "auto"  # the speech engine (web/speech.py): auto, espeak-ng, ..., none
    audio_dir: str | None = None  # the spoken-call cache (default ./var/audio)
    audio_cache_max: int = 4000  # files kept in the spoken-call cache
    # a folder of <lang>/LC_MESSAGES/messages.po whose entries replace the built-in wording
    translations_dir: str | None = None
    # Socket.IO heartbeat: the server pings every client this often and drops one whose answer
    # is this late; a client that hears no ping for their sum knows its link is dead. 2 + 2.5 s:
    # a silent cut is noticed by every station within 4.5 s (docs/configuration.md).
    socketio_ping_interval: float = 2.0
    socketio_ping_timeout: float = 2.5
    print_font: str | None = None  # a TTF with Vietnamese glyphs, tried first for image prints
    print_font_bold: str | None = None
    # PostgreSQL: a statement or a lock wait longer than this ends with 503
    # database_unavailable instead of piling requests up (reports and exports get longer).
    db_statement_timeout_ms: int = 5000
    db_lock_timeout_ms: int = 3000
    db_report_timeout_ms: int = 60000
    db_connect_timeout_s: int = 3  # a database that does not answer: 503 within seconds
    # Rate limits (docs/security.md), in the syntax of the `limits` library: "N per [M] unit",
    # several separated by ";". Counted in Redis when redis_url is set (shared by every node).
    rate_limits: bool = True
    rate_api: str = "600 per minute"  # any /api/v1 request, per token, user or client address
    rate_issue: str = "5 per 10 seconds; 20 per minute"  # issue/check-in, per device or token
    rate_pairing: str = "10 per minute; 30 per hour"  # new pairing codes, per client address
    # Bookings held (each sends a one-time code): per client address and per phone number.
    rate_booking: str = "5 per minute; 20 per hour"
    rate_booking_phone: str = "3 per 10 minutes; 6 per day"
    # Confirmation codes tried, per client address (each booking also allows 5 tries only).
    rate_booking_confirm: str = "10 per minute; 60 per hour"
    rate_socket: str = "5 per 10 seconds"  # messages (resync...) per socket, on its node
    rate_socket_connect: str = "60 per minute"  # socket connections per client address, per node
    env: str = "development"  # MOTCUA_ENV: "production" refuses the placeholder secret key
    # Networks (CIDR, comma separated) the web may point tcp:// printers at; empty: any address
    # except loopback, link-local and reserved ones.
    printer_networks: str = ""
    # Where file:// printers (set from the command line only) may write; None: spool_dir().
    printer_spool_dir: str | None = None
    # Proxies whose X-Forwarded-For is believed (comma separated addresses; "*": any).
    forwarded_allow_ips: str = "127.0.0.1"
    session_hours: float = 12.0
    session_idle_minutes: float = 60.0
    session_cookie_secure: bool = False
    max_body_bytes: int = 1_000_000
    # A whole province in one file: ~166 centres x ~10 kB plus ~1,900 catalog procedures x
    # ~0.8 kB is about 3.3 MB of JSON (measured on the demo, see docs/security.md).
    max_config_bytes: int = 8_000_000
    # Where backups are written, and where `motcua backup create` leaves its marker of the last
    # successful backup (server/node/backup_marker.py; /metrics reads it). None: ./backups.
    backup_dir: str | None = None
    # Days print jobs (slips and receipts carry names) are kept; the daily close removes
    # older finished ones (server/features/retention.py).
    retention_days: int = 30
    # Days of ticket detail (tickets, their events, ratings) kept; older aggregated days keep
    # only their daily aggregates. 0: kept forever (server/features/retention.py).
    ticket_detail_days: int = 366
    # Days of daily aggregates kept (five years); 0: kept forever. Never less than the detail.
    aggregate_days: int = 1827
    # Report and export jobs run at once by one process (a thread pool off the request path).
    report_workers: int = 2
    # The outbox (server/features/outbox.py): this process sends due messages (SMS, Zalo ZNS,
    # the demo's file), retrying up to this many attempts with backoff capped at this delay.
    outbox_worker: bool = True
    outbox_max_attempts: int = 20
    outbox_max_delay_s: float = 60.0
    # The demo's message channel (messages.jsonl); None: beside a SQLite database, else off.
    messages_file: str | None = None
    # At most this many messages to one phone number a day (a kiosk mistyped many times).
    message_daily_limit: int = 6
    # Local hours ("HH:MM-HH:MM") in which non-urgent messages wait for the morning.
    message_quiet_hours: str = "21:00-07:00"
    # Messages a second to one gateway from one node when its settings name no rate.
    message_rate: float = 10.0

    def messages_path(self) -> Path | None:
        """``messages_file``, else ``messages.jsonl`` beside the SQLite database file (the
        demo's data folder); None on PostgreSQL without ``messages_file`` (no file channel)."""
        if self.messages_file:
            return Path(self.messages_file).expanduser().resolve()
        try:
            url = make_url(self.database_url)
        except Exception:
            return None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(url.database).expanduser().resolve().parent / "messages.jsonl"
        return None

    def audio_cache_dir(self) -> Path:
        """``audio_dir``, else ``var/audio`` in the working folder."""
        return Path(self.audio_dir) if self.audio_dir else Path.cwd() / "var" / "audio"

    def backup_folder(self) -> Path:
        """``backup_dir``, else ``backups/`` in the working folder."""
        return Path(self.backup_dir) if self.backup_dir else Path.cwd() / "backups"

    @property
    def is_production(self) -> bool:
        return self.env == "production"
    # After a restore (features/fences.py), the daily ticket numbers and dossier codes jump by
    # at least this many, to a round number, and ids by the id margin: past anything handed
    # out after the restored point. A point-in-time recovery to the end of the archived WAL
    # (or a promoted replica) loses seconds, not hours: smaller margins.
    restore_number_margin: int = 100
    restore_id_margin: int = 1_000_000
    restore_pitr_number_margin: int = 10
    restore_pitr_id_margin: int = 10_000
    # pgBackRest (node/pitr.py): the stanza of the Motcua cluster and its configuration file
    # (None: pgBackRest's own default, /etc/pgbackrest/pgbackrest.conf).
    pgbackrest_stanza: str = "motcua"
    pgbackrest_config: str | None = None

    def spool_dir(self) -> Path:
        """``printer_spool_dir``, else ``printed/`` beside the SQLite database file, else
        ``printed/`` in the working folder (where ``motcua demo`` puts its kiosks' files)."""
        if self.printer_spool_dir:
            return Path(self.printer_spool_dir).expanduser().resolve()
        try:
            url = make_url(self.database_url)
        except Exception:  # a bad URL fails elsewhere, with a clear message
            url = None
        if url is not None and url.get_backend_name() == "sqlite" and url.database not in (
            None, "", ":memory:"
        ):
            return (Path(url.database).expanduser().resolve().parent / "printed")
        return (Path.cwd() / "printed").resolve()

    @property
    def cookie_secure(self) -> bool:
        return self.session_cookie_secure or self.public_base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The settings from ``environ`` (default: this process's environment), then
        ``overrides`` (those not None) on top."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("MOTCUA_DATABASE_URL"):
            values["database_url"] = env["MOTCUA_DATABASE_URL"]
        if env.get("MOTCUA_PUBLIC_BASE_URL"):
            values["public_base_url"] = env["MOTCUA_PUBLIC_BASE_URL"].rstrip("/")
        if env.get("MOTCUA_REDIS_URL"):
            values["redis_url"] = env["MOTCUA_REDIS_URL"]
        if env.get("MOTCUA_ASYNC_MODE"):
            values["async_mode"] = env["MOTCUA_ASYNC_MODE"]
        if env.get("MOTCUA_REDIS_CHANNEL"):
            values["redis_channel"] = env["MOTCUA_REDIS_CHANNEL"]
        if env.get("MOTCUA_PRINT_FILE_MAX_BYTES"):
            values["print_file_max_bytes"] = int(env["MOTCUA_PRINT_FILE_MAX_BYTES"])
        if env.get("MOTCUA_PRINT_WORKER"):
            values["print_worker"] = env["MOTCUA_PRINT_WORKER"] not in ("0", "false", "no")
        if env.get("MOTCUA_DEMO_HISTORY"):
            values["demo_history"] = env["MOTCUA_DEMO_HISTORY"] not in ("0", "false", "no")
        if env.get("MOTCUA_SECRET_KEY"):
            values["secret_key"] = env["MOTCUA_SECRET_KEY"]
        if env.get("MOTCUA_METRICS_TOKEN"):
            values["metrics_token"] = env["MOTCUA_METRICS_TOKEN"]
        if env.get("MOTCUA_NODE_NAME"):
            values["node_name"] = env["MOTCUA_NODE_NAME"]
        if env.get("MOTCUA_LOG_LEVEL"):
            values["log_level"] = env["MOTCUA_LOG_LEVEL"]
        if env.get("MOTCUA_ACCESS_LOG"):
            values["access_log"] = _flag(env["MOTCUA_ACCESS_LOG"])
        if env.get("MOTCUA_NODE_MODULES"):
            values["node_modules"] = env["MOTCUA_NODE_MODULES"]
        if env.get("MOTCUA_SQLITE_SYNCHRONOUS"):
            sync = env["MOTCUA_SQLITE_SYNCHRONOUS"].strip().upper()
            if sync not in SQLITE_SYNCHRONOUS:
                raise ValueError(f"MOTCUA_SQLITE_SYNCHRONOUS must be one of {SQLITE_SYNCHRONOUS}")
            values["sqlite_synchronous"] = sync
        if env.get("MOTCUA_SPEECH"):
            values["speech"] = env["MOTCUA_SPEECH"]
        if env.get("MOTCUA_AUDIO_DIR"):
            values["audio_dir"] = env["MOTCUA_AUDIO_DIR"]
        values["audio_cache_max"] = _int(env, "MOTCUA_AUDIO_CACHE_MAX", 4000)
        if env.get("MOTCUA_TRANSLATIONS_DIR"):
            values["translations_dir"] = env["MOTCUA_TRANSLATIONS_DIR"]
        for name, variable, low, high in (
            ("socketio_ping_interval", "MOTCUA_SOCKETIO_PING_INTERVAL", 1.0, 60.0),
            ("socketio_ping_timeout", "MOTCUA_SOCKETIO_PING_TIMEOUT", 1.0, 60.0),
        ):
            if env.get(variable):
                seconds = float(env[variable])
                if not low <= seconds <= high:
                    raise ValueError(f"{variable} must be between {low:g} and {high:g} seconds")
                values[name] = seconds
        if env.get("MOTCUA_PRINT_FONT"):
            values["print_font"] = env["MOTCUA_PRINT_FONT"]
        if env.get("MOTCUA_PRINT_FONT_BOLD"):
            values["print_font_bold"] = env["MOTCUA_PRINT_FONT_BOLD"]
        values["db_statement_timeout_ms"] = _int(env, "MOTCUA_DB_STATEMENT_TIMEOUT_MS", 5000)
        values["db_lock_timeout_ms"] = _int(env, "MOTCUA_DB_LOCK_TIMEOUT_MS", 3000)
        values["db_report_timeout_ms"] = _int(env, "MOTCUA_DB_REPORT_TIMEOUT_MS", 60000)
        values["db_connect_timeout_s"] = _int(env, "MOTCUA_DB_CONNECT_TIMEOUT_S", 3)
        if env.get("MOTCUA_RATE_LIMITS"):
            values["rate_limits"] = _flag(env["MOTCUA_RATE_LIMITS"])
        if env.get("MOTCUA_RATE_API"):
            values["rate_api"] = env["MOTCUA_RATE_API"]
        if env.get("MOTCUA_RATE_ISSUE"):
            values["rate_issue"] = env["MOTCUA_RATE_ISSUE"]
        if env.get("MOTCUA_RATE_PAIRING"):
            values["rate_pairing"] = env["MOTCUA_RATE_PAIRING"]
        if env.get("MOTCUA_RATE_BOOKING"):
            values["rate_booking"] = env["MOTCUA_RATE_BOOKING"]
        if env.get("MOTCUA_RATE_BOOKING_PHONE"):
            values["rate_booking_phone"] = env["MOTCUA_RATE_BOOKING_PHONE"]
        if env.get("MOTCUA_RATE_BOOKING_CONFIRM"):
            values["rate_booking_confirm"] = env["MOTCUA_RATE_BOOKING_CONFIRM"]
        if env.get("MOTCUA_RATE_SOCKET"):
            values["rate_socket"] = env["MOTCUA_RATE_SOCKET"]
        if env.get("MOTCUA_RATE_SOCKET_CONNECT"):
            values["rate_socket_connect"] = env["MOTCUA_RATE_SOCKET_CONNECT"]
        if env.get("MOTCUA_ENV"):
            values["env"] = env["MOTCUA_ENV"].strip().lower()
        if "MOTCUA_PRINTER_NETWORKS" in env:
            values["printer_networks"] = env["MOTCUA_PRINTER_NETWORKS"]
        if env.get("MOTCUA_PRINTER_SPOOL_DIR"):
            values["printer_spool_dir"] = env["MOTCUA_PRINTER_SPOOL_DIR"]
        if env.get("MOTCUA_FORWARDED_ALLOW_IPS"):
            values["forwarded_allow_ips"] = env["MOTCUA_FORWARDED_ALLOW_IPS"]
        if env.get("MOTCUA_SESSION_HOURS"):
            values["session_hours"] = float(env["MOTCUA_SESSION_HOURS"])
        if env.get("MOTCUA_SESSION_IDLE_MINUTES"):
            values["session_idle_minutes"] = float(env["MOTCUA_SESSION_IDLE_MINUTES"])
        if env.get("MOTCUA_SESSION_COOKIE_SECURE"):
            values["session_cookie_secure"] = _flag(env["MOTCUA_SESSION_COOKIE_SECURE"])
        if env.get("MOTCUA_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(env["MOTCUA_MAX_BODY_BYTES"])
        if env.get("MOTCUA_MAX_CONFIG_BYTES"):
            values["max_config_bytes"] = int(env["MOTCUA_MAX_CONFIG_BYTES"])
        if env.get("MOTCUA_BACKUP_DIR"):
            values["backup_dir"] = env["MOTCUA_BACKUP_DIR"]
        values["retention_days"] = max(1, _int(env, "MOTCUA_RETENTION_DAYS", 30))
        values["ticket_detail_days"] = max(0, _int(env, "MOTCUA_TICKET_DETAIL_DAYS", 366))
        values["aggregate_days"] = max(0, _int(env, "MOTCUA_AGGREGATE_DAYS", 1827))
        detail, kept = values["ticket_detail_days"], values["aggregate_days"]
        if kept and (not detail or kept < detail):
            raise ValueError(
                "MOTCUA_AGGREGATE_DAYS must be 0 or at least MOTCUA_TICKET_DETAIL_DAYS "
                "(a day's aggregates are what is left once its tickets are removed)"
            )
        values["report_workers"] = max(1, _int(env, "MOTCUA_REPORT_WORKERS", 2))
        if env.get("MOTCUA_OUTBOX_WORKER"):
            values["outbox_worker"] = _flag(env["MOTCUA_OUTBOX_WORKER"])
        values["outbox_max_attempts"] = max(1, _int(env, "MOTCUA_OUTBOX_MAX_ATTEMPTS", 20))
        if env.get("MOTCUA_OUTBOX_MAX_DELAY_S"):
            values["outbox_max_delay_s"] = max(1.0, float(env["MOTCUA_OUTBOX_MAX_DELAY_S"]))
        if env.get("MOTCUA_MESSAGES_FILE"):
            values["messages_file"] = env["MOTCUA_MESSAGES_FILE"]
        values["message_daily_limit"] = max(1, _int(env, "MOTCUA_MESSAGE_DAILY_LIMIT", 6))
        if "MOTCUA_MESSAGE_QUIET_HOURS" in env:
            values["message_quiet_hours"] = env["MOTCUA_MESSAGE_QUIET_HOURS"].strip()
        if env.get("MOTCUA_MESSAGE_RATE"):
            values["message_rate"] = max(0.01, float(env["MOTCUA_MESSAGE_RATE"]))
        for name, variable, default in (
            ("restore_number_margin", "MOTCUA_RESTORE_NUMBER_MARGIN", 100),
            ("restore_id_margin", "MOTCUA_RESTORE_ID_MARGIN", 1_000_000),
            ("restore_pitr_number_margin", "MOTCUA_RESTORE_PITR_NUMBER_MARGIN", 10),
            ("restore_pitr_id_margin", "MOTCUA_RESTORE_PITR_ID_MARGIN", 10_000),
        ):
            margin = _int(env, variable, default)
            if margin < 1:
                raise ValueError(f"{variable} must be at least 1")
            values[name] = margin
        if env.get("MOTCUA_PGBACKREST_STANZA"):
            values["pgbackrest_stanza"] = env["MOTCUA_PGBACKREST_STANZA"]
        if env.get("MOTCUA_PGBACKREST_CONFIG"):
            values["pgbackrest_config"] = env["MOTCUA_PGBACKREST_CONFIG"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def served_async_mode(override: str | None = None) -> str:
    """The async mode of a served node (``motcua run``, deploy/gunicorn.conf.py): ``override``,
    else gevent unless ``MOTCUA_ASYNC_MODE`` says otherwise. It is written back to the
    environment so that the app gunicorn builds in its worker (``create_app()``,
    :meth:`Settings.from_env`) uses the same mode as the worker class."""
    if override:
        os.environ["MOTCUA_ASYNC_MODE"] = override
    return os.environ.setdefault("MOTCUA_ASYNC_MODE", "gevent")


@dataclass(frozen=True)
class GunicornSettings:
    """What deploy/gunicorn.conf.py needs (``motcua run`` takes these as options)."""

    bind: str
    async_mode: str
    worker_connections: int  # gevent: the most simultaneous connections of the node
    threads: int  # threading: one thread per websocket client


def gunicorn_settings(async_mode: str | None = None) -> GunicornSettings:
    env = os.environ
    return GunicornSettings(
        bind=env.get("MOTCUA_BIND") or "127.0.0.1:8000",
        async_mode=served_async_mode(async_mode),
        worker_connections=_int(env, "MOTCUA_WORKER_CONNECTIONS", 10000),
        threads=_int(env, "MOTCUA_THREADS", 256),
    )
