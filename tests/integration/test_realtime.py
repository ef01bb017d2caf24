"""Realtime hub in-process (Flask-SocketIO's test client), on real SQLite and PostgreSQL:
connect rules, snapshots with seq, events after commit, audiences, malformed messages."""

from __future__ import annotations

from typing import Any

import pytest

from server.realtime.hub import PUBLIC_STATS_KEYS, PUBLIC_TICKET_KEYS
from tests.conftest import Api


def hub(app: Any) -> Any:
    return app.extensions["motcua_hub"]


def connect(app: Any, namespace: str, auth: Any) -> Any:
    return hub(app).socketio.test_client(app, namespace=namespace, auth=auth)


def received(client: Any, namespace: str, name: str | None = None) -> list[Any]:
    out = client.get_received(namespace)
    return [m["args"][0] for m in out if name is None or m["name"] == name]


def test_display_gets_snapshot_then_numbered_events(app: Any, api: Api) -> None:
    api.issue("land")
    c = connect(app, "/display", {"token": api.world.tokens["display"]})
    assert c.is_connected("/display")
    msgs = c.get_received("/display")
    snap = next(m["args"][0] for m in msgs if m["name"] == "snapshot")
    seq0 = snap["seq"]
    assert seq0 == 2  # ticket.issued + queue.stats of the ticket issued before connecting
    assert {s["code"]: s["waiting"] for s in snap["services"]}["land"] == 1
    assert snap["site"]["code"] == "HT" and snap["now_serving"] == []

    t = api.issue("land")
    called = api.call_next(1)
    events = received(c, "/display", "event")
    assert [e["seq"] for e in events] == list(range(seq0 + 1, seq0 + 1 + len(events)))
    assert [e["type"] for e in events] == [
        "ticket.issued",
        "queue.stats",
        "ticket.called",
        "queue.stats",
    ]
    call = events[2]["data"]
    assert call["number"] == called["number"] == "A001"
    assert call["counter"] == 1 and call["service"] == "land"
    assert events[3]["data"]["waiting"] == 1 and events[0]["data"]["number"] == t["number"]

    # Resync: a fresh snapshot with the current seq and state.
    c.emit("resync", namespace="/display")
    snap2 = received(c, "/display", "snapshot")[-1]
    assert snap2["seq"] == events[-1]["seq"]
    assert [(x["number"], x["counter"]) for x in snap2["now_serving"]] == [("A001", 1)]
    assert snap2["recent_calls"][0]["number"] == "A001"


def test_public_audiences_see_no_more_than_public_fields(app: Any, api: Api) -> None:
    clients = {
        "/display": connect(app, "/display", {"token": api.world.tokens["display"]}),
        "/kiosk": connect(app, "/kiosk", {"token": api.world.tokens["kiosk"]}),
        "/counter": connect(
            app,
            "/counter",
            {"token": api.world.tokens["clerk"], "counter_id": api.world.counters[1]},
        ),
        "/supervisor": connect(app, "/supervisor", {"token": api.world.tokens["supervisor"]}),
    }
    t = api.issue("land", priority="elderly")
    clients["/track"] = connect(app, "/track", {"token": t["token"]})
    track_snap = received(clients["/track"], "/track", "snapshot")[0]
    assert track_snap["ticket"]["number"] == "A001" and track_snap["ticket"]["position"] == 1
    assert "token" not in track_snap["ticket"]
    called = api.call_next(1)
    api.act(called["id"], "start")
    cid = api.world.counters[2]
    api.call("POST", f"/api/v1/counters/{cid}/pause", "clerk", json={"reason": "nghỉ trưa"})

    seqs = {}
    got = {}
    for ns, client in clients.items():
        events = got[ns] = received(client, ns, "event")
        seqs[ns] = [e["seq"] for e in events]
        for e in events:
            keys = set(e["data"])
            if ns in ("/display", "/kiosk", "/track"):
                if e["type"].startswith("ticket."):
                    assert keys <= set(PUBLIC_TICKET_KEYS), (ns, e)
                elif e["type"] == "queue.stats":
                    extra = {"order", "eta_minutes", "eta_ranges"} if ns == "/track" else set()
                    assert keys <= set(PUBLIC_STATS_KEYS) | extra, (ns, e)
                elif e["type"] == "counter.changed":
                    assert keys <= {"number", "status"}
                    assert "reason" not in keys
    # Every staff and lobby audience gets every event of the site (no holes in seq).
    tail = seqs["/kiosk"]
    for ns, s in seqs.items():
        if ns != "/track":
            assert s[-len(tail) :] == tail, ns
    # A phone gets its own ticket's events and its service's stats only, in seq order: here
    # A001 called and served (land), and not the pause of counter 2.
    track = [(e["type"], e["data"]) for e in got["/track"]]
    assert [t for t, _ in track] == ["ticket.called", "queue.stats", "ticket.serving"]
    assert all(d.get("service") == "land" for _, d in track)
    assert seqs["/track"] == sorted(seqs["/track"]) and set(seqs["/track"]) <= set(tail)


def test_track_clients_learn_their_position_from_the_call_order(app: Any, api: Api) -> None:
    a = api.issue("land")
    b = api.issue("land")
    c = connect(app, "/track", {"token": b["token"]})
    snap = received(c, "/track", "snapshot")[0]
    my_id = snap["ticket_id"]
    assert snap["ticket"]["ahead"] == 1
    api.call_next(1)
    stats = [e for e in received(c, "/track", "event") if e["type"] == "queue.stats"]
    order = stats[-1]["data"]["order"]
    assert order.index(my_id) == 0 and a["id"] not in order
    assert stats[-1]["data"]["eta_minutes"][0] == 0


@pytest.mark.parametrize(
    ("namespace", "auth"),
    [
        ("/display", None),
        ("/display", {}),
        ("/display", "token"),
        ("/display", {"token": 12}),
        ("/display", {"token": "nope"}),
        ("/display", {"token": "@kiosk"}),
        ("/kiosk", {"token": "@display"}),
        ("/counter", {"token": "@display", "counter_id": 1}),
        ("/counter", {"token": "@kiosk", "counter_id": 1}),
        ("/counter", {"token": "@clerk", "counter_id": "1"}),
        ("/counter", {"token": "@clerk", "counter_id": 999999}),
        ("/counter", {"token": "@clerk"}),
        ("/counter", {"token": "@clerk_c1", "counter_id": "#2"}),
        ("/counter", {"token": "@other_clerk", "counter_id": "#1"}),
        ("/supervisor", {"token": "@clerk"}),
        ("/supervisor", {"token": "@supervisor", "site": "OTHER"}),
        ("/supervisor", {"token": "@supervisor", "site": 5}),
        ("/track", {"token": "not-a-ticket"}),
        ("/track", {"token": "x" * 5000}),
    ],
)
def test_bad_tokens_are_refused_at_connect(app: Any, api: Api, namespace: str, auth: Any) -> None:
    if isinstance(auth, dict):
        auth = dict(auth)
        if isinstance(auth.get("token"), str) and auth["token"].startswith("@"):
            auth["token"] = api.world.tokens[auth["token"][1:]]
        if isinstance(auth.get("counter_id"), str) and auth["counter_id"].startswith("#"):
            auth["counter_id"] = api.world.counters[int(auth["counter_id"][1:])]
    c = connect(app, namespace, auth)
    assert not c.is_connected(namespace)


def test_unknown_namespace_is_refused(app: Any, api: Api) -> None:
    c = connect(app, "/nope", {"token": api.world.tokens["display"]})
    assert not c.is_connected("/nope")


def test_malformed_client_messages_do_not_crash(app: Any, api: Api) -> None:
    c = connect(app, "/display", {"token": api.world.tokens["display"]})
    c.get_received("/display")
    c.emit("resync", {"junk": [1, 2, 3]}, namespace="/display")
    c.emit("resync", "x" * 100_000, namespace="/display")
    c.emit("no-such-event", 42, namespace="/display")
    c.emit("snapshot", {"seq": -1}, namespace="/display")
    assert c.is_connected("/display")
    snaps = received(c, "/display", "snapshot")
    assert len(snaps) == 2
    api.issue("civil")
    assert [e["type"] for e in received(c, "/display", "event")] == ["ticket.issued", "queue.stats"]


def test_supervisor_of_the_ward_watches_its_reception_point(app: Any, api: Api) -> None:
    c = connect(app, "/supervisor", {"token": api.world.tokens["supervisor"], "site": "HT-P1"})
    assert c.is_connected("/supervisor")
    snap = received(c, "/supervisor", "snapshot")[0]
    assert snap["site"]["code"] == "HT-P1"
    c2 = connect(app, "/supervisor", {"token": api.world.tokens["supervisor"], "site": "PROV"})
    assert not c2.is_connected("/supervisor")


def test_events_are_not_sent_for_a_refused_change(app: Any, api: Api) -> None:
    c = connect(app, "/display", {"token": api.world.tokens["display"]})
    c.get_received("/display")
    r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk", json={"service": "nope"})
    assert r.status_code == 422
    t = api.issue("land")
    api.act(t["id"], "start")  # illegal: 409
    events = received(c, "/display", "event")
    assert [e["type"] for e in events] == ["ticket.issued", "queue.stats"]


def test_browser_client_library_is_served_from_npm(app: Any) -> None:
    c = app.test_client()
    r = c.get("/static/vendor/socket.io.min.js")
    assert r.status_code == 200 and b"io" in r.data and len(r.data) > 10_000
    r.close()
    assert c.get("/static/vendor/../package.json").status_code == 404
    assert c.get("/static/vendor/left-pad.js").status_code == 404
    r = c.get("/static/js/realtime.js")
    assert r.status_code == 200 and b"resync" in r.data
    r.close()


def test_a_page_from_another_origin_cannot_open_a_socket(tmp_path: Any) -> None:
    """Socket.IO keeps the same-origin check: a page elsewhere cannot ride a kiosk's token."""
    import requests
    from click.testing import CliRunner

    from server.cli import main
    from tests.support import ServerProcess

    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    CliRunner().invoke(main, ["demo"], env={"MOTCUA_DATABASE_URL": db_url})
    server = ServerProcess(tmp_path, {"MOTCUA_DATABASE_URL": db_url}).start()
    try:
        url = f"{server.url}/socket.io/?EIO=4&transport=polling"
        same = requests.get(url, headers={"Origin": server.url}, timeout=5)
        other = requests.get(url, headers={"Origin": "http://evil.example"}, timeout=5)
        assert same.status_code == 200
        assert other.status_code == 400
    finally:
        server.stop()


def test_supervisor_sets_the_display_ticker(app: Any, api: Api) -> None:
    from sqlalchemy import select

    from server.models import AuditLog

    c = connect(app, "/display", {"token": api.world.tokens["display"]})
    assert received(c, "/display", "snapshot")[0]["ticker"] is None
    body = {"vi": "Chiều nay nghỉ từ 16:30", "en": "Closing at 16:30 today"}
    assert api.call("PUT", "/api/v1/sites/HT/ticker", "clerk", json=body).status_code == 403
    r = api.call("PUT", "/api/v1/sites/HT/ticker", "supervisor", json=body)
    assert r.status_code == 200 and r.get_json()["ticker"] == body
    events = received(c, "/display", "event")
    assert [e["type"] for e in events] == ["ticker.changed"]
    assert events[0]["data"]["ticker"] == body
    c.emit("resync", namespace="/display")
    assert received(c, "/display", "snapshot")[-1]["ticker"] == body
    with api.world.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "site.ticker")).all()
        assert len(audit) == 1 and audit[0].after == body
    r = api.call("PUT", "/api/v1/sites/HT/ticker", "supervisor", json={"vi": "", "en": ""})
    assert r.get_json()["ticker"] is None


def test_track_follows_a_transfer_on_resync(app: Any, api: Api) -> None:
    t = api.issue("land")
    c = connect(app, "/track", {"token": t["token"]})
    first = received(c, "/track", "snapshot")[0]
    assert first["ticket_id"] == t["id"]
    called = api.call_next(1)
    child = api.act(called["id"], "transfer", json={"service": "civil", "position": "front"})
    assert child.status_code == 200
    types = [e["type"] for e in received(c, "/track", "event")]
    assert "ticket.transferred" in types
    c.emit("resync", namespace="/track")
    snap = received(c, "/track", "snapshot")[-1]
    assert snap["ticket_id"] == child.get_json()["id"]
    assert snap["ticket"]["service"] == "civil" and snap["ticket"]["position"] == 1
    assert c.is_connected("/track")
