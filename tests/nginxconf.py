"""The shipped nginx site (deploy/nginx/motcua.conf), rendered for tests, and nginx processes.

``for_check`` keeps the file whole and only points the TLS placeholders at a test certificate
(for ``nginx -t``). ``for_loopback`` makes the site a test can run without root or a
certificate: the HTTPS server listens on a free loopback port in plain HTTP, the redirecting
port-80 server is left out, the upstream lists the test's nodes and the static roots point at
this checkout. Every location, the upgrade headers and the affinity directive stay as shipped;
each substitution must match, so a change to the shipped file that the rendering no longer
understands fails the tests instead of testing something else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "nginx" / "motcua.conf"
APP_PATH = "/opt/motcua/app"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def _sub(pattern: str, repl: str, text: str, count: int, flags: int = 0) -> str:
    new, n = re.subn(pattern, repl, text, flags=flags)
    if n != count:
        raise AssertionError(f"shipped nginx config: {pattern!r} matched {n} times, not {count}")
    return new


def for_check(cert: Path, key: Path) -> str:
    text = SHIPPED.read_text()
    text = _sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text, 1)
    return _sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text, 1)


def for_loopback(port: int, nodes: list[int]) -> str:
    text = SHIPPED.read_text()
    # Leave out the port-80 server (the first server block: redirect only).
    text = _sub(r"\nserver \{\n    listen 80;.*?\n\}\n", "\n", text, 1, re.S)
    text = _sub(r"    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{port};\n", text, 1)
    text = _sub(r"    listen \[::\]:443 ssl http2;\n", "", text, 1)
    text = _sub(r"    ssl_\w+\s+[^\n]*;\n", "", text, 5)
    text = _sub(r'    add_header Strict-Transport-Security[^\n]*\n', "", text, 1)
    servers = "".join(
        f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in nodes
    )
    text = _sub(r"(    server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, text, 1)
    return _sub(re.escape(APP_PATH), str(ROOT), text, 4)


def main_conf(site: Path, workdir: Path) -> str:
    """A whole nginx.conf around a site file, everything in ``workdir``."""
    return f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {site};
}}
"""


def write_conf(workdir: Path, site_text: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    site = workdir / "motcua.conf"
    site.write_text(site_text)
    conf = workdir / "nginx.conf"
    conf.write_text(main_conf(site, workdir))
    return conf


def check(conf: Path) -> subprocess.CompletedProcess[str]:
    binary = nginx_binary()
    assert binary is not None
    return subprocess.run(
        [binary, "-t", "-c", str(conf), "-p", str(conf.parent)],
        capture_output=True, text=True, timeout=30, check=False,
    )


class NginxProcess:
    def __init__(self, conf: Path, port: int) -> None:
        self.conf, self.port = conf, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxProcess:
        import socket

        binary = nginx_binary()
        assert binary is not None
        log = open(self.conf.parent / "nginx.out", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf), "-p", str(self.conf.parent)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {self.errors()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"nginx did not listen: {self.errors()}")

    def errors(self) -> str:
        out = ""
        for name in ("nginx.out", "error.log"):
            p = self.conf.parent / name
            if p.exists():
                out += p.read_text(errors="replace")[-2000:]
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
