"""Supervisor station API on SQLite and PostgreSQL: dashboard figures under a controlled clock,
moving tickets (to a service, reserved for one counter, also under concurrency), a counter of
a reception point serving its ward's queue, the audit trail, and 403 for clerks."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from server.core import lookups
from server.core.auth import Principal
from server.core.db import Database, retrying
from server.core.events import Event
from server.features import seed, supervision
from server.features import tickets as ticket_ops
from server.models import Device, PrinterState, Ticket
from server.realtime import snapshots
from server.realtime.hub import project
from tests.conftest import Api, Clock, World, sign_in

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # 08:00 in Hạc Thành
SUP = "supervisor"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def dashboard(api: Api, role: str = SUP, query: str = "") -> dict[str, Any]:
    r = api.call("GET", f"/api/v1/sites/HT/dashboard{query}", role)
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def by(rows: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    return next(r for r in rows if r[key] == value)


def issue_at(api: Api, clock: Clock, minute: float, service_code: str = "land") -> dict:
    clock.set(at(minute))
    return api.issue(service_code)


def test_dashboard_figures_with_a_controlled_clock(
    api: Api, app: Any, clock: Clock, staff: dict[str, int], db: Database
) -> None:
    for minute in (0, 1, 2):
        issue_at(api, clock, minute)
    issue_at(api, clock, 2, "civil")
    clerk = app.test_client()
    csrf = sign_in(clerk, "clerk.ht")
    cid = api.world.counters
    clock.set(at(10))
    r = clerk.post(f"/api/v1/counters/{cid[1]}/call-next", headers={"X-CSRF-Token": csrf})
    first = r.get_json()["ticket"]
    assert first["number"] == "A001"
    assert clerk.post(f"/api/v1/tickets/{first['id']}/start",
                      headers={"X-CSRF-Token": csrf}).status_code == 200
    clock.set(at(16))
    assert clerk.post(f"/api/v1/tickets/{first['id']}/finish",
                      headers={"X-CSRF-Token": csrf}).status_code == 200
    clock.set(at(17))
    r = api.call("POST", f"/api/v1/counters/{cid[2]}/pause", SUP, json={"reason": "Họp giao ban"})
    assert r.status_code == 200

    d = dashboard(api)
    assert d["site"] == "HT" and d["business_day"] == "2026-11-25" and d["points"] == []
    land, civil, business = (by(d["services"], "code", c) for c in ("land", "civil", "business"))
    assert land["waiting"] == 2
    assert land["longest_wait_min"] == 16.0  # A002 entered at 08:01
    assert land["avg_wait_last_hour_min"] == 10.0 and land["called_last_hour"] == 1
    assert land["sla_state"] == "amber"  # 16 >= 75 % of 20, < 20
    assert land["open_counters"] == 2  # counters 1 and 3 (counter 3 at weight 0.5)
    assert civil["waiting"] == 1 and civil["longest_wait_min"] == 15.0
    assert civil["sla_state"] == "amber"  # exactly 75 %
    assert civil["open_counters"] == 0  # its only counter is paused
    assert business["waiting"] == 0 and business["longest_wait_min"] is None
    assert business["sla_state"] == "green" and business["avg_wait_last_hour_min"] is None

    c1, c2, c3 = (by(d["counters"], "number", n) for n in (1, 2, 3))
    assert c1["status"] == "open" and c1["served_today"] == 1 and c1["idle_min"] == 1.0
    assert c1["clerk"]["username"] == "clerk.ht" and c1["current_ticket"] is None
    assert c2["status"] == "paused" and c2["pause_reason"] == "Họp giao ban"
    assert c2["idle_min"] is None and c2["clerk"] is None
    # Never served today, open since before the day: idle since the day's first ticket.
    assert c3["idle_min"] == 17.0 and c3["served_today"] == 0
    assert [(x["code"], x["weight"]) for x in c3["services"]] == [("land", 0.5),
                                                                   ("business", 1.0)] or [
        (x["code"], x["weight"]) for x in c3["services"]] == [("business", 1.0), ("land", 0.5)]
    kinds = [(a["kind"], a.get("counter"), a.get("service")) for a in d["alerts"]]
    # Counter 3 idle while Land (which it serves) is amber; counter 1 idle only 1 min.
    assert kinds == [("counter_idle", 3, None)]
    assert "Quầy 3" in d["alerts"][0]["text"]["vi"]

    # Counter 1 calls A002 at 08:17: it is now busy, with the ticket shown.
    clock.set(at(17))
    r = clerk.post(f"/api/v1/counters/{cid[1]}/call-next", headers={"X-CSRF-Token": csrf})
    assert r.get_json()["ticket"]["number"] == "A002"
    d = dashboard(api)
    c1 = by(d["counters"], "number", 1)
    assert c1["current_ticket"]["number"] == "A002" and c1["idle_min"] is None
    assert by(d["services"], "code", "land")["avg_wait_last_hour_min"] == 13.0  # (10 + 16) / 2

    # 08:22: A003 has waited 20 min, the civil ticket too: SLA breaches. A kiosk printer is
    # out of paper.
    clock.set(at(22))
    with db.write() as s:
        dev = s.scalar(select(Device).where(Device.name == "kiosk-1"))
        assert dev is not None
        dev.printer_uri = "tcp://192.0.2.10:9100"
        s.add(PrinterState(uri=dev.printer_uri, status="paper_out", changed_at=at(21)))
    d = dashboard(api)
    assert by(d["services"], "code", "land")["sla_state"] == "red"
    assert by(d["services"], "code", "civil")["sla_state"] == "red"
    kinds = sorted(a["kind"] for a in d["alerts"])
    assert kinds == ["counter_idle", "printer_paper_out", "sla_breach", "sla_breach"]
    printer = by(d["printers"], "name", "kiosk-1")
    assert printer["status"] == "paper_out" and printer["kind"] == "kiosk"
    # The idle threshold is a parameter.
    d = dashboard(api, query="?idle_minutes=30")
    assert "counter_idle" not in [a["kind"] for a in d["alerts"]]


def test_move_the_last_n_waiting_to_another_service(api: Api, clock: Clock) -> None:
    for minute in range(5):
        issue_at(api, clock, minute)
    clock.set(at(6))
    r = api.call("POST", "/api/v1/sites/HT/tickets/move", SUP,
                 json={"from_service": "land", "count": 2, "to_service": "business"})
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["moved"] == 2
    assert [t["number"] for t in out["tickets"]] == ["A004", "A005"]  # keep their numbers
    assert all(t["service"] == "business" and t["status"] == "waiting" for t in out["tickets"])
    d = dashboard(api)
    assert by(d["services"], "code", "land")["waiting"] == 3
    assert by(d["services"], "code", "business")["waiting"] == 2
    audit = api.call("GET", "/api/v1/sites/HT/audit?limit=1", SUP).get_json()
    row = audit["items"][0]
    assert row["action"] == "tickets.move"
    assert row["before"] == {"service": "land", "tickets": ["A004", "A005"]}
    assert row["after"] == {"service": "business", "position": "back",
                            "tickets": ["A004", "A005"]}
    # Nothing left to move is not an error, and changes nothing.
    r = api.call("POST", "/api/v1/sites/HT/tickets/move", SUP,
                 json={"from_service": "civil", "count": 3, "to_service": "land"})
    assert r.status_code == 200 and r.get_json()["moved"] == 0
    assert api.call("GET", "/api/v1/sites/HT/audit?limit=1", SUP).get_json()["items"][0][
        "id"] == row["id"]
    # Bad requests change nothing.
    for bad in ({"from_service": "land", "count": 1},
                {"from_service": "land", "count": 1, "to_service": "land"},
                {"from_service": "nope", "count": 1, "to_service": "land"},
                {"from_service": "land", "count": 1, "to_service": "civil", "to_counter_id": 1}):
        assert api.call("POST", "/api/v1/sites/HT/tickets/move", SUP,
                        json=bad).status_code in (404, 409, 422)
    assert by(dashboard(api)["services"], "code", "land")["waiting"] == 3


def test_a_reserved_ticket_is_called_only_by_its_counter(api: Api, clock: Clock) -> None:
    tickets = [issue_at(api, clock, m) for m in range(3)]
    cid = api.world.counters
    clock.set(at(5))
    r = api.call("POST", "/api/v1/sites/HT/tickets/move", SUP,
                 json={"from_service": "land", "ticket_ids": [tickets[2]["id"]],
                       "to_counter_id": cid[2]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["target"]["counter"] == 2
    d = dashboard(api)
    assert by(d["services"], "code", "land")["reserved"] == 1
    # Staff screens hear of it; public ones (display, kiosk, tracking page) are not told.
    reserved = Event(1, 1, "ticket.reserved", {"ticket_id": tickets[2]["id"], "counter": 2})
    assert project("/supervisor", reserved)["counter"] == 2
    assert project("/track", reserved) == {} and project("/display", reserved) == {}
    assert by(d["counters"], "number", 2)["reserved_waiting"] == 1
    # Counter 1 (land) calls A001, A002 and then nobody: A003 waits for counter 2 only.
    assert api.call_next(1)["number"] == "A001"  # type: ignore[index]
    api.act(tickets[0]["id"], "no-show")
    assert api.call_next(1)["number"] == "A002"  # type: ignore[index]
    api.act(tickets[1]["id"], "no-show")
    assert api.call_next(1) is None
    # Counter 2 serves civil only, but A003 was reserved for it: it comes first.
    issue_at(api, clock, 6, "civil")
    clock.set(at(7))
    called = api.call_next(2)
    assert called is not None and called["number"] == "A003" and called["counter"] == 2
    assert api.call("GET", "/api/v1/sites/HT/audit?limit=1", SUP).get_json()["items"][0][
        "after"]["counter"] == 2
    # Already called: it cannot be moved again.
    r = api.call("POST", "/api/v1/sites/HT/tickets/move", SUP,
                 json={"from_service": "land", "ticket_ids": [tickets[2]["id"]],
                       "to_counter_id": cid[1]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "tickets_not_waiting"
    # A closed counter takes no reservation.
    api.act(called["id"], "no-show", role="clerk")
    issue_at(api, clock, 8)
    assert api.call("POST", f"/api/v1/counters/{cid[2]}/close", SUP).status_code == 200
    r = api.call("POST", "/api/v1/sites/HT/tickets/move", SUP,
                 json={"from_service": "land", "count": 1, "to_counter_id": cid[2]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "counter_not_open"


def test_reserving_while_counters_call_never_gives_a_ticket_to_two_counters(
    db: Database, world: World
) -> None:
    """Threads: counter 1 calls land tickets while a supervisor reserves land tickets for
    counter 3 and counter 3 calls. No ticket is called twice; a reserved ticket is called by
    its counter or not at all."""
    now = dt.datetime.now(dt.UTC)
    with db.read() as s:
        site_id = lookups.get_site(s, "HT").id
    kiosk = Principal("device", 1, "kiosk", site_id)
    clerk = Principal("token", 1, "clerk", site_id)
    sup = Principal("token", 2, "supervisor", site_id)
    for _ in range(40):
        with db.write() as s:
            ticket_ops.issue_ticket(s, kiosk, "HT", "land", None, "vi", None, now, "http://t")
    called: dict[int, list[int]] = {1: [], 3: []}
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def caller(number: int) -> None:
        try:
            start.wait()
            for _ in range(30):
                def unit() -> Any:
                    with db.write() as s:
                        return ticket_ops.call_next(s, clerk, world.counters[number],
                                                 dt.datetime.now(dt.UTC), "http://t")
                view = retrying(unit, attempts=8)
                if view is None:
                    continue
                called[number].append(view["id"])
                with db.write() as s:
                    ticket_ops.ticket_action(s, clerk, view["id"], "no_show",
                                          dt.datetime.now(dt.UTC), "http://t")
        except BaseException as exc:
            errors.append(exc)

    def reserver() -> None:
        try:
            start.wait()
            for _ in range(10):
                def unit() -> Any:
                    with db.write() as s:
                        return supervision.move_tickets(
                            s, sup, "HT", "land", dt.datetime.now(dt.UTC), "http://t",
                            count=2, which="last", to_counter_id=world.counters[3])
                retrying(unit, attempts=8)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(1,)), threading.Thread(target=caller,
               args=(3,)), threading.Thread(target=reserver)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    all_called = called[1] + called[3]
    assert len(all_called) == len(set(all_called))
    with db.read() as s:
        rows = s.execute(select(Ticket.id, Ticket.counter_id, Ticket.reserved_counter_id,
                                Ticket.status)).all()
    reserved = [r for r in rows if r.reserved_counter_id is not None]
    assert reserved, "the reserver reserved nothing"
    for r in reserved:
        assert r.counter_id in (None, world.counters[3]), r
        assert r.id not in called[1]
    assert {r.id for r in reserved if r.status != "waiting"} <= set(called[3])


def _point_counter(db: Database, world: World) -> tuple[int, str]:
    """Counter 1 of the reception point HT-P1 (its own land queue) and a clerk token for it."""
    with db.write() as s:
        point = lookups.get_site(s, "HT-P1")
        own = s.scalar(select(seed.Service).where(seed.Service.site_id == point.id))
        c = seed.upsert_counter(s, point, 1, [(own, 1.0)], "open")
        token = seed.create_token(s, "clerk", point, T0, counter=c)
        return c.id, token


def test_a_reception_point_counter_serves_its_ward_queue(
    api: Api, clock: Clock, db: Database, world: World
) -> None:
    clock.set(T0)
    point_counter, point_clerk = _point_counter(db, world)
    seen: list[Any] = []
    db.subscribers.append(seen.extend)
    # The ward's supervisor (scope: HT and its points) gives the point's counter Land of HT.
    r = api.call("PUT", f"/api/v1/counters/{point_counter}/profile", SUP,
                 json={"services": [{"code": "land", "site": "HT", "weight": 2},
                                    {"code": "land", "weight": 1}]})
    assert r.status_code == 200, r.get_json()
    assert sorted((x["site"], x["code"], x["weight"]) for x in r.get_json()["services"]) == [
        ("HT", "land", 2.0), ("HT-P1", "land", 1.0)]
    # Audited at the counter's site and at the ward whose queue it now serves; both sites'
    # supervisors are told.
    point_audit = api.call("GET", "/api/v1/sites/HT-P1/audit", SUP).get_json()["items"]
    ward_audit = api.call("GET", "/api/v1/sites/HT/audit", SUP).get_json()["items"]
    assert point_audit[0]["action"] == "counter.profile"
    assert point_audit[0]["before"] == {"services": [{"code": "land", "weight": 1.0}]}
    assert {"code": "land", "weight": 2.0, "site": "HT"} in point_audit[0]["after"]["services"]
    assert ward_audit[0]["action"] == "counter.serves_site"
    assert ward_audit[0]["after"]["counter_site"] == "HT-P1"
    with db.read() as s:
        ward_id = lookups.get_site(s, "HT").id
    assert ward_id not in {e.site_id for e in seen if e.type == "counter.changed"}
    assert [e.type for e in seen].count("counter.changed") == 1
    ward_stats = [e.data for e in seen if e.type == "queue.stats" and e.site_id == ward_id]
    assert ward_stats and ward_stats[-1]["service"] == "land"
    assert ward_stats[-1]["open_counters"] == 3  # counters 1 and 3 of HT, and the point's
    # Pausing the point's counter tells the ward too (its Land queue lost a counter).
    seen.clear()
    r = api.call("POST", f"/api/v1/counters/{point_counter}/pause", SUP, json={})
    assert r.status_code == 200
    ward_stats = [e.data for e in seen if e.type == "queue.stats" and e.site_id == ward_id]
    assert ward_stats and ward_stats[-1]["open_counters"] == 2
    assert api.call("POST", f"/api/v1/counters/{point_counter}/open", SUP).status_code == 200
    with_points = api.call("GET", "/api/v1/sites/HT/audit?include_points=1", SUP).get_json()
    assert {i["site"] for i in with_points["items"]} == {"HT", "HT-P1"}
    d = dashboard(api, query="?include_points=1")
    land = by(d["services"], "code", "land")
    assert land["other_site_counters"] == [{"site": "HT-P1", "counter": 1, "status": "open"}]
    assert [p["site"] for p in d["points"]] == ["HT-P1"]
    assert by(d["points"][0]["counters"], "number", 1)["services"][0]["site"] in ("HT", "HT-P1")

    # A citizen takes a Land ticket at the ward; the point's clerk calls it.
    ticket = issue_at(api, clock, 1)
    clock.set(at(2))
    seen.clear()
    r = api.call("POST", f"/api/v1/counters/{point_counter}/call-next", token=point_clerk)
    assert r.status_code == 200, r.get_json()
    called = r.get_json()["ticket"]
    assert called["id"] == ticket["id"] and called["site"] == "HT"
    # The call is published to the ward (the ticket's site), saying where the counter is,
    # and the lobby displays there may see that.
    event = next(e for e in seen if e.type == "ticket.called")
    with db.read() as s:
        ward = lookups.get_site(s, "HT")
        assert event.site_id == ward.id
        board = snapshots.display(s, ward, at(2))
    public = project("/display", event)
    assert public["counter"] == 1 and public["counter_site"] == "HT-P1"
    assert public["counter_site_name"]["vi"] == "Điểm bổ sung"
    serving = by(board["now_serving"], "number", "A001")
    assert serving["counter_site_name"]["en"] == "Extra point"
    assert board["recent_calls"][0]["counter_site"] == "HT-P1"
    # The citizen's tracking page says where to go too.
    tracked = api.call("GET", f"/api/v1/track/{ticket['token']}").get_json()
    assert tracked["counter"] == 1 and tracked["counter_site_name"]["vi"] == "Điểm bổ sung"
    page = api.call("GET", f"/t/{ticket['token']}").get_data(as_text=True)
    assert "Mời Quý khách đến quầy 1 tại Điểm bổ sung ngay" in page
    # The point's clerk serves it to the end (a ticket of another site, called at their counter).
    for action in ("start", "finish"):
        r = api.call("POST", f"/api/v1/tickets/{ticket['id']}/{action}", token=point_clerk)
        assert r.status_code == 200, r.get_json()
    # Clerks of the point still cannot touch other ward tickets.
    other = issue_at(api, clock, 3)
    r = api.call("POST", f"/api/v1/tickets/{other['id']}/cancel", token=point_clerk)
    assert r.status_code == 403


def test_cross_site_profile_limits(api: Api, db: Database, world: World) -> None:
    point_counter, _ = _point_counter(db, world)
    # OTHER is not near the point (nor in the ward supervisor's scope).
    r = api.call("PUT", f"/api/v1/counters/{point_counter}/profile", SUP,
                 json={"services": [{"code": "land", "site": "OTHER"}]})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "site_not_nearby"
    # A ward counter may serve a sibling centre's queue, but only for a supervisor of both.
    ht1 = world.counters[1]
    r = api.call("PUT", f"/api/v1/counters/{ht1}/profile", SUP,
                 json={"services": [{"code": "land", "site": "OTHER"}]})
    assert r.status_code == 403
    r = api.call("PUT", f"/api/v1/counters/{ht1}/profile", "province_supervisor",
                 json={"services": [{"code": "land"}, {"code": "land", "site": "OTHER"}]})
    assert r.status_code == 200, r.get_json()
    r = api.call("PUT", f"/api/v1/counters/{ht1}/profile", SUP,
                 json={"services": [{"code": "nope", "site": "HT-P1"}]})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "unknown_service"
    r = api.call("PUT", f"/api/v1/counters/{ht1}/profile", SUP,
                 json={"services": [{"code": "land"}, {"code": "land", "site": "HT"}]})
    assert r.status_code == 422
    # The options offered to the dialog: own site first, the point's too for the ward.
    opts = api.call("GET", f"/api/v1/counters/{point_counter}/profile-options", SUP).get_json()
    assert {(o["site"], o["code"]) for o in opts} == {
        ("HT", "land"), ("HT", "civil"), ("HT", "business"), ("HT-P1", "land")}
    assert by(opts, "site", "HT-P1")["own_site"] is True


def test_audit_pages_newest_first_and_names_the_person(
    api: Api, app: Any, staff: dict[str, int], clock: Clock
) -> None:
    clock.set(T0)
    sup = app.test_client()
    csrf = sign_in(sup, "sup.ht")
    h = {"X-CSRF-Token": csrf}
    c2 = api.world.counters[2]
    assert sup.post(f"/api/v1/counters/{c2}/pause", json={"reason": "Nghỉ"},
                    headers=h).status_code == 200
    clock.set(at(1))
    assert sup.post(f"/api/v1/counters/{c2}/open", headers=h).status_code == 200
    clock.set(at(2))
    assert sup.put(f"/api/v1/counters/{c2}/profile", headers=h,
                   json={"services": [{"code": "land", "weight": 1.5}]}).status_code == 200
    page1 = sup.get("/api/v1/sites/HT/audit?limit=2").get_json()
    assert [i["action"] for i in page1["items"]] == ["counter.profile", "counter.open"]
    first = page1["items"][0]
    assert first["who"] == {"username": "sup.ht", "name": "sup.ht", "vi": "sup.ht",
                            "en": "sup.ht"}
    assert first["at"] == "2026-11-25T01:02:00Z" and first["entity_id"] == str(c2)
    assert first["before"] == {"services": [{"code": "civil", "weight": 1.0}]}
    assert first["after"] == {"services": [{"code": "land", "weight": 1.5}]}
    page2 = sup.get(f"/api/v1/sites/HT/audit?limit=2&before={page1['next_before']}").get_json()
    assert [i["action"] for i in page2["items"]] == ["counter.paused"]
    assert page2["items"][0]["after"] == {"status": "paused", "reason": "Nghỉ"}
    assert page2["next_before"] is None
    assert sup.get("/api/v1/sites/HT/audit?limit=0").status_code == 422
    assert sup.get("/api/v1/sites/HT/audit?before=x").status_code == 422


SUPERVISOR_ACTIONS = [
    ("GET", "/api/v1/sites/HT/dashboard", None),
    ("GET", "/api/v1/sites/HT/audit", None),
    ("GET", "/api/v1/sites/HT/advice", None),
    ("GET", "/api/v1/sites/HT/reports/kpis?from=2026-11-25", None),
    ("GET", "/api/v1/sites/HT/reports/series?date=2026-11-25", None),
    ("POST", "/api/v1/sites/HT/tickets/move",
     {"from_service": "land", "count": 1, "to_service": "civil"}),
    ("PUT", "/api/v1/counters/{c1}/profile", {"services": [{"code": "civil"}]}),
    ("GET", "/api/v1/counters/{c1}/profile-options", None),
    ("PUT", "/api/v1/sites/HT/ticker", {"vi": "x"}),
    ("POST", "/api/v1/tickets/{ticket}/transfer", {"service": "civil"}),
]


@pytest.mark.parametrize("how", ["token", "session"])
def test_clerks_get_403_on_every_supervisor_action(
    api: Api, app: Any, staff: dict[str, int], how: str
) -> None:
    ticket = api.issue("land")
    client = app.test_client()
    headers: dict[str, str] = {}
    if how == "session":
        headers["X-CSRF-Token"] = sign_in(client, "clerk.ht")
    else:
        headers["Authorization"] = f"Bearer {api.world.tokens['clerk']}"
    for method, path, payload in SUPERVISOR_ACTIONS:
        url = path.format(c1=api.world.counters[1], ticket=ticket["id"])
        r = getattr(client, method.lower())(url, json=payload, headers=headers)
        assert r.status_code == 403, (method, url, r.get_json())
        assert r.get_json()["error"]["code"] == "forbidden"
    # Nothing changed.
    d = dashboard(api)
    assert by(d["services"], "code", "land")["waiting"] == 1
    assert by(d["counters"], "number", 1)["services"][0]["code"] == "land"
    assert api.call("GET", "/api/v1/sites/HT/audit", SUP).get_json()["items"] == []
    # A clerk bound to counter 1 cannot open, pause or close another counter.
    c2 = api.world.counters[2]
    for action in ("open", "pause", "close"):
        r = api.call("POST", f"/api/v1/counters/{c2}/{action}", "clerk_c1", json={})
        assert r.status_code == 403, action
    # And a supervisor of another site is refused too.
    assert api.call("GET", "/api/v1/sites/OTHER/dashboard", SUP).status_code == 403


def test_the_page_for_supervisors_and_admins_only(
    app: Any, staff: dict[str, int], world: World
) -> None:
    sup = app.test_client()
    sign_in(sup, "sup.ht")
    page = sup.get("/supervisor/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="vi">' in html
    assert "Bảng điều hành" in html and "Phường Hạc Thành" in html
    assert '"code": "HT"' in html or '"code":"HT"' in html
    english = sup.get("/supervisor/?lang=en").get_data(as_text=True)
    assert "Dashboard" in english and "Hac Thanh Ward" in english
    assert sup.get("/supervisor/?site=OTHER").status_code == 403  # not in scope
    assert sup.get("/supervisor/?site=HT-P1").status_code == 200  # its reception point
    assert sup.get("/supervisor/static/supervisor.js").status_code == 200

    clerk = app.test_client()
    sign_in(clerk, "clerk.ht")
    assert clerk.get("/supervisor/").status_code == 403
    assert app.test_client().get("/supervisor/").status_code == 302  # to the sign-in form

    # A province supervisor lands on a centre, with a picker of the centres in scope.
    prov = app.test_client()
    sign_in(prov, "sup.prov")
    html = prov.get("/supervisor/").get_data(as_text=True)
    assert 'id="site-pick"' in html and 'value="OTHER"' in html and "Phường Hạc Thành" in html
