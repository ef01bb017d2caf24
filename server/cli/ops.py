"""``motcua config export|import``, ``motcua close-day``, ``motcua retention`` and ``motcua
stats backfill``, registered by cli.py.

The command line acts with full rights as actor ``cli`` (audit rows say so): it runs on the
server, where the operator already holds the database.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from server.app import system_clock
from server.cli.common import find_site, open_db, settings_from_env
from server.config import Settings, env_name
from server.core.auth import Principal
from server.core.errors import AppError
from server.features import aggregates, dailyops, printing, retention, siteconfig

CLI = Principal(kind="cli", id=None, role="system", site_id=None)


def _fmt_of(path: Path, given: str | None) -> str:
    if given:
        return given
    return "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"


@click.group(help="Export or import a site's whole configuration as one JSON or YAML file.")
def config() -> None:
    pass


@config.command("export", help="Write the configuration of a site (and the sites under it).")
@click.option("--site", "site_code", required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default=None,
    help="Default: from the file name (.yaml/.yml), else JSON",
)
@click.option("--template", is_flag=True,
              help="A template for another centre: without this centre's devices and printers")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_export(site_code: str, fmt: str | None, template: bool, file: Path) -> None:
    db = open_db(settings_from_env())
    try:
        with db.read() as s:
            doc = siteconfig.export_site(s, CLI, site_code, template=template)
    except AppError as exc:
        raise click.ClickException(exc.message("en")) from None
    fmt = _fmt_of(file, fmt)
    file.write_text(siteconfig.dump(doc, fmt), encoding="utf-8")
    click.echo(f"Configuration of {site_code} written to {file} ({fmt}).")


@config.command("import", help="Validate a configuration file, then create or update from it.")
@click.option("--dry-run", is_flag=True, help="Check and show what would change; change nothing")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def config_import(dry_run: bool, file: Path) -> None:

    text = file.read_text(encoding="utf-8")
    fmt = "yaml" if file.suffix.lower() in (".yaml", ".yml") else None
    settings = settings_from_env()
    db = open_db(settings)
    printers = printing.printer_policy(settings, "cli")  # file:// only into the spool folder
    try:
        with db.write() as s:
            result = siteconfig.import_config(
                s, CLI, text, system_clock(), fmt, dry_run, printers
            )
    except AppError as exc:
        raise click.ClickException(exc.message("en")) from None
    for line in result["changes"]:
        click.echo(f"  {line}")
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{result['site']}: {result['created']} created, {result['updated']} updated, "
        f"{result['unchanged']} unchanged rows {verb} imported"
        + (" (dry run: nothing changed)." if dry_run else ".")
    )


@click.command(
    "close-day",
    help="Close the day at a site: waiting and parked tickets become "
    "'unserved at close' (called/serving tickets stay with their clerk).",
)
@click.option("--site", "site_code", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON")
def close_day(site_code: str, as_json: bool) -> None:
    settings = settings_from_env()
    db = open_db(settings)
    now = system_clock()
    with db.write() as s:
        summary = dailyops.close_day(s, CLI, find_site(s, site_code), now)
    # The history pass the automatic close also runs: aggregates, then retention.
    kept = dailyops.history_pass(db, now, settings.retention_days, _periods(settings))
    if as_json:
        click.echo(json.dumps({**summary, "retention": kept}, ensure_ascii=False))
        return
    click.echo(retention.describe(kept) + ".")
    click.echo(aggregates_line(kept["aggregates"]))
    click.echo(
        f"{site_code} closed for {summary['business_day']}: "
        f"{summary['unserved_at_close']} ticket(s) marked unserved at close"
        + (f" {summary['by_service']}" if summary["by_service"] else "")
        + ("; tickets at counters stay with their clerks." if summary["at_counters_left"] else ".")
    )


@click.command(
    "retention",
    help="Remove personal data past its retention: ID-card scans of past business days, print "
    f"jobs made more than {env_name('retention_days')} days ago. Dossiers are kept.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON")
def retention_cmd(dry_run: bool, as_json: bool) -> None:
    settings = settings_from_env()
    db = open_db(settings)
    summary = dailyops.history_pass(
        db, system_clock(), settings.retention_days, _periods(settings), dry_run=dry_run
    )
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(retention.describe(summary) + ".")
    click.echo(aggregates_line(summary["aggregates"]))


def _periods(settings: Settings) -> retention.Periods:
    return retention.Periods(settings.ticket_detail_days, settings.aggregate_days)


def aggregates_line(made: dict[str, object]) -> str:
    verb = "would aggregate" if made["dry_run"] else "aggregated"
    left = f", {made['left']} left for the next passes" if made["left"] else ""
    return f"daily aggregates: {verb} {made['days']} settled day(s){left}."


@click.group(help="Daily aggregates the KPI reports read (written by the daily close).")
def stats() -> None:
    pass


@stats.command(
    "backfill",
    help="Aggregate every settled day not aggregated yet (existing history, a site that never "
    "closed a day), one day per transaction, with progress. Safe to interrupt and run again.",
)
@click.option("--site", "site_codes", multiple=True, help="Only these sites (repeatable)")
@click.option("--rewrite", is_flag=True,
              help="Every settled day again, aggregated or not (replaces its rows)")
@click.option("--quiet", is_flag=True, help="Only the final line")
def stats_backfill(site_codes: tuple[str, ...], rewrite: bool, quiet: bool) -> None:
    db = open_db(settings_from_env())
    done = total = tickets = 0
    for step in aggregates.backfill(db.write, system_clock(), list(site_codes) or None, rewrite):
        done, total = step["done"], step["total"]
        tickets += max(step["tickets"], 0)
        if not quiet:
            click.echo(
                f"[{done}/{total}] {step['site']} {step['day']}: {step['tickets']} ticket(s)",
                err=True,
            )
    click.echo(f"{done} day(s) aggregated, {tickets} ticket(s) read.")
