"""`motcua init-db`, `motcua demo`, `motcua run`: set up and run this machine's server."""

from __future__ import annotations

import dataclasses

import click
from sqlalchemy.exc import SQLAlchemyError

from server.app import system_clock
from server.cli import database
from server.cli.common import settings_from_env
from server.config import env_name, served_async_mode
from server.core import migrate, schema_check
from server.core.db import Database
from server.features import seed, simulate
from server.node import preflight
from server.node.serve import serve
from server.rules.calendar import zone


@click.command("init-db", help="Create or upgrade the database schema (Alembic migrations).")
def init_db() -> None:
    """Refuses, before running anything, a database whose schema is not what its stamped
    revision says (Alembic would trust the stamp and skip what is missing); after migrating,
    checks the result the same way."""
    settings = settings_from_env()
    db = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        database.refuse_on_mismatch(db)
        database.upgrade(settings.database_url)
        database.refuse_on_mismatch(db)
        with db.write() as s:
            seed.ensure_priorities(s)
        click.echo(
            f"Database ready at revision {migrate.current_revision(db.engine)}: "
            f"{_safe_url(settings.database_url)}"
        )
    finally:
        db.dispose()


def _safe_url(url: str) -> str:
    return preflight.safe_url(url)


def _upgrade_sqlite(url: str) -> None:
    try:
        db = Database(url)
        try:
            # A schema that is not what its stamp says is not migrated over (see init-db).
            problem = schema_check.stamp_problem(db.engine, url)
        finally:
            db.dispose()
        if problem is None:
            migrate.upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        raise preflight.StartupError(
            f"cannot prepare the SQLite database {url}: {str(getattr(exc, 'orig', exc))[:300]}"
        ) from exc
    if problem:
        raise preflight.StartupError(problem)


@click.command(help="Load the demo province (idempotent) and print URLs and credentials.")
@click.option("--base-url", default=None, help="Where the server is reached (for the URLs)")
@click.option("--history/--no-history", default=None,
              help="Live a working day of Hạc Thành up to now through the engine (tickets "
                   f"taken, called, served), so reports, charts and advice have data at once "
                   f"[default: on; {env_name('demo_history')}=0 turns it off]")
def demo(base_url: str | None, history: bool | None) -> None:
    settings = settings_from_env()
    if history is None:
        history = settings.demo_history
    db = Database(settings.database_url, settings.sqlite_synchronous)
    database.refuse_on_mismatch(db)
    migrate.upgrade(settings.database_url)
    now = system_clock()
    with db.write() as s:
        result = seed.seed_demo(s, now)
    lived = simulate.demo_history(db, "HACTHANH", now) if history else None
    base = (base_url or settings.public_base_url).rstrip("/")
    w = click.echo
    w("Demo loaded: sites " + ", ".join(result.sites))
    if lived is not None:
        w(f"  History of Hạc Thành on {lived.day.strftime('%d/%m/%Y')} until "
          f"{lived.until.astimezone(zone('Asia/Ho_Chi_Minh')).strftime('%H:%M')}: "
          f"{lived.issued} tickets taken, {lived.served} served (simulated citizens and the "
          "demo clerks canbo1..canbo8, through the real engine)")
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
    messages = settings.messages_path()
    if messages is not None:
        w(f"  Messages to citizens (SMS stand-in, one JSON per line): {messages}")
    pw = seed.DEMO_PASSWORD
    w(f"  Counter station:   {base}/counter/     (sign in as canbo1..canbo8, password {pw})")
    w(f"  Counter tablet:    {base}/counter/{result.counters[3]}/rate  (the citizen rates the "
      f"visit at counter 3: sign in as canbo3, password {pw})")
    w(f"  Supervisor:        {base}/supervisor/  (sign in as giamsat.hacthanh, password {pw})")
    w(f"  Admin console:     {base}/admin/       (sign in as quantri, password {pw}); devices "
      f"pair at {base}/pair")
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


@click.command(
    help=f"Run the server (SQLite file in this folder unless {env_name('database_url')})."
)
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
    served_async_mode()
    settings = settings_from_env()
    problems = preflight.production_problems(settings, [f"{host}:{port}"])
    if problems:  # one line each, every problem at once
        for line in problems:
            click.echo(f"Error: Motcua cannot start: {line}", err=True)
        raise SystemExit(1)
    try:
        preflight.check_worker(settings.async_mode)
        preflight.check_port(host, port)
        if settings.database_url.startswith("sqlite"):
            _upgrade_sqlite(settings.database_url)  # zero set-up on the embedded default
        preflight.check_database(settings.database_url)
    except preflight.StartupError as exc:
        raise click.ClickException(f"Motcua cannot start: {exc}") from None
    if not access_log:
        settings = dataclasses.replace(settings, access_log=False)
    click.echo(
        f"Motcua serving on http://{host}:{port}/  (database: {_safe_url(settings.database_url)})",
        err=True,
    )

    serve(host, port, settings, threads=threads)
