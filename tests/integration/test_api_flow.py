"""The main paths of REST API v1, on real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from server.api.schemas import CallNextOut, CounterOut, IssuedTicketOut, ServiceOut, TrackOut
from server.api.schemas import TicketOut as TicketSchema
from tests.conftest import BASE_URL, Api, Clock


def test_issue_returns_documented_shape(api: Api) -> None:
    t = api.issue("land")
    IssuedTicketOut.model_validate(t)
    assert t["number"] == "A001"
    assert t["status"] == "waiting"
    assert t["site"] == "HT" and t["service"] == "land"
    assert (t["position"], t["ahead"]) == (1, 0)
    assert t["track_url"] == f"{BASE_URL}/t/{t['token']}"
    assert len(t["token"]) >= 22  # 128 bits, URL-safe base64
    t2 = api.issue("land")
    assert t2["number"] == "A002" and t2["ahead"] == 1 and t2["position"] == 2
    assert api.issue("civil")["number"] == "B001"


def test_idempotent_issue_returns_the_same_ticket(api: Api) -> None:
    a = api.issue("land", key="kiosk-1-abc")
    b = api.issue("land", key="kiosk-1-abc")
    assert a["id"] == b["id"] and a["number"] == b["number"] and a["token"] == b["token"]
    assert api.issue("land")["number"] == "A002"
    r = api.call(
        "POST",
        "/api/v1/sites/HT/tickets",
        "kiosk",
        json={"service": "civil"},
        headers={"Idempotency-Key": "kiosk-1-abc"},
    )
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "idempotency_conflict"


def test_services_and_counters_lists(api: Api) -> None:
    api.issue("land")
    api.issue("land", priority="elderly")
    r = api.call("GET", "/api/v1/sites/HT/services", "display")
    assert r.status_code == 200
    services = {s["code"]: ServiceOut.model_validate(s) for s in r.get_json()}
    assert services["land"].waiting == 2 and services["land"].waiting_priority == 1
    assert services["land"].name.vi == "Đất đai" and services["land"].prefix == "A"
    assert services["land"].open_counters == 2
    assert services["civil"].waiting == 0 and services["civil"].eta_minutes == 0
    r = api.call("GET", "/api/v1/sites/HT/counters", "kiosk")
    counters = [CounterOut.model_validate(c) for c in r.get_json()]
    assert [c.number for c in counters] == [1, 2, 3]
    assert [s.code for s in counters[2].services] == ["land", "business"] or [
        s.code for s in counters[2].services
    ] == ["business", "land"]


def test_full_lifecycle_and_tracking(api: Api, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC))
    t = api.issue("land")
    track = api.call("GET", f"/api/v1/track/{t['token']}").get_json()
    TrackOut.model_validate(track)
    assert track["status"] == "waiting" and track["position"] == 1
    assert "token" not in track and "id" not in track

    clock.advance(minutes=3)
    called = api.call_next(1)
    CallNextOut.model_validate({"ticket": called})
    assert called["id"] == t["id"] and called["status"] == "called" and called["counter"] == 1
    assert api.call("GET", f"/api/v1/track/{t['token']}").get_json()["counter"] == 1

    r = api.act(t["id"], "recall")
    assert r.status_code == 200 and r.get_json()["recall_count"] == 1
    r = api.act(t["id"], "start")
    assert r.get_json()["status"] == "serving"
    clock.advance(minutes=7)
    r = api.act(t["id"], "finish")
    body = TicketSchema.model_validate(r.get_json())
    assert body.status == "done"
    assert body.finished_at == "2026-11-25T02:10:00Z"
    assert api.call_next(1) is None


def test_call_next_is_204_when_empty_and_409_when_closed(api: Api) -> None:
    assert api.call_next(1) is None
    cid = api.world.counters[1]
    assert (
        api.call(
            "POST", f"/api/v1/counters/{cid}/pause", "clerk", json={"reason": "họp giao ban"}
        ).get_json()["status"]
        == "paused"
    )
    r = api.call("POST", f"/api/v1/counters/{cid}/call-next", "clerk")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "counter_not_open"
    assert api.call("POST", f"/api/v1/counters/{cid}/open", "clerk").status_code == 200


def test_no_show_park_resume_cancel(api: Api) -> None:
    a, b, c = api.issue("land"), api.issue("land"), api.issue("land")
    assert api.call_next(1)["id"] == a["id"]
    assert api.act(a["id"], "no-show").get_json()["status"] == "no_show"
    assert api.call_next(1)["id"] == b["id"]
    assert api.act(b["id"], "park").get_json()["status"] == "parked"
    # Counter 1 is free again while B fetches a paper.
    assert api.call_next(1)["id"] == c["id"]
    r = api.act(b["id"], "resume", json={"counter_id": api.world.counters[1]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "counter_busy"
    api.act(c["id"], "start")
    api.act(c["id"], "finish")
    r = api.act(b["id"], "resume", json={"counter_id": api.world.counters[1]})
    assert r.status_code == 200 and r.get_json()["status"] == "called"
    d = api.issue("land")
    assert api.act(d["id"], "cancel").get_json()["status"] == "cancelled"
    assert api.call_next(3) is None  # D cancelled: nothing left for counter 3


def test_transfer_front_and_back(api: Api, clock: Clock) -> None:
    clock.set(dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC))
    b1 = api.issue("civil")
    clock.advance(seconds=1)
    b2 = api.issue("civil")
    clock.advance(seconds=1)
    a1 = api.issue("land")
    called = api.call_next(1)
    assert called["id"] == a1["id"]
    r = api.act(a1["id"], "transfer", json={"service": "civil", "position": "front"})
    assert r.status_code == 200
    child = r.get_json()
    assert child["number"] == "A001" and child["service"] == "civil"
    assert child["status"] == "waiting" and child["position"] == 1
    assert child["transfer_parent_id"] == a1["id"]
    # The citizen's QR follows the transfer.
    tr = api.call("GET", f"/api/v1/track/{a1['token']}").get_json()
    assert tr["service"] == "civil" and tr["status"] == "waiting" and tr["position"] == 1
    first = api.call_next(2)
    assert first["number"] == "A001"
    api.act(first["id"], "start")
    api.act(first["id"], "finish")
    # A transfer to the back goes behind B002.
    b1_called = api.call_next(2)
    assert b1_called["id"] == b1["id"]
    r = api.act(b1["id"], "transfer", json={"service": "land", "position": "back"})
    assert r.get_json()["position"] == 1
    r = api.act(b2["id"], "transfer", json={"service": "land"})
    assert r.status_code == 403  # moving a waiting ticket is a supervisor's job
    r = api.act(b2["id"], "transfer", "supervisor", json={"service": "land", "position": "back"})
    assert r.status_code == 200 and r.get_json()["position"] == 2


CCCD = {"id_number": "038090001234", "name": "Nguyễn Văn An", "dob": "1958-03-12",
        "sex": "Nam", "address": "Phường Hạc Thành, Thanh Hóa"}


def test_applicant_from_the_id_card_reaches_staff_only(api: Api) -> None:
    r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                 json={"service": "land", "priority": "elderly", "applicant": CCCD})
    assert r.status_code == 201
    issued = r.get_json()
    assert "applicant" not in issued  # the kiosk shows initials from its own scan only
    track = api.call("GET", f"/api/v1/track/{issued['token']}").get_json()
    assert "Nguyễn" not in str(track) and "038090001234" not in str(track)
    called = api.call_next(1)
    assert called["applicant"] == CCCD
    staff = api.call("GET", f"/api/v1/tickets/{issued['id']}", "clerk").get_json()
    assert staff["applicant"]["id_number"] == "038090001234"


def test_bad_id_card_number_is_refused_and_nothing_saved(api: Api) -> None:
    for bad in ("03809000123", "03809000123X", "0380900012345"):
        r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                     json={"service": "land", "applicant": {**CCCD, "id_number": bad}})
        assert r.status_code == 422, bad
        assert r.get_json()["error"]["code"] == "validation_error"
    assert api.issue("land")["number"] == "A001"


def test_tracking_page_shows_the_number_and_no_personal_data(api: Api) -> None:
    r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk",
                 json={"service": "land", "applicant": CCCD})
    token = r.get_json()["token"]
    page = api.client.get(f"/t/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "A001" in html and "Đất đai" in html
    assert "Nguyễn" not in html and "038090001234" not in html
    assert len(page.data) < 8_000  # small for a slow phone connection
    missing = api.client.get("/t/nope-nope-nope?lang=en")
    assert missing.status_code == 404 and "Number not found" in missing.get_data(as_text=True)


def test_kiosk_speaks_the_number_on_the_server(api: Api) -> None:
    import io
    import wave

    from server.web.speech import find_engine

    ok = api.call("GET", "/kiosk/audio/vi/A042.wav", "kiosk")
    if find_engine()[0] is None:
        assert ok.status_code == 503
    else:
        assert ok.status_code == 200 and ok.headers["X-Speech-Voice"] == "vi"
        with wave.open(io.BytesIO(ok.data)) as w:
            assert w.getnframes() > w.getframerate() // 2  # at least half a second of speech
    assert api.call("GET", "/kiosk/audio/vi/A042.wav", None).status_code == 401
    assert api.call("GET", "/kiosk/audio/vi/A042.wav", "display").status_code == 403
    bad = api.call("GET", "/kiosk/audio/vi/A%20042.wav", "kiosk")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_error"
    assert api.call("GET", "/kiosk/audio/fr/A042.wav", "kiosk").status_code == 422
