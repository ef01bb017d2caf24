"""Satisfaction ratings: from the tracking page (public, by token) and from the citizen's
tablet at the counter; once per ticket, only after Finish, within the time windows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from server.api.dossiers import RatingOut
from server.features import seed
from server.models import Counter, Rating, Site
from tests.conftest import Api, Clock

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 09:00 local


def finished(api: Api, counter: int = 2, service: str = "civil", issued: dict | None = None
             ) -> dict:
    issued = issued or api.issue(service)
    t = api.call_next(counter)
    assert t is not None and t["id"] == issued["id"]
    api.act(t["id"], "start")
    assert api.act(t["id"], "finish").status_code == 200
    return issued


def rate(api: Api, token: str, score: str = "very_satisfied") -> object:
    return api.call("POST", f"/api/v1/track/{token}/rating", json={"score": score})


def test_rating_from_the_tracking_page_once_after_finish(api: Api, clock: Clock) -> None:
    clock.set(T0)
    waiting = api.issue("civil")
    r = rate(api, waiting["token"])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "rating_closed"
    t = finished(api, issued=waiting)
    clock.advance(minutes=5)
    r = rate(api, t["token"], "satisfied")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["score"] == "satisfied" and r.get_json()["number"] == t["number"]
    assert set(RatingOut.model_validate(r.get_json()).model_dump()) == set(r.get_json())
    again = rate(api, t["token"], "not_satisfied")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rated"
    with api.world.db.read() as s:
        row = s.scalar(select(Rating))
        assert row.ticket_id == t["id"] and row.counter_id == api.world.counters[2]
        assert row.service_id == api.world.services["civil"] and row.source == "track"
        assert row.score == "satisfied"
        assert s.scalar(select(Rating.id).where(Rating.id != row.id)) is None


def test_rating_window_closes_two_hours_after_finish(api: Api, clock: Clock) -> None:
    clock.set(T0)
    t = finished(api)
    clock.advance(hours=2, seconds=1)
    r = rate(api, t["token"])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "rating_closed"


def test_rating_rejects_bad_scores_and_unknown_tokens(api: Api, clock: Clock) -> None:
    clock.set(T0)
    t = finished(api)
    for body in ({"score": "great"}, {"score": 5}, {}, {"score": "satisfied", "x": 1}):
        r = api.call("POST", f"/api/v1/track/{t['token']}/rating", json=body)
        assert r.status_code == 422, body
    assert rate(api, "no-such-token").status_code == 404
    assert rate(api, "x" * 100).status_code == 404


def add_tablet(api: Api, counter_number: int, clock: Clock) -> str:
    """A kiosk device bound to a counter: that counter's rating tablet."""
    with api.world.db.write() as s:
        site = s.scalar(select(Site).where(Site.code == "HT"))
        counter = s.get(Counter, api.world.counters[counter_number])
        token = seed.add_device(s, site, "kiosk", f"tablet-{counter_number}", None, clock(),
                                counter=counter)
    api.world.tokens[f"tablet{counter_number}"] = token
    return token


def test_counter_tablet_rates_the_last_visit_finished_there(api: Api, clock: Clock) -> None:
    clock.set(T0)
    cid = api.world.counters[2]
    url = f"/api/v1/counters/{cid}/rating"
    add_tablet(api, 2, clock)
    add_tablet(api, 1, clock)
    r = api.call("POST", url, "tablet2", json={"score": "satisfied"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "nothing_to_rate"
    first = finished(api)
    clock.advance(minutes=1)
    second = finished(api)
    clock.advance(minutes=3)
    # A lobby kiosk and another counter's tablet may not rate this counter's visits.
    for role in ("display", "kiosk", "tablet1", "other_kiosk", "other_clerk", "clerk_c1"):
        assert api.call("POST", url, role, json={"score": "satisfied"}).status_code == 403
    assert api.call("POST", url, json={"score": "satisfied"}).status_code == 401
    r = api.call("POST", url, "tablet2", json={"score": "very_satisfied"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["number"] == second["number"] and r.get_json()["source"] == "tablet"
    assert api.call("POST", url, "clerk", json={"score": "satisfied"}).status_code == 409
    # The first visit can still be rated from its own tracking page.
    assert rate(api, first["token"]).status_code == 201
    clock.advance(minutes=11)
    third_rating = api.call("POST", url, "clerk", json={"score": "satisfied"})
    assert third_rating.get_json()["error"]["code"] == "nothing_to_rate"
    with api.world.db.read() as s:
        assert sorted(r.source for r in s.scalars(select(Rating))) == ["tablet", "track"]
