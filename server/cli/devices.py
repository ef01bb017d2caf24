"""`motcua device add`, `motcua printer set`: kiosks, displays and their printers."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from printers.uri import PolicyError, PrinterURI
from server.app import system_clock
from server.cli.common import find_site, open_db, settings_from_env
from server.config import Settings
from server.features import printing, seed
from server.models import Counter, Device


def _checked(settings: Settings, uri: str) -> PrinterURI:
    """The URI if the command line may set it (file:// only inside the spool folder)."""
    try:
        return printing.checked_uri(uri, printing.printer_policy(settings, "cli"))
    except PolicyError as exc:
        raise click.ClickException(f"{exc.code}: {exc.reason}") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(help="Kiosks and displays.")
def device() -> None:
    pass


@device.command("add", help="Register a kiosk or display; prints its token (once).")
@click.option("--site", "site_code", required=True)
@click.option("--kind", type=click.Choice(["kiosk", "display"]), required=True)
@click.option("--name", required=True)
@click.option("--printer", default=None, help="Printer URI (tcp://, usb://, serial://, file://)")
@click.option("--counter", "counter_number", type=int, default=None,
              help="A kiosk that is this counter's rating tablet (counter number)")
def device_add(
    site_code: str, kind: str, name: str, printer: str | None, counter_number: int | None
) -> None:
    if counter_number is not None and kind != "kiosk":
        raise click.ClickException("--counter is for a kiosk: the counter's rating tablet")
    settings = settings_from_env()
    if printer is not None:
        _checked(settings, printer)
    db = open_db(settings)
    with db.write() as s:
        site = find_site(s, site_code)
        counter = None
        if counter_number is not None:
            counter = s.scalar(select(Counter).where(
                Counter.site_id == site.id, Counter.number == counter_number))
            if counter is None:
                raise click.ClickException(f"no counter {counter_number} at {site_code}")
        token = seed.add_device(s, site, kind, name, printer, system_clock(), counter=counter)
    click.echo(f"{kind} {name!r} registered at {site_code}. Its token (shown once):")
    click.echo(token)


@click.group(help="Ticket and receipt printers.")
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

    if (device_name is None) == (counter_number is None):
        raise click.ClickException("give exactly one of --device NAME or --counter NUMBER")
    settings = settings_from_env()
    target = _checked(settings, uri)
    db = open_db(settings)
    with db.write() as s:
        site = find_site(s, site_code)
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
