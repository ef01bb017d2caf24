"""Dossier intake, steps, lists, receipts, public tracking and role checks through the REST
API, on SQLite and PostgreSQL. Asia/Ho_Chi_Minh is UTC+7."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from server.core.db import Database
from server.features import procedures
from server.models import AuditLog, Counter, Dossier, DossierDay, DossierEvent, PrintJob, Site
from server.rules.dossier_states import STEPS, TRANSITIONS, DossierStatus
from tests.conftest import Api, Clock, World
from tests.fakeprinter import (
    FAKE_PRINTER_ENV,
    FakePrinter,
    parse_escpos,
    strip_status_queries,
)

VN = dt.timezone(dt.timedelta(hours=7))
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=VN).astimezone(dt.UTC)
ID = "034090001234"


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=VN).astimezone(dt.UTC)


@pytest.fixture
def app_settings() -> dict[str, object]:
    """The receipt test's fake printer listens on loopback: the operator lists it."""
    return {"printer_networks": FAKE_PRINTER_ENV["MOTCUA_PRINTER_NETWORKS"]}


@pytest.fixture
def catalog(world: World, clock: Clock) -> World:
    clock.set(MONDAY_9)
    with world.db.write() as s:
        province = s.scalar(select(Site).where(Site.code == "PROV"))
        procedures.seed_catalog(s, province)
    return world


def served(api: Api, counter: int = 2, role: str = "clerk", service: str = "civil",
           applicant: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ticket called and started at ``counter``."""
    if applicant is not None:
        r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                     json={"service": service, "applicant": applicant})
        assert r.status_code == 201, r.get_json()
    else:
        api.issue(service)
    t = api.call_next(counter, role)
    assert t is not None
    assert api.act(t["id"], "start", role).status_code == 200
    return t


def intake(api: Api, ticket_id: int, role: str = "clerk", key: str | None = None,
           token: str | None = None, **body: Any) -> Any:
    payload: dict[str, Any] = {
        "procedure": "HT-KH",
        "applicant": {"name": "Nguyễn Văn An", "id_number": ID, "phone": "0912345678",
                      "address": "12 Lê Lợi, Hạc Thành"},
        "documents": ["Tờ khai đăng ký kết hôn", "Căn cước của hai bên"],
        "sets": 1,
        "delivery": "counter",
    }
    payload.update(body)
    headers = {"Idempotency-Key": key} if key else None
    return api.call("POST", f"/api/v1/tickets/{ticket_id}/dossiers", role, json=payload,
                    headers=headers, token=token)


def count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def step(api: Api, code: str, status: str, note: str | None = None, role: str = "clerk") -> Any:
    return api.call("POST", f"/api/v1/dossiers/{code}/status", role,
                    json={"status": status, "note": note})


# --- intake ---------------------------------------------------------------------------------


def test_intake_returns_code_due_date_token_and_tracking_url(api: Api, catalog: World) -> None:
    t = served(api)
    r = intake(api, t["id"])
    assert r.status_code == 201, r.get_json()
    d = r.get_json()
    assert d["code"] == "H56.27-261123-0001"
    # Marriage registration: 1 working day; Monday 09:00 -> Tuesday at the 16:30 cut-off.
    assert d["due_at"] == "2026-11-24T09:30:00Z"
    assert d["due_local"] == "16:30 24/11/2026"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", d["token"])
    assert d["track_url"] == f"http://motcua.test/d/{d['token']}"
    assert d["printed"] is False and d["print"]["status"] == "none"
    assert d["status"] == "received" and d["counter"] == 2 and d["ticket_id"] == t["id"]
    assert r.headers["Location"] == f"/api/v1/dossiers/{d['code']}"

    second = intake(api, t["id"], procedure="CT-BS").get_json()
    assert second["code"] == "H56.27-261123-0002"
    assert second["due_at"] == "2026-11-23T09:30:00Z", "same-day procedure: today 16:30"

    listed = api.call("GET", f"/api/v1/tickets/{t['id']}/dossiers", "clerk").get_json()
    assert [x["code"] for x in listed] == [d["code"], second["code"]]
    assert api.call("GET", f"/api/v1/tickets/{t['id']}/dossiers", "kiosk").status_code == 403
    got = api.call("GET", f"/api/v1/dossiers/{d['code']}", "supervisor").get_json()
    assert got["applicant"] == {"name": "Nguyễn Văn An", "id_number": ID,
                                "phone": "0912345678", "address": "12 Lê Lợi, Hạc Thành"}
    assert [(e["from"], e["to"]) for e in got["events"]] == [(None, "received")]
    with api.world.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.entity == "dossier")).all()
        assert [a.action for a in audit] == ["dossier.received", "dossier.received"]
        assert ID not in str([a.after for a in audit])


def test_after_the_cutoff_and_on_friday_the_clock_starts_next_working_day(
    api: Api, catalog: World, clock: Clock
) -> None:
    clock.set(local(2026, 11, 27, 16, 45))  # Friday after the cut-off
    t = served(api)
    d = intake(api, t["id"]).get_json()
    assert d["code"].startswith("H56.27-261127-")
    assert d["due_local"] == "16:30 01/12/2026"  # Monday starts, 1 working day: Tuesday


def test_holidays_of_the_province_are_skipped(api: Api, catalog: World, clock: Clock) -> None:
    clock.set(local(2026, 4, 29, 10))  # Wednesday; 30/4 and 1/5 are holidays
    t = served(api)
    d = intake(api, t["id"], procedure="KD-HKD").get_json()  # 3 working days
    assert d["due_local"] == "16:30 06/05/2026"  # Mon 4, Tue 5, Wed 6 May


def test_bad_id_number_is_refused_and_nothing_is_saved(api: Api, catalog: World) -> None:
    t = served(api)
    for bad in ("03409000123", "0340900012345", "03409000123a", "０３４０９０００１２３４", ""):
        body = {"name": "Trần Thị Bình", "id_number": bad}
        r = intake(api, t["id"], applicant=body)
        assert r.status_code == 422, (bad, r.get_json())
        assert r.get_json()["error"]["code"] in ("bad_id_number", "applicant_required")
    r = intake(api, t["id"], applicant={"name": "X", "id_number": "03409000123"})
    assert "12" in r.get_json()["error"]["message"]
    assert count(api.world.db, Dossier) == 0
    assert count(api.world.db, DossierEvent) == 0
    assert count(api.world.db, DossierDay) == 0, "the daily number was not consumed"
    good = intake(api, t["id"]).get_json()
    assert good["code"].endswith("-0001")


def test_other_bad_bodies_get_422_and_change_nothing(api: Api, catalog: World) -> None:
    t = served(api)
    for body in (
        {"procedure": "NO-SUCH"},
        {"sets": 0},
        {"delivery": "drone"},
        {"documents": "all"},
        {"applicant": {"name": "A", "id_number": ID, "phone": "call me"}},
        {"extra": 1},
    ):
        r = intake(api, t["id"], **body)
        assert r.status_code == 422, (body, r.get_json())
    assert count(api.world.db, Dossier) == 0


def test_the_kiosk_id_scan_is_the_default_applicant(api: Api, catalog: World) -> None:
    scan = {"id_number": "001234567890", "name": "Lê Văn Cường", "address": "Thanh Hóa"}
    t = served(api, applicant=scan)
    r = intake(api, t["id"], applicant=None, documents=None)
    assert r.status_code == 201, r.get_json()
    d = r.get_json()
    assert d["applicant"]["name"] == "Lê Văn Cường"
    assert d["applicant"]["id_number"] == "001234567890"
    assert d["applicant"]["address"] == "Thanh Hóa"
    assert d["documents"][0].startswith("Tờ khai đăng ký kết hôn"), "the procedure's list"
    # A field typed by the clerk wins over the scan.
    d2 = intake(api, t["id"], applicant={"phone": "0987654321", "name": "Lê Văn Cường Jr"}
                ).get_json()
    assert d2["applicant"]["name"] == "Lê Văn Cường Jr"
    assert d2["applicant"]["id_number"] == "001234567890"


def test_without_scan_or_body_the_applicant_is_required(api: Api, catalog: World) -> None:
    t = served(api)
    r = intake(api, t["id"], applicant=None)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "applicant_required"


def test_idempotency_key_makes_a_double_click_one_dossier(api: Api, catalog: World) -> None:
    t = served(api)
    first = intake(api, t["id"], key="click-1")
    again = intake(api, t["id"], key="click-1")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json()["code"] == again.get_json()["code"]
    assert count(api.world.db, Dossier) == 1
    other = intake(api, t["id"], key="click-1", procedure="CT-BS")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    bad = intake(api, t["id"], key="bad key with spaces")
    assert bad.status_code == 400


def test_only_a_ticket_at_a_counter_yields_a_dossier(api: Api, catalog: World) -> None:
    waiting = api.issue("civil")
    r = intake(api, waiting["id"])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "ticket_not_served"
    assert intake(api, 999999).status_code == 404
    t = served(api)
    api.act(t["id"], "finish")
    assert intake(api, t["id"]).status_code == 201, "just finished: still recordable"


# --- roles ----------------------------------------------------------------------------------


def test_roles_that_may_not_receive_get_401_or_403_and_nothing_changes(
    api: Api, catalog: World
) -> None:
    t = served(api)  # at counter 2
    for role, status in (("kiosk", 403), ("display", 403), ("other_clerk", 403),
                         ("other_kiosk", 403), ("clerk_c1", 403)):
        r = intake(api, t["id"], role=role)
        assert r.status_code == status, (role, r.get_json())
    assert api.call("POST", f"/api/v1/tickets/{t['id']}/dossiers",
                    json={"procedure": "HT-KH"}).status_code == 401
    assert intake(api, t["id"], token="nope").status_code == 401
    assert count(api.world.db, Dossier) == 0
    for role in ("supervisor", "province_supervisor", "admin"):
        assert intake(api, t["id"], role=role).status_code == 201, role


def test_step_and_read_roles(api: Api, catalog: World) -> None:
    t = served(api)
    code = intake(api, t["id"]).get_json()["code"]
    for role in ("kiosk", "display", "other_clerk"):
        assert step(api, code, "transferred", role=role).status_code == 403, role
        assert api.call("GET", f"/api/v1/dossiers/{code}", role).status_code == 403
        assert api.call("GET", "/api/v1/sites/HT/dossiers", role).status_code == 403
    assert api.call("POST", f"/api/v1/dossiers/{code}/status",
                    json={"status": "transferred"}).status_code == 401
    assert api.call("GET", f"/api/v1/dossiers/{code}").status_code == 401
    with api.world.db.read() as s:
        assert s.scalar(select(Dossier.status)) == "received"
    # Any clerk of the site moves dossiers (back office), not only the receiving counter.
    assert step(api, code, "transferred", role="clerk_c1").status_code == 200


# --- steps ----------------------------------------------------------------------------------

PATH_TO = {
    "received": [],
    "transferred": ["transferred"],
    "processing": ["transferred", "processing"],
    "supplement_requested": ["supplement_requested"],
    "result_ready": ["processing", "result_ready"],
    "returned": ["processing", "result_ready", "returned"],
    "refused": ["refused"],
    "withdrawn": ["withdrawn"],
}


def test_every_illegal_step_is_409_and_changes_nothing(api: Api, catalog: World) -> None:
    t = served(api)
    assert set(PATH_TO) == {s.value for s in DossierStatus}
    tried = 0
    for status, path in PATH_TO.items():
        code = intake(api, t["id"]).get_json()["code"]
        for s in path:
            assert step(api, code, s, note="lý do").status_code == 200, (status, s)
        before = api.call("GET", f"/api/v1/dossiers/{code}", "clerk").get_json()
        assert before["status"] == status
        allowed = TRANSITIONS[DossierStatus(status)]
        for s in STEPS:
            if s in allowed:
                continue
            r = step(api, code, s, note="lý do")
            assert r.status_code == 409, (status, s, r.get_json())
            assert r.get_json()["error"]["code"] == "illegal_dossier_step"
            tried += 1
        after = api.call("GET", f"/api/v1/dossiers/{code}", "clerk").get_json()
        assert after == before
    assert tried == 64 - sum(len(v) for v in TRANSITIONS.values())
    assert step(api, code, "received").status_code == 422, "received is not a step"
    assert step(api, "NO-SUCH-CODE", "transferred").status_code == 404


def test_full_path_keeps_actor_and_time_of_every_step(
    api: Api, catalog: World, clock: Clock
) -> None:
    t = served(api)
    code = intake(api, t["id"]).get_json()["code"]
    for i, s in enumerate(["transferred", "processing", "result_ready", "returned"]):
        clock.advance(hours=1)
        r = step(api, code, s, note=f"bước {i}", role="supervisor" if i == 3 else "clerk")
        assert r.status_code == 200 and r.get_json()["status"] == s
    d = api.call("GET", f"/api/v1/dossiers/{code}", "clerk").get_json()
    assert [e["to"] for e in d["events"]] == [
        "received", "transferred", "processing", "result_ready", "returned"]
    assert d["events"][1]["at"] == "2026-11-23T03:00:00Z"
    assert d["events"][1]["note"] == "bước 0"
    assert d["events"][-1]["actor"] != d["events"][1]["actor"]
    assert d["finished_at"] == "2026-11-23T06:00:00Z"
    with api.world.db.read() as s:
        steps = s.scalars(select(AuditLog).where(AuditLog.action == "dossier.step")).all()
        assert len(steps) == 4


def test_refusal_needs_a_reason(api: Api, catalog: World) -> None:
    t = served(api)
    code = intake(api, t["id"]).get_json()["code"]
    for note in (None, "", "   "):
        r = step(api, code, "refused", note=note)
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "reason_required"
    r = step(api, code, "refused", note="Không đủ điều kiện kết hôn")
    assert r.status_code == 200
    assert r.get_json()["refused_reason"] == "Không đủ điều kiện kết hôn"
    assert r.get_json()["finished_at"] is not None


def test_supplement_request_pauses_the_clock_until_resubmitted(
    api: Api, catalog: World, clock: Clock
) -> None:
    t = served(api)
    d = intake(api, t["id"], procedure="HT-XNHN").get_json()  # 3 working days
    assert d["due_local"] == "16:30 26/11/2026"  # Monday + 3 = Thursday
    code = d["code"]
    assert step(api, code, "transferred").status_code == 200
    clock.set(local(2026, 11, 24, 10))  # Tuesday
    r = step(api, code, "supplement_requested", note="Thiếu giấy xác nhận cư trú")
    assert r.get_json()["paused"] is True
    clock.set(local(2026, 11, 30, 10))  # nearly a week later: not overdue while paused
    assert api.call("GET", "/api/v1/sites/HT/dossiers?state=overdue", "clerk").get_json() == []
    clock.set(local(2026, 11, 26, 9))  # resubmitted Thursday morning: Tue, Wed lost
    r = step(api, code, "resubmitted")
    assert r.status_code == 200
    out = r.get_json()
    assert out["status"] == "transferred", "back to the step the request interrupted"
    assert out["paused"] is False and out["paused_days_total"] == 2
    assert out["due_local"] == "16:30 30/11/2026"  # Thursday + 2 working days = Monday
    steps = [e["step"] for e in out["events"]]
    assert steps == ["received", "transferred", "supplement_requested", "resubmitted"]
    assert step(api, code, "resubmitted").status_code == 409


# --- lists ----------------------------------------------------------------------------------


def test_overdue_due_soon_and_open_lists(api: Api, catalog: World, clock: Clock) -> None:
    t = served(api)
    same_day = intake(api, t["id"], procedure="CT-BS").get_json()["code"]  # due Mon 16:30
    one_day = intake(api, t["id"], procedure="HT-KH").get_json()["code"]  # due Tue 16:30
    permit = intake(api, t["id"], procedure="XD-GPXD").get_json()["code"]  # 15 days
    done = intake(api, t["id"], procedure="CT-CK").get_json()["code"]
    for s in ("processing", "result_ready"):
        step(api, done, s)

    def codes(state: str) -> list[str]:
        r = api.call("GET", f"/api/v1/sites/HT/dossiers?state={state}", "clerk")
        assert r.status_code == 200, r.get_json()
        return [d["code"] for d in r.get_json()]

    assert codes("open") == [same_day, done, one_day, permit]
    assert codes("overdue") == []
    assert codes("due_soon") == [same_day, one_day]
    clock.set(local(2026, 11, 23, 17))  # Monday evening
    assert codes("overdue") == [same_day], "result_ready is not overdue"
    assert codes("due_soon") == [one_day]
    clock.set(local(2026, 11, 25, 8))  # Wednesday
    assert codes("overdue") == [same_day, one_day]
    step(api, same_day, "withdrawn")
    assert codes("overdue") == [one_day]
    assert same_day not in codes("open")
    assert api.call("GET", "/api/v1/sites/HT/dossiers?state=late", "clerk").status_code == 422
    views = api.call("GET", "/api/v1/sites/HT/dossiers?state=overdue", "clerk").get_json()
    assert views[0]["overdue"] is True


# --- catalog --------------------------------------------------------------------------------


def test_procedures_of_the_province_from_a_centre_and_a_point(api: Api, catalog: World) -> None:
    r = api.call("GET", "/api/v1/sites/HT/procedures", "kiosk")
    assert r.status_code == 200
    procs = {p["code"]: p for p in r.get_json()}
    assert len(procs) >= 8
    kh = procs["HT-KH"]
    assert kh["name"] == {"vi": "Đăng ký kết hôn", "en": "Marriage registration"}
    assert kh["service"] == "civil" and kh["processing_days"] == 1
    assert kh["documents"][0]["vi"].startswith("Tờ khai") and kh["fee_note"]["vi"]
    civil = api.call("GET", "/api/v1/sites/HT/procedures?service=civil", "clerk").get_json()
    assert civil and {p["service"] for p in civil} == {"civil"}
    point = api.call("GET", "/api/v1/sites/HT-P1/procedures", "supervisor").get_json()
    assert {p["code"] for p in point} == set(procs)
    assert api.call("GET", "/api/v1/sites/HT/procedures", "other_kiosk").status_code == 403
    assert api.call("GET", "/api/v1/sites/HT/procedures").status_code == 401
    assert api.call("GET", "/api/v1/sites/NOPE/procedures", "admin").status_code == 404


# --- events ---------------------------------------------------------------------------------


def test_dossier_changed_events_carry_no_personal_data(api: Api, catalog: World) -> None:
    seen: list[Any] = []
    api.world.db.subscribers.append(lambda events: seen.extend(events))
    t = served(api)
    code = intake(api, t["id"]).get_json()["code"]
    step(api, code, "transferred")
    changes = [e for e in seen if e.type == "dossier.changed"]
    assert [e.data["status"] for e in changes] == ["received", "transferred"]
    assert all(e.seq > 0 and e.data["code"] == code for e in changes)
    text = str([e.data for e in changes])
    assert ID not in text and "Nguyễn" not in text and "0912345678" not in text


# --- public page and JSON -------------------------------------------------------------------


def test_public_tracking_shows_steps_but_never_id_or_phone(
    api: Api, catalog: World, clock: Clock
) -> None:
    t = served(api)
    d = intake(api, t["id"]).get_json()
    clock.advance(hours=2)
    step(api, d["code"], "transferred", note="Gọi 0912345678 nếu cần")
    r = api.call("GET", f"/api/v1/dossier-track/{d['token']}")
    assert r.status_code == 200
    pub = r.get_json()
    assert pub["code"] == d["code"] and pub["status"] == "transferred"
    assert [s["step"] for s in pub["steps"]] == ["received", "transferred"]
    assert pub["steps"][0]["at_local"] == "09:00 23/11/2026"
    page = api.client.get(f"/d/{d['token']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Đăng ký kết hôn" in html and d["code"] in html and "Đã tiếp nhận" in html
    assert 'data-status="transferred"' in html
    assert "24/11/2026" in html
    for secret in (ID, "0912345678", "Nguyễn Văn An", "Lê Lợi", ID[:4] + "*"):
        assert secret not in html, secret
        assert secret not in r.get_data(as_text=True), secret
    en = api.client.get(f"/d/{d['token']}?lang=en").get_data(as_text=True)
    assert "Marriage registration" in en and "Received" in en
    missing = api.client.get("/d/not-a-real-token")
    assert missing.status_code == 404
    assert "Traceback" not in missing.get_data(as_text=True)
    assert "hồ sơ" in missing.get_data(as_text=True).lower()
    assert api.call("GET", "/api/v1/dossier-track/nope").status_code == 404
    assert api.call("GET", "/api/v1/dossier-track/" + "x" * 80).status_code == 404


# --- receipts -------------------------------------------------------------------------------


def test_receipt_reaches_the_counter_printer_with_code_and_qr(
    api: Api, catalog: World, app: Any
) -> None:
    printer = FakePrinter().start()
    try:
        with api.world.db.write() as s:
            s.get(Counter, api.world.counters[2]).printer_uri = printer.uri
        t = served(api)
        r = intake(api, t["id"], key="one-receipt")
        d = r.get_json()
        assert d["printed"] is True and d["print"]["status"] == "queued"
        replay = intake(api, t["id"], key="one-receipt").get_json()
        assert replay["printed"] is True and replay["print"]["job_id"] == d["print"]["job_id"]
        spool = app.extensions["motcua_printing"].spool
        assert spool.run_once() == 1
        assert printer.wait_for(b"\x1dV", timeout=10)
        out = parse_escpos(strip_status_queries(printer.jobs[-1]))
        assert d["code"] in out.text
        assert out.qr_codes == [d["track_url"].encode()]
        assert d["track_url"].startswith("http://motcua.test/d/")
        assert "0340******34" in out.text and ID not in out.text
        with api.world.db.read() as s:
            job = s.scalars(select(PrintJob)).one()
            assert job.counter_id == api.world.counters[2] and job.ref == f"dossier:{d['code']}"
        again = api.call("POST", f"/api/v1/dossiers/{d['code']}/receipt/print", "clerk")
        assert again.status_code == 200 and again.get_json()["printed"] is True
        spool.run_once()
        assert printer.wait_for(b"\x1dV", timeout=10, count=2), "the reprint printed"
        slip = api.call("GET", f"/api/v1/dossiers/{d['code']}/receipt", "clerk").get_json()
        assert slip["code"] == d["code"] and slip["applicant_id_masked"] == "0340******34"
        assert api.call("POST", f"/api/v1/dossiers/{d['code']}/receipt/print",
                        "display").status_code == 403
    finally:
        printer.down()


# --- ID scans do not outlive their day ------------------------------------------------------


def test_purge_removes_only_scans_of_past_business_days(api: Api, catalog: World,
                                                        clock: Clock) -> None:
    from server.features.applicants import purge_applicants
    from server.models import TicketApplicant

    scan = {"id_number": "001234567890", "name": "Lê Văn Cường"}
    t = served(api, applicant=scan)
    intake(api, t["id"], applicant=None)
    with api.world.db.write() as s:
        assert purge_applicants(s, clock()) == 0
    clock.set(local(2026, 11, 24, 8))
    with api.world.db.write() as s:
        assert purge_applicants(s, clock()) == 1, "Monday's scan, on Tuesday"
    api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
             json={"service": "civil", "applicant": scan})
    with api.world.db.write() as s:
        assert purge_applicants(s, clock()) == 0, "today's scan stays"
    with api.world.db.read() as s:
        assert s.scalar(select(func.count()).select_from(TicketApplicant)) == 1
        assert s.scalar(select(Dossier.applicant_id_number)) == "001234567890"


# --- the OpenAPI shapes are what the endpoints send -----------------------------------------


def test_responses_match_their_documented_shapes(api: Api, catalog: World) -> None:
    from server.api import dossiers as shapes

    def strict(model: Any, data: Any) -> None:
        model.model_validate(data)
        extra = set(data) - {f.alias or name for name, f in model.model_fields.items()}
        assert not extra, (model.__name__, extra)

    for p in api.call("GET", "/api/v1/sites/HT/procedures", "clerk").get_json():
        strict(shapes.ProcedureOut, p)
    t = served(api)
    created = intake(api, t["id"]).get_json()
    strict(shapes.DossierCreatedOut, created)
    code = created["code"]
    step(api, code, "supplement_requested", note="thiếu giấy")
    full = api.call("GET", f"/api/v1/dossiers/{code}", "clerk").get_json()
    strict(shapes.DossierOut, full)
    for e in full["events"]:
        strict(shapes.DossierEventOut, e)
    for row in api.call("GET", "/api/v1/sites/HT/dossiers", "clerk").get_json():
        strict(shapes.DossierOut, row)
    strict(shapes.ReceiptOut, api.call("GET", f"/api/v1/dossiers/{code}/receipt",
                                       "clerk").get_json())
    strict(shapes.ReceiptPrintOut, api.call("POST", f"/api/v1/dossiers/{code}/receipt/print",
                                            "clerk").get_json())
    pub = api.call("GET", f"/api/v1/dossier-track/{created['token']}").get_json()
    strict(shapes.DossierTrackOut, pub)


def test_the_first_ticket_of_a_new_day_clears_older_scans(api: Api, clock: Clock) -> None:
    from server.models import TicketApplicant

    clock.set(MONDAY_9)
    scan = {"id_number": "001234567890", "name": "Lê Văn Cường"}
    api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
             json={"service": "civil", "applicant": scan})
    api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
             json={"service": "civil", "applicant": scan})
    with api.world.db.read() as s:
        assert s.scalar(select(func.count()).select_from(TicketApplicant)) == 2
    clock.set(local(2026, 11, 24, 7, 30))
    api.issue("land")  # Tuesday's first ticket at the site
    with api.world.db.read() as s:
        assert s.scalar(select(func.count()).select_from(TicketApplicant)) == 0
