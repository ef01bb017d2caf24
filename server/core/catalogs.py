"""The wording of every page, message and error: gettext catalogs, one per language.

The catalogs are ``server/translations/<lang>/LC_MESSAGES/messages.po`` (``vi`` the default,
``en``), with ``messages.pot`` as their template: the files translators' tools (Poedit,
Weblate, ``pybabel update``) read. Each entry is ``msgctxt`` = the area (``kiosk``,
``counter``, ``track``, ``errors`` …) and ``msgid`` = a stable key (``choose_service``); its
``#.`` comments give the Vietnamese and English text, so a translator sees both while the key
keeps the pages' JavaScript (``t.choose_service``) and a province's overrides working when the
wording changes.

A province adjusts wording without touching code: a folder (``MOTCUA_TRANSLATIONS_DIR``) with
the same layout whose entries take precedence; an empty or fuzzy entry there changes nothing.
No compiled ``.mo`` file is needed: the ``.po`` files are read and compiled in memory, and read
again when one of them changes, so there is no build step anyone can forget.

Pure plumbing: no Flask (the Flask-Babel wiring is :mod:`server.web.i18n`)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGS = ("vi", "en")
DEFAULT = "vi"
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
# How often a page's lookup checks whether a file changed (a stat per file): an edit shows
# within this many seconds.
RECHECK_S = 1.0


def po_path(root: Path, lang: str) -> Path:
    return root / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def fill(template: str, **values: Any) -> str:
    """A text with its ``{name}`` placeholders filled; a province's text with a misspelt one
    is shown as written rather than failing the page or the message."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def read_catalog(path: Path, lang: str) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def _entries(catalog: Catalog) -> dict[tuple[str, str], str]:
    """(area, key) -> text of the translated, non-fuzzy entries."""
    out: dict[tuple[str, str], str] = {}
    for m in catalog:
        if not m.id or m.fuzzy or not isinstance(m.id, str) or not isinstance(m.string, str):
            continue
        if m.string:
            out[(m.context or "", m.id)] = m.string
    return out


class Catalogs:
    """The built-in catalogs with a province's overrides on top, per language."""

    def __init__(self, override_dir: str | Path | None = None,
                 builtin_dir: Path = BUILTIN_DIR, recheck_s: float = RECHECK_S) -> None:
        self.builtin_dir = builtin_dir
        self.recheck_s = recheck_s
        self.override_dir = Path(override_dir) if override_dir else None
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[tuple[int, ...], dict[tuple[str, str], str]]] = {}
        self._compiled: dict[str, tuple[int, Translations]] = {}
        self._areas: dict[str, tuple[tuple[int, ...], dict[str, dict[str, str]]]] = {}
        self._checked: dict[str, float] = {}
        self._paths: dict[str, list[str]] = {}

    def configure(self, override_dir: str | Path | None) -> None:
        with self._lock:
            self.override_dir = Path(override_dir) if override_dir else None
            self._loaded.clear()
            self._compiled.clear()
            self._areas.clear()
            self._checked.clear()
            self._paths.clear()

    def _files(self, lang: str) -> list[str]:
        files = self._paths.get(lang)
        if files is None:
            files = [str(po_path(self.builtin_dir, lang))]
            if self.override_dir is not None:
                files.append(str(po_path(self.override_dir, lang)))
            self._paths[lang] = files
        return files

    @staticmethod
    def _mtime(path: str) -> int:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return -1

    def entries(self, lang: str) -> dict[tuple[str, str], str]:
        """Every (area, key) -> text of a language; an override's entry wins. Read again when
        file's modification time changes (looked at once per ``recheck_s`` at most)."""
        got = self._loaded.get(lang)
        now = time.monotonic()
        if got is not None and now - self._checked.get(lang, 0.0) < self.recheck_s:
            return got[1]
        files = self._files(lang)
        stamp = tuple(self._mtime(p) for p in files)
        self._checked[lang] = now
        if got is not None and got[0] == stamp:
            return got[1]
        with self._lock:
            merged: dict[tuple[str, str], str] = {}
            for p, mtime in zip(files, stamp, strict=True):
                if mtime >= 0:
                    merged.update(_entries(read_catalog(Path(p), lang)))
            self._loaded[lang] = (stamp, merged)
            return merged

    def texts(self, area: str) -> dict[str, dict[str, str]]:
        """``{"vi": {key: text}, "en": {...}}`` of one area: what a page's template reads as
        ``t`` and its script receives as one JSON block. A key missing in English shows the
        Vietnamese (the test of the catalogs keeps both complete)."""
        tables = [self.entries(lang) for lang in LANGS]
        stamp = tuple(id(t) for t in tables)
        got = self._areas.get(area)
        if got is not None and got[0] == stamp:
            return got[1]
        out: dict[str, dict[str, str]] = {}
        for lang, table in zip(LANGS, tables, strict=True):
            out[lang] = {k: v for (a, k), v in table.items() if a == area}
        for lang in LANGS:
            if lang != DEFAULT:
                out[lang] = {**out[DEFAULT], **out[lang]}
        self._areas[area] = (stamp, out)
        return out

    def text(self, area: str, key: str, lang: str = DEFAULT) -> str:
        """One text; Vietnamese when the language lacks it; the key when both do."""
        if lang not in LANGS:
            lang = DEFAULT
        got = self.entries(lang).get((area, key))
        if got is None and lang != DEFAULT:
            got = self.entries(DEFAULT).get((area, key))
        return key if got is None else got

    def entry(self, area: str, key: str) -> dict[str, str] | None:
        """One entry in every language as written (``{"vi": …, "en": …}``); None when no
        catalog has it (the caller then shows the code it looked up)."""
        if (area, key) not in self.entries(DEFAULT):
            return None
        return {lang: self.text(area, key, lang) for lang in LANGS}

    def say(self, area: str, key: str, lang: str = DEFAULT, **params: Any) -> str:
        """One text with its ``{name}`` placeholders filled (see :func:`fill`)."""
        return fill(self.text(area, key, lang), **params)

    def both(self, area: str, key: str, **params: Any) -> dict[str, str]:
        """One text in every language (``{"vi": …, "en": …}``, what the API returns for a
        page to show in its own language), its ``{name}`` placeholders filled. A parameter
        given as such a dict (a service's name in each language) is taken in each language."""
        return {
            lang: self.say(area, key, lang, **{
                name: value[lang] if isinstance(value, dict) else value
                for name, value in params.items()
            })
            for lang in LANGS
        }

    def translations(self, lang: str) -> Translations:
        """A gettext object (compiled in memory, again when a file changed) for Flask-Babel
        and Jinja's ``pgettext``."""
        lang = lang if lang in LANGS else DEFAULT
        entries = self.entries(lang)
        got = self._compiled.get(lang)
        if got is not None and got[0] == id(entries):
            return got[1]
        catalog = Catalog(locale=lang, domain=DOMAIN)
        for (area, key), text in entries.items():
            catalog.add(key, text, context=area or None)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        compiled = Translations(fp=buf, domain=DOMAIN)
        self._compiled[lang] = (id(entries), compiled)
        return compiled


# The one set of catalogs of this process; the app factory points it at the province's folder.
catalogs = Catalogs()
