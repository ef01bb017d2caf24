"""`motcua token create`, `motcua user add`: API tokens and staff accounts."""

from __future__ import annotations

import click

from server.app import system_clock
from server.cli.common import find_site, open_db, settings_from_env
from server.features import seed
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
def token_create(role: str, site_code: str, counter_id: int | None, name: str | None) -> None:
    db = open_db(settings_from_env())
    with db.write() as s:
        site = find_site(s, site_code)
        counter = None
        if counter_id is not None:
            counter = s.get(Counter, counter_id)
            if counter is None or counter.site_id != site.id:
                raise click.ClickException(f"no counter with id {counter_id} at {site_code}")
        tok = seed.create_token(s, role, site, system_clock(), counter=counter, name=name)
    where = f" for counter {counter.number}" if counter else ""
    click.echo(f"{role} token for {site_code}{where}. Keep it safe (shown once):")
    click.echo(tok)


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
