"""The place a citizen sees on the tracking page is the truth.

The public ``GET /api/v1/track/{token}`` is what the page, its socket snapshot and the printed
ticket show. These tests check it against what the counters then actually do."""

from __future__ import annotations

import base64
import math
from collections import Counter

import pytest

from server.core.auth import new_tracking_token
from tests.conftest import Api


def _ahead(api: Api, token: str) -> int | None:
    r = api.call("GET", f"/api/v1/track/{token}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["ahead"]


def test_place_falls_as_tickets_ahead_are_served_cancelled_and_transferred(api: Api) -> None:
    ahead_of_me = [api.issue("land") for _ in range(4)]
    me = api.issue("land")
    assert _ahead(api, me["token"]) == 4

    called = api.call_next(1)  # served
    assert called is not None and called["id"] == ahead_of_me[0]["id"]
    assert _ahead(api, me["token"]) == 3
    api.act(called["id"], "start")
    api.act(called["id"], "finish")
    assert _ahead(api, me["token"]) == 3  # finishing someone already called changes nothing

    r = api.act(ahead_of_me[1]["id"], "cancel", role="supervisor")
    assert r.status_code == 200, r.get_json()
    assert _ahead(api, me["token"]) == 2

    r = api.call(
        "POST", f"/api/v1/tickets/{ahead_of_me[2]['id']}/transfer", "supervisor",
        json={"service": "civil", "position": "back"},
    )
    assert r.status_code == 200, r.get_json()
    assert _ahead(api, me["token"]) == 1

    behind_me = api.issue("land")  # someone after me never counts
    assert _ahead(api, me["token"]) == 1
    assert _ahead(api, behind_me["token"]) == 2

    api.act(api.call_next(1)["id"], "no-show")
    assert _ahead(api, me["token"]) == 0
    assert api.call_next(1)["id"] == me["id"]


@pytest.mark.parametrize("pattern", ["NNNPNNPP", "PNNNNPNN", "NNNNNNPP"])
def test_priority_tickets_are_counted_where_routing_will_call_them(api: Api, pattern: str) -> None:
    """Each ticket's ``ahead`` at the start equals the number of tickets the counter really
    calls before it, with the site's priority interleave (1 priority : 2 normal)."""
    tickets = [
        api.issue("land", priority="elderly" if kind == "P" else None) for kind in pattern
    ]
    promised = {t["id"]: _ahead(api, t["token"]) for t in tickets}
    order = []
    while (t := api.call_next(1)) is not None:
        order.append(t["id"])
        api.act(t["id"], "start")
        api.act(t["id"], "finish")
    assert sorted(order) == sorted(promised)
    assert {tid: order.index(tid) for tid in order} == promised


def test_tracking_tokens_are_unguessable() -> None:
    tokens = [new_tracking_token() for _ in range(20_000)]
    assert len(set(tokens)) == len(tokens)
    for tok in tokens[:200]:
        raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        assert len(raw) * 8 >= 128
    # The bytes are spread as random bytes are (no fixed or counter-like parts): 320,000
    # bytes over 256 values, about 1,250 each, standard deviation about 35.
    counts = Counter(
        b for tok in tokens for b in base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
    )
    expected = sum(counts.values()) / 256
    assert len(counts) == 256
    assert max(abs(c - expected) for c in counts.values()) < 7 * math.sqrt(expected)


def test_issued_ticket_token_is_the_tracking_token(api: Api) -> None:
    t = api.issue("land")
    raw = base64.urlsafe_b64decode(t["token"] + "=" * (-len(t["token"]) % 4))
    assert len(raw) * 8 >= 128
    assert t["track_url"].endswith("/t/" + t["token"])
