"""A site's "call starts service" setting: where it is on, a clerk serves a citizen in two
requests (call-next, finish), the service time counting from the call; every other move of
the state machine stays as it is, and where it is off a called ticket cannot be finished."""

from __future__ import annotations

from sqlalchemy import select, update

from server.core.db import Database
from server.models import Site, Ticket, TicketEvent
from tests.conftest import Api, World


def _set(db: Database, on: bool) -> None:
    with db.write() as s:
        s.execute(update(Site).where(Site.code == "HT").values(call_starts_service=on))


def test_off_a_called_ticket_must_be_started_first(api: Api, db: Database, world: World) -> None:
    with db.read() as s:  # the product's default: on, for a site made without saying
        assert s.scalar(select(Site.call_starts_service).where(Site.code == "HT")) is True
    _set(db, False)
    t = api.issue("land")["id"]
    assert api.call_next(1)["id"] == t
    r = api.act(t, "finish")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "illegal_transition"


def test_on_call_then_finish_counts_service_from_the_call(
    api: Api, db: Database, world: World
) -> None:
    _set(db, True)
    sites = api.call("GET", "/api/v1/sites", "clerk").get_json()
    assert next(s for s in sites if s["code"] == "HT")["call_starts_service"] is True
    t = api.issue("land")["id"]
    called = api.call_next(1)
    assert called["id"] == t and called["status"] == "called"
    r = api.act(t, "finish")
    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert done["status"] == "done"
    assert done["started_at"] == done["called_at"] and done["finished_at"] is not None
    with db.read() as s:
        ticket = s.get(Ticket, t)
        assert ticket is not None and ticket.started_at == ticket.called_at
        steps = s.execute(
            select(TicketEvent.type, TicketEvent.from_status, TicketEvent.to_status)
            .where(TicketEvent.ticket_id == t).order_by(TicketEvent.id)
        ).all()
    assert [tuple(x) for x in steps] == [
        ("ticket.issued", None, "waiting"),
        ("ticket.called", "waiting", "called"),
        ("ticket.done", "called", "done"),
    ]


def test_on_the_other_moves_still_work(api: Api, db: Database, world: World) -> None:
    _set(db, True)
    # start still works (a clerk used to it, a station of the previous version)
    a = api.issue("land")["id"]
    assert api.call_next(1)["id"] == a
    assert api.act(a, "start").status_code == 200
    assert api.act(a, "finish").get_json()["status"] == "done"
    # recall, then no-show: no service time for a citizen who never came
    b = api.issue("land")["id"]
    assert api.call_next(1)["id"] == b
    assert api.act(b, "recall").status_code == 200
    r = api.act(b, "no-show")
    assert r.status_code == 200 and r.get_json()["started_at"] is None


def test_admin_creates_sites_with_it_on_and_an_edit_keeps_it(
    api: Api, db: Database, world: World
) -> None:
    new = {"code": "NEWC", "name_vi": "Trung tâm mới", "name_en": "New centre",
           "kind": "centre", "parent": "PROV", "timezone": "Asia/Ho_Chi_Minh",
           "interleave_priority": 1, "interleave_normal": 2}
    r = api.call("POST", "/api/v1/admin/sites", "admin", json=new)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["call_starts_service"] is True
    off = {k: v for k, v in new.items() if k != "code"} | {"call_starts_service": False}
    r = api.call("PUT", "/api/v1/admin/sites/NEWC", "admin", json=off)
    assert r.status_code == 200 and r.get_json()["call_starts_service"] is False
    kept = {k: v for k, v in new.items() if k != "code"} | {"name_en": "New centre (ward)"}
    r = api.call("PUT", "/api/v1/admin/sites/NEWC", "admin", json=kept)
    assert r.status_code == 200 and r.get_json()["call_starts_service"] is False
    r = api.call("PUT", "/api/v1/admin/sites/NEWC", "admin",
                 json=off | {"call_starts_service": "yes"})
    assert r.status_code == 422
