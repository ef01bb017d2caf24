"""The shared page helpers (server/static/js/motcua.js) on their own, in Chromium, against a
scripted origin: what api() resolves and rejects with, the headers it sends, the config block,
the device token kept from ?token=."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCRIPT = (Path(__file__).resolve().parents[2] / "server/static/js/motcua.js").read_text()
ORIGIN = "http://motcua.test"


def _open(page: Any, config: dict[str, Any], path: str = "/page") -> list[dict[str, Any]]:
    """Serve a page with a config block and the module; API answers come from ``answers``."""
    seen: list[dict[str, Any]] = []
    answers = {
        "/api/v1/ok": (200, "application/json", json.dumps({"a": 1})),
        "/api/v1/empty": (204, "application/json", ""),
        "/api/v1/busy": (409, "application/json", json.dumps(
            {"error": {"code": "counter_busy", "message": "Quầy 3 đang phục vụ"}})),
        "/api/v1/both": (422, "application/json", json.dumps(
            {"error": {"code": "validation_error", "message": {"vi": "Sai", "en": "Wrong"},
                       "fields": {"name": "required"}}})),
        "/api/v1/proxy": (502, "text/html", "<h1>Bad gateway</h1>"),
    }
    html = (
        "<!doctype html><html lang=vi><title>t</title>"
        f'<script type="application/json" id="motcua-config">{json.dumps(config)}</script>'
        '<script src="/static/js/motcua.js"></script>'
    )

    def handle(route: Any) -> None:
        req = route.request
        p = req.url[len(ORIGIN):].split("?")[0]
        if p == "/api/v1/down":
            route.abort()
            return
        if p == "/static/js/motcua.js":
            route.fulfill(status=200, content_type="application/javascript", body=SCRIPT)
            return
        if p.startswith("/api/"):
            seen.append({"method": req.method, "path": p, "headers": req.headers,
                         "body": req.post_data})
            status, ctype, body = answers[p]
            route.fulfill(status=status, content_type=ctype, body=body)
            return
        route.fulfill(status=200, content_type="text/html", body=html)

    page.route(f"{ORIGIN}/**", handle)
    page.goto(ORIGIN + path)
    return seen


CALL = """([method, path, body, opts]) => Motcua.api(method, path, body, opts).then(
  (data) => ({ok: true, data}),
  (e) => ({ok: false, status: e.status, code: e.code, message: e.message, fields: e.fields,
           isError: e instanceof Error}))"""


@pytest.mark.slow
def test_api_resolves_and_rejects_with_one_shape(page: Any) -> None:
    seen = _open(page, {"lang": "en", "csrf": "c-1"})
    assert page.evaluate(CALL, ["GET", "/api/v1/ok", None, None]) == {"ok": True, "data": {"a": 1}}
    assert page.evaluate(CALL, ["POST", "/api/v1/empty", {"x": 1}, {"key": "k-9"}]) == {
        "ok": True, "data": None}
    busy = page.evaluate(CALL, ["POST", "/api/v1/busy", {}, None])
    assert busy == {"ok": False, "status": 409, "code": "counter_busy",
                    "message": "Quầy 3 đang phục vụ", "fields": None, "isError": True}
    both = page.evaluate(CALL, ["PUT", "/api/v1/both", {}, None])
    assert both["message"] == "Wrong" and both["fields"] == {"name": "required"}
    proxy = page.evaluate(CALL, ["GET", "/api/v1/proxy", None, None])
    assert (proxy["status"], proxy["code"], proxy["message"]) == (502, "http_502", "")
    down = page.evaluate(CALL, ["GET", "/api/v1/down", None, None])
    assert (down["status"], down["code"]) == (0, "network")

    get, post = seen[0], seen[1]
    assert get["headers"]["accept-language"] == "en"
    assert "x-csrf-token" not in get["headers"] and "authorization" not in get["headers"]
    assert post["headers"]["x-csrf-token"] == "c-1"
    assert post["headers"]["idempotency-key"] == "k-9"
    assert post["headers"]["content-type"] == "application/json"
    assert json.loads(post["body"]) == {"x": 1}


@pytest.mark.slow
def test_a_device_token_is_a_bearer_and_is_kept(page: Any) -> None:
    seen = _open(page, {"lang": "vi"}, "/kiosk?lang=en&token=dev_abc")
    assert page.evaluate("Motcua.deviceToken('kiosk')") == "dev_abc"
    assert page.evaluate("location.search") == "?lang=en"  # out of the address bar
    assert page.evaluate("localStorage.getItem('motcua.kiosk.token')") == "dev_abc"
    assert page.evaluate("Motcua.deviceToken('kiosk')") == "dev_abc"  # kept for a reboot
    page.evaluate("Motcua.setup({token: Motcua.deviceToken('kiosk')})")
    page.evaluate(CALL, ["POST", "/api/v1/ok", {}, None])
    assert seen[-1]["headers"]["authorization"] == "Bearer dev_abc"
    assert "x-csrf-token" not in seen[-1]["headers"]
    assert seen[-1]["headers"]["accept-language"] == "vi"


@pytest.mark.slow
def test_helpers(page: Any) -> None:
    _open(page, {"lang": "en", "t": {"hi": "Hello {name}"}})
    assert page.evaluate("Motcua.config().t.hi") == "Hello {name}"
    assert page.evaluate("Motcua.fmt('Quầy {n}: {x}', {n: 3})") == "Quầy 3: {x}"
    assert page.evaluate("Motcua.pick({vi: 'Đất đai', en: 'Land'})") == "Land"
    assert page.evaluate("Motcua.pick({vi: 'Đất đai'}, 'en')") == "Đất đai"
    assert page.evaluate(
        "Motcua.localTime('2025-05-18T02:30:00Z', {timeZone: 'Asia/Ho_Chi_Minh'})") == "09:30"
    assert page.evaluate("Motcua.localDay('2025-05-18T20:00:00Z', 'Asia/Ho_Chi_Minh')") == \
        "2025-05-19"
    assert page.evaluate("Motcua.el('li', 'row', 0).outerHTML") == '<li class="row">0</li>'
    assert page.evaluate(
        "Motcua.el('tr', {'data-code': 'A', text: 'x'}).outerHTML") == '<tr data-code="A">x</tr>'
