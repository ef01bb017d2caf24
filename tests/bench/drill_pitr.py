"""The point-in-time recovery drill: PostgreSQL under load loses its data directory, pgBackRest
brings it back, nothing acknowledged is lost and nothing is handed out twice.

    .venv/bin/python tests/bench/drill_pitr.py                  # ~1 min
    .venv/bin/python tests/bench/drill_pitr.py --seconds 60 --json
    .venv/bin/python tests/bench/drill_pitr.py --no-switch --archive-timeout 5

What it does, all on 127.0.0.1 in a temporary folder (run as root: PostgreSQL and pgBackRest
run as ``postgres``):

1. a private PostgreSQL cluster (initdb) with WAL archiving to a pgBackRest repository
   (``archive_command = pgbackrest archive-push``, ``archive_timeout`` as given), the demo data
   (``motcua demo``), a full backup (time and size measured);
2. one app node (``motcua run``) and clients through its REST API: kiosks issuing tickets,
   counters calling next, taking a dossier for one civil-status ticket in three, starting and
   finishing. A ticket or dossier is *acknowledged* when its 201 answer reached the client;
   each is kept with the moment it was;
3. a differential backup a third of the way in (time and size measured);
4. at a random moment: unless ``--no-switch``, the drill asks PostgreSQL to switch to a new
   WAL segment and waits until it is archived (what an operator's ``pgbackrest check`` or
   a small ``archive_timeout`` achieves), then - clients still running - PostgreSQL is
   stopped hard (``pg_ctl stop -m immediate``) and its data directory deleted;
5. ``pgbackrest restore`` into the empty directory, PostgreSQL started (it replays the archived
   WAL to its end and promotes): restore time measured to the first write accepted;
   ``motcua backup fence --pitr``; ``motcua backup verify`` (the newest backup restored into a
   scratch cluster, row counts beside the live ones);
6. every acknowledged ticket (by id, number, service) and dossier (by code) is looked up in
   the restored database: lost ones are counted separately for those acknowledged before the
   switch (must be 0) and in the window between the switch and the destruction (the WAL of
   that window was not archived: it can be lost, and the figure says how much was);
7. the node is started again and the clients work a few seconds more: no ticket id, number of
   the day or dossier code handed out before (lost or not) is handed out again.

Exit status 1 when anything acknowledged before the last archived switch is lost or anything
is handed out twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from server.node.pitr import copy_wal_stream  # noqa: E402
from tests.bench.common import BenchError, bench_main, log  # noqa: E402
from tests.support import ServerProcess, demo, free_port  # noqa: E402

OWNER = "postgres"
STANZA = "motcua"
SERVICES = ("civil", "land", "business", "civil")


def as_owner(*argv: str, check: bool = True, timeout: float = 600) -> str:
    prefix = ["runuser", "-u", OWNER, "--"] if os.geteuid() == 0 else []
    proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        raise BenchError(f"{argv[0]} {' '.join(argv[1:3])} failed: {proc.stderr[-1500:]}")
    return proc.stdout


def chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, OWNER, OWNER)


@dataclass
class Cluster:
    """A PostgreSQL cluster archiving to a pgBackRest repository, both in ``base``."""

    base: Path
    archive_timeout: int
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.base / "pgdata"

    @property
    def conf(self) -> Path:
        return self.base / "pgbackrest.conf"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.base.chmod(0o755)
        for name in ("pgdata", "repo", "log", "lock", "spool", "pglog"):
            (self.base / name).mkdir()
            chown(self.base / name)
        self.data.chmod(0o700)
        as_owner("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        # The repository and archive settings deploy/ ships, pointed at this folder.
        self.conf.write_text(
            "[global]\n"
            f"repo1-path={self.base / 'repo'}\n"
            "repo1-retention-full=2\n"
            f"log-path={self.base / 'log'}\n"
            f"lock-path={self.base / 'lock'}\n"
            f"spool-path={self.base / 'spool'}\n"
            "log-level-console=warn\nlog-level-file=info\n"
            "start-fast=y\ncompress-type=gz\ncompress-level=1\n\n"
            f"[{STANZA}]\n"
            f"pg1-path={self.data}\npg1-port={self.port}\npg1-socket-path={self.data}\n"
        )
        chown(self.conf)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                "\n# motcua drill (deploy/postgresql/motcua-archive.conf)\n"
                "wal_level = replica\narchive_mode = on\n"
                f"archive_command = 'pgbackrest --config={self.conf} --stanza={STANZA} "
                "archive-push %p'\n"
                f"archive_timeout = {self.archive_timeout}\n"
                "max_wal_size = 256MB\n"
            )
        self.start()
        self.pgbackrest("stanza-create")
        self.pgbackrest("check")

    def start_stream(self) -> subprocess.Popen[bytes]:
        """A synchronous ``pg_receivewal`` into ``walstream`` (as
        deploy/systemd/motcua-walstream.service runs it): a commit is acknowledged only once
        its WAL is flushed there."""
        stream = self.base / "walstream"
        stream.mkdir()
        chown(stream)
        conn = f"host=127.0.0.1 port={self.port} user=postgres application_name=motcua_walstream"
        as_owner("pg_receivewal", "-d", conn, "--slot=motcua_walstream", "--create-slot")
        prefix = ["runuser", "-u", OWNER, "--"] if os.geteuid() == 0 else []
        proc = subprocess.Popen(
            [*prefix, "pg_receivewal", "-d", conn, "-D", str(stream),
             "--slot=motcua_walstream", "--synchronous", "--no-loop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as c:
                c.execute(text("ALTER SYSTEM SET synchronous_standby_names = 'motcua_walstream'"))
                c.execute(text("SELECT pg_reload_conf()"))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    state = c.scalar(text("SELECT sync_state FROM pg_stat_replication "
                                          "WHERE application_name = 'motcua_walstream'"))
                    if state == "sync":
                        return proc
                    time.sleep(0.1)
        finally:
            engine.dispose()
        proc.kill()
        raise BenchError("pg_receivewal did not become the synchronous standby")

    def pgbackrest(self, *args: str, timeout: float = 600) -> str:
        return as_owner("pgbackrest", f"--config={self.conf}", f"--stanza={STANZA}", *args,
                        timeout=timeout)

    def start(self, tries: int = 3) -> None:
        """Start the cluster. Right after an immediate stop (a lost disk), the old server's
        last processes can still be going away when the restored one starts, and that start
        then fails at once: it is tried again after a pause, up to ``tries`` times."""
        log_file = self.base / "pglog" / "postgres.log"
        for attempt in range(1, tries + 1):
            try:
                as_owner("pg_ctl", "-D", str(self.data), "-w", "-t", "600", "-l",
                         str(log_file), "-o", f"-p {self.port} -h 127.0.0.1 -k {self.data}",
                         "start")
                return
            except BenchError as exc:
                if attempt == tries:
                    # The server's own words say why; the drill's folder is removed after.
                    tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
                    raise BenchError(f"{exc}\npostgres.log: {tail}") from None
                log(f"PostgreSQL did not start (try {attempt} of {tries}); again in 2 s")
                time.sleep(2)

    def stop(self, mode: str = "fast") -> None:
        as_owner("pg_ctl", "-D", str(self.data), "-m", mode, "stop", check=False)

    def destroy(self) -> None:
        """As a lost disk: PostgreSQL stopped without a checkpoint, its folder gone."""
        self.stop("immediate")
        shutil.rmtree(self.data)
        self.data.mkdir()
        chown(self.data)
        self.data.chmod(0o700)

    def info(self) -> list[dict[str, Any]]:
        return list(json.loads(self.pgbackrest("--output=json", "info"))[0]["backup"])

    def wait_writable(self, timeout: float = 600) -> None:
        engine = create_engine(self.url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    with engine.connect() as conn:
                        if not conn.scalar(text("SELECT pg_is_in_recovery()")):
                            return
                except Exception:  # starting up: refused
                    pass
                time.sleep(0.1)
        finally:
            engine.dispose()
        raise BenchError("the restored cluster did not accept writes")

    def switch_and_archive(self, timeout: float = 120) -> str:
        """Close the current WAL segment and wait until pgBackRest archived it."""
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                segment = conn.scalar(text("SELECT pg_walfile_name(pg_switch_wal())"))
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    done = conn.scalar(text("SELECT last_archived_wal FROM pg_stat_archiver"))
                    if done is not None and done >= segment:
                        return str(segment)
                    time.sleep(0.02)
        finally:
            engine.dispose()
        raise BenchError("the switched WAL segment was not archived in time")


@dataclass
class Acked:
    tickets: list[dict[str, Any]] = field(default_factory=list)  # id, number, service, at
    dossiers: list[dict[str, Any]] = field(default_factory=list)  # code, at
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Tickets each counter called, newest last: after the restore a counter may still hold
    # one (its call was kept, its finish lost) and must finish it before calling again.
    called: dict[int, list[int]] = field(default_factory=dict)


def kiosk_loop(base: str, token: str, stop: threading.Event, acked: Acked, seed: int) -> None:
    rnd = random.Random(seed)
    s = requests.Session()
    while not stop.is_set():
        service = rnd.choice(SERVICES)
        try:
            r = s.post(f"{base}/api/v1/sites/HACTHANH/tickets", timeout=5,
                       headers={"Authorization": f"Bearer {token}",
                                "Idempotency-Key": uuid.uuid4().hex},
                       json={"service": service})
        except requests.RequestException:
            r = None
        if r is not None and r.status_code == 201:
            t = r.json()
            with acked.lock:
                acked.tickets.append({"id": t["id"], "number": t["number"],
                                      "service": t["service"], "at": time.monotonic()})
        else:
            with acked.lock:
                acked.errors += 1
            time.sleep(0.2)
        time.sleep(rnd.uniform(0.02, 0.08))


def counter_loop(base: str, clerk: tuple[str, int], stop: threading.Event, acked: Acked,
                 seed: int) -> None:
    rnd = random.Random(seed)
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {clerk[0]}"
    mine = acked.called.setdefault(clerk[1], [])
    while not stop.is_set():
        try:
            r = s.post(f"{base}/api/v1/counters/{clerk[1]}/call-next", timeout=5)
            if r.status_code == 409 and r.json()["error"]["code"] == "counter_busy":
                for held in reversed(mine[-5:]):  # the one the counter still holds
                    s.post(f"{base}/api/v1/tickets/{held}/start", timeout=5)
                    s.post(f"{base}/api/v1/tickets/{held}/finish", timeout=5)
                continue
            if r.status_code != 200:
                time.sleep(0.2)
                continue
            t = r.json()["ticket"]
            mine.append(t["id"])
            if t["service"] == "civil" and rnd.random() < 1 / 3:
                d = s.post(f"{base}/api/v1/tickets/{t['id']}/dossiers", timeout=5, json={
                    "procedure": "HT-KH",
                    "applicant": {"name": "Công dân thử",
                                  "id_number": f"0340{rnd.randrange(10**8):08d}"},
                })
                if d.status_code == 201:
                    with acked.lock:
                        acked.dossiers.append({"code": d.json()["code"], "at": time.monotonic()})
            s.post(f"{base}/api/v1/tickets/{t['id']}/start", timeout=5)
            s.post(f"{base}/api/v1/tickets/{t['id']}/finish", timeout=5)
        except requests.RequestException:
            with acked.lock:
                acked.errors += 1
            time.sleep(0.2)


def run_clients(base: str, creds: dict[str, Any], kiosks: int, counters: int,
                stop: threading.Event, acked: Acked) -> list[threading.Thread]:
    threads = [threading.Thread(target=kiosk_loop, args=(base, creds["kiosk"], stop, acked, i))
               for i in range(kiosks)]
    # The demo's counter 3 serves civil status (dossiers) first, then the others.
    order = sorted(creds["clerks"], key=lambda n: (n != 3, n))
    clerks = [creds["clerks"][n] for n in order][:counters]
    threads += [threading.Thread(target=counter_loop, args=(base, c, stop, acked, 100 + i))
                for i, c in enumerate(clerks)]
    for t in threads:
        t.start()
    return threads


def motcua(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise BenchError(f"motcua {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def drill(seconds: float = 30, kiosks: int = 3, counters: int = 2, archive_timeout: int = 60,
          switch: bool = True, after_seconds: float = 4, verify: bool = True,
          seed: int | None = None, stream: bool = False) -> dict[str, Any]:
    """Run the drill; every figure in one dict (see the module's docstring)."""
    rnd = random.Random(seed)
    base = Path(tempfile.mkdtemp(prefix="motcua-drill-"))
    cluster = Cluster(base, archive_timeout)
    node: ServerProcess | None = None
    receiver: subprocess.Popen[bytes] | None = None
    switch = switch and not stream
    fig: dict[str, Any] = {"seconds": seconds, "kiosks": kiosks, "counters": counters,
                           "archive_timeout_s": archive_timeout, "forced_switch": switch,
                           "wal_stream": stream}
    try:
        cluster.init()
        env = {**os.environ, "MOTCUA_DATABASE_URL": cluster.url, "MOTCUA_RATE_LIMITS": "0",
               "MOTCUA_PGBACKREST_CONFIG": str(cluster.conf), "MOTCUA_PGBACKREST_STANZA": STANZA,
               "MOTCUA_PRINT_WORKER": "0"}
        creds = demo(cluster.url, {"MOTCUA_PRINT_WORKER": "0"})
        t0 = time.monotonic()
        cluster.pgbackrest("--type=full", "backup")
        fig["full_backup_s"] = round(time.monotonic() - t0, 2)
        full = cluster.info()[-1]
        fig["full_backup_db_bytes"] = full["info"]["size"]
        fig["full_backup_repo_bytes"] = full["info"]["repository"]["delta"]

        if stream:
            receiver = cluster.start_stream()
        node = ServerProcess(base, env=env).start()
        stop = threading.Event()
        acked = Acked()
        threads = run_clients(node.url, creds, kiosks, counters, stop, acked)
        started = time.monotonic()
        time.sleep(seconds / 3)
        t0 = time.monotonic()
        cluster.pgbackrest("--type=diff", "backup")
        fig["diff_backup_s"] = round(time.monotonic() - t0, 2)
        diff = cluster.info()[-1]
        fig["diff_backup_repo_bytes"] = diff["info"]["repository"]["delta"]
        # The disaster, at a random moment of the rest of the run.
        time.sleep(max(0.0, rnd.uniform(0.5, 1.0) * seconds - (time.monotonic() - started)))
        switch_at = time.monotonic()
        if switch:
            fig["switched_segment"] = cluster.switch_and_archive()
        fig["switch_to_destroy_ms"] = round((time.monotonic() - switch_at) * 1000)
        cluster.destroy()
        destroyed_at = time.monotonic()
        if receiver is not None:  # it loses its server with the disk
            receiver.kill()
            receiver.wait(timeout=30)
            receiver = None
        fig["destroyed_after_s"] = round(destroyed_at - started, 1)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        node.stop()
        node = None

        t0 = time.monotonic()
        cluster.pgbackrest("--delta", "restore", timeout=3600)
        fig["restore_pgbackrest_s"] = round(time.monotonic() - t0, 2)
        if stream:
            fig["wal_from_stream"] = copy_wal_stream(base / "walstream", cluster.data)
        cluster.start()
        cluster.wait_writable()
        fig["restore_total_s"] = round(time.monotonic() - t0, 2)
        fence = json.loads(motcua(env, "backup", "fence", "--pitr", "--json",
                                  "--source", "drill: end of archived WAL"))
        fig["fence_numbers_next"] = {v["service"]: v["next"] for v in fence["services"].values()
                                     if v["site"] == "HACTHANH"}

        # What came back, against what the clients were told.
        engine = create_engine(cluster.url)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT t.id, t.label, s.code FROM tickets t JOIN services s ON s.id = t.service_id"
            )).all()
            codes = {r[0] for r in conn.execute(text("SELECT code FROM dossiers"))}
        engine.dispose()
        present = {r[0]: (r[1], r[2]) for r in rows}
        cut = switch_at if switch else destroyed_at

        def lost_tickets(before: bool) -> list[dict[str, Any]]:
            return [t for t in acked.tickets if (t["at"] < cut) == before
                    and present.get(t["id"]) != (t["number"], t["service"])]

        def lost_dossiers(before: bool) -> list[dict[str, Any]]:
            return [d for d in acked.dossiers if (d["at"] < cut) == before
                    and d["code"] not in codes]

        fig["acked_tickets"] = len(acked.tickets)
        fig["acked_dossiers"] = len(acked.dossiers)
        fig["acked_tickets_in_window"] = sum(1 for t in acked.tickets if t["at"] >= cut)
        fig["acked_dossiers_in_window"] = sum(1 for d in acked.dossiers if d["at"] >= cut)
        fig["lost_tickets_before_switch"] = len(lost_tickets(True))
        fig["lost_dossiers_before_switch"] = len(lost_dossiers(True))
        fig["lost_tickets_in_window"] = len(lost_tickets(False))
        fig["lost_dossiers_in_window"] = len(lost_dossiers(False))
        fig["client_errors"] = acked.errors

        if verify:
            t0 = time.monotonic()
            fig["verify_output"] = motcua(env, "backup", "verify").splitlines()
            fig["verify_s"] = round(time.monotonic() - t0, 2)

        # Work goes on: nothing handed out before (lost or not) is handed out again.
        node = ServerProcess(base, env=env).start()
        more = Acked(called=acked.called)
        stop = threading.Event()
        threads = run_clients(node.url, creds, kiosks, counters, stop, more)
        time.sleep(after_seconds)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        old_ids = {t["id"] for t in acked.tickets}
        old_numbers = {(t["service"], t["number"]) for t in acked.tickets}
        old_codes = {d["code"] for d in acked.dossiers}
        fig["after_tickets"] = len(more.tickets)
        fig["after_dossiers"] = len(more.dossiers)
        fig["reused_ticket_ids"] = sum(1 for t in more.tickets if t["id"] in old_ids)
        fig["reused_numbers"] = sum(1 for t in more.tickets
                                    if (t["service"], t["number"]) in old_numbers)
        fig["reused_dossier_codes"] = sum(1 for d in more.dossiers if d["code"] in old_codes)
        return fig
    finally:
        if node is not None:
            node.stop()
        if receiver is not None:
            receiver.kill()
        cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def report(fig: dict[str, Any]) -> list[str]:
    return [
        f"load: {fig['kiosks']} kiosks, {fig['counters']} counters for {fig['destroyed_after_s']} s"
        f" until the data directory was destroyed; archive_timeout {fig['archive_timeout_s']} s;"
        f" forced WAL switch before the destruction: {fig['forced_switch']};"
        f" synchronous WAL stream (pg_receivewal): {fig['wal_stream']}"
        f" ({fig['switch_to_destroy_ms']} ms from the switch to the destruction)",
        f"full backup: {fig['full_backup_s']} s, database {fig['full_backup_db_bytes']} B, "
        f"repository {fig['full_backup_repo_bytes']} B; differential under load: "
        f"{fig['diff_backup_s']} s, {fig['diff_backup_repo_bytes']} B",
        f"restore: pgbackrest {fig['restore_pgbackrest_s']} s, to the first write accepted "
        f"(WAL replayed, promoted) {fig['restore_total_s']} s",
        f"acknowledged: {fig['acked_tickets']} tickets, {fig['acked_dossiers']} dossiers; "
        f"lost of those acknowledged before the switch (without one: the destruction): "
        f"{fig['lost_tickets_before_switch']} "
        f"tickets, {fig['lost_dossiers_before_switch']} dossiers",
        f"acknowledged between the switch and the destruction: "
        f"{fig['acked_tickets_in_window']} tickets, {fig['acked_dossiers_in_window']} dossiers;"
        f" lost: {fig['lost_tickets_in_window']} tickets, {fig['lost_dossiers_in_window']} "
        "dossiers",
        f"numbers continue from {fig['fence_numbers_next']}",
        f"after the restore: {fig['after_tickets']} tickets, {fig['after_dossiers']} dossiers;"
        f" handed out twice: {fig['reused_numbers']} numbers, {fig['reused_ticket_ids']} "
        f"ticket ids, {fig['reused_dossier_codes']} dossier codes",
        *(f"verify: {line}" for line in fig.get("verify_output", [])),
    ]


def failed(fig: dict[str, Any]) -> list[str]:
    bad = [k for k in ("lost_tickets_before_switch", "lost_dossiers_before_switch",
                       "reused_numbers", "reused_ticket_ids", "reused_dossier_codes") if fig[k]]
    if fig["acked_tickets"] == 0:
        bad.append("no ticket acknowledged")
    return bad


@bench_main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30, help="load before the disaster, at most")
    ap.add_argument("--kiosks", type=int, default=3)
    ap.add_argument("--counters", type=int, default=2)
    ap.add_argument("--archive-timeout", type=int, default=60)
    ap.add_argument("--no-switch", action="store_true",
                    help="no forced WAL switch before the destruction (what archive_timeout loses)")
    ap.add_argument("--stream", action="store_true",
                    help="a synchronous pg_receivewal keeps the WAL on the side (no switch)")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    fig = drill(args.seconds, args.kiosks, args.counters, args.archive_timeout,
                not args.no_switch, verify=not args.no_verify, seed=args.seed,
                stream=args.stream)
    for line in report(fig):
        log(line)
    if args.json:
        print(json.dumps(fig))
    bad = failed(fig)
    if bad and not args.no_switch:
        raise BenchError(", ".join(bad))
    if args.no_switch and [b for b in bad if b.startswith("reused")]:
        raise BenchError(", ".join(bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
