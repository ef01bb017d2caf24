"""`motcua simulate`: a day of a site on a throwaway database, with the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import click

from server.cli.common import settings_from_env
from server.features import simulate as sim


@click.command(help="Simulate a day of a site on a throwaway database (the real engine).")
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
@click.option("--booked-share", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True,
              help="Share of the citizens who book a slot ahead; compared with the same day "
                   "without bookings")
@click.option("--online-share", type=click.FloatRange(0, 1), default=None,
              help="Every service's share of a slot's capacity offered for booking "
                   "(default: the site's setting, else 0.5)")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
def simulate(site_code: str, per_day: int | None, arrivals: str | None, counters: int | None,
             policy: str, seed: int, no_lunch: bool, eta_report: bool, booked_share: float,
             online_share: float | None, as_json: bool) -> None:

    if per_day is not None and arrivals is not None:
        raise click.ClickException("give --per-day or --arrivals, not both")
    try:
        result = sim.run(site_code, per_day, Path(arrivals) if arrivals else None, counters,
                         policy, seed, settings_from_env().database_url, not no_lunch,
                         booked_share, online_share)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(f"cannot simulate {site_code}: {exc}") from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo("\n".join(sim.text_report(result, eta_report)))
