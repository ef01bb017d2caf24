"""``motcua`` commands of the dossier feature: the province's procedure catalog and
holidays as CSV, a site's dossier cut-off time, and the purge of kiosk ID card scans.
Registered on the main group by ``server/cli.py``."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import click
from sqlalchemy import select

from server.app import system_clock
from server.cli.common import find_site, open_db, settings_from_env
from server.core.cells import safe_row
from server.features import procedures as catalog
from server.features.applicants import purge_applicants as purge
from server.features.dossiers import cutoff_of, province_of
from server.features.procedures import upsert_holidays
from server.models import Holiday, Site
from server.rules.workdays import parse_cutoff


def _ctx() -> tuple[Any, Any, Any]:
    return open_db, settings_from_env, find_site


def _province(s: Any, code: str) -> Site:

    _, _, find_site = _ctx()
    site = find_site(s, code)
    province = province_of(s, site)
    if province.id != site.id:
        raise click.ClickException(
            f"{code} is not a province; its catalog and holidays are the province's: "
            f"--site {province.code}"
        )
    return site


@click.group(help="The procedure catalog of a province (CSV).")
def procedures() -> None:
    pass


@procedures.command("import", help="Create or update procedures from a CSV file (all or nothing).")
@click.option("--site", "site_code", required=True, help="Province code")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def procedures_import(site_code: str, file: Any) -> None:

    text = file.read()
    get_db, settings, _ = _ctx()
    db = get_db(settings())
    with db.write() as s:
        province = _province(s, site_code)
        try:
            result = catalog.import_csv(s, province, text)
        except catalog.CatalogError as exc:
            for line in exc.errors:
                click.echo(line, err=True)
            raise click.ClickException(
                f"{len(exc.errors)} problem(s) in the file; nothing was changed"
            ) from None
    click.echo(f"{site_code}: {result.created} procedure(s) created, {result.updated} updated.")


@procedures.command("export", help="Write the province's procedures as CSV ('-' = stdout).")
@click.option("--site", "site_code", required=True, help="Province code")
@click.argument("file", type=click.File("w", encoding="utf-8"))
def procedures_export(site_code: str, file: Any) -> None:

    get_db, settings, _ = _ctx()
    db = get_db(settings())
    with db.read() as s:
        file.write(catalog.export_csv(s, _province(s, site_code)))


@click.group(help="Public holidays of a province (no working day for dossier due dates).")
def holidays() -> None:
    pass


@holidays.command("import", help="Add or rename holidays from a CSV file: day,name_vi,name_en "
                  "(day as YYYY-MM-DD); all or nothing.")
@click.option("--site", "site_code", required=True, help="Province code")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def holidays_import(site_code: str, file: Any) -> None:

    rows: list[tuple[dt.date, str, str]] = []
    errors: list[str] = []
    reader = csv.DictReader(io.StringIO(file.read()))
    if not reader.fieldnames or not {"day", "name_vi"} <= set(reader.fieldnames):
        raise click.ClickException("line 1: the header must have day,name_vi[,name_en]")
    for row in reader:
        try:
            day = dt.date.fromisoformat((row.get("day") or "").strip())
        except ValueError:
            errors.append(f"line {reader.line_num}, day: YYYY-MM-DD expected")
            continue
        vi = (row.get("name_vi") or "").strip()
        if not vi or len(vi) > 200:
            errors.append(f"line {reader.line_num}, name_vi: 1-200 characters required")
            continue
        rows.append((day, vi, (row.get("name_en") or "").strip()[:200] or vi))
    if errors:
        for e in errors:
            click.echo(e, err=True)
        raise click.ClickException(f"{len(errors)} problem(s) in the file; nothing was changed")
    get_db, settings, _ = _ctx()
    db = get_db(settings())
    with db.write() as s:
        upsert_holidays(s, _province(s, site_code), rows)
    click.echo(f"{site_code}: {len(rows)} holiday(s) saved.")


@holidays.command("export", help="Write the province's holidays as CSV ('-' = stdout).")
@click.option("--site", "site_code", required=True, help="Province code")
@click.argument("file", type=click.File("w", encoding="utf-8"))
def holidays_export(site_code: str, file: Any) -> None:


    get_db, settings, _ = _ctx()
    db = get_db(settings())
    w = csv.writer(file, lineterminator="\n")
    w.writerow(["day", "name_vi", "name_en"])
    with db.read() as s:
        province = _province(s, site_code)
        for h in s.scalars(
            select(Holiday).where(Holiday.site_id == province.id).order_by(Holiday.day)
        ):
            w.writerow(safe_row([h.day.isoformat(), h.name_vi, h.name_en]))


@click.command("dossier-cutoff", help="Set the local time after which a site's dossiers count "
               "from the next working day (HH:MM; 'inherit' = the parent site's, else 16:30).")
@click.option("--site", "site_code", required=True)
@click.argument("value")
def dossier_cutoff(site_code: str, value: str) -> None:

    if value != "inherit":
        try:
            parse_cutoff(value)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    get_db, settings, find_site = _ctx()
    db = get_db(settings())
    with db.write() as s:
        site = find_site(s, site_code)
        site.dossier_cutoff = None if value == "inherit" else value
        s.flush()
        effective = cutoff_of(s, site)
    click.echo(f"{site_code}: dossiers received after {effective:%H:%M} count from the next "
               "working day.")


@click.command("purge-applicants",
               help="Delete the kiosk's ID card scans of past business days (also done at "
               "each site's first ticket of the day).")
def purge_applicants() -> None:

    get_db, settings, _ = _ctx()
    db = get_db(settings())
    with db.write() as s:
        removed = purge(s, system_clock())
    click.echo(f"{removed} ID card scan(s) of past days deleted.")


def register(main: click.Group) -> None:
    for command in (procedures, holidays, dossier_cutoff, purge_applicants):
        main.add_command(command)
