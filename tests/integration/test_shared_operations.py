"""Operations with one writer (a counter's profile, a print job), one audit-log reader and one
request-language helper, on SQLite and PostgreSQL through the real app."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from server.features.printing import Printing, queue_job
from server.models import CounterService, PrintJob
from server.web.i18n import request_lang
from tests.conftest import Api, Clock, World, sign_in

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # 09:00 in Hanoi


@pytest.fixture(autouse=True)
def _fixed_clock(clock: Clock) -> None:
    clock.set(T0)


# --- a counter's profile: one writer ------------------------------------------------------


def _profile_writes(path: Path) -> list[tuple[int, str]]:
    """(line, what) of each call that builds a CounterService row or changes a ``.profile``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "CounterService":
                found.append((node.lineno, "CounterService(...)"))
            if (isinstance(f, ast.Attribute) and f.attr in ("append", "remove", "clear", "extend")
                    and isinstance(f.value, ast.Attribute) and f.value.attr == "profile"):
                found.append((node.lineno, f".profile.{f.attr}()"))
    return found


def test_only_counters_replace_profile_writes_profile_rows() -> None:
    counters = ROOT / "server" / "features" / "counters.py"
    elsewhere = {p.relative_to(ROOT).as_posix(): _profile_writes(p)
                 for p in (ROOT / "server").rglob("*.py") if p != counters}
    assert {k: v for k, v in elsewhere.items() if v} == {}
    writer = next(n for n in ast.walk(ast.parse(counters.read_text()))
                  if isinstance(n, ast.FunctionDef) and n.name == "replace_profile")
    assert writer.end_lineno is not None
    lines = [line for line, _ in _profile_writes(counters)]
    assert lines and all(writer.lineno <= line <= writer.end_lineno for line in lines)


def _profile(world: World, number: int) -> list[tuple[int, float]]:
    with world.db.read() as s:
        return sorted((sid, w) for sid, w in s.execute(
            select(CounterService.service_id, CounterService.weight)
            .where(CounterService.counter_id == world.counters[number])
        ).all())


def test_the_admin_console_and_the_supervisor_write_the_same_rows(api: Api, world: World) -> None:
    cid = world.counters[1]
    r = api.call("PUT", f"/api/v1/counters/{cid}/profile", "supervisor",
                 json={"services": [{"code": "civil", "weight": 0.5}, {"code": "land"}]})
    assert r.status_code == 200, r.get_json()
    by_supervisor = _profile(world, 1)
    assert by_supervisor == sorted([(world.services["civil"], 0.5), (world.services["land"], 1.0)])
    r = api.call("PUT", f"/api/v1/admin/sites/HT/counters/{cid}", "admin",
                 json={"number": 1, "services": [{"code": "land", "weight": 2.0}]})
    assert r.status_code == 200, r.get_json()
    assert _profile(world, 1) == [(world.services["land"], 2.0)]


# --- a print job: one way into the spool ----------------------------------------------------


def _jobs(world: World) -> int:
    with world.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(PrintJob)) or 0)


def test_a_print_job_commits_with_its_unit_of_work_and_wakes_the_worker_after(
    world: World,
) -> None:
    printing = Printing(world.db, "http://motcua.test", start_worker=False)
    with world.db.write() as s:
        job = queue_job(s, printing, "tcp://127.0.0.1:9", b"x", "ticket:1")
        assert not printing.spool.work.is_set()  # the worker would not see the row yet
    assert printing.spool.work.is_set()
    with world.db.read() as s:
        row = s.get(PrintJob, job.id)
        assert row is not None and (row.status, row.ref, row.data) == ("queued", "ticket:1", b"x")
    printing.spool.work.clear()
    with pytest.raises(RuntimeError), world.db.write() as s:
        queue_job(s, printing, "tcp://127.0.0.1:9", b"y", "ticket:2")
        raise RuntimeError("the unit of work fails")
    assert not printing.spool.work.is_set()
    assert _jobs(world) == 1  # the failed unit's job went with it


# --- the audit log: one reader --------------------------------------------------------------


def test_both_audit_endpoints_read_the_same_entries_in_iso_utc(api: Api, world: World) -> None:
    cid = world.counters[1]
    r = api.call("PUT", f"/api/v1/counters/{cid}/profile", "supervisor",
                 json={"services": [{"code": "civil"}]})
    assert r.status_code == 200
    site = api.call("GET", "/api/v1/sites/HT/audit?limit=1", "supervisor").get_json()["items"][0]
    admin = api.call("GET", "/api/v1/admin/audit?site=HT", "admin").get_json()[0]
    assert site["at"] == admin["at"] == "2026-11-25T02:00:00Z"
    for key in ("actor", "action", "entity", "entity_id", "before", "after"):
        assert site[key] == admin[key]
    assert site["action"] == "counter.profile"
    assert site["entity_label"] == {"vi": "Quầy 1", "en": "Counter 1"}


# --- the language of a request ----------------------------------------------------------------


def test_request_lang_order() -> None:
    app = Flask(__name__)
    app.secret_key = "x"
    with app.test_request_context("/?lang=en", headers={"Accept-Language": "vi"}):
        assert request_lang() == "en"
    with app.test_request_context("/", headers={"Accept-Language": "en-US,en;q=0.9"}):
        assert request_lang() == "en"
        assert request_lang(accept_language=False) == "vi"
        assert request_lang(accept_language=False, default="en") == "en"
    with app.test_request_context("/?lang=fr"):
        assert request_lang() == "vi"
    with app.test_request_context("/?lang=en"):
        from flask import session

        assert request_lang(remember=True) == "en" and session["lang"] == "en"
    with app.test_request_context("/", headers={"Accept-Language": "vi"}):
        from flask import session

        session["lang"] = "en"
        assert request_lang() == "en"  # the kept preference beats the browser's
        assert request_lang(use_session=False) == "vi"


def test_pages_and_api_speak_the_requested_language(
    app: Any, api: Api, world: World, staff: dict[str, int]
) -> None:
    en = {"Accept-Language": "en-US,en;q=0.9"}
    # The API follows the browser...
    r = api.call("GET", "/api/v1/sites/NOPE", "supervisor", headers=en)
    assert r.status_code == 404 and r.get_json()["error"]["message"].isascii()
    r = api.call("GET", "/api/v1/sites/NOPE", "supervisor")
    assert not r.get_json()["error"]["message"].isascii()  # Vietnamese by default
    # ... a kiosk stays Vietnamese whatever its browser's language, unless asked.
    client = app.test_client()
    page = client.get(f"/kiosk?token={world.tokens['kiosk']}", headers=en)
    assert '<html lang="vi"' in page.get_data(as_text=True)
    page = client.get(f"/kiosk?token={world.tokens['kiosk']}&lang=en")
    assert '<html lang="en"' in page.get_data(as_text=True)
    # A station remembers ?lang=en for the pages that follow.
    sign_in(client, "sup.ht")
    assert '<html lang="en"' in client.get("/supervisor/?lang=en").get_data(as_text=True)
    assert '<html lang="en"' in client.get("/supervisor/").get_data(as_text=True)
    # ... but not for the citizen's pages opened in the same browser.
    page = client.get(f"/kiosk?token={world.tokens['kiosk']}")
    assert '<html lang="vi"' in page.get_data(as_text=True)
