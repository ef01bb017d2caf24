"""The gettext catalogs (server/translations/): complete in both languages, the same
placeholders in both, no entry nobody shows, no word the glossary forbids toward citizens, and
in step with the dicts scripts/i18n_import.py still reads."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from server.core.catalogs import BUILTIN_DIR, LANGS, Catalogs, po_path, read_catalog
from server.rules.states import Status

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("i18n_import", ROOT / "scripts" / "i18n_import.py")
assert _spec and _spec.loader
i18n_import = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(i18n_import)

PLACEHOLDER = re.compile(r"\{(\w*)\}")

# Areas whose text citizens read (kiosk, wall display, a ticket's or dossier's page on their
# phone, the pairing page on a kiosk's screen, and the errors a kiosk or tracking page shows).
CITIZEN_AREAS = ("kiosk", "display", "track", "dossier", "book", "pair", "errors", "errors.what")
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
    "admin.fields": ("server/features",),
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


def test_the_catalogs_are_in_step_with_the_old_dicts() -> None:
    """After a merge that added keys to a dict, this fails until the script is run again."""
    assert i18n_import.main(["--check"]) == 0


def test_the_script_is_deterministic_and_re_runnable(tmp_path: Path) -> None:
    """A key added to a dict is added; a changed text is updated; a removed key is dropped;
    a second run changes nothing."""
    for rel in {s[1] for s in i18n_import.SOURCES}:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    shutil.copytree(BUILTIN_DIR, tmp_path / "server" / "translations")
    kiosk = tmp_path / "kiosk" / "strings.py"
    src = kiosk.read_text(encoding="utf-8")
    src = src.replace('"title": "Lấy số thứ tự",', '"title": "Mời lấy số",\n"new_key": "Mới {n}",')
    src = src.replace('"title": "Take a number",',
                      '"title": "Take a number",\n"new_key": "New {n}",')
    src = re.sub(r'\s*"touch_for_why": "[^"]*",', "", src)
    kiosk.write_text(src, encoding="utf-8")
    assert i18n_import.main(["--root", str(tmp_path)]) == 0
    first = {p: p.read_bytes() for p in (tmp_path / "server" / "translations").rglob("*.po*")}
    got = Catalogs(builtin_dir=tmp_path / "server" / "translations").texts("kiosk")
    assert got["vi"]["title"] == "Mời lấy số"
    assert got["vi"]["new_key"] == "Mới {n}" and got["en"]["new_key"] == "New {n}"
    assert "touch_for_why" not in got["vi"] and "touch_for_why" not in got["en"]
    assert i18n_import.main(["--root", str(tmp_path), "--check"]) == 0
    assert i18n_import.main(["--root", str(tmp_path)]) == 0
    assert first == {p: p.read_bytes() for p in first}
    # With the dict gone, the catalogs keep the area as it is (it is now edited in the .po).
    kiosk.unlink()
    assert i18n_import.main(["--root", str(tmp_path), "--check"]) == 0


def _without_sources(path: Path, text: str) -> str:
    """The file's text without the string tables the script reads (a key is not "used"
    because its own table names it)."""
    variables = {v for _a, f, v, _s in i18n_import.SOURCES if ROOT / f == path}
    if not variables:
        return text
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    for node in reversed(tree.body):
        names = []
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        if set(names) & variables:
            assert node.end_lineno is not None
            del lines[node.lineno - 1:node.end_lineno]
    return "".join(lines)


def _sources(roots: tuple[str, ...]) -> str:
    parts = []
    for rel in roots:
        base = ROOT / rel
        files = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.suffix in (".py", ".html", ".js")
            and "node_modules" not in p.parts and "vendor" not in p.parts)
        for p in files:
            if p.is_file():
                parts.append(_without_sources(p, p.read_text(encoding="utf-8")))
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
