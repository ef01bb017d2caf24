"""The gettext catalogs (server/translations/), the only source of the wording: complete in
both languages, the same placeholders in both, no entry nobody shows, no key a page asks for
that is missing, no word the glossary forbids toward citizens, and their comments and template
in step (scripts/i18n_import.py)."""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import write_po

from server.core.catalogs import BUILTIN_DIR, LANGS, Catalogs, po_path, read_catalog
from server.rules.states import Status

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("i18n_import", ROOT / "scripts" / "i18n_import.py")
assert _spec and _spec.loader
i18n_import = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(i18n_import)

PLACEHOLDER = re.compile(r"\{(\w*)\}")

# Areas whose text citizens read (kiosk, wall display, a ticket's or dossier's page on their
# phone, the pairing page on a kiosk's screen, the errors a kiosk or tracking page shows, and
# the messages sent to their phone).
CITIZEN_AREAS = ("kiosk", "display", "track", "dossier", "book", "pair", "errors", "errors.what",
                 "notifications")
# docs/glossary.md, "Never to citizens": the informal "you", blame, custody.
FORBIDDEN_VI = {
    "bạn": re.compile(r"(?<!\w)bạn(?!\w)", re.IGNORECASE),
    # "bị" of blame ("đã bị huỷ"), not the syllable of "thiết bị" (device), "chuẩn bị" …
    "bị": re.compile(r"(?<!\w)(?<!thiết )(?<!chuẩn )(?<!trang )bị(?!\w)", re.IGNORECASE),
    "tạm giữ": re.compile(r"(?<!\w)tạm giữ(?!\w)", re.IGNORECASE),
    "lĩnh vực … cần giải quyết": re.compile(r"lĩnh vực[^.]*cần giải quyết", re.IGNORECASE),
}

# Where each area's keys are used (templates, scripts, Python).
_ALL = ("server", "kiosk", "counter", "display", "supervisor", "admin", "printers")
AREA_ROOTS: dict[str, tuple[str, ...]] = {
    "kiosk": ("kiosk",),
    "counter": ("counter",),
    "display": ("display",),
    "supervisor": ("supervisor",),
    "admin": ("admin",),
    "pair": ("admin/templates/admin/pair.html", "admin/static/pair.js", "admin/__init__.py"),
    "track": ("server/web/track.py", "server/templates/track", "server/static/track"),
    "dossier": ("server/web/dossier.py", "server/templates/dossier", "server/static/dossier"),
    "book": ("server/web/book.py", "server/templates/book", "server/static/book"),
    "signin": ("server/web/signin.py", "server/templates/auth", "supervisor", "admin", "counter"),
    "errors": _ALL,
    "errors.action": _ALL,
    "errors.status": _ALL,
    "errors.what": _ALL,
    "errors.field": _ALL,
    "admin.fields": ("server/features", "server/api/admin.py"),
    "dailyops": ("server/features/dailyops.py",),
    "dossiers": ("server/features/dossiers.py",),
    "fences": ("server/features/fences.py",),
    "fields": ("server/rules/fields.py",),
    "preflight": ("server/node/preflight.py",),
    "notifications": ("server/features/notifications.py", "server/api/notifications.py"),
    "bookings": ("server/features/bookings.py",),
    "receipt": ("server/features/receipts.py",),
    "speech": ("server/web/speech.py", "server/web/audio.py"),
    "advice": ("server/features/advice.py",),
    "audit": ("server/features/audit_log.py",),
    "supervision": ("server/features/supervision.py", "server/api/supervision.py"),
}


# Keys looked up by a value, not by name: the tracking page shows ``t[state.status]``.
DYNAMIC: dict[str, frozenset[str]] = {
    "track": frozenset(str(s) for s in Status),
}


def entries(lang: str, root: Path = BUILTIN_DIR) -> dict[tuple[str, str], str]:
    return {
        (m.context or "", m.id): m.string
        for m in read_catalog(po_path(root, lang), lang)
        if m.id and isinstance(m.id, str) and isinstance(m.string, str)
    }


def test_every_entry_is_in_both_languages_and_translated() -> None:
    vi, en = entries("vi"), entries("en")
    assert set(vi) == set(en), {
        "only vi": sorted(set(vi) - set(en)), "only en": sorted(set(en) - set(vi))}
    assert [k for k, v in vi.items() if not v.strip()] == []
    assert [k for k, v in en.items() if not v.strip()] == []


def test_placeholders_are_the_same_in_both_languages() -> None:
    vi, en = entries("vi"), entries("en")
    differ = {
        k: (sorted(set(PLACEHOLDER.findall(vi[k]))), sorted(set(PLACEHOLDER.findall(en[k]))))
        for k in vi
        if k in en and set(PLACEHOLDER.findall(vi[k])) != set(PLACEHOLDER.findall(en[k]))
    }
    assert differ == {}


def test_the_template_lists_the_same_entries() -> None:
    with (BUILTIN_DIR / "messages.pot").open("rb") as f:
        from babel.messages.pofile import read_po

        pot = {(m.context or "", m.id) for m in read_po(f) if m.id}
    assert pot == set(entries("vi"))


def test_the_comments_and_the_template_are_in_step_with_the_catalogs() -> None:
    """After an entry is added or changed in a .po file, this fails until the script is run."""
    assert i18n_import.main(["--check"]) == 0


def _set_entry(po: Path, area: str, key: str, text: str) -> None:
    """Change (or add) one entry of a .po file, as a developer or translator would."""
    catalog = read_catalog(po, po.parent.parent.name)
    got = catalog.get(key, context=area)
    if got is None:
        catalog.add(key, text, context=area)
    else:
        got.string = text
    buf = io.BytesIO()
    write_po(buf, catalog, width=100)
    po.write_bytes(buf.getvalue())


def test_the_script_rewrites_what_derives_from_the_catalogs(tmp_path: Path) -> None:
    """A changed text shows in both files' comments; an entry added in one language is added to
    the other untranslated (the completeness test then names it) and to the template; a second
    run changes nothing."""
    shutil.copytree(BUILTIN_DIR, tmp_path / "server" / "translations")
    cat_dir = tmp_path / "server" / "translations"
    _set_entry(po_path(cat_dir, "vi"), "kiosk", "title", "Mời lấy số")
    _set_entry(po_path(cat_dir, "vi"), "kiosk", "new_key", "Mới {n}")
    assert i18n_import.main(["--root", str(tmp_path), "--check"]) == 1
    assert i18n_import.main(["--root", str(tmp_path)]) == 0
    first = {p: p.read_bytes() for p in cat_dir.rglob("*.po*")}
    for lang in LANGS:
        title = next(m for m in read_catalog(po_path(cat_dir, lang), lang)
                     if m.context == "kiosk" and m.id == "title")
        assert "vi: Mời lấy số" in title.auto_comments
    en_new = next(m for m in read_catalog(po_path(cat_dir, "en"), "en")
                  if m.context == "kiosk" and m.id == "new_key")
    assert en_new.string == "" and "vi: Mới {n}" in en_new.auto_comments
    assert b'msgctxt "kiosk"\nmsgid "new_key"' in (cat_dir / "messages.pot").read_bytes()
    got = Catalogs(builtin_dir=cat_dir).texts("kiosk")
    assert got["vi"]["title"] == "Mời lấy số" and got["en"]["new_key"] == "Mới {n}"
    assert i18n_import.main(["--root", str(tmp_path), "--check"]) == 0
    assert i18n_import.main(["--root", str(tmp_path)]) == 0
    assert first == {p: p.read_bytes() for p in first}


def _sources(roots: tuple[str, ...]) -> str:
    parts = []
    for rel in roots:
        base = ROOT / rel
        files = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.suffix in (".py", ".html", ".js")
            and "node_modules" not in p.parts and "vendor" not in p.parts)
        for p in files:
            if p.is_file():
                parts.append(p.read_text(encoding="utf-8"))
    return "\n".join(parts)


def test_every_catalog_string_is_used() -> None:
    """Each key appears in its area's templates, scripts or Python, either whole or as the
    quoted prefix a name is built from (``"why_" + reason``, ``f"role_{role}"``)."""
    unused = []
    cache: dict[tuple[str, ...], str] = {}
    for area, key in sorted(entries("vi")):
        roots = AREA_ROOTS.get(area)
        assert roots is not None, f"no known place for area {area!r}"
        text = cache.setdefault(roots, _sources(roots))
        if key in DYNAMIC.get(area, ()):
            continue
        if re.search(rf"(?<![\w-]){re.escape(key)}(?!\w)", text):
            continue
        parts = key.split("_")
        prefixes = ["_".join(parts[:i]) + "_" for i in range(1, len(parts))]
        if any(re.search(rf"[\"'`]{re.escape(p)}", text) for p in prefixes):
            continue
        unused.append(f"{area}:{key}")
    assert unused == []


@pytest.mark.parametrize("area", CITIZEN_AREAS)
def test_citizen_facing_wording_follows_the_glossary(area: str) -> None:
    found = [
        (key, word, text)
        for (a, key), text in entries("vi").items() if a == area
        for word, pattern in FORBIDDEN_VI.items() if pattern.search(text)
    ]
    assert found == []


def test_an_override_folder_wins_and_is_read_again_when_it_changes(tmp_path: Path) -> None:
    """(A running node looks at the files once a second: ``recheck_s`` 0 looks every time.)"""
    over = tmp_path / "vi" / "LC_MESSAGES"
    over.mkdir(parents=True)
    po = over / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgctxt "kiosk"\nmsgid "title"\nmsgstr "Bốc số tại Trung tâm tỉnh"\n\n'
        'msgctxt "kiosk"\nmsgid "back"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgctxt "kiosk"\nmsgid "done"\nmsgstr "Chưa duyệt"\n',
        encoding="utf-8")
    cats = Catalogs(tmp_path, recheck_s=0)
    builtin = entries("vi")
    got = cats.texts("kiosk")
    assert got["vi"]["title"] == "Bốc số tại Trung tâm tỉnh"
    assert got["vi"]["back"] == builtin[("kiosk", "back")]  # empty: not an override
    assert got["vi"]["done"] == builtin[("kiosk", "done")]  # fuzzy: not yet reviewed
    assert got["en"]["title"] == entries("en")[("kiosk", "title")]
    assert cats.translations("vi").pgettext("kiosk", "title") == "Bốc số tại Trung tâm tỉnh"
    text = po.read_text(encoding="utf-8").replace("Bốc số tại Trung tâm tỉnh", "Lấy số")
    po.write_text(text, encoding="utf-8")
    import os

    st = po.stat()
    os.utime(po, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert cats.texts("kiosk")["vi"]["title"] == "Lấy số"
    assert cats.translations("vi").pgettext("kiosk", "title") == "Lấy số"


def test_a_missing_override_folder_changes_nothing(tmp_path: Path) -> None:
    assert Catalogs(tmp_path / "absent").texts("kiosk") == Catalogs().texts("kiosk")
    assert set(Catalogs().texts("kiosk")) == set(LANGS)


# Where a page asks for a text by its key, and in which area: (area, files or folders,
# pattern whose first group is the key). Templates read ``t.key`` / ``t['key']`` (``auth_t``:
# the sign-in area), scripts ``t("key")`` (motcua.js's translator), ``t.key`` or ``T.key``
# (one language of the page's texts), Python the catalogs and the error codes by name.
_JINJA = r"(?<![\w.])t\.([a-z][a-z0-9_]*)(?![\w(])|(?<![\w.])t\[['\"]([a-z][a-z0-9_]*)['\"]\]"
_JINJA_AUTH = r"(?<![\w.])auth_t\.([a-z][a-z0-9_]*)(?![\w(])"
_JS_CALL = r"(?<![\w.])t\([\"']([a-z][a-z0-9_]*)[\"']\)"
_JS_DOT = r"(?<![\w.])t\.([a-z][a-z0-9_]*)(?![\w(])|(?<![\w.])t\[[\"']([a-z][a-z0-9_]*)[\"']\]"
_JS_UPPER = r"(?<![\w.])T\.([a-z][a-z0-9_]*)(?![\w(])|(?<![\w.])T\[[\"']([a-z][a-z0-9_]*)[\"']\]"
ASKED: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("kiosk", ("kiosk/templates",), _JINJA),
    ("kiosk", ("kiosk/static/kiosk.js", "kiosk/static/kiosk-booking.js"), _JS_CALL),
    ("counter", ("counter/templates",), _JINJA),
    ("counter", ("counter/static/station.js", "counter/static/rate.js"), _JS_DOT),
    ("display", ("display/templates",), _JINJA),
    ("display", ("display/static/display.js",), _JS_CALL),
    ("supervisor", ("supervisor/templates",), _JINJA),
    ("supervisor", ("supervisor/static",), _JS_UPPER),
    ("admin", ("admin/templates/admin/console.html",), _JINJA),
    ("admin", ("admin/static/admin.js", "admin/static/admin-channels.js"), _JS_UPPER),
    ("signin", ("admin/templates/admin/console.html",), _JINJA_AUTH),
    ("pair", ("admin/templates/admin/pair.html",), _JINJA),
    ("pair", ("admin/static/pair.js",), _JS_UPPER),
    ("signin", ("server/templates/auth",), _JINJA),
    ("track", ("server/templates/track",), _JINJA),
    ("track", ("server/static/track",), _JS_DOT),
    ("dossier", ("server/templates/dossier",), _JINJA),
    ("book", ("server/templates/book",), _JINJA),
    ("book", ("server/static/book/book.js", "server/static/book/booking.js"), _JS_DOT),
    ("errors", ("server", "kiosk", "counter", "display", "supervisor", "admin"),
     r"AppError\(\s*[\"']([a-z][a-z0-9_]*)[\"']"),
    ("errors.what", ("server",), r"not_found\(\s*[\"']([a-z][a-z0-9_]*)[\"']\)"),
    ("admin.fields", ("server/features",), r"\.add\(\s*\w+,\s*[\"']([a-z][a-z0-9_]*)[\"']"),
    ("admin.fields", ("server",), r"field_message\(\s*[\"']([a-z][a-z0-9_]*)[\"']"),
)
# Python that names its area and key: catalogs.text("area", "key") (or .say, .both, .entry),
# pgettext("area", "key").
_NAMED_LOOKUP = re.compile(
    r"(?:catalogs\.(?:text|say|both|entry)|pgettext)\(\s*[\"']([a-z][a-z.]*)[\"'],"
    r"\s*[\"']([a-z][a-z0-9_]*)[\"']")


def _files(rel: str, root: Path = ROOT) -> list[Path]:
    base = root / rel
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.suffix in (".py", ".html", ".js")
                  and "node_modules" not in p.parts and "vendor" not in p.parts)


def asked_keys(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(area, key) -> where it is asked for."""
    asked: dict[tuple[str, str], list[str]] = {}
    for area, roots, pattern in ASKED:
        for rel in roots:
            for path in _files(rel, root):
                text = path.read_text(encoding="utf-8")
                for m in re.finditer(pattern, text):
                    key = next(g for g in m.groups() if g)
                    line = text.count("\n", 0, m.start()) + 1
                    asked.setdefault((area, key), []).append(
                        f"{path.relative_to(root)}:{line}")
    for path in _files("server", root):
        text = path.read_text(encoding="utf-8")
        for m in _NAMED_LOOKUP.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            asked.setdefault((m[1], m[2]), []).append(f"{path.relative_to(root)}:{line}")
    return asked


def test_every_key_a_page_asks_for_is_in_the_catalogs() -> None:
    """A template, script or Python lookup of a key no catalog has would show the bare key (or
    nothing) to a citizen: this names the file and line."""
    asked = asked_keys()
    assert len(asked) > 500  # the patterns above still find the pages' lookups
    known = set(entries("vi")) & set(entries("en"))
    missing = {f"{a}:{k}": where for (a, k), where in sorted(asked.items()) if (a, k) not in known}
    assert missing == {}


def test_a_key_missing_from_the_catalogs_is_found(tmp_path: Path) -> None:
    """Each way of asking is seen: a template, a script and Python asking for keys no catalog
    has are all named."""
    (tmp_path / "kiosk" / "templates").mkdir(parents=True)
    (tmp_path / "kiosk" / "templates" / "x.html").write_text("<h1>{{ t.no_such_key }}</h1>")
    (tmp_path / "kiosk" / "static").mkdir(parents=True)
    (tmp_path / "kiosk" / "static" / "kiosk.js").write_text('el.textContent = t("no_such_js");')
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "x.py").write_text(
        'raise AppError("no_such_code")\ncatalogs.text("track", "no_such_text", lang)\n')
    asked = asked_keys(tmp_path)
    assert set(asked) == {("kiosk", "no_such_key"), ("kiosk", "no_such_js"),
                          ("errors", "no_such_code"), ("track", "no_such_text")}
    assert not set(asked) & set(entries("vi"))


# --- no wording written in the server's Python ----------------------------------------------

# A letter only Vietnamese uses (the plain vowels with an acute or grave accent are Spanish or
# French too, so a proper name like "José" is not flagged).
VI_LETTER = re.compile(
    "[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹĂÂĐÊÔƠƯ]")
# Files of server/ whose Python still holds Vietnamese string literals (docstrings aside), how
# many, and why. A literal anywhere else fails; so does a file with more than listed (a new
# literal) or fewer (moved to the catalogs: lower the figure, or drop the file).
VI_LITERALS_ALLOWED: dict[str, tuple[int, str]] = {
    # Data, not wording: names of things, sample values, the demo.
    "server/features/seed.py": (20, "the demo's site, services and counters (data)"),
    "server/features/procedures.py": (
        64, "the built-in procedure catalog and holidays: official names, imported data"),
    "server/cli/server.py": (3, "the demo town's name Hạc Thành in the CLI's help"),
    "server/api/dossiers.py": (1, "the Vietnamese unit word 'bộ' in an English API field doc"),
    "server/app.py": (1, "the plain root page's html lang=vi tag and product line"),
    "server/node/shutdown.py": (
        1, "a bilingual websocket close reason written before the catalogs could be read"),
    # User-facing wording not moved to the catalogs yet (each a separate piece of work).
    "server/features/notifications.py": (
        3, "sample values (a site, service and procedure name) a template's length is checked "
           "with: data, not shown"),
}


def vietnamese_literals(root: Path = ROOT) -> dict[str, list[tuple[int, str]]]:
    """server/ Python file -> (line, text) of each string literal with a Vietnamese letter,
    docstrings left out (they explain; they are not shown)."""
    found: dict[str, list[tuple[int, str]]] = {}
    for path in sorted((root / "server").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                          | ast.AsyncFunctionDef) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    docs.add(id(first.value))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docs and VI_LETTER.search(node.value)):
                found.setdefault(path.relative_to(root).as_posix(), []).append(
                    (node.lineno, node.value[:60]))
    return found


def test_no_new_vietnamese_literal_in_the_server_code() -> None:
    """Wording goes in the catalogs (both languages); see VI_LITERALS_ALLOWED for what is left."""
    found = vietnamese_literals()
    unexpected = {f: v for f, v in found.items() if f not in VI_LITERALS_ALLOWED}
    assert unexpected == {}
    counts = {f: len(v) for f, v in found.items()}
    allowed = {f: n for f, (n, _why) in VI_LITERALS_ALLOWED.items()}
    assert counts == allowed


def test_a_new_vietnamese_literal_is_found(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "x.py").write_text(
        '"""Tài liệu."""\nMSG = "Mời Quý khách"\nNAME = "José"\n', encoding="utf-8")
    assert vietnamese_literals(tmp_path) == {"server/x.py": [(2, "Mời Quý khách")]}


def test_a_text_in_both_languages_is_filled_and_a_misspelt_placeholder_shows_as_written(
    tmp_path: Path,
) -> None:
    """``both``: a name given per language is taken in each; a province's text whose
    placeholder is misspelt is shown as written instead of failing the dashboard."""
    over = tmp_path / "vi" / "LC_MESSAGES"
    over.mkdir(parents=True)
    (over / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgctxt "supervision"\nmsgid "counter_idle"\nmsgstr "Quầy {countr} rảnh"\n',
        encoding="utf-8")
    cats = Catalogs(tmp_path, recheck_s=0)
    got = cats.both("supervision", "counter_idle", counter=3, minutes="7",
                    queues={"vi": "Hộ tịch (2)", "en": "Civil status (2)"})
    assert got == {"vi": "Quầy {countr} rảnh",
                   "en": "Counter 3 idle for 7 min while queues are long: Civil status (2)"}
    assert cats.entry("supervision", "no_such_key") is None
    assert Catalogs().entry("dossiers", "status_received") == {"vi": "Đã tiếp nhận",
                                                               "en": "Received"}
