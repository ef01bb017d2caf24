"""The booking page's proof of work (server/static/book/pow.js) in Chromium: it solves the
challenges the python ALTCHA library makes (v1, v2 with iterated SHA-256, v2 with PBKDF2), and
the library verifies what it found; its SHA-256 is the standard one."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import altcha
import pytest

SCRIPT = (Path(__file__).resolve().parents[2] / "server/static/book/pow.js").read_text()
ORIGIN = "http://motcua.test"
KEY = "test-hmac-key"


@pytest.fixture
def pow_page(page: Any) -> Any:
    # A page of its own origin; https, since PBKDF2 needs Web Crypto, which Chromium gives
    # secure contexts only (SHA-256 is computed by the script itself, on any page).
    page.route("https://motcua.test/**", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body="<!doctype html><title>pow</title><script>" + SCRIPT + "</script>"))
    page.goto("https://motcua.test/pow")
    return page


def solve(page: Any, challenge: dict[str, Any]) -> str:
    return page.evaluate("(c) => MotcuaPow.solve(c)", challenge)


def test_sha256_matches_hashlib(pow_page: Any) -> None:
    for text in ("", "abc", "a" * 55, "a" * 56, "a" * 64, "Quý khách 2026", "x" * 1000):
        got = pow_page.evaluate("(s) => MotcuaPow.sha256Hex(s)", text)
        assert got == hashlib.sha256(text.encode()).hexdigest(), text


def test_solves_a_v1_challenge_the_library_verifies(pow_page: Any) -> None:
    ch = altcha.create_challenge_v1(hmac_key=KEY, max_number=20000)
    payload = solve(pow_page, ch.to_dict())
    assert altcha.verify_solution_v1(payload, KEY, check_expires=False)[0] is True
    # A solution of another challenge is refused by the library: the page sends what it found.
    other = altcha.create_challenge_v1(hmac_key=KEY, max_number=20000)
    forged = json.loads(base64.b64decode(payload))
    forged["challenge"] = other.challenge
    bad = base64.b64encode(json.dumps(forged).encode()).decode()
    assert altcha.verify_solution_v1(bad, KEY, check_expires=False)[0] is False


@pytest.mark.parametrize("algorithm,cost", [("SHA-256", 1), ("SHA-256", 3), ("PBKDF2/SHA-256", 50)])
def test_solves_a_v2_challenge_the_library_verifies(pow_page: Any, algorithm: str,
                                                     cost: int) -> None:
    ch = altcha.create_challenge(algorithm, cost, hmac_secret=KEY)
    payload = solve(pow_page, ch.to_dict())
    result = altcha.verify_solution(payload, KEY)
    assert result.verified, (result.error, result.invalid_solution, result.invalid_signature)


def test_an_unknown_challenge_is_refused(pow_page: Any) -> None:
    err = pow_page.evaluate("(c) => MotcuaPow.solve(c).then(() => 'solved', e => e.message)",
                            {"something": "else"})
    assert err == "unknown challenge"
