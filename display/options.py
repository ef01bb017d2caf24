"""Per-display settings from the page address (until displays get settings of their own).

``/display?lang=en&voices=vi,en&repeat=2&volume=0.8&recent=6``

| param | default | meaning |
|---|---|---|
| ``lang`` | ``vi`` | the board's first language (the other one is shown small) |
| ``voices`` | ``vi,en`` | languages of the spoken call, in order; empty or ``none``: chime only |
| ``repeat`` | ``1`` | how many times the phrases are spoken after the chime (1-3) |
| ``volume`` | ``1`` | 0-1 |
| ``recent`` | ``6`` | how many recent calls are listed (1-10) |
| ``chime`` | ``1`` | ``0`` turns the chime off |

Anything out of range is clamped or falls back to the default: a typo never blanks a TV.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.web.speech import LANGS


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return max(low, min(high, n))


def _float(value: str | None, default: float, low: float, high: float) -> float:
    try:
        x = float(str(value).strip())
    except (TypeError, ValueError):
        return default
    if x != x:  # NaN
        return default
    return max(low, min(high, x))


def parse_options(args: Mapping[str, str]) -> dict[str, Any]:
    lang = args.get("lang", "vi")
    if lang not in LANGS:
        lang = "vi"
    raw = args.get("voices")
    if raw is None:
        voices = list(LANGS)
    else:
        voices = []
        for part in raw.replace(" ", ",").split(","):
            v = part.strip().lower()
            if v in LANGS and v not in voices:
                voices.append(v)
    return {
        "lang": lang,
        "voices": voices,
        "repeat": _int(args.get("repeat"), 1, 1, 3),
        "volume": _float(args.get("volume"), 1.0, 0.0, 1.0),
        "recent": _int(args.get("recent"), 6, 1, 10),
        "chime": args.get("chime", "1").strip().lower() not in ("0", "false", "no", "off"),
    }
