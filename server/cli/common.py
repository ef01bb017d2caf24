"""What every command group shares: the settings from the environment, the database (with its
schema checked) and a site by its code."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from server.config import Settings
from server.core import migrate
from server.core.db import Database
from server.models import Site


def settings_from_env() -> Settings:
    return Settings.from_env()


def find_site(s: Any, code: str) -> Site:
    site = s.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise click.ClickException(f"no site with code {code!r} (see `motcua demo` or the admin)")
    return site


def open_db(settings: Settings) -> Database:
    db = Database(settings.database_url, settings.sqlite_synchronous)
    if not migrate.has_schema(db.engine):
        raise click.ClickException("the database has no schema yet: run `motcua init-db` first")
    return db


