"""Rate limits of the public booking API (flask-limiter, as every limit): holds per phone
number and per client address (only holds made count), codes tried per address; a refusal is
the usual 429 ``rate_limited`` body in both languages with ``Retry-After``."""

from __future__ import annotations

import pytest

from server.core.db import Database
from tests.conftest import Api, Clock, World
from tests.integration.test_bookings import TUESDAY, book, booking_world, local

__all__ = ["booking_world"]  # the fixture, used by name

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def app_settings() -> dict[str, object]:
    return {"rate_limits": True, "rate_booking": "3 per hour",
            "rate_booking_phone": "2 per hour", "rate_booking_confirm": "3 per hour"}


def test_holds_are_limited_per_phone_and_per_address(
        api: Api, db: Database, clock: Clock, booking_world: World) -> None:
    ok = [book(api, id_number=f"00200000000{k}", start=local(TUESDAY, f"{9 + k:02d}:00"),
               phone="0912 345 678") for k in range(2)]
    assert [r.status_code for r in ok] == [201, 201]
    r = book(api, id_number="002000000009", start=local(TUESDAY, "13:00"), phone="0912345678")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1 and "Quý khách" in r.get_json()["error"]["message"]
    # a refused hold costs nothing: another number from the same address still books once
    r = book(api, id_number="002000000008", start=local(TUESDAY, "13:00"), phone="0987654321")
    assert r.status_code == 201, r.get_json()
    # the address has used its 3 holds
    r = book(api, id_number="002000000007", start=local(TUESDAY, "14:00"), phone="0977777777")
    assert r.status_code == 429


def test_codes_tried_are_limited_per_address(api: Api, db: Database, clock: Clock,
                                             booking_world: World) -> None:
    ref = book(api).get_json()["booking"]["ref"]
    statuses = [api.call("POST", f"/api/v1/bookings/{ref}/confirm",
                         json={"code": "00000x"}).status_code for _ in range(4)]
    assert statuses[:3] == [422, 422, 422] and statuses[3] == 429
