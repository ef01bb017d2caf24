#!/usr/bin/env python3
"""Rewrite the gettext catalogs' comments and template from the catalogs themselves.

    .venv/bin/python scripts/i18n_import.py            # rewrite them
    .venv/bin/python scripts/i18n_import.py --check    # exit 1 if they are not up to date

The catalogs ``server/translations/{vi,en}/LC_MESSAGES/messages.po`` are the only source of
the wording (see :mod:`server.core.catalogs`): a new or changed text is an entry edited there,
in both languages. This script then puts back what is derived from them: each entry's ``#.``
comments with its Vietnamese and English text (what a translator sees in Poedit or Weblate),
``messages.pot`` (the template ``pybabel update`` and a province's folder compare with), an
entry present in one language only added to the other one untranslated (so the test of the
catalogs names it), and one order and header (a fixed date), so running it twice gives the
same bytes. (Its name is from when it merged the old Python string tables into the catalogs.)"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "server" / "translations"
LANGS = ("vi", "en")
# A fixed date in the header: the files change only when their wording does.
STAMP = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

Texts = dict[str, dict[tuple[str, str], str]]  # lang -> (area, key) -> text


def load_catalogs(catalog_dir: Path) -> Texts:
    out: Texts = {}
    for lang in LANGS:
        out[lang] = {}
        path = catalog_dir / lang / "LC_MESSAGES" / "messages.po"
        if not path.is_file():
            continue
        with path.open("rb") as f:
            for m in read_po(f, locale=lang):
                if m.id and isinstance(m.id, str) and isinstance(m.string, str):
                    out[lang][(m.context or "", m.id)] = m.string
    return out


def comments(texts: Texts, key: tuple[str, str]) -> list[str]:
    return [f"{lang}: {texts[lang].get(key, '')}" for lang in LANGS]


def build(texts: Texts, lang: str | None) -> Catalog:
    """The catalog of one language (None: the template)."""
    catalog = Catalog(
        locale=lang, domain="messages", project="Motcua", version="1",
        copyright_holder="Motcua", msgid_bugs_address="dev@motcua.invalid",
        creation_date=STAMP, revision_date=STAMP, language_team=None,
        last_translator=None, charset="utf-8", fuzzy=False,
    )
    keys = sorted({k for lang_texts in texts.values() for k in lang_texts})
    for key in keys:
        text = "" if lang is None else texts[lang].get(key, "")
        catalog.add(key[1], text, context=key[0] or None,
                    auto_comments=[c.replace("\n", " ") for c in comments(texts, key)])
    return catalog


def render(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, sort_output=False, include_previous=False,
             omit_header=False)
    return buf.getvalue()


def outputs(texts: Texts, catalog_dir: Path) -> dict[Path, bytes]:
    out = {catalog_dir / "messages.pot": render(build(texts, None))}
    for lang in LANGS:
        out[catalog_dir / lang / "LC_MESSAGES" / "messages.po"] = render(build(texts, lang))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 when the catalogs are not up to date")
    ap.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    catalog_dir = args.root / "server" / "translations"
    texts = load_catalogs(catalog_dir)
    stale = []
    for path, data in outputs(texts, catalog_dir).items():
        if path.is_file() and path.read_bytes() == data:
            continue
        stale.append(path.relative_to(args.root))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    n = len({k for t in texts.values() for k in t})
    print(f"{n} entries")
    if args.check and stale:
        print("not up to date: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    for p in stale:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
