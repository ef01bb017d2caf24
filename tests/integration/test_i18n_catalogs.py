"""The wording through the running app: a province's override folder (MOTCUA_TRANSLATIONS_DIR)
rewords a page and an error without code or restart, Flask-Babel speaks the request's
language, and an installed copy (a wheel, no source tree, no .mo file) has its wording."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core.catalogs import RECHECK_S, catalogs

ROOT = Path(__file__).resolve().parents[2]
HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'


@pytest.fixture
def wording(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "wording"
    (folder / "vi" / "LC_MESSAGES").mkdir(parents=True)
    catalogs.recheck_s = 0  # look at the files at every lookup (a node: once a second)
    yield folder
    catalogs.recheck_s = RECHECK_S
    catalogs.configure(None)  # the process's catalogs: back to the built-in ones


@pytest.fixture
def app_settings(wording: Path) -> dict[str, object]:
    return {"translations_dir": str(wording)}


def _write(folder: Path, body: str) -> None:
    po = folder / "vi" / "LC_MESSAGES" / "messages.po"
    po.write_text(HEADER + body, encoding="utf-8")
    st = po.stat()  # a new modification time even within the file system's resolution
    os.utime(po, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_a_provinces_wording_replaces_the_built_in_one(app, world, wording: Path) -> None:
    c = app.test_client()
    page = c.get("/kiosk/").get_data(as_text=True)
    assert "Lấy số thứ tự" in page
    _write(wording,
           'msgctxt "kiosk"\nmsgid "title"\nmsgstr "Bốc số Trung tâm tỉnh"\n\n'
           'msgctxt "errors"\nmsgid "route_not_found"\n'
           'msgstr "Địa chỉ này không có trên hệ thống."\n')
    page = c.get("/kiosk/").get_data(as_text=True)
    assert "Bốc số Trung tâm tỉnh" in page and "Lấy số thứ tự" not in page
    # The script's JSON block carries it too (the page switches language without a reload).
    block = page.split('id="motcua-config">', 1)[1].split("</script>", 1)[0]
    strings = json.loads(block)["strings"]
    assert strings["vi"]["title"] == "Bốc số Trung tâm tỉnh"
    assert strings["en"]["title"] == "Take a number"
    assert "Take a number" in c.get("/kiosk/?lang=en").get_data(as_text=True)
    err = c.get("/api/v1/nothing-here").get_json()["error"]
    assert err["message"] == "Địa chỉ này không có trên hệ thống."
    en = c.get("/api/v1/nothing-here", headers={"Accept-Language": "en"}).get_json()["error"]
    assert en["message"] == "No such address."


def test_flask_babel_speaks_the_requests_language(app, wording: Path) -> None:
    from flask import render_template_string
    from flask_babel import pgettext

    with app.test_request_context("/?lang=en"):
        assert pgettext("kiosk", "title") == "Take a number"
        assert render_template_string('{{ pgettext("kiosk", "back") }}') == "Back"
    with app.test_request_context("/"):
        assert pgettext("kiosk", "title") == "Lấy số thứ tự"
    _write(wording, 'msgctxt "kiosk"\nmsgid "back"\nmsgstr "Trở lại"\n')
    with app.test_request_context("/"):
        assert render_template_string('{{ pgettext("kiosk", "back") }}') == "Trở lại"


@pytest.mark.slow
def test_an_installed_copy_has_its_wording(tmp_path: Path) -> None:
    """Built as a wheel and installed elsewhere: the catalogs travel as package data and are
    read without any compiling step."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", "node_modules", ".git", "var", "*.sqlite3*", "__pycache__", "build",
        "*.egg-info", ".pytest_cache", ".ruff_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(src)],
                   check=True, timeout=300, capture_output=True)
    site = tmp_path / "site"
    wheel = next(wheels.glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, timeout=300, capture_output=True)
    assert not list(site.rglob("*.mo"))
    probe = (
        "import json, server.core.catalogs as c, server.core.errors as e;"
        "print(json.dumps([str(c.BUILTIN_DIR), c.catalogs.texts('kiosk')['vi']['title'],"
        " c.catalogs.texts('kiosk')['en']['title'], e.AppError('route_not_found').message('vi')]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    where, vi, en, err = json.loads(out)
    assert where.startswith(str(site))
    assert (vi, en, err) == ("Lấy số thứ tự", "Take a number", "Không có địa chỉ này.")
