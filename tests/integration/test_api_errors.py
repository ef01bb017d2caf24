"""Bad input on every endpoint of REST API v1: the documented error, and nothing changed.

Every refused request is checked twice: the answer (HTTP status, a JSON body
``{"error": {"code", "message"}}`` with the documented code and a non-empty message) and the
database (a snapshot of every row a request could touch, equal before and after).

Cases sharing a setup are grouped in one test (a loop whose assertion messages name the case)
so that the file stays fast on both databases; the groups themselves are parametrised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from server.core.auth import SYSTEM
from server.core.catalogs import catalogs
from server.core.db import Database
from server.core.errors import STATUS_CODES
from server.features import tickets
from server.models import (
    AuditLog,
    Counter,
    CounterService,
    Device,
    Service,
    ServiceDay,
    Site,
    Ticket,
    TicketEvent,
)
from server.rules.states import TRANSITIONS, Action, Status
from tests.conftest import BASE_URL, Api, Clock, World

API = "/api/v1"
NOON_IN_HANOI = dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.UTC)
TOO_BIG = 2**63  # fits no integer column of either database

# --- the snapshot ---------------------------------------------------------------------------

SNAPSHOT: dict[str, tuple[type, list[Any]]] = {
    "tickets": (Ticket, list(Ticket.__table__.columns)),
    "ticket_events": (TicketEvent, list(TicketEvent.__table__.columns)),
    "audit_log": (AuditLog, list(AuditLog.__table__.columns)),
    "service_days": (ServiceDay, list(ServiceDay.__table__.columns)),
    "counters": (
        Counter,
        [Counter.id, Counter.status, Counter.status_reason, Counter.status_changed_at],
    ),
    "counter_services": (CounterService, list(CounterService.__table__.columns)),
}


def db_state(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a request could change, ordered by primary key, as tuples of values."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with db.read() as s:
        for name, (model, columns) in SNAPSHOT.items():
            pk = list(model.__table__.primary_key.columns)  # type: ignore[attr-defined]
            rows = s.execute(select(*columns).order_by(*pk)).all()
            state[name] = [tuple(row) for row in rows]
    return state


# --- helpers --------------------------------------------------------------------------------


def check_error(resp: Any, status: int, code: str, case: str = "") -> dict[str, str]:
    """The documented error shape: status, JSON ``{"error": {"code", "message"}}``."""
    body = resp.get_json(silent=True)
    assert resp.status_code == status, (case, resp.status_code, body)
    assert resp.mimetype == "application/json", (case, resp.mimetype)
    assert isinstance(body, dict) and set(body) == {"error"}, (case, body)
    err = body["error"]
    assert set(err) == {"code", "message"}, (case, err)
    assert err["code"] == code, (case, err)
    assert STATUS_CODES[code] == status, f"{code} is documented as {STATUS_CODES[code]}"
    assert isinstance(err["message"], str) and err["message"].strip(), (case, err)
    return err


def refused(
    api: Api,
    db: Database,
    method: str,
    path: str,
    role: str | None,
    status: int,
    code: str,
    **kwargs: Any,
) -> dict[str, str]:
    """Make one bad request; assert the error and that the database did not change."""
    case = f"{method} {path} as {role} {kwargs or ''}"
    before = db_state(db)
    resp = api.call(method, path, role, **kwargs)
    err = check_error(resp, status, code, case)
    assert db_state(db) == before, f"{case}: refused with {status} but changed the database"
    return err


@dataclass(frozen=True)
class Ref:
    """A placeholder in a request body, filled with an id of the scene."""

    name: str


def fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, Ref):
        return ids[value.name]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


@pytest.fixture
def scene(db: Database, world: World, clock: Clock) -> dict[str, int]:
    """Tickets in useful states, made in one unit of work before any snapshot is taken.

    parked: A001 parked at counter 1; called: A002 called at counter 1; at2: B001 called at
    counter 2; waiting: A003 waiting. Counter 3 is free and open. Also the counter ids
    c1, c2, c3 and other_counter (counter 1 of site OTHER).
    """
    clock.set(NOON_IN_HANOI)
    now = clock()
    ids = {f"c{n}": cid for n, cid in world.counters.items() if n > 0}
    ids["other_counter"] = world.counters[-1]

    def issue(s: Any, code: str) -> int:
        view, _ = tickets.issue_ticket(s, SYSTEM, "HT", code, None, "vi", None, now, BASE_URL)
        return int(view["id"])

    def call(s: Any, counter: str) -> int:
        return int(tickets.call_next(s, SYSTEM, ids[counter], now, BASE_URL)["id"])

    with db.write() as s:
        ids["parked"] = issue(s, "land")
        assert call(s, "c1") == ids["parked"]
        tickets.ticket_action(s, SYSTEM, ids["parked"], "park", now, BASE_URL)
        ids["called"] = issue(s, "land")
        assert call(s, "c1") == ids["called"]
        ids["at2"] = issue(s, "civil")
        assert call(s, "c2") == ids["at2"]
        ids["waiting"] = issue(s, "land")
    clock.advance(minutes=1)
    return ids


# --- the endpoints --------------------------------------------------------------------------

TICKET_ACTIONS = ["recall", "start", "finish", "no-show", "park", "resume", "cancel", "transfer"]
COUNTER_ACTIONS = ["open", "pause", "close", "call-next"]
GOOD_BODY: dict[str, Any] = {
    "issue": {"service": "land"},
    "pause": {"reason": "họp giao ban"},
    "profile": {"services": [{"code": "land", "weight": 1.0}]},
    "transfer": {"service": "civil"},
}

# (method, path, a body that would be fine): every endpoint that needs a token.
AUTHED_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/sites", None),
    ("GET", "/sites/HT/services", None),
    ("GET", "/sites/HT/counters", None),
    ("GET", "/priorities", None),
    ("POST", "/sites/HT/tickets", GOOD_BODY["issue"]),
    ("GET", "/tickets/{waiting}", None),
    *[("POST", f"/counters/{{c1}}/{a}", GOOD_BODY.get(a)) for a in COUNTER_ACTIONS],
    ("PUT", "/counters/{c1}/profile", GOOD_BODY["profile"]),
    *[("POST", f"/tickets/{{called}}/{a}", GOOD_BODY.get(a)) for a in TICKET_ACTIONS],
]
BODY_ENDPOINTS = [e for e in AUTHED_ENDPOINTS if e[0] != "GET"]


# --- 401 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant", ["missing", "wrong token", "malformed header", "no scheme", "empty bearer"]
)
def test_bad_or_missing_token_is_401_on_every_endpoint(
    api: Api, db: Database, world: World, scene: dict[str, int], variant: str
) -> None:
    good = world.tokens["supervisor"]  # a valid token, sent the wrong way in some variants
    headers = {
        "missing": {},
        "wrong token": {"Authorization": "Bearer dev_this-token-does-not-exist"},
        "malformed header": {"Authorization": f"Token {good}"},
        "no scheme": {"Authorization": good},
        "empty bearer": {"Authorization": "Bearer "},
    }[variant]
    for method, path, body in AUTHED_ENDPOINTS:
        refused(
            api,
            db,
            method,
            API + path.format(**scene),
            None,
            401,
            "unauthorized",
            json=body,
            headers=headers,
        )


def test_revoked_device_token_is_401(api: Api, db: Database) -> None:
    with db.write() as s:
        s.execute(update(Device).where(Device.name == "kiosk-1").values(revoked_at=NOON_IN_HANOI))
    refused(
        api,
        db,
        "POST",
        f"{API}/sites/HT/tickets",
        "kiosk",
        401,
        "unauthorized",
        json=GOOD_BODY["issue"],
    )
    refused(api, db, "GET", f"{API}/sites", "kiosk", 401, "unauthorized")


def test_track_is_public_and_unknown_token_is_404(api: Api, db: Database) -> None:
    token = api.issue("land")["token"]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Token xyz"}):
        r = api.call("GET", f"{API}/track/{token}", headers=headers)
        assert r.status_code == 200, (headers, r.get_json())
        refused(api, db, "GET", f"{API}/track/not-a-token", None, 404, "not_found", headers=headers)
    refused(api, db, "GET", f"{API}/track/{token[:-1]}", None, 404, "not_found")
    refused(api, db, "GET", f"{API}/track/{token.upper()}", None, 404, "not_found")
    refused(api, db, "GET", f"{API}/track/{'x' * 65}", None, 404, "not_found")


# --- 403 ------------------------------------------------------------------------------------

# role -> [(method, path, body)]: refusals that depend on more than the caller's role and site
# (which counter a clerk is bound to, a waiting ticket). Role and site against every operation
# are the generated matrix of test_authorization_matrix.py.
FORBIDDEN: dict[str, list[tuple[str, str, Any]]] = {
    "clerk": [
        # Profiles are for supervisors and admins.
        ("PUT", "/counters/{c3}/profile", GOOD_BODY["profile"]),
        # Moving a waiting ticket is rebalancing: supervisors only.
        ("POST", "/tickets/{waiting}/transfer", GOOD_BODY["transfer"]),
        # Counters of another site.
        ("POST", "/tickets/{parked}/resume", {"counter_id": Ref("other_counter")}),
        *[("POST", f"/counters/{{other_counter}}/{a}", GOOD_BODY.get(a)) for a in COUNTER_ACTIONS],
    ],
    # A clerk bound to counter 1 works at counter 1 only.
    "clerk_c1": [
        ("PUT", "/counters/{c1}/profile", GOOD_BODY["profile"]),
        *[("POST", f"/counters/{{c2}}/{a}", GOOD_BODY.get(a)) for a in COUNTER_ACTIONS],
        *[("POST", f"/tickets/{{at2}}/{a}", GOOD_BODY.get(a)) for a in TICKET_ACTIONS],
        ("POST", "/tickets/{parked}/resume", {"counter_id": Ref("c2")}),
        ("POST", "/tickets/{waiting}/transfer", GOOD_BODY["transfer"]),
    ],
    # A supervisor of HT has no say over site OTHER's counters.
    "supervisor": [
        *[("POST", f"/counters/{{other_counter}}/{a}", GOOD_BODY.get(a)) for a in COUNTER_ACTIONS],
        ("PUT", "/counters/{other_counter}/profile", GOOD_BODY["profile"]),
    ],
    # A clerk of OTHER resumes a ticket of HT at OTHER's counter.
    "other_clerk": [
        ("POST", "/tickets/{parked}/resume", {"counter_id": Ref("other_counter")}),
    ],
}


@pytest.mark.parametrize("role", list(FORBIDDEN))
def test_wrong_role_or_scope_is_403(
    api: Api, db: Database, scene: dict[str, int], role: str
) -> None:
    for method, path, body in FORBIDDEN[role]:
        refused(
            api,
            db,
            method,
            API + path.format(**scene),
            role,
            403,
            "forbidden",
            json=fill(body, scene),
        )


@pytest.mark.parametrize("role", ["province_supervisor", "admin"])
def test_resume_at_a_counter_of_another_site_is_refused(
    api: Api, db: Database, scene: dict[str, int], role: str
) -> None:
    """Staff who may operate counters of both sites must still not put an HT ticket on a
    counter of site OTHER: OTHER's clerks cannot act on it (403) and their counter stays
    busy with it."""
    before = db_state(db)
    r = api.call(
        "POST",
        f"{API}/tickets/{scene['parked']}/resume",
        role,
        json={"counter_id": scene["other_counter"]},
    )
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["error"]["code"] == "wrong_counter"
    assert db_state(db) == before


# --- 404 / 405 ------------------------------------------------------------------------------

NOT_FOUND: list[tuple[str | None, str, str, Any]] = [
    ("admin", "GET", "/sites/NOPE/services", None),
    ("admin", "GET", "/sites/NOPE/counters", None),
    ("admin", "POST", "/sites/NOPE/tickets", GOOD_BODY["issue"]),
    ("kiosk", "POST", "/sites/NOPE/tickets", GOOD_BODY["issue"]),
    ("kiosk", "GET", "/sites/ht/services", None),  # codes are case-sensitive
    ("supervisor", "GET", "/tickets/999999", None),
    *[("supervisor", "POST", f"/tickets/999999/{a}", GOOD_BODY.get(a)) for a in TICKET_ACTIONS],
    *[("supervisor", "POST", f"/counters/999999/{a}", GOOD_BODY.get(a)) for a in COUNTER_ACTIONS],
    ("supervisor", "PUT", "/counters/999999/profile", GOOD_BODY["profile"]),
    ("supervisor", "POST", "/tickets/{parked}/resume", {"counter_id": 999999}),
    (None, "GET", "/track/not-a-token", None),
]
ROUTE_NOT_FOUND: list[tuple[str | None, str, str, Any]] = [
    # Ids that are not (non-negative) integers match no route.
    ("supervisor", "GET", "/tickets/abc", None),
    ("supervisor", "POST", "/tickets/abc/start", None),
    ("supervisor", "POST", "/tickets/-1/cancel", None),
    ("supervisor", "POST", "/tickets/1.5/finish", None),
    ("supervisor", "POST", "/tickets/%20/finish", None),
    ("supervisor", "POST", "/counters/abc/open", None),
    ("supervisor", "POST", "/counters/{c1}x/call-next", None),
    ("supervisor", "PUT", "/counters/abc/profile", GOOD_BODY["profile"]),
    ("supervisor", "POST", "/tickets/{called}/teleport", None),
    ("supervisor", "POST", "/tickets/{called}/no_show", None),
    ("supervisor", "GET", "/nope", None),
    (None, "GET", "/nope", None),
    (None, "POST", "/nope", {"service": "land"}),
    (None, "GET", "/track/", None),
    (None, "GET", "/track/a/b", None),
]


@pytest.mark.parametrize(
    ("code", "cases"),
    [("not_found", NOT_FOUND), ("route_not_found", ROUTE_NOT_FOUND)],
    ids=["not_found", "route_not_found"],
)
def test_unknown_ids_and_routes_are_404(
    api: Api, db: Database, scene: dict[str, int], code: str, cases: list
) -> None:
    for role, method, path, body in cases:
        refused(api, db, method, API + path.format(**scene), role, 404, code, json=body)


def test_out_of_range_ids_are_404(api: Api, db: Database, scene: dict[str, int]) -> None:
    """Flask's int converter accepts any size; the database does not (PostgreSQL: above
    2**31-1, SQLite: above 2**63-1). Expected 404 not_found, like any unknown id; 422 for an
    out-of-range id in a request body."""
    cases = [
        ("GET", f"/tickets/{TOO_BIG}", None),
        ("POST", f"/tickets/{TOO_BIG}/start", None),
        ("POST", f"/counters/{TOO_BIG}/open", None),
        ("POST", f"/counters/{TOO_BIG}/call-next", None),
        ("PUT", f"/counters/{TOO_BIG}/profile", GOOD_BODY["profile"]),
        ("POST", f"/tickets/{scene['parked']}/resume", {"counter_id": TOO_BIG}),
    ]
    before = db_state(db)
    got = {
        path: api.call(method, API + path, "supervisor", json=body).status_code
        for method, path, body in cases
    }
    expected = {path: 404 for _, path, _ in cases}
    expected[f"/tickets/{scene['parked']}/resume"] = 422  # an id in the body: invalid data
    assert got == expected
    assert db_state(db) == before


def test_wrong_method_is_405(api: Api, db: Database, scene: dict[str, int]) -> None:
    for method, path in [
        ("DELETE", "/sites"),
        ("POST", "/sites"),
        ("PUT", "/priorities"),
        ("DELETE", "/sites/HT/tickets"),
        ("GET", "/sites/HT/tickets"),
        ("POST", "/tickets/{waiting}"),
        ("DELETE", "/tickets/{waiting}"),
        ("GET", "/tickets/{waiting}/start"),
        ("PUT", "/tickets/{parked}/resume"),
        ("GET", "/counters/{c1}/call-next"),
        ("POST", "/counters/{c1}/profile"),
        ("PATCH", "/counters/{c1}/profile"),
        ("POST", "/track/abc"),
        ("POST", "/openapi.json"),
    ]:
        refused(api, db, method, API + path.format(**scene), "admin", 405, "method_not_allowed")


# --- 400 / 422: the request ------------------------------------------------------------------

# Raw bodies that every endpoint with a body refuses, whatever its schema.
RAW_BODIES: list[tuple[str | bytes, int, str]] = [
    ("{", 400, "bad_json"),
    ('{"service": "land",}', 400, "bad_json"),
    ("{'service': 'land'}", 400, "bad_json"),
    (b"\xff\xfe{", 400, "bad_json"),
    ("[]", 422, "validation_error"),
    ('[{"service": "land"}]', 422, "validation_error"),
    ('"land"', 422, "validation_error"),
    ("null", 422, "validation_error"),
    ("42", 422, "validation_error"),
]


@pytest.mark.parametrize(
    ("raw", "status", "code"), RAW_BODIES, ids=[repr(r)[:24] for r, _, _ in RAW_BODIES]
)
def test_malformed_bodies_on_every_endpoint(
    api: Api, db: Database, scene: dict[str, int], raw: str | bytes, status: int, code: str
) -> None:
    for method, path, _ in BODY_ENDPOINTS:
        refused(api, db, method, API + path.format(**scene), "supervisor", status, code, data=raw)


def test_unknown_fields_are_422_on_every_endpoint(
    api: Api, db: Database, scene: dict[str, int]
) -> None:
    for method, path, body in BODY_ENDPOINTS:
        err = refused(
            api,
            db,
            method,
            API + path.format(**scene) + "?lang=en",
            "supervisor",
            422,
            "validation_error",
            json={**(body or {}), "surprise": 1},
        )
        assert "surprise: unknown field" in err["message"], (method, path, err)


# group -> (role, method, path, [(body, status, code)])
BAD_FIELDS: dict[str, tuple[str, str, str, list[tuple[Any, int, str]]]] = {
    "issue": (
        "kiosk",
        "POST",
        "/sites/HT/tickets",
        [
            ({}, 422, "validation_error"),
            ({"priority": "elderly"}, 422, "validation_error"),
            *[
                ({"service": v}, 422, "validation_error")
                for v in (5, None, "", "x" * 33, ["land"], True)
            ],
            *[
                ({"service": "land", "priority": v}, 422, "validation_error")
                for v in (3, True, ["elderly"], "x" * 33)
            ],
            *[
                ({"service": "land", "lang": v}, 422, "validation_error")
                for v in ("fr", None, "EN", 1)
            ],
            ({"service": "nope"}, 422, "unknown_service"),
            ({"service": "Land"}, 422, "unknown_service"),
            ({"service": "land", "priority": "vip"}, 422, "unknown_priority"),
            ({"service": "land", "priority": ""}, 422, "unknown_priority"),
        ],
    ),
    "pause": (
        "clerk",
        "POST",
        "/counters/{c3}/pause",
        [
            ({"reason": 5}, 422, "validation_error"),
            ({"reason": "x" * 201}, 422, "validation_error"),
            ({"reason": ["lunch"]}, 422, "validation_error"),
            ({"why": "lunch"}, 422, "validation_error"),
        ],
    ),
    "profile": (
        "supervisor",
        "PUT",
        "/counters/{c3}/profile",
        [
            ({}, 422, "validation_error"),
            *[
                ({"services": v}, 422, "validation_error")
                for v in ("land", {"code": "land"}, ["land"], None, [None])
            ],
            ({"services": [{"weight": 1}]}, 422, "validation_error"),
            ({"services": [{"code": 5}]}, 422, "validation_error"),
            ({"services": [{"code": ""}]}, 422, "validation_error"),
            *[
                ({"services": [{"code": "land", "weight": w}]}, 422, "validation_error")
                for w in ("x", "1", 0, -1, 0.0, -0.5, 100.5, None, True, [1])
            ],
            ({"services": [{"code": "land", "weight": 1, "extra": 1}]}, 422, "validation_error"),
            (
                {"services": [{"code": "land"}, {"code": "land", "weight": 2}]},
                422,
                "validation_error",
            ),
            ({"services": [{"code": "land"}] * 51}, 422, "validation_error"),
            ({"services": [{"code": "land"}, {"code": "nope"}]}, 422, "unknown_service"),
        ],
    ),
    "resume": (
        "clerk",
        "POST",
        "/tickets/{parked}/resume",
        [
            *[({"counter_id": v}, 422, "validation_error") for v in ("1", 0, -1, 1.5, True, [1])],
            ({"counter": 1}, 422, "validation_error"),
        ],
    ),
    "transfer": (
        "clerk",
        "POST",
        "/tickets/{called}/transfer",
        [
            ({}, 422, "validation_error"),
            ({"position": "front"}, 422, "validation_error"),
            *[({"service": v}, 422, "validation_error") for v in (5, "", None, "x" * 33)],
            *[
                ({"service": "civil", "position": p}, 422, "validation_error")
                for p in ("middle", "FRONT", 1, None)
            ],
            ({"service": "nope"}, 422, "unknown_service"),
            ({"service": "nope", "position": "front"}, 422, "unknown_service"),
        ],
    ),
}


@pytest.mark.parametrize("group", list(BAD_FIELDS))
def test_bad_fields(api: Api, db: Database, scene: dict[str, int], group: str) -> None:
    role, method, path, cases = BAD_FIELDS[group]
    for body, status, code in cases:
        refused(api, db, method, API + path.format(**scene), role, status, code, json=body)


@pytest.mark.parametrize(
    "key",
    ["k" * 101, "has space", "", "tab\there", "é-latin1"],
    ids=["101 chars", "space", "empty", "tab", "non-ascii"],
)
def test_bad_idempotency_key_is_400(api: Api, db: Database, key: str) -> None:
    err = refused(
        api,
        db,
        "POST",
        f"{API}/sites/HT/tickets?lang=en",
        "kiosk",
        400,
        "bad_header",
        json=GOOD_BODY["issue"],
        headers={"Idempotency-Key": key},
    )
    assert err["message"] == "The Idempotency-Key header is invalid."


def test_longest_idempotency_key_is_accepted(api: Api) -> None:
    key = "k" * 100
    assert api.issue("land", key=key)["id"] == api.issue("land", key=key)["id"]


# --- 409 ------------------------------------------------------------------------------------

ACTION_PATH = {
    Action.RECALL: "recall",
    Action.START: "start",
    Action.FINISH: "finish",
    Action.NO_SHOW: "no-show",
    Action.PARK: "park",
    Action.RESUME: "resume",
    Action.CANCEL: "cancel",
    Action.TRANSFER: "transfer",
}
STEPS_TO: dict[Status, list[str]] = {
    Status.WAITING: [],
    Status.CALLED: ["call"],
    Status.SERVING: ["call", "start"],
    Status.PARKED: ["call", "park"],
    Status.DONE: ["call", "start", "finish"],
    Status.NO_SHOW: ["call", "no-show"],
    Status.CANCELLED: ["cancel"],
    Status.TRANSFERRED: ["call", "transfer"],
    Status.UNSERVED_AT_CLOSE: ["close-day"],
}


def _to_state(api: Api, state: Status) -> int:
    """A land ticket brought to ``state`` through the API (supervisor, counter 1)."""
    t = api.issue("land")["id"]
    for step in STEPS_TO[state]:
        if step == "call":
            assert api.call_next(1, "supervisor")["id"] == t
        elif step == "close-day":
            r = api.call("POST", f"{API}/sites/HT/close-day", "supervisor")
            assert r.status_code == 200, r.get_json()
        else:
            r = api.act(t, step, "supervisor", json=GOOD_BODY.get(step))
            assert r.status_code == 200, (step, r.get_json())
    r = api.call("GET", f"{API}/tickets/{t}", "supervisor")
    assert r.get_json()["status"] == state
    return t


def test_the_matrix_covers_the_state_machine() -> None:
    # POST /counters/{id}/call-next and POST /sites/{site}/close-day
    assert set(Action) - set(ACTION_PATH) == {Action.CALL, Action.CLOSE_DAY}
    assert {a for _, a in TRANSITIONS} <= set(Action)
    assert set(STEPS_TO) == set(Status)


@pytest.mark.parametrize("state", list(Status), ids=str)
def test_illegal_transitions_are_409(
    api: Api, db: Database, world: World, clock: Clock, state: Status
) -> None:
    clock.set(NOON_IN_HANOI)
    # The state machine's own table: a site where the call does not start the service (with
    # the setting on, finish right after a call is allowed: test_call_starts_service.py).
    with db.write() as s:
        s.execute(update(Site).where(Site.code == world.site).values(call_starts_service=False))
    ticket = _to_state(api, state)
    illegal = [a for a in ACTION_PATH if (state, a) not in TRANSITIONS]
    bodies = {
        Action.RESUME: {"counter_id": world.counters[3]},
        Action.TRANSFER: GOOD_BODY["transfer"],
    }
    for action in illegal:
        err = refused(
            api,
            db,
            "POST",
            f"{API}/tickets/{ticket}/{ACTION_PATH[action]}?lang=en",
            "supervisor",
            409,
            "illegal_transition",
            json=bodies.get(action),
        )
        assert err["message"] == f"Cannot {ACTION_PATH[action]} a ticket that is {state}.", err
    # A final state refuses everything; the others refuse exactly what TRANSITIONS lacks.
    if state in (
        Status.DONE,
        Status.NO_SHOW,
        Status.CANCELLED,
        Status.TRANSFERRED,
        Status.UNSERVED_AT_CLOSE,
    ):
        assert illegal == list(ACTION_PATH)


def test_illegal_transition_message_in_vietnamese(api: Api, db: Database) -> None:
    t = api.issue("land")["id"]
    err = refused(api, db, "POST", f"{API}/tickets/{t}/start", "clerk", 409, "illegal_transition")
    assert err["message"] == 'Không thể bắt đầu phục vụ vé đang ở trạng thái "đang chờ".'


def test_call_next_on_a_busy_counter_is_409(api: Api, db: Database, scene: dict[str, int]) -> None:
    c1 = scene["c1"]
    err = refused(
        api, db, "POST", f"{API}/counters/{c1}/call-next?lang=en", "clerk", 409, "counter_busy"
    )
    assert err["message"] == "Counter 1 is serving A002; finish or transfer it first."
    assert api.act(scene["called"], "start").status_code == 200
    refused(api, db, "POST", f"{API}/counters/{c1}/call-next", "clerk_c1", 409, "counter_busy")


def test_closing_a_counter_with_a_ticket_is_409(
    api: Api, db: Database, scene: dict[str, int]
) -> None:
    url = f"{API}/counters/{scene['c2']}/close"
    refused(api, db, "POST", url, "supervisor", 409, "counter_busy")  # B001 called there
    assert api.act(scene["at2"], "start").status_code == 200
    refused(api, db, "POST", url, "supervisor", 409, "counter_busy")  # B001 served there


@pytest.mark.parametrize("status", ["pause", "close"])
def test_call_next_or_resume_at_a_counter_not_open_is_409(
    api: Api, db: Database, scene: dict[str, int], status: str
) -> None:
    c3 = scene["c3"]
    assert api.call("POST", f"{API}/counters/{c3}/{status}", "clerk").status_code == 200
    refused(api, db, "POST", f"{API}/counters/{c3}/call-next", "clerk", 409, "counter_not_open")
    refused(
        api,
        db,
        "POST",
        f"{API}/tickets/{scene['parked']}/resume",
        "clerk",
        409,
        "counter_not_open",
        json={"counter_id": c3},
    )


def test_resume_at_a_busy_counter_is_409(api: Api, db: Database, scene: dict[str, int]) -> None:
    url = f"{API}/tickets/{scene['parked']}/resume"
    refused(api, db, "POST", url, "clerk_c1", 409, "counter_busy")  # own counter: A002 there
    refused(api, db, "POST", url, "clerk", 409, "counter_busy")  # default: the parking counter
    refused(
        api, db, "POST", url, "supervisor", 409, "counter_busy", json={"counter_id": scene["c2"]}
    )


def test_transfer_to_the_same_service_is_409(api: Api, db: Database, scene: dict[str, int]) -> None:
    for ticket in ("waiting", "called", "parked"):
        refused(
            api,
            db,
            "POST",
            f"{API}/tickets/{scene[ticket]}/transfer",
            "supervisor",
            409,
            "same_service",
            json={"service": "land", "position": "front"},
        )


def test_idempotency_key_reused_for_another_request_is_409(api: Api, db: Database) -> None:
    api.issue("land", key="kiosk-1-0001")
    url = f"{API}/sites/HT/tickets"
    headers = {"Idempotency-Key": "kiosk-1-0001"}
    for body in ({"service": "civil"}, {"service": "land", "priority": "elderly"}):
        refused(
            api, db, "POST", url, "kiosk", 409, "idempotency_conflict", json=body, headers=headers
        )


def test_issuing_for_an_inactive_service_is_409(api: Api, db: Database) -> None:
    with db.write() as s:
        s.execute(update(Service).where(Service.code == "business").values(active=False))
    refused(
        api,
        db,
        "POST",
        f"{API}/sites/HT/tickets",
        "kiosk",
        409,
        "service_inactive",
        json={"service": "business"},
    )


# --- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "headers", "lang"),
    [
        ("", {}, "vi"),
        ("?lang=vi", {"Accept-Language": "en"}, "vi"),
        ("?lang=en", {}, "en"),
        ("", {"Accept-Language": "en"}, "en"),
        ("", {"Accept-Language": "en-US,en;q=0.9"}, "en"),
        ("", {"Accept-Language": "fr"}, "vi"),
        ("?lang=fr", {}, "vi"),
    ],
    ids=[
        "default",
        "query wins",
        "query",
        "header",
        "header region",
        "header other",
        "query other",
    ],
)
def test_messages_are_vietnamese_unless_english_is_asked(
    api: Api, db: Database, query: str, headers: dict[str, str], lang: str
) -> None:
    err = refused(api, db, "GET", f"{API}/sites{query}", None, 401, "unauthorized", headers=headers)
    assert err["message"] == catalogs.text("errors", "unauthorized", lang)
    err = refused(
        api,
        db,
        "GET",
        f"{API}/sites/NOPE/services{query}",
        "admin",
        404,
        "not_found",
        headers=headers,
    )
    assert err["message"] == {"vi": "Không tìm thấy điểm phục vụ.", "en": "Site not found."}[lang]
    err = refused(
        api, db, "GET", f"{API}/nope{query}", None, 404, "route_not_found", headers=headers
    )
    assert err["message"] == catalogs.text("errors", "route_not_found", lang)


# --- the OpenAPI document -------------------------------------------------------------------

# (method, path) -> the error statuses the tests above prove it returns.
DOCUMENTED: dict[tuple[str, str], set[int]] = {
    ("get", "/api/v1/sites"): {401},
    ("get", "/api/v1/sites/{site}/services"): {401, 403, 404},
    ("get", "/api/v1/sites/{site}/counters"): {401, 403, 404},
    ("get", "/api/v1/priorities"): {401},
    ("post", "/api/v1/sites/{site}/tickets"): {400, 401, 403, 404, 409, 422},
    ("get", "/api/v1/tickets/{ticket_id}"): {401, 403, 404},
    ("post", "/api/v1/counters/{counter_id}/open"): {400, 401, 403, 404, 422},
    ("post", "/api/v1/counters/{counter_id}/pause"): {400, 401, 403, 404, 422},
    ("post", "/api/v1/counters/{counter_id}/close"): {400, 401, 403, 404, 409, 422},
    ("post", "/api/v1/counters/{counter_id}/call-next"): {400, 401, 403, 404, 409, 422},
    ("put", "/api/v1/counters/{counter_id}/profile"): {400, 401, 403, 404, 422},
    **{
        ("post", f"/api/v1/tickets/{{ticket_id}}/{a}"): {400, 401, 403, 404, 409, 422}
        for a in TICKET_ACTIONS
    },
    ("get", "/api/v1/track/{token}"): {404},
}


def test_openapi_documents_every_endpoint_and_its_errors(api: Api) -> None:
    r = api.call("GET", f"{API}/openapi.json")
    assert r.status_code == 200
    paths = r.get_json()["paths"]
    for (method, path), statuses in DOCUMENTED.items():
        assert path in paths, path
        assert method in paths[path], (method, path)
        op = paths[path][method]
        documented = {int(s) for s in op["responses"] if int(s) >= 400}
        assert statuses <= documented, (method, path, sorted(statuses - documented))
        for status in documented:
            schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
        if path == "/api/v1/track/{token}":
            assert op["security"] == [] and "401" not in op["responses"]
        else:
            assert op["security"] == [{"bearer": []}], (method, path)
            assert "401" in op["responses"], (method, path)
    # Every operation with a bearer token documents 401, including ones not listed above.
    for path, ops in paths.items():
        for method, op in ops.items():
            if op["security"]:
                assert "401" in op["responses"], (method, path)


def test_missing_token_is_401_before_a_bad_idempotency_key(api: Api, db: Database) -> None:
    before = db_state(db)
    r = api.call("POST", f"{API}/sites/HT/tickets", None, json={"service": "land"},
                 headers={"Idempotency-Key": "has space"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert db_state(db) == before
