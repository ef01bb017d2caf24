"""Business days follow the site's time zone."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def business_day(at: dt.datetime, tz: str = DEFAULT_TZ) -> dt.date:
    """The site-local calendar date of an aware instant."""
    if at.tzinfo is None:
        raise ValueError("aware datetime required")
    return at.astimezone(zone(tz)).date()


def day_start(day: dt.date, tz: str = DEFAULT_TZ) -> dt.datetime:
    """Midnight that begins a business day in the site's time zone, as a UTC instant: the
    lower bound that keeps a query of the working day inside the working day."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone(tz)).astimezone(dt.UTC)


def local(at: dt.datetime, tz: str = DEFAULT_TZ) -> dt.datetime:
    return at.astimezone(zone(tz))


def format_label(prefix: str, number: int) -> str:
    """A042: prefix and at least three digits."""
    return f"{prefix}{number:03d}"


def queue_position_key(at: dt.datetime) -> int:
    """Microseconds since the epoch: the default order inside a queue."""
    return int(at.timestamp() * 1_000_000)
