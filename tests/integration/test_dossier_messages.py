"""Dossier status messages to the applicant's phone from the intake form: received (with the
code and the due date), supplement requested, result ready, refused; written in the unit of
work of the dossier's change (outbox), sent through the channel the province chose per kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.core.db import Database
from server.models import OutboxMessage
from tests.conftest import Api, World
from tests.fakegateway import FakeSms
from tests.integration.test_dossiers_api import catalog, intake, served, step

__all__ = ["catalog"]  # the fixture, shared with the dossier tests


@pytest.fixture
def app_settings(tmp_path: Path) -> dict[str, object]:
    return {"messages_file": str(tmp_path / "messages.jsonl"), "message_quiet_hours": ""}


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "messages.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def messages(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("dossier_%"))
                              .order_by(OutboxMessage.created_at, OutboxMessage.kind)))


def received(api: Api, **body: Any) -> Any:
    """A dossier received from a newly served citizen at counter 2 (the visit then ends)."""
    t = served(api)
    r = intake(api, t["id"], **body)
    assert api.act(t["id"], "finish").status_code == 200
    return r


def send_due(app: Any) -> int:
    return int(app.extensions["motcua_outbox"].dispatcher.run_once(wait=True))


def test_intake_sends_received_with_code_and_due_date(api: Api, app: Any, db: Database,
                                                      catalog: World, tmp_path: Path) -> None:
    t = served(api)
    r = intake(api, t["id"])
    assert r.status_code == 201, r.get_json()
    d = r.get_json()
    (row,) = messages(db)
    assert (row.kind, row.status, row.channel) == ("dossier_received", "queued", "file")
    assert row.ref == f"dossier:{d['code']}"
    send_due(app)
    (line,) = lines(tmp_path)
    assert line["to"] == "+84912345678" and line["kind"] == "dossier_received"
    assert d["code"] in line["text"] and "16:30 24/11/2026" in line["text"]
    assert line["text"].startswith("Phường Hạc Thành đã tiếp nhận hồ sơ")
    assert "Quý khách" in line["text"] and "/d/" in line["text"]


def test_steps_send_supplement_result_and_refusal_once_each(
        api: Api, app: Any, db: Database, catalog: World, tmp_path: Path) -> None:
    code = received(api).get_json()["code"]
    assert step(api, code, "processing").status_code == 200
    assert step(api, code, "supplement_requested", "Thiếu bản sao").status_code == 200
    assert step(api, code, "resubmitted").status_code == 200
    assert step(api, code, "supplement_requested", "Thiếu ảnh").status_code == 200
    assert step(api, code, "resubmitted").status_code == 200
    assert step(api, code, "result_ready").status_code == 200
    code2 = received(api).get_json()["code"]
    assert step(api, code2, "refused", "Không đủ điều kiện").status_code == 200
    send_due(app)
    kinds = [(x["kind"], x["ref"]) for x in lines(tmp_path)]
    assert sorted(kinds) == sorted([
        ("dossier_received", f"dossier:{code}"), ("dossier_supplement", f"dossier:{code}"),
        ("dossier_supplement", f"dossier:{code}"), ("dossier_result", f"dossier:{code}"),
        ("dossier_received", f"dossier:{code2}"), ("dossier_refused", f"dossier:{code2}")])
    assert len({x["idempotency_key"] for x in lines(tmp_path)}) == 6
    assert not any("processing" in x["kind"] for x in lines(tmp_path))


def test_channel_per_kind_and_no_phone(api: Api, app: Any, db: Database, catalog: World,
                                       tmp_path: Path) -> None:
    sms = FakeSms().start()
    try:
        # The province sends only "received" by SMS; the rest go the demo's file.
        r = api.call("PUT", "/api/v1/sites/PROV/channels/sms", "admin",
                     json={"config": {**sms.config(), "kinds": ["dossier_received"]}})
        assert r.status_code == 200, r.get_json()
        code = received(api).get_json()["code"]
        assert step(api, code, "refused", "Không đủ điều kiện").status_code == 200
        send_due(app)
        assert [m.channel for m in messages(db)] == ["sms", "file"]
        (accepted,) = sms.accepted.values()
        assert code in accepted["body"]["Content"]
        no_phone = received(api, applicant={
            "name": "Trần Thị Bình", "id_number": "034090001235"})
        assert no_phone.status_code == 201
        assert len(messages(db)) == 2  # no number on the form: no message
    finally:
        sms.stop()
