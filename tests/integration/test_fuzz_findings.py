"""What schemathesis found, kept as plain tests on both databases: a path id past what a column
holds, and text that is not Unicode (a lone surrogate, which JSON can spell), answer 4xx with
the error body instead of a 500."""

from __future__ import annotations

import pytest

from tests.conftest import Api

HUGE = 116491002681642035003260928  # the id schemathesis sent (> 2**63)


@pytest.mark.parametrize("huge", [2**31, 2**63, HUGE])
def test_a_huge_id_in_a_path_is_404(api: Api, huge: int) -> None:
    cases = [
        ("PUT", f"/api/v1/admin/users/{huge}", {"full_name": "Quản trị", "active": True}),
        ("POST", f"/api/v1/admin/users/{huge}/reset-password", None),
        ("POST", f"/api/v1/admin/devices/{huge}/revoke", None),
        ("PUT", f"/api/v1/admin/sites/HT/counters/{huge}", {"number": 9}),
        ("GET", f"/api/v1/tickets/{huge}", None),
    ]
    for method, path, body in cases:
        r = api.call(method, path, "admin", json=body)
        assert r.status_code == 404, (path, r.get_json())
        assert set(r.get_json()["error"]) >= {"code", "message"}


def test_a_lone_surrogate_in_any_text_is_422(api: Api) -> None:
    raw = '{"csv": "day,name_vi,name_en\\n2026-12-30,\\ud800,x\\n"}'
    for method, path, role in [
        ("POST", "/api/v1/admin/sites/HT/holidays/import", "admin"),
        ("POST", "/api/v1/admin/sites/HT/procedures/import", "admin"),
    ]:
        r = api.call(method, path, role, data=raw)
        assert r.status_code == 422, (path, r.get_data(as_text=True))
        assert r.get_json()["error"]["code"] == "validation_error"
    r = api.call("POST", "/api/v1/sites/HT/tickets", "kiosk", data='{"service": "\\udfff"}')
    assert r.status_code == 422, r.get_data(as_text=True)
    r = api.call("PUT", "/api/v1/sites/HT/ticker", "supervisor", data='{"vi": "a\\ud83d"}')
    assert r.status_code == 422, r.get_data(as_text=True)
    # A real astral character (an escaped surrogate pair) is fine.
    r = api.call("PUT", "/api/v1/sites/HT/ticker", "supervisor", data='{"vi": "\\ud83d\\ude00"}')
    assert r.status_code == 200, r.get_data(as_text=True)
