"""`motcua init-db`, `motcua demo`, `motcua run`: set up and run this machine's server."""

from __future__ import annotations

import os
import subprocess
import sys

import click
from sqlalchemy.engine import make_url

from server.app import system_clock
from server.cli.common import settings_from_env
from server.core import migrate
from server.core.db import Database
from server.features import seed
from server.node.serve import serve


@click.command("init-db", help="Create or upgrade the database schema (Alembic migrations).")
def init_db() -> None:
    settings = settings_from_env()
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    with db.write() as s:
        seed.ensure_priorities(s)
    click.echo(
        f"Database ready at revision {migrate.current_revision(db.engine)}: "
        f"{_safe_url(settings.database_url)}"
    )
    db.dispose()


def _safe_url(url: str) -> str:

    return make_url(url).render_as_string(hide_password=True)


@click.command(help="Load the demo province (idempotent) and print URLs and credentials.")
@click.option("--base-url", default=None, help="Where the server is reached (for the URLs)")
def demo(base_url: str | None) -> None:
    settings = settings_from_env()
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    with db.write() as s:
        result = seed.seed_demo(s, system_clock())
    base = (base_url or settings.public_base_url).rstrip("/")
    w = click.echo
    w("Demo loaded: sites " + ", ".join(result.sites))
    w("")
    w(f"  Server:            {base}/")
    w(f"  API description:   {base}/api/v1/openapi.json")
    w(f"  Hạc Thành services {base}/api/v1/sites/HACTHANH/services  (any token below)")
    for name, token in result.kiosk_tokens.items():
        w(f"  Kiosk {name}:     {base}/kiosk?token={token}")
    for name, token in result.display_tokens.items():
        w(f"  Display {name}: {base}/display?token={token}  (lobby TV; ?voices=vi,en)")
    w("  (demo kiosks print to files in ./printed/ beside the database; `motcua printer set` "
      "points them at a real printer)")
    w(f"  Counter station:   {base}/counter/     (sign in as canbo1..canbo8)")
    w(f"  Counter tablet:    {base}/counter/3/rate  (the citizen rates the visit)")
    w(f"  Supervisor:        {base}/supervisor/  (giamsat.hacthanh)")
    w(f"  Admin console:     {base}/admin/       (quantri); devices pair at {base}/pair")
    w(f"  Health / metrics:  {base}/readyz  {base}/metrics")
    w("  Add ?lang=en to any page for English.")
    w("")
    w("Users (password login, for the stations):")
    for username, role, password in result.users:
        w(f"  {username:<18} {role:<11} {password}")
    w("")
    w("API tokens (Authorization: Bearer ...), new each time this runs:")
    for name, token in result.kiosk_tokens.items():
        w(f"  {name:<18} kiosk       {token}")
    for name, token in result.display_tokens.items():
        w(f"  {name:<18} display     {token}")
    w(f"  {'giamsat.hacthanh':<18} supervisor  {result.supervisor_token}")
    for number, token in result.clerk_tokens.items():
        w(
            f"  {'counter ' + str(number):<18} clerk       {token}  "
            f"(counter id {result.counters[number]})"
        )
    w("")
    kiosk = next(iter(result.kiosk_tokens.values()))
    w("Try it:")
    w(
        f"  curl -s -X POST {base}/api/v1/sites/HACTHANH/tickets -H 'Authorization: Bearer "
        f"{kiosk}' -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' "
        '-d \'{"service": "civil"}\''
    )
    w(
        f"  curl -s -X POST {base}/api/v1/counters/{result.counters[3]}/call-next "
        f"-H 'Authorization: Bearer {result.clerk_tokens[3]}'"
    )
    db.dispose()


@click.command(help="Run the server (SQLite file in this folder unless MOTCUA_DATABASE_URL).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--threads",
    default=256,
    show_default=True,
    type=int,
    help="Threading mode: the most simultaneous connections (one per websocket)",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
def run(host: str, port: int, threads: int, access_log: bool) -> None:
    """One process. A province runs several on PostgreSQL + Redis behind nginx (deploy/)."""
    # gevent unless told otherwise: one greenlet per websocket (see deploy/gunicorn.conf.py).
    os.environ.setdefault("MOTCUA_ASYNC_MODE", "gevent")
    settings = settings_from_env()
    if settings.async_mode not in ("threading", "gevent"):
        raise click.ClickException("MOTCUA_ASYNC_MODE must be threading or gevent")
    # The schema is checked (or, on SQLite, upgraded) in a child process: a database driver
    # loaded here, in gunicorn's master, would be inherited by the worker from before gevent's
    # patch, and psycopg would then block the whole node while any one query waits.
    check = subprocess.run([sys.executable, "-m", "server.cli", "schema-check"], check=False)
    if check.returncode == SCHEMA_MISSING:
        raise click.ClickException("no schema yet: run `motcua init-db` first")
    if check.returncode != 0:
        raise click.ClickException("the database cannot be reached (see the message above)")
    if not access_log:
        os.environ["MOTCUA_ACCESS_LOG"] = "0"
    click.echo(
        f"Motcua serving on http://{host}:{port}/  (database: {_safe_url(settings.database_url)})",
        err=True,
    )

    serve(host, port, threads=threads)


SCHEMA_MISSING = 3


@click.command("schema-check", hidden=True)
def schema_check() -> None:
    """Exit 0 when the database has the schema (SQLite: upgraded to it, zero set-up on the
    embedded default), 3 when PostgreSQL has none yet; run by `motcua run` in a child process."""
    settings = settings_from_env()
    if settings.database_url.startswith("sqlite"):
        migrate.upgrade(settings.database_url)
        return
    db = Database(settings.database_url)
    try:
        present = migrate.has_schema(db.engine)
    finally:
        db.dispose()
    if not present:
        sys.exit(SCHEMA_MISSING)
