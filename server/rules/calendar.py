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


def local(at: dt.datetime, tz: str = DEFAULT_TZ) -> dt.datetime:
    return at.astimezone(zone(tz))


def format_label(prefix: str, number: int) -> str:
    """A042: prefix and at least three digits."""
    return f"{prefix}{number:03d}"


def queue_position_key(at: dt.datetime) -> int:
    """Microseconds since the epoch: the default order inside a queue."""
    return int(at.timestamp() * 1_000_000)
