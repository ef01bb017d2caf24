"""The pages' formatter (``num``, ``localTime``, ``localDate`` of server/static/js/motcua.js)
writes what the server's (server/core/formats.py) writes, for the same values: run under Node."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

from server.core import formats

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
global.window = global; window.location = {search: ""};
require(%s);
var M = window.Motcua, cases = JSON.parse(require("fs").readFileSync(0, "utf8")), out = [];
cases.numbers.forEach(function (c) { out.push(M.num(c[0], c[1], c[2])); });
cases.times.forEach(function (c) {
  out.push(M.localTime(c[0], {timeZone: c[1], lang: c[2], year: true}));
  out.push(M.localTime(c[0], {timeZone: c[1], lang: c[2]}));
  out.push(M.localDate(c[0], {timeZone: c[1]}));
});
process.stdout.write(JSON.stringify(out));
"""


def test_the_pages_write_numbers_and_times_as_the_server_does() -> None:
    node = shutil.which("node")
    assert node, "Node.js runs the shared script's formatter"
    rnd = random.Random(20260518)
    numbers = [1.9, 4500, 0.25, 1.005, -0.04, -1.25, 0.05, 1234567.891, 0, 999.95, 1e9]
    numbers += [round(rnd.uniform(-1e6, 1e6), rnd.randint(0, 4)) for _ in range(300)]
    num_cases = [[x, lang, d] for x in numbers for lang in ("vi", "en") for d in (0, 1, 2)]
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    instants = [base + dt.timedelta(minutes=rnd.randint(0, 525600)) for _ in range(100)]
    zones = ("Asia/Ho_Chi_Minh", "UTC", "Europe/London")
    time_cases = [[formats.iso(t), z, lang] for t in instants for z in zones
                  for lang in ("vi", "en")]
    run = subprocess.run(
        [node, "-e", SCRIPT % json.dumps(str(ROOT / "server/static/js/motcua.js"))],
        input=json.dumps({"numbers": num_cases, "times": time_cases}),
        capture_output=True, text=True, timeout=60, check=True,
    )
    got = json.loads(run.stdout)
    want = [formats.number(x, lang, d) for x, lang, d in num_cases]
    cases: list[object] = list(num_cases)
    for iso, z, lang in time_cases:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        want += [formats.datetime(t, lang, z), formats.time(t, lang, z), formats.date(t, lang, z)]
        cases += [(iso, z, lang, "datetime"), (iso, z, lang, "time"), (iso, z, lang, "date")]
    assert len(got) == len(want)
    differ = [(c, g, w) for c, g, w in zip(cases, got, want, strict=True) if g != w]
    assert differ == []
