"""``motcua`` command line: run the server, migrate, seed the demo, add devices, tokens, users.

Tokens are printed once, as the last line; only their hash is stored.
"""

from __future__ import annotations

import sys

import click

from server.cli import accounts, database, devices, dossiers, ops, server, sites
from server.cli import simulate as simulate_cli
from server.cli.backup import backup


@click.group(help="Motcua: queue and kiosk system for one-stop public service centres.")
def main() -> None:
    pass


for _command in (
    server.init_db, server.demo, server.run,
    database.db,  # `motcua db check|repair`
    devices.device, devices.printer,
    accounts.token, accounts.user,
    simulate_cli.simulate,
    ops.config, ops.close_day, ops.retention_cmd, ops.stats,
    backup,  # `motcua backup create|restore|fence|verify|mark`, `motcua backup pitr ...`
    sites.site, sites.service, sites.counter,
):
    main.add_command(_command)
dossiers.register(main)

if __name__ == "__main__":
    sys.exit(main())
