"""Configuration from the environment (``MOTCUA_*``), with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_sqlite_url() -> str:
    return f"sqlite:///{Path.cwd() / 'motcua.sqlite3'}"


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
    metrics_token: str | None = None  # /metrics wants this bearer token when set (deploy/)
    node_name: str | None = None  # names this node in /healthz and metrics (default host:pid)
    bind: str = "127.0.0.1:8000"  # gunicorn's address for deploy/gunicorn.conf.py
    worker_connections: int = 10000  # gevent: the most simultaneous connections
    threads: int = 256  # threading mode: one thread per websocket client
    # PostgreSQL: a statement or a lock wait longer than this ends with 503
    # database_unavailable instead of piling requests up (reports and exports get longer).
    db_statement_timeout_ms: int = 5000
    db_lock_timeout_ms: int = 3000
    db_report_timeout_ms: int = 60000
    db_connect_timeout_s: int = 3  # a database that does not answer: 503 within seconds

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
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
        if env.get("MOTCUA_PRINT_WORKER"):
            values["print_worker"] = env["MOTCUA_PRINT_WORKER"] not in ("0", "false", "no")
        if env.get("MOTCUA_SECRET_KEY"):
            values["secret_key"] = env["MOTCUA_SECRET_KEY"]
        if env.get("MOTCUA_METRICS_TOKEN"):
            values["metrics_token"] = env["MOTCUA_METRICS_TOKEN"]
        if env.get("MOTCUA_NODE_NAME"):
            values["node_name"] = env["MOTCUA_NODE_NAME"]
        if env.get("MOTCUA_BIND"):
            values["bind"] = env["MOTCUA_BIND"]
        for name, key in (("worker_connections", "MOTCUA_WORKER_CONNECTIONS"),
                          ("threads", "MOTCUA_THREADS"),
                          ("db_statement_timeout_ms", "MOTCUA_DB_STATEMENT_TIMEOUT_MS"),
                          ("db_lock_timeout_ms", "MOTCUA_DB_LOCK_TIMEOUT_MS"),
                          ("db_report_timeout_ms", "MOTCUA_DB_REPORT_TIMEOUT_MS"),
                          ("db_connect_timeout_s", "MOTCUA_DB_CONNECT_TIMEOUT_S")):
            if env.get(key):
                values[name] = int(env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
