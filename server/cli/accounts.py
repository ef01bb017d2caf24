"""`motcua token create|list|revoke`, `motcua user add`: API tokens and staff accounts."""

from __future__ import annotations

import datetime as dt

import click

from server.app import system_clock
from server.cli.common import find_site, open_db, settings_from_env
from server.core.auth import SYSTEM
from server.core.errors import AppError
from server.features import admin, seed
from server.models import Counter


@click.group(help="API tokens for staff and integrations.")
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
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None,
              help="The token stops working after this many days (default: never)")
def token_create(
    role: str, site_code: str, counter_id: int | None, name: str | None,
    expires_days: int | None,
) -> None:
    db = open_db(settings_from_env())
    with db.write() as s:
        site = find_site(s, site_code)
        counter = None
        if counter_id is not None:
            counter = s.get(Counter, counter_id)
            if counter is None or counter.site_id != site.id:
                raise click.ClickException(f"no counter with id {counter_id} at {site_code}")
        now = system_clock()
        expires = now + dt.timedelta(days=expires_days) if expires_days else None
        tok = seed.create_token(s, role, site, now, counter=counter, name=name, expires_at=expires)
    where = f" for counter {counter.number}" if counter else ""
    until = f", valid until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    click.echo(f"{role} token for {site_code}{where}{until}. Keep it safe (shown once):")
    click.echo(tok)


@token.command("list", help="Staff API tokens: id, name, role, site, owner, expiry, last use.")
@click.option("--site", "site_code", default=None, help="Only the tokens of this site")
def token_list(site_code: str | None) -> None:
    db = open_db(settings_from_env())
    with db.read() as s:
        if site_code is not None:
            find_site(s, site_code)
        rows = admin.list_tokens(s, None, site_code)
    click.echo(f"{'id':>5}  {'name':<20} {'role':<10} {'site':<12} {'owner':<14} "
               f"{'expires':<16} {'last used':<16} state")
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        click.echo(
            f"{r['id']:>5}  {(r['name'] or '-')[:20]:<20} {r['role']:<10} {r['site'][:12]:<12} "
            f"{(r['owner'] or '(cli)')[:14]:<14} {_short(r['expires_at']):<16} "
            f"{_short(r['last_used_at']):<16} {state}"
        )


def _short(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


@token.command("revoke", help="Revoke a token by id (see `token list`); its sockets close.")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    db = open_db(settings_from_env())
    try:
        with db.write() as s:
            view = admin.revoke_token(s, SYSTEM, token_id, system_clock())
    except AppError as err:
        raise click.ClickException(err.message("en")) from None
    click.echo(f"Token {view['id']} ({view['name'] or view['role']}) is revoked.")


@click.group(help="Staff accounts.")
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
    db = open_db(settings_from_env())
    with db.write() as s:
        site = find_site(s, site_code)
        seed.upsert_user(s, username, password, role, [site], system_clock(), full_name)
    click.echo(f"User {username!r} ({role}) can now sign in at {site_code}.")
