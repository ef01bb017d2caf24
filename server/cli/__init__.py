"""``motcua`` command line: run the server, migrate, seed the demo, add devices, tokens, users.

Tokens are printed once, as the last line; only their hash is stored.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from server.app import system_clock
from server.config import Settings
from server.core import migrate
from server.core.db import Database
from server.features import seed
from server.models import Counter, Device, Site


def _settings() -> Settings:
    return Settings.from_env()


def _site(s: Any, code: str) -> Site:
    site = s.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise click.ClickException(f"no site with code {code!r} (see `motcua demo` or the admin)")
    return site


def _db(settings: Settings) -> Database:
    db = Database(settings.database_url)
    if not migrate.has_schema(db.engine):
        raise click.ClickException("the database has no schema yet: run `motcua init-db` first")
    return db


@click.group(help="Motcua: queue and kiosk system for one-stop public service centres.")
def main() -> None:
    pass


@main.command("init-db", help="Create or upgrade the database schema (Alembic migrations).")
def init_db() -> None:
    settings = _settings()
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
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command(help="Load the demo province (idempotent) and print URLs and credentials.")
@click.option("--base-url", default=None, help="Where the server is reached (for the URLs)")
def demo(base_url: str | None) -> None:
    settings = _settings()
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


@main.group(help="Kiosks and displays.")
def device() -> None:
    pass


@device.command("add", help="Register a kiosk or display; prints its token (once).")
@click.option("--site", "site_code", required=True)
@click.option("--kind", type=click.Choice(["kiosk", "display"]), required=True)
@click.option("--name", required=True)
@click.option("--printer", default=None, help="Printer URI (tcp://, usb://, serial://, file://)")
def device_add(site_code: str, kind: str, name: str, printer: str | None) -> None:
    db = _db(_settings())
    with db.write() as s:
        site = _site(s, site_code)
        token = seed.add_device(s, site, kind, name, printer, system_clock())
    click.echo(f"{kind} {name!r} registered at {site_code}. Its token (shown once):")
    click.echo(token)


@main.group(help="Ticket and receipt printers.")
def printer() -> None:
    pass


@printer.command("set", help="Set the printer of a kiosk or of a counter.")
@click.option("--site", "site_code", required=True)
@click.option("--device", "device_name", default=None, help="Kiosk name (see `device add`)")
@click.option("--counter", "counter_number", type=int, default=None, help="Counter number")
@click.option("--uri", required=True,
              help="tcp://host:9100, usb://04b8:0202, serial:///dev/ttyUSB0?baudrate=19200, "
                   "file:///path")
def printer_set(site_code: str, device_name: str | None, counter_number: int | None,
                uri: str) -> None:
    from printers.uri import parse_uri

    if (device_name is None) == (counter_number is None):
        raise click.ClickException("give exactly one of --device NAME or --counter NUMBER")
    try:
        target = parse_uri(uri)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db = _db(_settings())
    with db.write() as s:
        site = _site(s, site_code)
        if device_name is not None:
            row: Any = s.scalar(select(Device).where(Device.site_id == site.id,
                                                     Device.name == device_name))
            what = f"kiosk {device_name!r}"
        else:
            row = s.scalar(select(Counter).where(Counter.site_id == site.id,
                                                 Counter.number == counter_number))
            what = f"counter {counter_number}"
        if row is None:
            raise click.ClickException(f"no {what} at {site_code}")
        row.printer_uri = uri
    click.echo(f"{what} at {site_code} now prints on {target.label} ({uri}).")


@main.group(help="API tokens for staff and integrations.")
def token() -> None:
    pass


@token.command("create", help="Create an API token; prints it (once).")
@click.option("--role", type=click.Choice(["clerk", "supervisor", "admin"]), required=True)
@click.option("--site", "site_code", required=True)
@click.option(
    "--counter",
    "counter_id",
    type=int,
    default=None,
    help="Counter id: a clerk token then acts on that counter only",
)
@click.option("--name", default=None, help="A label; a new token of the same name revokes the old")
def token_create(role: str, site_code: str, counter_id: int | None, name: str | None) -> None:
    db = _db(_settings())
    with db.write() as s:
        site = _site(s, site_code)
        counter = None
        if counter_id is not None:
            counter = s.get(Counter, counter_id)
            if counter is None or counter.site_id != site.id:
                raise click.ClickException(f"no counter with id {counter_id} at {site_code}")
        tok = seed.create_token(s, role, site, system_clock(), counter=counter, name=name)
    where = f" for counter {counter.number}" if counter else ""
    click.echo(f"{role} token for {site_code}{where}. Keep it safe (shown once):")
    click.echo(tok)


@main.group(help="Staff accounts.")
def user() -> None:
    pass


@user.command("add", help="Create or update a user (password login for the stations).")
@click.option("--site", "site_code", required=True)
@click.option("--role", type=click.Choice(["clerk", "supervisor", "admin"]), required=True)
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--full-name", default=None)
def user_add(
    site_code: str, role: str, username: str, password: str, full_name: str | None
) -> None:
    if len(password) < 8:
        raise click.ClickException("the password needs at least 8 characters")
    db = _db(_settings())
    with db.write() as s:
        site = _site(s, site_code)
        seed.upsert_user(s, username, password, role, [site], system_clock(), full_name)
    click.echo(f"User {username!r} ({role}) can now sign in at {site_code}.")


@main.command(help="Simulate a day of a site on a throwaway database (the real engine).")
@click.option("--site", "site_code", default="HACTHANH", show_default=True)
@click.option("--per-day", type=click.IntRange(1, 20000), default=None,
              help="Tickets in the day (default 230)")
@click.option("--arrivals", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV with time,service,priority instead of --per-day")
@click.option("--counters", type=click.IntRange(1, 200), default=None,
              help="Open counters (default: the site's)")
@click.option("--policy", type=click.Choice(["fixed", "routing", "advice"]), default="routing",
              show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--no-lunch", is_flag=True, help="No 11:30-13:30 break")
@click.option("--eta-report", is_flag=True, help="Also print the wait estimate's accuracy")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
def simulate(site_code: str, per_day: int | None, arrivals: str | None, counters: int | None,
             policy: str, seed: int, no_lunch: bool, eta_report: bool, as_json: bool) -> None:
    from server.features import simulate as sim

    if per_day is not None and arrivals is not None:
        raise click.ClickException("give --per-day or --arrivals, not both")
    try:
        result = sim.run(site_code, per_day, Path(arrivals) if arrivals else None, counters,
                         policy, seed, _settings().database_url, not no_lunch)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(f"cannot simulate {site_code}: {exc}") from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo("\n".join(sim.text_report(result, eta_report)))


@main.command(help="Run the server (SQLite file in this folder unless MOTCUA_DATABASE_URL).")
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
    settings = _settings()
    sqlite = settings.database_url.startswith("sqlite")
    if settings.async_mode not in ("threading", "gevent"):
        raise click.ClickException("MOTCUA_ASYNC_MODE must be threading or gevent")
    if sqlite:
        migrate.upgrade(settings.database_url)  # zero set-up on the embedded default
    else:
        db = Database(settings.database_url)
        if not migrate.has_schema(db.engine):
            raise click.ClickException("no schema yet: run `motcua init-db` first")
        db.dispose()
    if not access_log:
        os.environ["MOTCUA_ACCESS_LOG"] = "0"
    click.echo(
        f"Motcua serving on http://{host}:{port}/  (database: {_safe_url(settings.database_url)})",
        err=True,
    )
    from server.node.serve import serve

    serve(host, port, async_mode=settings.async_mode, threads=threads)


from server.cli.dossiers import register as _register_dossiers  # noqa: E402  (issue 5)

_register_dossiers(main)

from server.cli.ops import close_day, config  # noqa: E402  (issue 10)

main.add_command(config)
main.add_command(close_day)

from server.node.backup import backup  # noqa: E402 - `motcua backup create|restore FILE`

main.add_command(backup)

from server.cli.sites import counter, service, site  # noqa: E402 - `motcua site|service|counter add`

for _group in (site, service, counter):
    main.add_command(_group)

if __name__ == "__main__":
    sys.exit(main())
