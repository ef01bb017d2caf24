"""Rolling-upgrade drill: an OLD node and a NEW node on one private PostgreSQL, the database
upgraded to the new head while the old node serves, both under load; every error counted.

    .venv/bin/python tests/bench/drill_rolling_upgrade.py [--seconds 60] [--old COMMIT] [--json]

- OLD: the code of ``--old`` (default: the newest ancestor whose migrations are this
  checkout's without the newest ones, and whose app imports), extracted with ``git archive``
  into a temporary folder and
  run with this checkout's virtualenv (``PYTHONPATH`` points at it, so its ``server`` package is
  the one imported). NEW: this checkout.
- A private PostgreSQL (``initdb`` on a free port of 127.0.0.1, ``tests/support.py``
  PrivatePostgres), built by the OLD code (``init-db``, ``demo``).
- Timeline over ``--seconds``: the load starts on the old node; at 20 % the NEW code's
  ``motcua init-db`` upgrades the database while the old node serves; then the new node starts
  and takes half of the requests; at 75 % the old node leaves the rotation (as nginx would take
  it out), then gets SIGTERM; the load ends on the new node alone.
- Load through the REST API: kiosk threads issue tickets (a fresh ``Idempotency-Key`` each),
  one clerk thread per counter (1..4, counter-bound tokens) loops call-next -> start -> finish.
  Each request goes to the next node in the rotation.

Printed: requests per node and operation, the upgrade's duration, what each node's ``/readyz``
said after the upgrade, and the errors: any 5xx, an unexpected status, a transport error, a
ticket called twice, an error or traceback in a node's log. The target is 0; any error makes
the exit status 1. Expand then contract (docs/operations.md, "Upgrading: migrations") is the
rule that makes 0 possible: the old code must keep working on the new schema.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import BENCH_SERVER_ENV, BenchError, bench_main, log  # noqa: E402
from tests.support import PrivatePostgres, ServerProcess, parse_demo  # noqa: E402

MIGRATIONS = "server/migrations/versions/"
KIOSK_THREADS = 2
COUNTERS = (1, 2, 3, 4)
SERVICES = ("civil", "land", "business")
MAX_REQUESTS_PER_THREAD = 20_000  # a bound besides the deadline
EXPECTED = {"issue": {201}, "call-next": {200, 204}, "start": {200}, "finish": {200}}


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip()[:200]}")
    return done.stdout


def migration_files(commit: str) -> frozenset[str]:
    return frozenset(git("ls-tree", "--name-only", commit, MIGRATIONS).split())


def old_candidates(limit: int = 400) -> list[str]:
    """Commits that are the release before this one: the newest ancestors of HEAD on its
    first-parent line (main's own history, not the commits of a merged branch, whose
    migrations may be chained differently until the merge) whose migrations are HEAD's
    without the newest ones (the longest proper prefix found), newest first."""
    if git("rev-parse", "--is-shallow-repository").strip() == "true":
        raise BenchError("a shallow clone has no old code: `git fetch --unshallow`, or --old")
    head = migration_files("HEAD")
    ordered = sorted(head)
    best: frozenset[str] = frozenset()
    found: list[str] = []
    for commit in git("rev-list", "--first-parent", f"--max-count={limit}", "HEAD").split():
        files = migration_files(commit)
        # A release is HEAD's migrations up to some revision: a commit between merges that
        # held a later migration without an earlier one (chained otherwise then) is not one.
        if not files < head or files != frozenset(ordered[:len(files)]):
            continue
        if len(files) > len(best):
            best, found = files, [commit]
        elif files == best:
            found.append(commit)
    if not found:
        raise BenchError("no ancestor of HEAD has fewer migrations than HEAD: give --old")
    return found


def starts(tree: Path) -> bool:
    """The old code imports its app and every endpoint (a merge commit may not)."""
    done = subprocess.run([sys.executable, "-c", "import server.app, server.api"], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                          check=False)
    return done.returncode == 0


def old_code(into: Path, given: str | None) -> str:
    """Extract the old code into ``into``: ``given``, or the newest candidate that starts."""
    if given:
        return extract(given, into)
    for commit in old_candidates()[:10]:
        full = extract(commit, into)
        if starts(into):
            return full
        log(f"old candidate {commit[:10]} does not import its app; trying an older one")
        subprocess.run(["rm", "-rf", str(into)], check=True)
    raise BenchError("none of the old candidates imports its app: give --old")


def extract(commit: str, into: Path) -> str:
    """``git archive`` of ``commit`` into ``into``; returns the full commit id."""
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         capture_output=True, text=True, check=False)
    if rev.returncode != 0:
        raise BenchError(f"no commit {commit!r} in {ROOT} ({rev.stderr.strip()[:200]})")
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", rev.stdout.strip()],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise BenchError(f"git archive {commit} failed")
    return rev.stdout.strip()


def motcua(tree: Path, env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """``motcua ARGS`` of the checkout at ``tree`` (this venv's interpreter); its output."""
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=tree,
        env={**os.environ, **env, "PYTHONPATH": str(tree)},
        capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise BenchError(f"motcua {' '.join(args)} ({tree}) failed: "
                         f"{(done.stdout + done.stderr).strip()[-800:]}")
    return done.stdout


def head_of(tree: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "from alembic.script import ScriptDirectory\n"
         "from server.core.migrate import alembic_config\n"
         "print(ScriptDirectory.from_config(alembic_config('sqlite://')).get_current_head())"],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
        check=True)
    return out.stdout.strip()


@dataclass
class Load:
    """The rotation of nodes the clients use, and what they saw."""

    nodes: list[tuple[str, str]] = field(default_factory=list)  # (label, base url)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    called: Counter[int] = field(default_factory=Counter)
    turn: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def pick(self) -> tuple[str, str]:
        with self.lock:
            self.turn += 1
            return self.nodes[self.turn % len(self.nodes)]

    def request(self, http: requests.Session, op: str, method: str, path: str, token: str,
                node: tuple[str, str] | None = None, **kwargs: Any) -> requests.Response | None:
        label, base = node or self.pick()
        try:
            r = http.request(method, f"{base}{path}", timeout=15,
                             headers={"Authorization": f"Bearer {token}",
                                      **kwargs.pop("headers", {})}, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.counts[(label, op, 0)] += 1
                self.errors.append(f"{label} {op}: {type(exc).__name__}: {str(exc)[:160]}")
            return None
        with self.lock:
            self.counts[(label, op, r.status_code)] += 1
            if r.status_code not in EXPECTED[op]:
                self.errors.append(f"{label} {op}: {r.status_code} {r.text[:200]}")
        return r


def kiosk(load: Load, token: str, seed: int) -> None:
    http = requests.Session()
    for i in range(MAX_REQUESTS_PER_THREAD):
        if load.stop.is_set():
            return
        load.request(http, "issue", "POST", "/api/v1/sites/HACTHANH/tickets", token,
                     headers={"Idempotency-Key": uuid.uuid4().hex},
                     json={"service": SERVICES[(seed + i) % len(SERVICES)]})
        time.sleep(0.05)


def clerk(load: Load, token: str, counter_id: int) -> None:
    http = requests.Session()
    for _ in range(MAX_REQUESTS_PER_THREAD):
        if load.stop.is_set():
            return
        # A clerk stays on one node for a ticket's call, start and finish, as a station does
        # between two page loads; the next ticket may go to another node.
        node = load.pick()
        r = load.request(http, "call-next", "POST", f"/api/v1/counters/{counter_id}/call-next",
                         token, node=node)
        if r is None or r.status_code != 200:
            time.sleep(0.1)
            continue
        ticket = r.json()["ticket"]["id"]
        with load.lock:
            load.called[ticket] += 1
        for action in ("start", "finish"):
            load.request(http, action, "POST", f"/api/v1/tickets/{ticket}/{action}", token,
                         node=node)


def readyz(base: str) -> str:
    try:
        r = requests.get(f"{base}/readyz", timeout=5)
    except requests.RequestException as exc:
        return f"unreachable ({type(exc).__name__})"
    body = r.json()
    return f"{r.status_code} {body.get('status')} {body.get('checks')}"


def log_problems(text: str) -> list[str]:
    """Error lines of a node's log (structured JSON lines or a traceback)."""
    out = []
    for line in text.splitlines():
        if '"level": "error"' in line or "Traceback" in line:
            out.append(line[:300])
    return out


def drill(seconds: float, old: str | None = None) -> dict[str, Any]:
    if seconds < 10:
        raise BenchError("--seconds must be at least 10 (the new node takes a few to start)")
    tmp = Path(tempfile.mkdtemp(prefix="motcua-drill-"))
    old_tree, new_tree = tmp / "old", ROOT
    old_id = old_code(old_tree, old)
    old_head, new_head = head_of(old_tree), head_of(new_tree)
    log(f"old code {old_id[:10]} (schema head {old_head}), new code {ROOT} (head {new_head})")
    if old_head == new_head:
        raise BenchError(f"the old code's schema head is the new one's ({new_head}): nothing "
                         "to upgrade; give an older --old")
    pg = PrivatePostgres().init()
    url = pg.url.rsplit("/", 1)[0] + "/motcua"
    old_node = new_node = None
    load = Load()
    threads: list[threading.Thread] = []
    result: dict[str, Any] = {"old_commit": old_id, "old_head": old_head, "new_head": new_head,
                              "seconds": seconds}
    try:
        subprocess.run([sys.executable, "-c", (
            "import sqlalchemy as sa\n"
            f"e = sa.create_engine({pg.url!r}, isolation_level='AUTOCOMMIT')\n"
            "with e.connect() as c: c.execute(sa.text('CREATE DATABASE motcua'))\n")],
            check=True)
        env = {**BENCH_SERVER_ENV, "MOTCUA_DATABASE_URL": url}
        motcua(old_tree, env, "init-db")
        creds = parse_demo(motcua(old_tree, env, "demo"))
        old_node = ServerProcess(old_tree, {**env, "PYTHONPATH": str(old_tree)}).start()
        load.nodes = [("old", old_node.url)]
        log(f"old node on {old_node.url}; load starts")
        start = time.monotonic()
        for i in range(KIOSK_THREADS):
            threads.append(threading.Thread(target=kiosk, args=(load, creds["kiosk"], i)))
        for number in COUNTERS:
            token, counter_id = creds["clerks"][number]
            threads.append(threading.Thread(target=clerk, args=(load, token, counter_id)))
        for t in threads:
            t.start()

        time.sleep(max(0.0, start + 0.2 * seconds - time.monotonic()))
        log("upgrading the database with the new code's init-db while the old node serves")
        t0 = time.monotonic()
        motcua(new_tree, env, "init-db")
        result["upgrade_s"] = round(time.monotonic() - t0, 2)
        result["old_readyz_after_upgrade"] = readyz(old_node.url)
        new_node = ServerProcess(tmp, env).start()
        result["new_readyz"] = readyz(new_node.url)
        with load.lock:
            load.nodes = [("old", old_node.url), ("new", new_node.url)]
        log(f"upgraded in {result['upgrade_s']} s; new node on {new_node.url}; both serve")

        time.sleep(max(0.0, start + 0.75 * seconds - time.monotonic()))
        with load.lock:
            load.nodes = [("new", new_node.url)]
        time.sleep(1.0)  # the old node's requests in flight finish, as behind nginx
        log("old node out of the rotation; SIGTERM")
        old_exit = old_node.stop()
        result["old_exit_status"] = old_exit

        time.sleep(max(0.0, start + seconds - time.monotonic()))
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        logs = {}
        for label, node in (("old", old_node), ("new", new_node)):
            if node is not None:
                node.stop()
                logs[label] = log_problems(node.output())
        pg.remove()
    twice = [t for t, n in load.called.items() if n > 1]
    errors = list(load.errors) + [f"ticket {t} called {load.called[t]} times" for t in twice]
    for label, problems in logs.items():
        errors += [f"{label} node log: {line}" for line in problems]
    by_node: dict[str, dict[str, dict[str, int]]] = {}
    for (label, op, status), n in sorted(load.counts.items()):
        by_node.setdefault(label, {}).setdefault(op, {})[str(status)] = n
    result.update({
        "requests": sum(load.counts.values()),
        "by_node": by_node,
        "tickets_called": len(load.called),
        "errors": len(errors),
        "error_samples": errors[:20],
    })
    if errors:
        log(f"errors: the nodes' logs stay in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


@bench_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--old", default=None, help="the old code's commit (default: the "
                                                    "newest one before the newest migration)")
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args(argv)
    result = drill(args.seconds, args.old)
    print(f"old code {result['old_commit'][:10]} (head {result['old_head']}) -> new code "
          f"(head {result['new_head']}), {result['seconds']:g} s of load")
    print(f"upgrade (new init-db while the old node served): {result.get('upgrade_s')} s")
    print(f"old node /readyz after the upgrade: {result.get('old_readyz_after_upgrade')}")
    print(f"new node /readyz: {result.get('new_readyz')}")
    for label, ops in result["by_node"].items():
        for op, statuses in ops.items():
            print(f"  {label:<4} {op:<10} " + "  ".join(f"{s}: {n}" for s, n in statuses.items()))
    print(f"requests {result['requests']}, tickets called {result['tickets_called']}, "
          f"errors {result['errors']} (target 0)")
    for line in result["error_samples"]:
        print(f"  ! {line}")
    if args.json:
        print(json.dumps(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
