"""How values are written in API answers and events."""

from __future__ import annotations

import datetime as dt


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if t else None
