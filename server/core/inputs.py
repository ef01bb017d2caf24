"""Limits every request's data must keep before any feature sees it: no NUL character in a
string (PostgreSQL cannot store one), no nesting deeper than ``MAX_DEPTH``, no integer outside
a signed 64-bit column. Pure: used by the API for JSON bodies, query strings and path
parameters, and by the configuration import for JSON and YAML files."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)


class InputProblem(ValueError):
    """``code`` is an error code of the catalogue; ``params`` fill its message."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def check_text(value: str, where: str) -> None:
    if "\x00" in value:
        raise InputProblem("nul_character", where=where)


def check_tree(data: Any, where: str = "body", max_depth: int = MAX_DEPTH) -> None:
    """Walk ``data`` (what ``json.loads`` or ``yaml.safe_load`` returns) without recursion."""
    stack: list[tuple[Any, str, int]] = [(data, where, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > max_depth:
            raise InputProblem("json_too_deep", depth=max_depth)
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not MIN_INT <= value <= MAX_INT:
                raise InputProblem("number_out_of_range", where=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                name = str(key)
                check_text(name, path)
                stack.append((item, f"{path}.{name}", depth + 1))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                stack.append((item, f"{path}[{i}]", depth + 1))
