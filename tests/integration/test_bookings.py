"""Appointments on real SQLite and PostgreSQL: booking through the public API (challenge, hold,
one-time code from the outbox, confirm), the booking's page, check-in at the kiosk (placement,
too early, late), no-shows, cancels, closed days, and every refusal in both languages with
nothing changed; 16 threads racing for 5 places, and racing requests from one ID number."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from typing import Any

import altcha
import pytest
from sqlalchemy import func, select

from server.core.auth import SYSTEM
from server.core.db import Database
from server.core.errors import AppError
from server.features import bookings
from server.models import (
    AuditLog,
    Booking,
    BookingChallenge,
    Holiday,
    OutboxMessage,
    Service,
    Site,
    Ticket,
)
from server.rules.calendar import queue_position_key
from tests.conftest import Api, Clock, World

# Monday 7 Dec 2026, 08:00 in Hà Nội (UTC+7).
MONDAY_8 = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)
TUESDAY = dt.date(2026, 12, 8)
ID = "001234567890"
PHONE = "0912345678"


def local(day: dt.date, hhmm: str) -> str:
    return f"{day.isoformat()}T{hhmm}:00+07:00"


def utc(day: dt.date, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(local(day, hhmm)).astimezone(dt.UTC)


@pytest.fixture
def booking_world(db: Database, world: World, clock: Clock) -> World:
    """HT with civil offered fully online: 1 counter x 30 min / 6 min = 5 places a slot."""
    clock.set(MONDAY_8)
    with db.write() as s:
        civil = s.get(Service, world.services["civil"])
        assert civil is not None
        civil.online_share = 1.0
    return world


def solve(api: Api) -> str:
    r = api.call("GET", "/api/v1/booking-challenge")
    assert r.status_code == 200
    c = r.get_json()
    solution = altcha.solve_challenge_v1(c["challenge"], c["salt"], c["algorithm"],
                                         c["maxNumber"])
    assert solution is not None
    payload = {"algorithm": c["algorithm"], "challenge": c["challenge"],
               "number": solution.number, "salt": c["salt"], "signature": c["signature"]}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def book(api: Api, start: str = local(TUESDAY, "09:00"), service: str = "civil",
         id_number: str = ID, phone: str = PHONE, lang: str = "vi", site: str = "HT",
         solution: str | None = None) -> Any:
    return api.call("POST", f"/api/v1/sites/{site}/bookings", json={
        "service": service, "start": start, "id_number": id_number, "phone": phone,
        "lang": lang, "altcha": solution or solve(api)})


def otp_of(db: Database, ref: str) -> str:
    """The one-time code as the demo's message file receives it (the outbox row it is sent
    from: kind booking_code, ref = the booking's ref)."""
    with db.read() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "booking_code",
                                                   OutboxMessage.ref == ref))
        assert row is not None
        return str(row.data["otp"])


def confirmed(api: Api, db: Database, **kw: Any) -> dict[str, Any]:
    r = book(api, **kw)
    assert r.status_code == 201, r.get_json()
    ref = r.get_json()["booking"]["ref"]
    r = api.call("POST", f"/api/v1/bookings/{ref}/confirm", json={"code": otp_of(db, ref)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["booking"]  # type: ignore[no-any-return]


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as s:
        return (int(s.scalar(select(func.count()).select_from(Booking)) or 0),
                int(s.scalar(select(func.count()).select_from(Ticket)) or 0),
                int(s.scalar(select(func.count()).select_from(OutboxMessage)) or 0))


# --- the booking flow -----------------------------------------------------------------------


def test_slots_book_confirm_page_calendar_and_cancel(api: Api, db: Database, clock: Clock,
                                                       booking_world: World) -> None:
    r = api.call("GET", f"/api/v1/sites/HT/slots?service=civil&day={TUESDAY}")
    assert r.status_code == 200
    slots = r.get_json()["slots"]
    assert slots[0] == {"start": local(TUESDAY, "08:00"), "end": local(TUESDAY, "08:30"),
                        "capacity": 5, "free": 5}
    assert len(slots) == 16  # 08:00-16:00 (no opening hours set: Monday-Friday 08-16)

    r = book(api)
    assert r.status_code == 201, r.get_json()
    held = r.get_json()["booking"]
    assert held["status"] == "held" and held["hold_until"].endswith("+07:00")
    r = api.call("GET", f"/api/v1/sites/HT/slots?service=civil&day={TUESDAY}")
    assert r.get_json()["slots"][2]["free"] == 4  # the hold takes its place

    with db.read() as s:
        msg = s.scalar(select(OutboxMessage).where(OutboxMessage.ref == held["ref"]))
        assert msg is not None and msg.kind == "booking_code" and msg.recipient == "+84912345678"
        assert msg.data["otp"] in msg.text and "Quý khách" in msg.text

    r = api.call("POST", f"/api/v1/bookings/{held['ref']}/confirm",
                 json={"code": otp_of(db, held["ref"])})
    assert r.status_code == 200, r.get_json()
    b = r.get_json()["booking"]
    assert b["status"] == "confirmed" and b["site"] == "HT" and b["service"] == "civil"
    assert b["start"] == local(TUESDAY, "09:00") and len(b["code"]) == 6 and b["token"]
    with db.read() as s:
        kinds = {m.kind: m for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.ref == held["ref"]))}
        assert set(kinds) == {"booking_code", "booking_confirmed", "booking_reminder"}
        assert b["code"] in kinds["booking_confirmed"].text
        # the reminder waits for 17:00 local the day before
        assert kinds["booking_reminder"].next_attempt_at == utc(TUESDAY - dt.timedelta(days=1),
                                                                "17:00")

    r = api.call("GET", f"/api/v1/bookings/{b['token']}")
    assert r.status_code == 200 and r.get_json()["booking"]["code"] == b["code"]
    r = api.call("GET", f"/api/v1/bookings/{b['token']}/calendar.ics")
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    assert "DTSTART:20261208T020000Z" in r.get_data(as_text=True)

    r = api.call("POST", f"/api/v1/bookings/{b['token']}/cancel")
    assert r.status_code == 200 and r.get_json()["booking"]["status"] == "cancelled"
    with db.read() as s:
        reminder = s.scalar(select(OutboxMessage).where(
            OutboxMessage.ref == held["ref"], OutboxMessage.kind == "booking_reminder"))
        assert reminder is not None and reminder.status == "dropped"
    # the place stays taken for the quarantine, then comes back
    r = api.call("GET", f"/api/v1/sites/HT/slots?service=civil&day={TUESDAY}")
    assert r.get_json()["slots"][2]["free"] == 4
    clock.advance(minutes=16)
    r = api.call("GET", f"/api/v1/sites/HT/slots?service=civil&day={TUESDAY}")
    assert r.get_json()["slots"][2]["free"] == 5
    r = api.call("POST", f"/api/v1/bookings/{b['token']}/cancel")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "booking_not_cancellable"


def test_check_in_places_the_ticket_at_its_slot_and_marks_it(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    b = confirmed(api, db)
    # Tuesday 08:20: 40 minutes early
    clock.set(utc(TUESDAY, "08:20"))
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": b["code"]})
    assert r.status_code == 409
    err = r.get_json()["error"]
    assert err["code"] == "too_early" and "08:30" in err["message"]
    assert err["come_back_at"] == local(TUESDAY, "08:30")
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": b["code"]},
                 headers={"Accept-Language": "en"})
    assert "come back from 08:30" in r.get_json()["error"]["message"]

    clock.set(utc(TUESDAY, "08:45"))
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk",
                 json={"code": b["code"].lower()})  # typed in lower case
    assert r.status_code == 201, r.get_json()
    t = r.get_json()["ticket"]
    assert t["appointment"] is True and t["late"] is False and t["service"] == "civil"
    assert t["number"] == "B001"  # the same daily sequence as walk-ins
    assert t["placed_at"].startswith("2026-12-08T02:00")
    assert t["print"]["status"] in ("queued", "none", "failed")  # the kiosk prints it
    assert api.issue("civil")["number"] == "B002"
    with db.read() as s:
        row = s.get(Ticket, t["id"])
        assert row is not None and row.queue_pos == queue_position_key(utc(TUESDAY, "09:00"))
        b_row = s.scalar(select(Booking).where(Booking.ref == b["ref"]))
        assert b_row is not None and b_row.status == "checked_in" and b_row.ticket_id == t["id"]


def test_call_order_with_one_counter(api: Api, db: Database, clock: Clock,
                                     booking_world: World) -> None:
    b = confirmed(api, db)
    clock.set(utc(TUESDAY, "08:40"))
    walk_before = api.issue("civil")
    clock.set(utc(TUESDAY, "08:45"))
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": b["code"]})
    booked = r.get_json()["ticket"]
    clock.set(utc(TUESDAY, "08:50"))
    walk_between = api.issue("civil")
    clock.set(utc(TUESDAY, "09:05"))
    walk_after = api.issue("civil")
    called = []
    for _ in range(4):
        t = api.call_next(2)
        assert t is not None
        called.append(t["id"])
        if t["status"] == "called":
            assert api.act(t["id"], "start").status_code == 200
        assert api.act(t["id"], "finish").status_code == 200
    assert called == [walk_before["id"], walk_between["id"], booked["id"], walk_after["id"]]
    # the clerk sees the mark
    r = api.call("GET", f"/api/v1/tickets/{booked['id']}", "clerk")
    assert r.get_json()["appointment"] is True


def test_late_arrival_gets_a_walk_in_ticket_and_a_no_show_is_recorded(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    b = confirmed(api, db)
    clock.set(utc(TUESDAY, "09:20"))  # the window closed at 09:15
    # the scanner types the QR's whole payload: the page's address
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk",
                 json={"token": f"http://motcua.test/b/{b['token']}\n"})
    assert r.status_code == 201, r.get_json()
    t = r.get_json()["ticket"]
    assert t["appointment"] is False and t["late"] is True
    with db.read() as s:
        row = s.get(Ticket, t["id"])
        assert row is not None and not row.appointment and row.placed_at is None
        assert row.queue_pos == queue_position_key(utc(TUESDAY, "09:20"))
        assert s.scalar(select(Booking.status).where(Booking.ref == b["ref"])) == "no_show"
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"token": b["token"]})
    assert r.status_code == 409


def test_late_arrivals_do_not_count_toward_the_no_show_pause(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    """Three bookings missed by coming late (limit 3): the citizen came each time, so booking
    again is allowed; three bookings nobody came for pause it."""
    day = TUESDAY
    for n in range(3):
        clock.set(MONDAY_8 + dt.timedelta(days=n))
        b = confirmed(api, db, start=local(day, "09:00"))
        clock.set(utc(day, "09:20"))  # after the window: a walk-in ticket
        r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"token": b["token"]})
        assert r.status_code == 201 and r.get_json()["ticket"]["late"] is True
        day += dt.timedelta(days=1)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking).where(
            Booking.status == "no_show", Booking.ticket_id.is_not(None))) == 3
    clock.set(utc(day, "08:00"))  # Friday 11 Dec
    monday = dt.date(2026, 12, 14)
    r = book(api, start=local(monday, "09:00"))
    assert r.status_code == 201, r.get_json()
    # the same three with nobody coming: paused
    with db.write() as s:
        for row in s.scalars(select(Booking).where(Booking.status == "no_show")):
            row.ticket_id = None
    r = book(api, start=local(monday + dt.timedelta(days=1), "09:00"))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "booking_blocked"


def test_check_in_by_id_card_and_by_counter_staff(api: Api, db: Database, clock: Clock,
                                                   booking_world: World) -> None:
    confirmed(api, db)
    clock.set(utc(TUESDAY, "08:55"))
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "clerk", json={"id_number": ID})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["ticket"]["appointment"] is True
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"id_number": ID})
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "booking_already_checked_in"


def test_sweep_marks_no_shows_and_expired_holds_and_repeated_no_shows_block(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    held = book(api, start=local(TUESDAY, "10:00")).get_json()["booking"]
    b = confirmed(api, db, start=local(TUESDAY, "09:00"), service="land")
    clock.set(utc(TUESDAY, "09:16"))
    with db.write() as s:
        out = bookings.sweep(s, clock())
    assert out["no_show"] == 1 and out["expired"] == 1
    with db.read() as s:
        assert s.scalar(select(Booking.status).where(Booking.ref == b["ref"])) == "no_show"
        assert s.scalar(select(Booking.status).where(Booking.ref == held["ref"])) == "expired"
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "booking.no_show")) == 1
    with db.write() as s:
        assert bookings.sweep(s, clock()) == {"expired": 0, "no_show": 0, "day_closed": 0}
    # two more no-shows (limit 3 in 90 days): no new booking for 30 days
    with db.write() as s:
        for _ in range(2):
            row = s.scalar(select(Booking).where(Booking.ref == b["ref"]))
            assert row is not None
            s.add(Booking(
                ref=bookings._new_ref(), token_hash=bookings._new_ref(), code="ZZZZZ" + str(_ + 2),
                site_id=row.site_id, service_id=row.service_id, slot_start=row.slot_start,
                slot_end=row.slot_end, business_day=row.business_day, id_hash=row.id_hash,
                id_last4=row.id_last4, lang="vi", status="no_show", created_at=clock(),
                no_show_at=clock()))
    before = counts(db)
    r = book(api, start=local(TUESDAY + dt.timedelta(days=1), "09:00"))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "booking_blocked"
    assert counts(db) == before


def test_a_day_closed_after_bookings_cancels_them_and_tells_the_citizen(
        api: Api, app: Any, db: Database, clock: Clock, booking_world: World) -> None:
    b = confirmed(api, db)
    with db.write() as s:
        prov = s.scalar(select(Site).where(Site.code == "PROV"))
        assert prov is not None
        s.add(Holiday(site_id=prov.id, day=TUESDAY, name_vi="Nghỉ", name_en="Closed"))
    policy = app.extensions["motcua_outbox"].policy  # as the day closer runs it
    with db.write() as s:
        assert bookings.sweep(s, clock(), policy=policy)["day_closed"] == 1
    with db.read() as s:
        row = s.scalar(select(Booking).where(Booking.ref == b["ref"]))
        assert row is not None and row.status == "cancelled" and row.cancel_reason == "day_closed"
        assert s.scalar(select(OutboxMessage.kind).where(
            OutboxMessage.ref == b["ref"], OutboxMessage.kind == "booking_day_closed"))
    r = api.call("GET", f"/api/v1/sites/HT/bookings/summary?day={TUESDAY}", "supervisor")
    assert r.status_code == 200, r.get_json()
    assert [a["ref"] for a in r.get_json()["affected"]] == [b["ref"]]
    r = api.call("GET", f"/api/v1/sites/HT/slots?service=civil&day={TUESDAY}")
    assert r.get_json()["slots"] == []


def test_supervisor_summary_counts_per_slot(api: Api, db: Database, clock: Clock,
                                            booking_world: World) -> None:
    confirmed(api, db)
    confirmed(api, db, id_number="001234567891", start=local(TUESDAY, "09:00"))
    r = api.call("GET", f"/api/v1/sites/HT/bookings/summary?day={TUESDAY}", "supervisor")
    civil = next(x for x in r.get_json()["services"] if x["service"] == "civil")
    slot = next(x for x in civil["slots"] if x["start"] == local(TUESDAY, "09:00"))
    assert slot["booked"] == 2 and slot["capacity"] == 5 and slot["checked_in"] == 0
    assert api.call("GET", f"/api/v1/sites/HT/bookings/summary?day={TUESDAY}",
                    "kiosk").status_code == 403


# --- bad input: a clear error in both languages, nothing changed ----------------------------


def _refused(api: Api, db: Database, r: Any, code: str, before: tuple[int, int, int]) -> None:
    assert r.status_code in (404, 409, 422), r.get_json()
    assert r.get_json()["error"]["code"] == code
    assert counts(db) == before


def test_every_bad_input_is_refused_with_nothing_changed(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    b = confirmed(api, db)
    before = counts(db)
    sunday = TUESDAY + dt.timedelta(days=5)
    cases = [
        (dict(start=local(MONDAY_8.date(), "07:30")), "booking_no_such_slot"),
        (dict(start=local(MONDAY_8.date(), "08:00")), None),  # 08:00 today: window still open
        (dict(start=local(sunday, "09:00")), "booking_day_closed"),
        (dict(start=local(TUESDAY + dt.timedelta(days=10), "09:00")),
         "booking_day_out_of_range"),
        (dict(start=local(TUESDAY, "09:10")), "booking_no_such_slot"),
        (dict(id_number="12345"), "booking_bad_id"),
        (dict(phone="12"), "invalid_phone"),
        (dict(service="nope"), "unknown_service"),
    ]
    for kw, code in cases:
        if code is None:
            continue
        r = book(api, **kw)  # type: ignore[arg-type]
        _refused(api, db, r, code, before)
    # a past slot (today 08:00 after its window)
    clock.set(MONDAY_8 + dt.timedelta(minutes=20))
    r = book(api, start=local(MONDAY_8.date(), "08:00"), id_number="009999999999")
    _refused(api, db, r, "booking_slot_past", before)
    clock.set(MONDAY_8)
    # per-person limit: the same ID, the same service, another slot
    r = book(api, start=local(TUESDAY, "10:00"))
    _refused(api, db, r, "booking_limit_service", before)
    # a full slot
    for k in range(4):
        confirmed(api, db, id_number=f"00000000000{k}")
    before = counts(db)
    r = book(api, id_number="000000000009")
    _refused(api, db, r, "booking_slot_full", before)
    # the other site's token at this kiosk
    r = api.call("POST", "/api/v1/sites/OTHER/check-ins", "other_kiosk",
                 json={"token": b["token"]})
    _refused(api, db, r, "booking_other_site", before)
    assert "Phường Hạc Thành" in r.get_json()["error"]["message"]
    r = api.call("POST", "/api/v1/sites/OTHER/check-ins", "other_kiosk",
                 json={"token": b["token"]}, headers={"Accept-Language": "en"})
    assert "Hac Thanh Ward" in r.get_json()["error"]["message"]
    # a kiosk of another site cannot check in here
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "other_kiosk", json={"code": b["code"]})
    assert r.status_code == 403 and counts(db) == before
    # unknown code
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": "ZZZZZZ"})
    _refused(api, db, r, "booking_not_found", before)
    # a replayed confirmation
    r = api.call("POST", f"/api/v1/bookings/{b['ref']}/confirm",
                 json={"code": otp_of(db, b["ref"])})
    _refused(api, db, r, "booking_already_confirmed", before)
    # a replayed anti-robot solution, and a forged one
    solution = solve(api)
    assert book(api, id_number="001111111111", start=local(TUESDAY, "11:00"),
                solution=solution).status_code == 201
    before = counts(db)
    r = book(api, id_number="001111111112", start=local(TUESDAY, "11:00"), solution=solution)
    _refused(api, db, r, "challenge_replayed", before)
    r = book(api, id_number="001111111112", solution=base64.b64encode(b"{}").decode())
    _refused(api, db, r, "challenge_invalid", before)
    # both languages for every refusal code used here
    for code in ("booking_slot_full", "booking_day_closed", "too_early", "booking_code_wrong",
                 "booking_code_expired", "booking_other_site", "challenge_replayed"):
        vi, en = AppError(code).message("vi"), AppError(code).message("en")
        assert vi and en and vi != en


def test_wrong_and_expired_codes(api: Api, db: Database, clock: Clock,
                                 booking_world: World) -> None:
    held = book(api).get_json()["booking"]
    ref = held["ref"]
    r = api.call("POST", f"/api/v1/bookings/{ref}/confirm", json={"code": "000000"}
                 if otp_of(db, ref) != "000000" else {"code": "111111"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "booking_code_wrong"
    with db.read() as s:
        row = s.scalar(select(Booking).where(Booking.ref == ref))
        assert row is not None and row.otp_attempts == 1 and row.status == "held"
    clock.advance(minutes=6)  # the code lives 5 minutes
    r = api.call("POST", f"/api/v1/bookings/{ref}/confirm", json={"code": otp_of(db, ref)})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "booking_code_expired"
    clock.advance(minutes=5)  # the hold lives 10
    r = api.call("POST", f"/api/v1/bookings/{ref}/confirm", json={"code": otp_of(db, ref)})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "booking_hold_expired"
    # five wrong tries end the code
    held = book(api, id_number="001234567899").get_json()["booking"]
    wrong = "000000" if otp_of(db, held["ref"]) != "000000" else "111111"
    for _ in range(5):
        api.call("POST", f"/api/v1/bookings/{held['ref']}/confirm", json={"code": wrong})
    r = api.call("POST", f"/api/v1/bookings/{held['ref']}/confirm",
                 json={"code": otp_of(db, held["ref"])})
    assert r.get_json()["error"]["code"] == "booking_code_attempts"


# --- concurrency ----------------------------------------------------------------------------


def _race(db: Database, clock: Clock, n: int, args: list[dict[str, Any]]) -> list[str]:
    """``n`` threads hold at once; what each got (``ok`` or the error code)."""
    barrier = threading.Barrier(n)
    results: list[str] = [""] * n

    def run(i: int) -> None:
        barrier.wait()
        for _attempt in range(50):
            try:
                with db.write() as s:
                    bookings.hold(s, "HT", **args[i], lang="vi", now=clock())
                results[i] = "ok"
                return
            except AppError as exc:
                results[i] = exc.code
                return
            except Exception as exc:  # a serialisation failure is retried, as the API does
                if "deadlock" in str(exc).lower() or "could not serialize" in str(exc).lower():
                    continue
                results[i] = f"crash: {exc}"
                return

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_sixteen_threads_race_for_five_places(db: Database, clock: Clock,
                                              booking_world: World) -> None:
    start = utc(TUESDAY, "09:00")
    args = [dict(service_code="civil", start=start, id_number=f"0010000000{i:02d}",
                 phone=PHONE) for i in range(16)]
    results = _race(db, clock, 16, args)
    assert results.count("ok") == 5, results
    assert results.count("booking_slot_full") == 11, results
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking).where(
            Booking.slot_start == start, Booking.status == "held")) == 5


def test_racing_requests_from_one_id_number_keep_the_limits(db: Database, clock: Clock,
                                                             booking_world: World) -> None:
    # 8 requests of one ID number: 4 for civil (different slots), 4 for land; limits: 1 per
    # service and 2 a day
    args = [dict(service_code="civil" if i % 2 else "land",
                 start=utc(TUESDAY, f"{9 + i // 2:02d}:00"), id_number=ID, phone=PHONE)
            for i in range(8)]
    results = _race(db, clock, 8, args)
    assert results.count("ok") == 2, results
    assert set(results) <= {"ok", "booking_limit_service", "booking_limit_day"}, results
    with db.read() as s:
        services = s.scalars(select(Booking.service_id).where(Booking.status == "held")).all()
        assert sorted(services) == sorted({*services}) and len(services) == 2


def test_challenge_rows_are_one_use(db: Database, clock: Clock, booking_world: World) -> None:
    with db.write() as s:
        assert bookings.use_challenge(s, "abc", clock() + dt.timedelta(minutes=10), clock())
    with db.write() as s:
        assert not bookings.use_challenge(s, "abc", clock() + dt.timedelta(minutes=10), clock())
        assert s.scalar(select(func.count()).select_from(BookingChallenge)) == 1


# --- settings: the admin API and the configuration file -------------------------------------


def test_settings_through_the_admin_api_and_the_config_file(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    import yaml

    from server.features import siteconfig

    r = api.call("GET", "/api/v1/admin/sites", "admin")
    ht = next(x for x in r.get_json() if x["code"] == "HT")
    body = {k: ht[k] for k in ("name_vi", "name_en", "kind", "parent", "timezone")
            if k in ht}
    body.update(name_vi=ht["name"]["vi"], name_en=ht["name"]["en"],
                interleave_priority=ht["interleave"]["priority"],
                interleave_normal=ht["interleave"]["normal"],
                booking={"slot_minutes": 60, "per_day": 3})
    r = api.call("PUT", "/api/v1/admin/sites/HT", "admin", json=body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["booking"] == {"per_day": 3, "slot_minutes": 60}
    # a bad value is refused in both languages, nothing stored
    r = api.call("PUT", "/api/v1/admin/sites/HT", "admin",
                 json={**body, "booking": {"slot_minutes": 1}})
    assert r.status_code == 422
    r = api.call("PUT", "/api/v1/admin/sites/HT/services/civil", "admin", json={
        "name_vi": "Hộ tịch", "name_en": "Civil status", "prefix": "B",
        "sla_target_minutes": 20, "online_share": 0.5})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["online_share"] == 0.5
    # 60-minute slots, 1 counter, 6 minutes, half online: 5 places
    r = api.call("GET", f"/api/v1/sites/HT/slots?service=civil&day={TUESDAY}")
    assert r.get_json()["slots"][0]["capacity"] == 5 and len(r.get_json()["slots"]) == 8
    # the configuration file carries both, and importing it back changes nothing
    with db.read() as s:
        doc = siteconfig.export_site(s, SYSTEM, "HT")
    assert doc["site"]["booking"] == {"per_day": 3, "slot_minutes": 60}
    civil = next(x for x in doc["services"] if x["code"] == "civil")
    assert civil["online_share"] == 0.5
    with db.write() as s:
        out = siteconfig.import_config(s, SYSTEM, yaml.safe_dump(doc, allow_unicode=True),
                                       clock(), fmt="yaml")
    assert out["changes"] == [], out["changes"]  # the same file again: nothing to change
    doc["site"]["booking"] = {"slot_minutes": 3}
    with db.write() as s, pytest.raises(AppError) as exc:
        siteconfig.import_config(s, SYSTEM, yaml.safe_dump(doc, allow_unicode=True),
                                 clock(), fmt="yaml")
    assert "booking" in str(exc.value.params)


def test_the_day_closer_runs_the_sweep_and_retention_removes_booking_phones(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    from server.features import retention
    from server.features.dailyops import DayCloser

    b = confirmed(api, db)
    clock.set(utc(TUESDAY, "09:16"))
    closer = DayCloser(db, clock, every_round=[lambda s, now: bookings.sweep(s, now)])
    closer.run_once()
    with db.read() as s:
        assert s.scalar(select(Booking.status).where(Booking.ref == b["ref"])) == "no_show"
    with db.write() as s:
        for m in s.scalars(select(OutboxMessage).where(OutboxMessage.ref == b["ref"])):
            m.status = "sent"
    # the next day: the number goes, the messages keep a masked one
    clock.set(utc(TUESDAY + dt.timedelta(days=1), "08:00"))
    with db.write() as s:
        assert retention.purge_bookings(s, clock(), dry_run=True) == 1
        summary = retention.apply(s, clock(), 30)
    assert summary["booking_phones"] == 1
    with db.read() as s:
        row = s.scalar(select(Booking).where(Booking.ref == b["ref"]))
        assert row is not None and row.phone is None and row.purged_at is not None
        assert all("*" in m.recipient for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.ref == b["ref"])))


def test_an_appointment_is_not_refused_by_the_daily_cap(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    b = confirmed(api, db)
    with db.write() as s:
        civil = s.get(Service, booking_world.services["civil"])
        assert civil is not None
        civil.daily_cap = 1
    clock.set(utc(TUESDAY, "08:40"))
    api.issue("civil")  # the day's one walk-in number
    r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk", json={"service": "civil"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "service_cap_reached"
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": b["code"]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["ticket"]["appointment"] is True


def test_routing_urgency_counts_from_the_slot_not_the_check_in(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    """Counter 3 serves business (weight 1) and land (0.5). A land appointment checked in at
    08:35 for 09:00 has not waited at 08:55 (its urgency counts from 09:00); the business
    walk-in of 08:50 has: business is called. Counted from the check-in (20 minutes, half
    weight: 0.5 against 0.25), land would have been."""
    b = confirmed(api, db, service="land")
    clock.set(utc(TUESDAY, "08:35"))
    r = api.call("POST", "/api/v1/sites/HT/check-ins", "kiosk", json={"code": b["code"]})
    assert r.status_code == 201 and r.get_json()["ticket"]["appointment"] is True
    clock.set(utc(TUESDAY, "08:50"))
    walk_in = api.issue("business")
    clock.set(utc(TUESDAY, "08:55"))
    called = api.call_next(3)
    assert called is not None and called["id"] == walk_in["id"]


def test_confirmation_and_reminder_go_through_the_outbox_and_a_cancel_drops_the_reminder(
        api: Api, app: Any, db: Database, clock: Clock, booking_world: World) -> None:
    """Against a gateway (the fake SMS one): the confirmation is sent at once, the reminder
    waits in the outbox until the rules' reminder time the day before, in the site's zone, and
    is then sent; a booking cancelled before that time never gets its reminder. Each message
    has its idempotency key ``booking:{ref}:{kind}``, the one the gateway receives."""
    from zoneinfo import ZoneInfo

    from server.features import notifications
    from server.rules import appointments as ap
    from tests.fakegateway import FakeSms

    gateway = FakeSms().start()
    outbox_node = app.extensions["motcua_outbox"]

    def send_due() -> None:
        outbox_node.dispatcher.run_once(wait=True)

    def messages(ref: str) -> dict[str, OutboxMessage]:
        with db.read() as s:
            return {m.kind: m for m in s.scalars(select(OutboxMessage).where(
                OutboxMessage.ref == ref))}

    try:
        with db.write() as s:
            site = s.scalar(select(Site).where(Site.code == "HT"))
            assert site is not None
            tz = site.timezone
            notifications.configure_channel(s, site.id, "sms", config=gateway.config(),
                                            now=clock(), policy=outbox_node.policy)
        refs = []
        for id_number, phone in ((ID, PHONE), ("001234567891", "0912345679")):
            r = book(api, id_number=id_number, phone=phone)
            assert r.status_code == 201, r.get_json()
            refs.append(r.get_json()["booking"]["ref"])
            r = api.call("POST", f"/api/v1/bookings/{refs[-1]}/confirm",
                         json={"code": otp_of(db, refs[-1])})
            assert r.status_code == 200, r.get_json()
            token = r.get_json()["booking"]["token"]
        kept, cancelled = refs
        remind_at = dt.datetime.combine(TUESDAY - dt.timedelta(days=1), ap.REMINDER_LOCAL_TIME,
                                        ZoneInfo(tz)).astimezone(dt.UTC)
        assert remind_at == utc(TUESDAY - dt.timedelta(days=1), "17:00")  # HT: Asia/Ho_Chi_Minh
        for ref in refs:
            rows = messages(ref)
            assert {k: m.idempotency_key for k, m in rows.items()} == {
                kind: f"booking:{ref}:{kind}"
                for kind in ("booking_code", "booking_confirmed", "booking_reminder")}
            assert all(m.channel == "sms" and m.status == "queued" for m in rows.values())
            assert rows["booking_reminder"].next_attempt_at == remind_at
            assert rows["booking_confirmed"].next_attempt_at == clock()

        send_due()
        assert set(gateway.accepted) == {f"booking:{ref}:{kind}" for ref in refs
                                         for kind in ("booking_code", "booking_confirmed")}
        assert messages(kept)["booking_reminder"].status == "queued"  # not before its time

        r = api.call("POST", f"/api/v1/bookings/{token}/cancel")  # the second booking
        assert r.status_code == 200, r.get_json()
        dropped = messages(cancelled)["booking_reminder"]
        assert (dropped.status, dropped.last_error) == ("dropped", "booking cancelled")

        clock.set(remind_at - dt.timedelta(minutes=1))
        send_due()
        assert f"booking:{kept}:booking_reminder" not in gateway.accepted
        clock.set(remind_at)
        send_due()
        assert f"booking:{kept}:booking_reminder" in gateway.accepted
        assert f"booking:{cancelled}:booking_reminder" not in gateway.accepted
        assert messages(kept)["booking_reminder"].status == "sent"
        assert messages(cancelled)["booking_reminder"].status == "dropped"
        assert "Nhắc lịch hẹn" in gateway.accepted[f"booking:{kept}:booking_reminder"][
            "body"]["Content"]
    finally:
        gateway.stop()
