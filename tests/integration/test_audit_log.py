"""The audit log reads as words in the supervisor's and the admin's screens: the action
translated, the actor by name (never ``token:19`` / ``user:5``), what it changed by name, each
changed field before → after; one reader (features/audit_log.py) for both."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from server.features import audit_log
from tests.conftest import Api, sign_in

ROOT = Path(__file__).resolve().parents[2]


def audited_actions() -> set[str]:
    """Every action code the server writes with ``audit(...)``: literal ones, the
    ``create``/``update`` pairs and ``counter.{status}``."""
    found: set[str] = set()
    for path in (ROOT / "server").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"audit\([^\"]*?\"([a-z_]+\.[a-z_]+)\"", text, re.S))
        found |= set(re.findall(r"action = \"([a-z_]+\.[a-z_]+)\" if", text))
        found |= set(re.findall(r"else \"([a-z_]+\.(?:update|create))\"", text))
    found |= {"counter.open", "counter.paused", "counter.closed"}
    return found


def test_every_audited_action_has_words() -> None:
    missing = sorted(a for a in audited_actions() if audit_log.words("action", a) is None)
    assert not missing, f"actions without words in the catalogs' audit entries: {missing}"
    assert "service.update" in audited_actions() and "tickets.move" in audited_actions()


def test_changes_are_field_by_field_in_words() -> None:
    lines = audit_log.changes({"status": "open", "reason": None},
                              {"status": "paused", "reason": "Họp giao ban"})
    assert [(c["label"]["vi"], c["before"]["vi"], c["after"]["vi"]) for c in lines] == [
        ("Trạng thái", "mở", "tạm dừng"), ("Lý do", "–", "Họp giao ban")]
    assert lines[0]["after"]["en"] == "paused"
    profile = audit_log.changes(
        {"services": [{"code": "civil", "weight": 1.0}]},
        {"services": [{"code": "land", "weight": 1.0}, {"code": "civil", "weight": 0.5}]})
    assert profile[0]["after"]["vi"] == "land ×1, civil ×0,5"
    assert profile[0]["after"]["en"] == "land ×1, civil ×0.5"
    # Unchanged fields are left out.
    assert audit_log.changes({"sla_target_minutes": 20, "prefix": "A"},
                             {"sla_target_minutes": 25, "prefix": "A"})[0]["field"] == (
        "sla_target_minutes")


def _row(items: list[dict[str, Any]], action: str) -> dict[str, Any]:
    return next(i for i in items if i["action"] == action)


def test_supervisor_and_admin_read_names_and_words(
    api: Api, app: Any, staff: dict[str, int]
) -> None:
    cid = api.world.counters[2]
    assert api.call("POST", f"/api/v1/counters/{cid}/pause", "supervisor",
                    json={"reason": "Họp giao ban"}).status_code == 200
    # A person signed in: the log names them, not "user:5".
    person = app.test_client()  # type: ignore[attr-defined]
    csrf = sign_in(person, "sup.ht")
    assert person.post(f"/api/v1/counters/{cid}/open",
                       headers={"X-CSRF-Token": csrf}).status_code == 200

    items = api.call("GET", "/api/v1/sites/HT/audit", "supervisor").get_json()["items"]
    paused = _row(items, "counter.paused")
    assert paused["what"] == {"vi": "Tạm dừng quầy", "en": "Counter paused"}
    assert paused["entity_label"] == {"vi": "Quầy 2", "en": "Counter 2"}
    assert not re.fullmatch(r"(token|user):\d+", paused["who"]["vi"])
    assert [(c["label"]["vi"], c["before"]["vi"], c["after"]["vi"])
            for c in paused["changes"]] == [("Trạng thái", "mở", "tạm dừng"),
                                            ("Lý do", "–", "Họp giao ban")]
    opened = _row(items, "counter.open")
    assert opened["actor"].startswith("user:")
    assert opened["who"]["name"] != opened["actor"] and opened["who"]["username"] == "sup.ht"

    rows = api.call("GET", "/api/v1/admin/audit", "admin").get_json()
    admin_row = next(r for r in rows if r["action"] == "counter.open")
    assert admin_row["what"]["vi"] == "Mở quầy" and admin_row["target"]["vi"] == "Quầy 2"
    assert admin_row["who"] == opened["who"]
    assert admin_row["changes"] == opened["changes"]
