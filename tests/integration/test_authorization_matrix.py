"""The authorization matrix, generated from the OpenAPI document: every operation it lists is
called by every kind of caller with a minimal valid request, and the answer must match what the
operation declares (``security`` and ``x-roles``). A new endpoint is covered without a new line
here; one whose path parameter, required query parameter or required body has no known value
fails loudly until one is given below."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from server.features import procedures, seed
from server.models import ApiToken, Device, Site
from tests.conftest import Api, Clock, World

VN = dt.timezone(dt.timedelta(hours=7))
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=VN).astimezone(dt.UTC)
DAY = "2026-11-23"

# caller -> (token name in the world, role, the caller's site is HT)
CALLERS: dict[str, tuple[str | None, str | None, bool]] = {
    "none": (None, None, True),
    "display": ("display", "display", True),
    "kiosk": ("kiosk", "kiosk", True),
    "kiosk_of_other_site": ("other_kiosk", "kiosk", False),
    "clerk_at_counter": ("clerk_c1", "clerk", True),
    "clerk_of_other_site": ("other_clerk", "clerk", False),
    "supervisor_of_other_site": ("other_supervisor", "supervisor", False),
    "supervisor": ("supervisor", "supervisor", True),
    "admin": ("admin", "admin", True),
}

# Bodies with required fields: a minimal valid value (by schema name).
BODIES: dict[str, dict[str, Any]] = {
    "IssueTicketIn": {"service": "land"},
    "TransferIn": {"service": "civil"},
    "ProfileIn": {"services": [{"code": "land", "weight": 1.0}]},
    "InterleaveIn": {"priority": 1, "normal": 2},
    "PairingStartIn": {"secret": "s" * 40},
    "PairingCollectIn": {"code": "ABC123", "secret": "s" * 40},
    "CsvIn": {"csv": "day,name_vi,name_en\n"},
    "DossierIntakeIn": {"procedure": "HT-KH",
                        "applicant": {"name": "Nguyễn Văn An", "id_number": "034090001234"}},
    "DossierStepIn": {"status": "transferred"},
    "RatingIn": {"score": "satisfied"},
    "MoveIn": {"from_service": "land", "to_service": "civil", "count": 1},
    "TestIn": {"to": "0912345678"},
    "BookingIn": {"service": "land", "start": f"{DAY}T09:00:00+07:00",
                  "id_number": "034090001234", "phone": "0912345678", "altcha": "x"},
    "ConfirmIn": {"code": "123456"},
    "CheckInIn": {"code": "ABC234"},
}
QUERY = {"from": DAY, "to": DAY, "date": DAY, "day": DAY, "service": "land"}


def _document(api: Api) -> dict[str, Any]:
    r = api.call("GET", "/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()  # type: ignore[no-any-return]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if path != "/api/v1/openapi.json"
    ]


@pytest.fixture
def scene(api: Api, world: World, clock: Clock) -> dict[str, Any]:
    """A ticket being served at counter 1 (by its bound clerk) with a dossier, a tracking
    token, a staff account, a spare device, a holiday, and a supervisor of site OTHER."""
    clock.set(MONDAY_9)
    with world.db.write() as s:
        province = s.scalar(select(Site).where(Site.code == "PROV"))
        other = s.scalar(select(Site).where(Site.code == "OTHER"))
        site = s.scalar(select(Site).where(Site.code == "HT"))
        procedures.seed_catalog(s, province)
        world.tokens["other_supervisor"] = seed.create_token(s, "supervisor", other, clock())
        seed.add_device(s, site, "display", "display-spare", None, clock())
        seed.create_token(s, "clerk", site, clock())  # a spare staff token, for the revoke
        # The site's kiosk is counter 1's rating tablet: only a kiosk bound to a counter rates
        # there, and the matrix calls every operation a kiosk may call.
        for kiosk in s.scalars(select(Device).where(Device.site_id == site.id,
                                                    Device.kind == "kiosk")):
            kiosk.counter_id = world.counters[1]
    with world.db.read() as s:
        device = s.scalar(select(Device.id).where(Device.name == "display-spare"))
        spare_token = s.scalar(select(func.max(ApiToken.id)))
    issued = api.issue("land")
    ticket = api.call_next(1, "clerk_c1")
    assert ticket is not None and ticket["id"] == issued["id"]
    assert api.act(ticket["id"], "start", "clerk_c1").status_code == 200
    r = api.call("POST", f"/api/v1/tickets/{ticket['id']}/dossiers", "clerk_c1",
                 json=BODIES["DossierIntakeIn"])
    assert r.status_code == 201, r.get_json()
    dossier = r.get_json()
    r = api.call("POST", "/api/v1/admin/users", "admin",
                 json={"username": "matrix.user", "full_name": "Người thử", "role": "clerk",
                       "sites": ["HT"]})
    assert r.status_code == 201, r.get_json()
    user = r.get_json()["id"]
    r = api.call("PUT", "/api/v1/admin/sites/HT/holidays", "admin",
                 json={"day": "2026-12-30", "name_vi": "Nghỉ thử", "name_en": "Test day"})
    assert r.status_code == 200, r.get_json()
    return {
        "site": "HT",
        "counter_id": world.counters[1],
        "ticket_id": ticket["id"],
        "dossier": dossier["code"],
        "dossier_token": dossier["token"],
        "token": issued["token"],
        "user_id": user,
        "device_id": device,
        "token_id": spare_token,
        "day": "2026-12-30",
        "name": "file",  # a message channel
        "message_id": "0" * 32,  # a dead letter (none: the retry answers 404 to those allowed)
        "ref": "NOSUCHREF",  # a booking (none: confirm answers 404)
    }


def _path_value(path: str, name: str, scene: dict[str, Any]) -> Any:
    if name == "code":
        return scene["dossier"] if path.startswith("/api/v1/dossiers/") else "land"
    if name == "token" and path.startswith("/api/v1/dossier-track/"):
        return scene["dossier_token"]
    assert name in scene, f"{path}: no value for the path parameter {name!r}; add one"
    return scene[name]


def _body(op: dict[str, Any], doc: dict[str, Any]) -> Any:
    if "requestBody" not in op:
        return None
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    required = doc["components"]["schemas"][name].get("required", [])
    assert not required or name in BODIES, f"no minimal body for {name} (requires {required})"
    return BODIES.get(name, {})


def _request(
    method: str, path: str, op: dict[str, Any], doc: dict[str, Any], scene: dict[str, Any]
) -> tuple[str, Any]:
    url = path
    query = []
    for p in op.get("parameters", []):
        if p["in"] == "path":
            url = url.replace("{" + p["name"] + "}", str(_path_value(path, p["name"], scene)))
        elif p["in"] == "query" and p.get("required"):
            assert p["name"] in QUERY, f"{method} {path}: no value for ?{p['name']}"
            query.append(f"{p['name']}={QUERY[p['name']]}")
    if query:
        url += "?" + "&".join(query)
    return url, _body(op, doc)


def test_every_operation_declares_who_may_call_it(api: Api) -> None:
    for method, path, op in _operations(_document(api)):
        if op["security"]:
            assert op["x-roles"], (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
        else:
            assert op["x-roles"] == [], (method, path)


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_operation_answers_every_caller_as_it_declares(
    api: Api, scene: dict[str, Any], caller: str
) -> None:
    token_name, role, home = CALLERS[caller]
    doc = _document(api)
    seen = []
    for method, path, op in _operations(doc):
        url, body = _request(method, path, op, doc, scene)
        r = api.call(method.upper(), url, token_name, json=body)
        status = r.status_code
        what = (caller, method.upper(), url, status, r.get_data(as_text=True)[:300])
        seen.append(what[:4])
        assert status < 500, what
        assert str(status) in op["responses"], ("undocumented status", *what)
        if not op["security"]:
            assert status not in (401, 403), what
            continue
        if role is None:
            assert status == 401, what
            continue
        scoped = "{" in path  # the operation acts on something of one site
        if role not in op["x-roles"] or (scoped and not home):
            assert status == 403, what
            assert r.get_json()["error"]["code"] == "forbidden", what
        else:
            assert status not in (401, 403), what
    assert len(seen) >= 60, "the document lists every operation"
