"""The environment is read in one place (server/config.py) and documented in one table
(docs/configuration.md)."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from server.config import Settings, gunicorn_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "server" / "config.py"
DOCS = ROOT / "docs" / "configuration.md"
#: Python packages of the running server (the blueprints, the printer library) and gunicorn's
#: configuration file.
SCANNED = ("server", "kiosk", "counter", "display", "supervisor", "admin", "printers")
NAME = re.compile(r"MOTCUA_[A-Z0-9_]+")
ENVIRON = ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv")
#: Uses of the environment allowed outside server/config.py, and why.
ALLOWED_ENVIRON = {
    # pg_dump/pg_restore are run with this process's environment (PATH, locale) plus PGPASSWORD.
    ("server/node/backup.py", "_pg_target"),
}


def documented() -> set[str]:
    rows = re.findall(r"^\| `(MOTCUA_[A-Z0-9_]+)` \|", DOCS.read_text(), re.M)
    assert len(rows) == len(set(rows)), "a variable is listed twice"
    return set(rows)


def docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def read_by_config() -> set[str]:
    """Every ``MOTCUA_*`` name written as a whole string in config.py: what it reads."""
    tree = ast.parse(CONFIG.read_text())
    return {
        n.value for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and NAME.fullmatch(n.value)
    }


def python_files() -> list[Path]:
    files = [p for pkg in SCANNED for p in (ROOT / pkg).rglob("*.py") if p != CONFIG]
    return [*files, ROOT / "deploy" / "gunicorn.conf.py"]


class _Uses(ast.NodeVisitor):
    def __init__(self, skip: set[int]) -> None:
        self.skip = skip
        self.names: list[tuple[int, str]] = []
        self.environ: list[tuple[int, str]] = []
        self.function = ""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and id(node) not in self.skip:
            self.names += [(node.lineno, m) for m in NAME.findall(node.value)]

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # os.environ, os.getenv... (a WSGI ``environ`` argument is another thing)
        if isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in ENVIRON:
            self.environ.append((node.lineno, self.function))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "os" and any(a.name in ENVIRON for a in node.names):
            self.environ.append((node.lineno, self.function))


def test_config_reads_only_documented_variables_and_the_table_lists_only_those() -> None:
    read, docs = read_by_config(), documented()
    assert read, "the parser found no variable in server/config.py"
    assert read - docs == set(), f"read in server/config.py, missing from {DOCS.name}"
    assert docs - read == set(), f"listed in {DOCS.name}, never read by server/config.py"


def test_no_other_module_reads_the_environment_or_names_a_variable() -> None:
    """Names in docstrings and comments are documentation; in code they would be a second
    place that reads (or writes) the configuration."""
    found = []
    for path in python_files():
        tree = ast.parse(path.read_text())
        uses = _Uses(docstrings(tree))
        uses.visit(tree)
        rel = path.relative_to(ROOT).as_posix()
        found += [f"{rel}:{line}: {name}" for line, name in uses.names]
        found += [f"{rel}:{line}: environment read in {fn or 'module'}"
                  for line, fn in uses.environ if (rel, fn) not in ALLOWED_ENVIRON]
    assert found == []


def test_every_documented_variable_reaches_the_settings() -> None:
    env = {
        "MOTCUA_DATABASE_URL": "sqlite:////tmp/x.sqlite3", "MOTCUA_LOG_LEVEL": "DEBUG",
        "MOTCUA_ACCESS_LOG": "0", "MOTCUA_NODE_MODULES": "/opt/nm",
        "MOTCUA_SQLITE_SYNCHRONOUS": "normal", "MOTCUA_SPEECH": "none",
        "MOTCUA_AUDIO_DIR": "/var/a", "MOTCUA_AUDIO_CACHE_MAX": "12",
        "MOTCUA_PRINT_FONT": "/f.ttf", "MOTCUA_PRINT_FONT_BOLD": "/fb.ttf",
        "MOTCUA_PRINT_WORKER": "0", "MOTCUA_NODE_NAME": "n1",
    }
    s = Settings.from_env(env)
    assert (s.database_url, s.log_level, s.access_log, s.node_modules) == (
        "sqlite:////tmp/x.sqlite3", "DEBUG", False, "/opt/nm")
    assert (s.sqlite_synchronous, s.speech, s.audio_dir, s.audio_cache_max) == (
        "NORMAL", "none", "/var/a", 12)
    assert (s.print_font, s.print_font_bold, s.print_worker, s.node_name) == (
        "/f.ttf", "/fb.ttf", False, "n1")
    defaults = Settings.from_env({})
    assert (defaults.access_log, defaults.sqlite_synchronous, defaults.audio_cache_max) == (
        True, "FULL", 4000)


def test_gunicorn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # A private environment: the served async mode is written back to it (for the worker).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")}
    monkeypatch.setattr(os, "environ", env)
    g = gunicorn_settings()
    assert (g.bind, g.async_mode, g.worker_connections, g.threads) == (
        "127.0.0.1:8000", "gevent", 10000, 256)
    assert Settings.from_env().async_mode == "gevent"  # the app in the worker agrees
    env.update(MOTCUA_BIND="0.0.0.0:8001", MOTCUA_ASYNC_MODE="threading", MOTCUA_THREADS="64")
    g = gunicorn_settings()
    assert (g.bind, g.async_mode, g.threads) == ("0.0.0.0:8001", "threading", 64)
