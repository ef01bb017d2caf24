"""A published migration is never edited: ``server/migrations/published.sha256`` holds the
sha256 of every migration file that has shipped, and this test fails when one of them changes,
is renamed or disappears. (A database stamped by the old text of a migration never runs the new
one: 0007 was once rechained after it had shipped, and databases stamped by it never received
0006.) A new migration is added to the manifest when it ships: docs/operations.md, "Upgrading:
migrations"."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "server" / "migrations"
MANIFEST = MIGRATIONS / "published.sha256"
LINE = re.compile(r"^([0-9a-f]{64}) [ *](versions/[\w.]+\.py)$")


def _manifest() -> dict[str, str]:
    """path (relative to server/migrations) -> sha256, as ``sha256sum`` writes them."""
    out = {}
    for number, line in enumerate(MANIFEST.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = LINE.match(line)
        assert match, f"published.sha256 line {number} is not `<sha256>  versions/<file>.py`"
        digest, path = match.groups()
        assert path not in out, f"{path} is listed twice"
        out[path] = digest
    return out


def _revision(path: Path) -> tuple[str, str | None]:
    """(revision, down_revision) read from the file's assignments."""
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                found[target.id] = ast.literal_eval(node.value)
    assert "revision" in found, f"{path.name} has no revision"
    return str(found["revision"]), found.get("down_revision")


def test_every_published_migration_is_unchanged() -> None:
    manifest = _manifest()
    assert manifest, "published.sha256 lists no migration"
    changed = []
    for path, digest in manifest.items():
        file = MIGRATIONS / path
        assert file.is_file(), (f"{path} was published and is gone (renamed or deleted): a "
                                "published migration stays as it shipped")
        if hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            changed.append(path)
    assert not changed, (
        f"published migration(s) edited: {', '.join(changed)}. Databases stamped by the shipped "
        "text never run the new one: put the change in a new migration instead, and restore "
        "these files (git checkout the commit they shipped in)")


def test_the_published_migrations_form_the_start_of_the_history() -> None:
    """The published files are one unbroken chain from the first revision, and an unpublished
    migration never sits between two published ones (it follows the last published one, or
    another unpublished one)."""
    published = {_revision(MIGRATIONS / p) for p in _manifest()}
    revisions = {rev for rev, _ in published}
    roots = [rev for rev, down in published if down is None]
    assert len(roots) == 1, f"published migrations with no parent: {roots}"
    for rev, down in published:
        assert down is None or down in revisions, (
            f"published migration {rev} follows {down}, which is not published")
    parents = [down for _, down in published]
    assert len(parents) == len(set(parents)), "two published migrations follow the same parent"
    for file in sorted((MIGRATIONS / "versions").glob("*.py")):
        rev, down = _revision(file)
        if rev not in revisions:
            children = [r for r, d in published if d == down]
            assert not children, (f"unpublished {file.name} follows {down}, which published "
                                  f"{children} already follows")
