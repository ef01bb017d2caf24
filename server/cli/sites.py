"""``motcua site add``, ``motcua service add``, ``motcua counter add``: build a province from the
command line (an operator's first day, scripts, the province load run's equivalent), through
the same seed helpers as the demo. Each command creates or updates (idempotent by code/number).
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from server.cli.common import find_site, open_db, settings_from_env
from server.core import field_words
from server.core.db import Database
from server.features import seed
from server.models import SITE_KINDS, Counter, Service
from server.rules import fields


def _db() -> Database:
    return open_db(settings_from_env())


def _rule(label: str, check: Any, value: Any, **kw: Any) -> Any:
    """A shared field rule (server/rules/fields.py); a refusal is a clear command error."""
    try:
        return check(value, **kw)
    except fields.FieldProblem as exc:
        raise click.ClickException(f"{label} {value!r}: {field_words.say(exc, 'en')}") from None


@click.group(help="Sites: the provincial centre, commune centres, extra reception points.")
def site() -> None:
    pass


@site.command("add", help="Create or update a site.")
@click.argument("code")
@click.option("--name-vi", required=True)
@click.option("--name-en", required=True)
@click.option("--kind", type=click.Choice(sorted(SITE_KINDS)), default="centre", show_default=True)
@click.option("--parent", "parent_code", default=None, help="Code of the parent site")
@click.option("--timezone", default="Asia/Ho_Chi_Minh", show_default=True)
def site_add(code: str, name_vi: str, name_en: str, kind: str, parent_code: str | None,
             timezone: str) -> None:
    code = _rule("site code", fields.site_code, code)
    name_vi, name_en = _rule("name", fields.name, name_vi), _rule("name", fields.name, name_en)
    timezone = _rule("unknown time zone", fields.timezone, timezone)
    db = _db()
    with db.write() as s:  # type: ignore[attr-defined]
        parent_id = find_site(s, parent_code).id if parent_code else None
        seed.upsert_site(s, code, name_vi=name_vi, name_en=name_en, kind=kind,
                         parent_id=parent_id, timezone=timezone)
    click.echo(f"Site {code} ({kind}) ready.")


@click.group(help="Services (queues) of a site.")
def service() -> None:
    pass


@service.command("add", help="Create or update a service (a queue with its ticket prefix).")
@click.option("--site", "site_code", required=True)
@click.argument("code")
@click.option("--prefix", required=True, help="Ticket letter, e.g. A")
@click.option("--name-vi", required=True)
@click.option("--name-en", required=True)
@click.option("--sla", "sla_minutes", type=int, default=20, show_default=True,
              help="Target wait, minutes (1-600)")
def service_add(site_code: str, code: str, prefix: str, name_vi: str, name_en: str,
                sla_minutes: int) -> None:
    code = _rule("service code", fields.service_code, code)
    name_vi, name_en = _rule("name", fields.name, name_vi), _rule("name", fields.name, name_en)
    prefix = prefix.strip().upper()
    db = _db()
    with db.write() as s:  # type: ignore[attr-defined]
        st = find_site(s, site_code)
        order = len(s.scalars(select(Service.id).where(Service.site_id == st.id)).all())
        existing = s.scalar(select(Service).where(Service.site_id == st.id, Service.code == code))
        prefix = _rule("prefix", fields.prefix, prefix,
                       held=existing is not None and existing.prefix == prefix)
        held_sla = existing is not None and existing.sla_target_minutes == sla_minutes
        sla_minutes = _rule("--sla", fields.sla_minutes, sla_minutes, held=held_sla)
        seed.upsert_service(s, st, code, prefix=prefix, name_vi=name_vi, name_en=name_en,
                            sla_target_minutes=sla_minutes, active=True,
                            sort_order=existing.sort_order if existing else order)
    click.echo(f"Service {code} ({prefix}) ready at {site_code}.")


@click.group(help="Counters (desks) of a site.")
def counter() -> None:
    pass


@counter.command("add", help="Create a counter or set its work profile.")
@click.option("--site", "site_code", required=True)
@click.argument("number", type=int)
@click.option("--service", "services", multiple=True, required=True,
              help="CODE or CODE:WEIGHT, once per service it calls from")
def counter_add(site_code: str, number: int, services: tuple[str, ...]) -> None:
    db = _db()
    with db.write() as s:  # type: ignore[attr-defined]
        st = find_site(s, site_code)
        held = s.scalar(select(Counter).where(Counter.site_id == st.id, Counter.number == number))
        _rule("counter number", fields.counter_number, number, held=held is not None)
        held_weights = {(x.service_id, x.weight) for x in (held.profile if held else [])}
        profile = []
        for item in services:
            code, _, weight = item.partition(":")
            try:
                w = float(weight) if weight else 1.0
            except ValueError:
                raise click.ClickException(f"bad weight in {item!r}") from None
            svc = s.scalar(select(Service).where(Service.site_id == st.id, Service.code == code))
            if svc is None:
                raise click.ClickException(f"no service {code!r} at {site_code}")
            w = _rule(f"weight of {code!r}", fields.weight, w,
                      held=(svc.id, w) in held_weights)
            profile.append((svc, w))
        c = seed.upsert_counter(s, st, number, profile, "closed")
        counter_id = c.id
    click.echo(f"Counter {number} at {site_code} ready (id {counter_id}); "
               f"`motcua token create --role clerk --site {site_code} --counter {counter_id}` "
               "gives its clerk a token.")
