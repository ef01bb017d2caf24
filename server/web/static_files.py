"""Static files for thin links: content-hashed addresses, compressed bodies, the service worker.

Stations in commune centres load their pages over links of a few hundred kbit/s with long
round trips. Three things make that cheap, all done by the app itself (``motcua run`` has no
nginx in front; deploy/nginx/motcua.conf does the same for the files it serves):

- **content-hashed addresses**: ``url_for`` of a static file (the app's, a station's, a vendor
  file) adds ``?v=<digest of the file>``; such an address is answered with
  ``Cache-Control: public, max-age=31536000, immutable``, so a browser never asks again until
  the file changes (and then its address changes). Without ``v`` (pages that write the address
  by hand) the answer says ``no-cache``: the browser revalidates with the ETag (a 304);
- **compressed bodies**: text files are sent with brotli (or gzip) when the browser accepts it,
  compressed once per file version and kept in memory (a few hundred kB for every station);
- **the service worker** ``/sw.js`` (:func:`service_worker`): Workbox (the npm files, served
  under ``/static/vendor/workbox/``, never from a CDN) keeps the stations' pages, their files
  and the display's sound pieces, so a station restarted during a cut comes up from the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
from flask import Flask, Response, request

#: Front-end files installed by npm (package-lock.json), served under /static/vendor/<name>.
VENDOR_FILES: dict[str, Path] = {
    "socket.io.min.js": Path("socket.io-client/dist/socket.io.min.js"),
    "socket.io.min.js.map": Path("socket.io-client/dist/socket.io.min.js.map"),
    # Workbox's production builds: workbox-sw loads the others by the addresses sw.js gives it.
    "workbox/workbox-sw.js": Path("workbox-sw/build/workbox-sw.js"),
    "workbox/workbox-core.prod.js": Path("workbox-core/build/workbox-core.prod.js"),
    "workbox/workbox-routing.prod.js": Path("workbox-routing/build/workbox-routing.prod.js"),
    "workbox/workbox-strategies.prod.js": Path(
        "workbox-strategies/build/workbox-strategies.prod.js"),
    "workbox/workbox-expiration.prod.js": Path(
        "workbox-expiration/build/workbox-expiration.prod.js"),
}
WORKBOX_MODULES = ("workbox-core", "workbox-routing", "workbox-strategies", "workbox-expiration")

COMPRESSIBLE = frozenset({
    "text/css", "text/javascript", "application/javascript", "application/json",
    "image/svg+xml", "text/plain", "text/html", "application/manifest+json",
})
MIN_COMPRESS = 256  # bytes: below this a compressed body is hardly smaller
IMMUTABLE = "public, max-age=31536000, immutable"
SW_SOURCE = Path(__file__).resolve().parent.parent / "static" / "js" / "sw.js"


class StaticFiles:
    """Digests and compressed copies of static files, keyed by (path, size, mtime)."""

    def __init__(self, app: Flask, node_modules: Path) -> None:
        self.app = app
        self.node_modules = node_modules
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}
        self._bodies: dict[tuple[str, str], tuple[tuple[int, int], bytes]] = {}
        self._lock = threading.Lock()

    # --- where a static endpoint's file is ------------------------------------------------
    def path_of(self, endpoint: str | None, values: dict[str, Any]) -> Path | None:
        if endpoint == "vendor":
            rel = VENDOR_FILES.get(str(values.get("name")))
            return self.node_modules / rel if rel else None
        filename = values.get("filename")
        if not filename or not endpoint:
            return None
        if endpoint == "static":
            folder = self.app.static_folder
        elif endpoint.endswith(".static"):
            bp = self.app.blueprints.get(endpoint[: -len(".static")])
            folder = bp.static_folder if bp else None
        else:
            return None
        if not folder:
            return None
        root = Path(folder).resolve()
        path = (root / str(filename)).resolve()
        return path if path.is_relative_to(root) else None

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def digest(self, path: Path) -> str | None:
        """The first 12 hex digits of the file's SHA-256 (None: no such file)."""
        stamp = self._stamp(path)
        if stamp is None:
            return None
        key = str(path)
        known = self._digests.get(key)
        if known and known[0] == stamp:
            return known[1]
        try:
            value = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        except OSError:
            return None
        with self._lock:
            self._digests[key] = (stamp, value)
        return value

    def compressed(self, path: Path, algorithm: str) -> bytes | None:
        stamp = self._stamp(path)
        if stamp is None:
            return None
        key = (str(path), algorithm)
        known = self._bodies.get(key)
        if known and known[0] == stamp:
            return known[1]
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        if algorithm == "br":
            body = brotli.compress(raw, quality=11)
        else:
            body = gzip.compress(raw, compresslevel=9, mtime=0)
        with self._lock:
            self._bodies[key] = (stamp, body)
        return body

    # --- Flask hooks ----------------------------------------------------------------------
    def url_defaults(self, endpoint: str, values: dict[str, Any]) -> None:
        """``url_for`` of a static file gets ``v=<digest>`` (its content-hashed address)."""
        if "v" in values or not (endpoint in ("static", "vendor") or endpoint.endswith(".static")):
            return
        path = self.path_of(endpoint, values)
        digest = self.digest(path) if path else None
        if digest:
            values["v"] = digest

    def after_request(self, resp: Response) -> Response:
        """Cache headers, ETag and a compressed body for a static file's answer."""
        endpoint = request.endpoint
        if request.method not in ("GET", "HEAD") or resp.status_code not in (200, 304):
            return resp
        if not (endpoint in ("static", "vendor") or (endpoint or "").endswith(".static")):
            return resp
        path = self.path_of(endpoint, dict(request.view_args or {}))
        digest = self.digest(path) if path else None
        if path is None or digest is None:
            return resp
        resp.headers["Cache-Control"] = IMMUTABLE if request.args.get("v") == digest else "no-cache"
        algorithm = None
        if resp.mimetype in COMPRESSIBLE and self._stamp(path)[0] >= MIN_COMPRESS:  # type: ignore[index]
            accepted = request.accept_encodings
            algorithm = "br" if accepted["br"] else ("gzip" if accepted["gzip"] else None)
            resp.vary.add("Accept-Encoding")
        etag = f"{digest}.{algorithm}" if algorithm else digest
        if request.if_none_match.contains(etag):
            not_modified = Response(status=304)
            for name in ("Cache-Control", "Vary"):
                if name in resp.headers:
                    not_modified.headers[name] = resp.headers[name]
            not_modified.set_etag(etag)
            resp.close()
            return not_modified
        if resp.status_code == 304:  # the file's own ETag matched: answer with ours
            resp.set_etag(etag)
            return resp
        if algorithm:
            body = self.compressed(path, algorithm)
            if body is not None:
                resp.close()
                resp.direct_passthrough = False
                resp.set_data(body)
                resp.headers["Content-Encoding"] = algorithm
                resp.headers.pop("Accept-Ranges", None)  # ranges of the file, not of this body
        resp.set_etag(etag)
        return resp

    def service_worker(self) -> Response:
        """``/sw.js``: the content-hashed addresses of Workbox's files, then ``static/js/sw.js``.

        A new version of either changes these bytes, which is how a browser learns that the
        service worker was updated (it compares them at most once a day, and at every page
        load here since the answer says ``no-cache``)."""
        files = {"workbox-sw": self._vendor_url("workbox/workbox-sw.js")}
        for module in WORKBOX_MODULES:
            files[module] = self._vendor_url(f"workbox/{module}.prod.js")
        head = "self.motcuaWorker = " + json.dumps({"files": files}) + ";\n"
        body = (head + SW_SOURCE.read_text("utf-8")).encode()
        resp = Response(body, mimetype="text/javascript")
        resp.headers["Cache-Control"] = "no-cache"
        resp.set_etag(hashlib.sha256(body).hexdigest()[:16])
        return resp.make_conditional(request)

    def _vendor_url(self, name: str) -> str:
        path = self.node_modules / VENDOR_FILES[name]
        digest = self.digest(path) or "0"
        return f"/static/vendor/{name}?v={digest}"


def init_static(app: Flask, node_modules: Path, send_vendor: Callable[[Path], Any]) -> StaticFiles:
    """Hook the content-hashed addresses and compressed answers into ``app``, add ``/sw.js``
    and ``/static/vendor/<name>`` (``send_vendor(path)`` answers with a file)."""
    files = StaticFiles(app, node_modules)
    app.url_defaults(files.url_defaults)
    app.after_request(files.after_request)

    def vendor(name: str) -> Any:
        """Front-end libraries installed by npm (package-lock.json), never from a CDN."""
        rel = VENDOR_FILES.get(name)
        if rel is None or not os.path.isfile(node_modules / rel):
            return Response("not found", status=404, mimetype="text/plain")
        return send_vendor(node_modules / rel)

    app.add_url_rule("/static/vendor/<path:name>", "vendor", vendor)
    app.add_url_rule("/sw.js", "service_worker", files.service_worker)
    return files
