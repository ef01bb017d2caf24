"""Checks made before a node starts, each failing with one line that says what to do.

A server that cannot start should say why in words an operator can act on, not in a gunicorn
traceback: a Python package missing from the install, the port already taken, the database out of
reach, or its schema behind (or ahead of) this release.

The database is checked in a child process (``python -m server.node.preflight database``):
loading the PostgreSQL driver in the process that later forks gevent workers would make it pick a
blocking wait function before gevent patches the standard library.
"""

from __future__ import annotations

import errno
import importlib
import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from server.config import MIN_SECRET_KEY_LENGTH, Settings, env_name, is_placeholder
from server.core import migrate, schema_check
from server.core.catalogs import catalogs
from server.core.db import Database

#: gunicorn's worker class for each async mode (imported here first, so a missing package is
#: named in one line instead of gunicorn's "class uri 'gevent' invalid or not found").
WORKER_MODULES = {"gevent": "gunicorn.workers.ggevent", "threading": "gunicorn.workers.gthread"}
REINSTALL = (
    "reinstall from the lock: .venv/bin/pip install --require-hashes -r requirements/runtime.txt"
)


class StartupError(Exception):
    """Why the node cannot start, in one line."""


# --- production mode ------------------------------------------------------------------------
# MOTCUA_ENV=production (the default of everything in deploy/) refuses a setting that is fine
# on a laptop and dangerous in a province. Each problem is one line, in Vietnamese then English
# (an operator of either language reads it in the journal), saying what to set: the catalogs'
# "preflight" entries.

KEY_HINT = "python3 -c \"import secrets; print(secrets.token_hex(32))\""


def _bilingual(key: str, **params: Any) -> str:
    return " / ".join(catalogs.both("preflight", key, **params).values())


def is_loopback_bind(bind: str) -> bool:
    """``127.0.0.1:8001``, ``[::1]:8001``, ``localhost:8001`` (or a bare host) listen on this
    machine only; ``0.0.0.0``, a LAN address, ``unix:`` sockets are judged by their host."""
    if bind.startswith("unix:"):
        return True  # a socket file is reachable only on this machine
    host = bind
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_problems(settings: Settings, binds: Iterable[str] | None) -> list[str]:
    """What keeps this node from running in production, one bilingual line each (empty when
    it may start, and always empty outside production). ``binds``: the addresses the node
    listens on (None: not known here, the /metrics check is skipped)."""
    if not settings.is_production:
        return []
    problems = []
    key_var, key = env_name("secret_key"), (settings.secret_key or "").strip()
    if not key:
        problems.append(_bilingual("secret_key_unset", var=key_var, hint=KEY_HINT))
    elif is_placeholder(key):
        problems.append(_bilingual("secret_key_example", var=key_var, hint=KEY_HINT))
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(_bilingual("secret_key_short", var=key_var, length=len(key),
                                   minimum=MIN_SECRET_KEY_LENGTH, hint=KEY_HINT))
    try:
        url = make_url(settings.database_url)
        backend, password = url.get_backend_name(), url.password
    except Exception:  # a URL that does not parse is reported by the database check
        backend, password = "", None
    db_var = env_name("database_url")
    if backend == "sqlite":
        problems.append(_bilingual("database_sqlite", var=db_var))
    elif password is not None and is_placeholder(str(password)):
        problems.append(_bilingual("database_password_example", var=db_var))
    token_var = env_name("metrics_token")
    token = (settings.metrics_token or "").strip()
    if token and is_placeholder(token):
        problems.append(_bilingual("metrics_token_example", var=token_var, hint=KEY_HINT))
    elif not token and binds is not None:
        open_binds = [b for b in binds if not is_loopback_bind(b)]
        if open_binds:
            where = ", ".join(open_binds)
            problems.append(_bilingual("metrics_open", where=where, var=token_var))
    if settings.log_level.strip().upper() in ("DEBUG", "NOTSET"):
        level_var = env_name("log_level")
        problems.append(_bilingual("log_level_debug", var=level_var, level=settings.log_level))
    return problems


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def check_worker(async_mode: str) -> None:
    module = WORKER_MODULES.get(async_mode)
    if module is None:
        raise StartupError(
            f"the async mode is {async_mode!r}; it must be one of {', '.join(WORKER_MODULES)}"
        )
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise StartupError(
            f"the {async_mode} worker needs the Python package {exc.name!r}, which is not "
            f"installed; {REINSTALL}"
        ) from exc


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use (another Motcua or another "
                    "program); stop it or choose another port (--port)"
                ) from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise StartupError(f"{host} is not an address of this machine") from exc
            if exc.errno == errno.EACCES:
                raise StartupError(
                    f"port {port} needs more privileges; use a port above 1023 behind nginx"
                ) from exc
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def database_problem(url: str) -> str | None:
    """What keeps the node from using the database at ``url``, or None when it is ready.

    Runs in the child process (see the module's docstring)."""
    where = safe_url(url)
    try:
        db = Database(url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        return f"cannot open the database {where}: {_first_line(exc)}"
    try:
        try:
            if not migrate.has_schema(db.engine):
                return f"the database {where} has no schema yet: run `motcua init-db`"
            current = migrate.current_revision(db.engine)
        except SQLAlchemyError as exc:
            return f"cannot reach the database {where}: {_first_line(exc)}"
        head = schema_check.head()
        # A revision unknown here, or a schema without what its stamp says (a rewired
        # history): the node would answer 503 schema_behind to every request; say it now.
        problem = schema_check.stamp_problem(db.engine, where)
        if problem:
            return problem
        if current == head:
            return None
        return (
            f"the database {where} is at schema revision {current}, this release needs {head}: "
            "run `motcua init-db` (back up first)"
        )
    finally:
        db.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def check_database(url: str, timeout: float = 60.0) -> None:
    """Run :func:`database_problem` in a child process; raise its answer as a StartupError.
    The URL goes through standard input (a password never shows in the process list)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "server.node.preflight", "database"],
            input=url, capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StartupError(
            f"the database {safe_url(url)} did not answer within {timeout:g} s"
        ) from exc
    if done.returncode != 0:
        lines = (done.stdout.strip() or done.stderr.strip() or "unknown error").splitlines()
        raise StartupError(lines[-1])


def _child() -> int:
    url = sys.stdin.read().strip()
    try:
        problem = database_problem(url)
    except Exception as exc:  # any failure becomes the one line
        problem = f"cannot check the database {safe_url(url)}: {_first_line(exc)}"
    if problem:
        print(problem)
        return 1
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["database"]:
    sys.exit(_child())
