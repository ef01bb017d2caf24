"""Spreadsheet cells that cannot run: a text cell starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is read by Excel and LibreOffice as a formula (CSV injection:
``=HYPERLINK(...)`` in a procedure's name, run when an officer opens the export). Such text
gets a leading apostrophe, which spreadsheets show as text; importing strips it again."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text that a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(values: Any) -> list[Any]:
    return [safe_cell(v) for v in values]


def unquote_cell(value: str) -> str:
    """The inverse of :func:`safe_cell` for an imported cell."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
