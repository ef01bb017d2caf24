#!/usr/bin/env python3
"""Merge the string tables still written in Python into the gettext catalogs.

    .venv/bin/python scripts/i18n_import.py            # write the catalogs
    .venv/bin/python scripts/i18n_import.py --check    # exit 1 if they are not up to date

The pages read their wording from ``server/translations/{vi,en}/LC_MESSAGES/messages.po``
(see :mod:`server.core.catalogs`). The dicts they used to read (``kiosk/strings.py`` …, listed
in ``SOURCES``) stay readable here until they are deleted: for every source that still exists,
its keys become the area's entries (new keys added, changed texts updated, keys gone from the
dict dropped); an area whose source is gone keeps its catalog entries as they are. The files
are read as Python syntax (nothing is imported or run), and the output is sorted with a fixed
header, so running the script twice gives the same bytes.

Every entry gets ``#.`` comments with its Vietnamese and English text (rebuilt from the
catalogs, so they stay right after the dicts are gone), and ``messages.pot`` is written from
the same entries for ``pybabel update``."""

from __future__ import annotations

import argparse
import ast
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

# (area, file, variable, shape). Shapes:
#   "langs":  {"vi": {key: text}, "en": {key: text}}
#   "errors": {code: (http status, vi, en)}
#   "pairs":  {key: (vi, en)}
SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("kiosk", "kiosk/strings.py", "STRINGS", "langs"),
    ("counter", "counter/strings.py", "STRINGS", "langs"),
    ("display", "display/strings.py", "STRINGS", "langs"),
    ("supervisor", "supervisor/strings.py", "STRINGS", "langs"),
    ("admin", "admin/strings.py", "STRINGS", "langs"),
    ("pair", "admin/strings.py", "PAIR_STRINGS", "langs"),
    ("track", "server/web/track.py", "STRINGS", "langs"),
    ("dossier", "server/web/dossier.py", "STRINGS", "langs"),
    ("book", "server/web/book.py", "STRINGS", "langs"),
    ("signin", "server/web/signin.py", "STRINGS", "langs"),
    ("errors", "server/core/errors.py", "MESSAGES", "errors"),
    ("errors.action", "server/core/errors.py", "ACTION", "pairs"),
    ("errors.status", "server/core/errors.py", "STATUS", "pairs"),
    ("errors.what", "server/core/errors.py", "WHAT", "pairs"),
    ("admin.fields", "server/features/admin.py", "FIELD_MESSAGES", "pairs"),
)

Texts = dict[str, dict[tuple[str, str], str]]  # lang -> (area, key) -> text


def read_source(path: Path, variable: str) -> object | None:
    """The literal value assigned to ``variable`` at the top of a Python file; None when the
    file or the assignment is gone."""
    if not path.is_file():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        target: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        if isinstance(target, ast.Name) and target.id == variable:
            assert node.value is not None
            return ast.literal_eval(node.value)
    return None


def source_texts(shape: str, value: object) -> dict[str, dict[str, str]]:
    """{lang: {key: text}} of one source."""
    if shape == "langs":
        assert isinstance(value, dict)
        return {lang: dict(value.get(lang, {})) for lang in LANGS}
    if shape == "errors":
        assert isinstance(value, dict)
        return {"vi": {k: v[1] for k, v in value.items()},
                "en": {k: v[2] for k, v in value.items()}}
    if shape == "pairs":
        assert isinstance(value, dict)
        return {"vi": {k: v[0] for k, v in value.items()},
                "en": {k: v[1] for k, v in value.items()}}
    raise ValueError(f"unknown shape {shape}")


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


def merge(existing: Texts, root: Path = ROOT) -> tuple[Texts, list[str]]:
    """The catalogs with every existing source merged in, and the sources read."""
    merged: Texts = {lang: dict(existing.get(lang, {})) for lang in LANGS}
    read: list[str] = []
    by_area: dict[str, dict[str, dict[str, str]]] = {}
    for area, file, variable, shape in SOURCES:
        value = read_source(root / file, variable)
        if value is None:
            continue
        read.append(f"{file}:{variable}")
        by_area[area] = source_texts(shape, value)
    for area, texts in by_area.items():
        for lang in LANGS:
            table = merged[lang]
            for key in [k for k in table if k[0] == area]:
                del table[key]
            for key, text in texts[lang].items():
                table[(area, key)] = text
    return merged, read


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
    texts, read = merge(load_catalogs(catalog_dir), args.root)
    stale = []
    for path, data in outputs(texts, catalog_dir).items():
        if path.is_file() and path.read_bytes() == data:
            continue
        stale.append(path.relative_to(args.root))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    n = len({k for t in texts.values() for k in t})
    print(f"{n} entries; sources read: {', '.join(read) or 'none (all converted)'}")
    if args.check and stale:
        print("not up to date: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    for p in stale:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
