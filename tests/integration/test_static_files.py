"""Static files as the app serves them (server/web/static_files.py): content-hashed addresses
cached for good, others revalidated, bodies compressed once (brotli, else gzip) with their own
ETag, Workbox from node_modules behind the stations' service worker, nothing from a CDN."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path
from typing import Any

import brotli
import pytest
from flask import url_for

from server.web.static_files import IMMUTABLE


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "motcua.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def hashed(app: Any, endpoint: str, **values: str) -> str:
    with app.test_request_context():
        address: str = url_for(endpoint, **values)
    return address


def test_hashed_address_is_immutable_compressed_and_revalidated(app: Any) -> None:
    client = app.test_client()
    address = hashed(app, "static", filename="js/realtime.js")
    assert re.fullmatch(r"/static/js/realtime\.js\?v=[0-9a-f]{12}", address)
    raw = (Path(app.static_folder) / "js" / "realtime.js").read_bytes()

    r = client.get(address, headers={"Accept-Encoding": "gzip, br"})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == IMMUTABLE
    assert r.headers["Content-Encoding"] == "br" and "Accept-Encoding" in r.headers["Vary"]
    assert brotli.decompress(r.data) == raw and len(r.data) < len(raw) / 2
    assert "Accept-Ranges" not in r.headers
    again = client.get(address, headers={"Accept-Encoding": "gzip, br",
                                          "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == IMMUTABLE

    g = client.get(address, headers={"Accept-Encoding": "gzip"})
    assert g.headers["Content-Encoding"] == "gzip" and gzip.decompress(g.data) == raw
    assert g.headers["ETag"] != r.headers["ETag"]  # one validator per body
    plain = client.get(address, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and plain.data == raw


def test_address_without_hash_is_revalidated_and_stations_get_hashes(app: Any) -> None:
    client = app.test_client()
    r = client.get("/static/js/motcua.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-cache"
    stale = client.get("/static/js/motcua.js?v=000000000000")  # an old page's address
    assert stale.headers["Cache-Control"] == "no-cache"
    assert re.search(r"\?v=[0-9a-f]{12}$", hashed(app, "display.static", filename="display.js"))
    assert re.search(r"\?v=[0-9a-f]{12}$", hashed(app, "vendor", name="socket.io.min.js"))


def test_service_worker_and_workbox_come_from_this_server(app: Any) -> None:
    client = app.test_client()
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and sw.mimetype == "text/javascript"
    assert sw.headers["Cache-Control"] == "no-cache"
    text = sw.get_data(as_text=True)
    assert "googleapis" not in text and "cdn" not in text.lower().replace("never its cdn", "")
    files = re.findall(r'"(/static/vendor/workbox/[^"]+)"', text)
    assert len(files) == 5
    for address in files:
        r = client.get(address)
        assert r.status_code == 200 and r.headers["Cache-Control"] == IMMUTABLE, address
    assert client.get("/static/vendor/workbox/evil.js").status_code == 404
    assert client.get("/static/vendor/../package.json").status_code == 404


def test_the_socket_server_pings_as_configured(app: Any) -> None:
    settings = app.extensions["motcua"].settings
    eio = app.extensions["motcua_hub"].socketio.server.eio
    assert eio.ping_interval == settings.socketio_ping_interval == 2.0
    assert eio.ping_timeout == settings.socketio_ping_timeout == 2.5
